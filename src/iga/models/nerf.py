"""The original NeRF MLP (Mildenhall et al. 2020, as in nerf-pytorch) as a field over [N, 6] rows.

One row is a point and its viewing direction, ``(x, y, z, dx, dy, dz)``; the output is the
*raw* field ``[r, g, b, σ]`` before the activations (``sigmoid`` for colour, ``relu`` for
density, applied by :meth:`NeRFField.activate`), so that the network is an ordinary
``[N, d] -> [N, C]`` module for :func:`iga.entk` (the authors' NeRF kernel is taken on the raw
outputs through a sigmoid).

Architecture (nerf-pytorch defaults in brackets): the point goes through a frequency encoding
with ``multires`` [10] octaves (input included: 3 + 6·multires features), then ``depth`` [8]
ReLU layers of ``width`` [256] with the encoded point concatenated again after layer
``skip`` [4]; density from a linear head; with view directions (``multires_views`` [4]
octaves), a linear feature layer, concatenated with the encoded direction, one ReLU layer of
``width // 2`` and a linear colour head.

Training-time variants (``method``; the IGA paper's Table 3 baselines), both of which compute
an ordinary NeRF at inference:

* ``"fr"`` (Fourier reparameterisation): the feature layer's weight is ``W = Λ B``
  (:class:`~iga.models.reparam.FRLinear`) with the authors' NeRF bases, 64 low and 64 high
  frequencies × 16 phases and α = 0.005, as in their nerf-pytorch (``param_mlplayer`` on
  ``feature_linear``: "only reparameterizing the last feature layer can achieve the best
  results in the half-res blender dataset"). ``fr_layers="trunk"`` reparameterises the trunk's
  hidden layers instead (every trunk layer but the first), as FR does for image MLPs.
* ``"bn"`` (batch norm, Cai et al. 2024): ``BatchNorm1d`` before every ReLU of the trunk, with
  running statistics (NeRF trains on mini-batches of rays; rendering uses eval mode). The IGA
  authors publish no NeRF BN code (their Table 3 quotes Cai et al.'s number), so the placement
  is ours: the one their image code uses for ReLU+PE (``bn_position="pre"``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from iga.models.occupancy_grid import OccupancyGrid, update_generator
from iga.models.render import composite, render_weights, sample_pdf, stratified_depths
from iga.models.reparam import FRLinear

__all__ = [
    "ALIVE_FRACTION",
    "DEAD_DRAWS",
    "FR_LAYERS",
    "NERF_FR_BASES",
    "NERF_METHODS",
    "AuthorsKernel",
    "FrequencyEncoding",
    "NeRF",
    "NeRFConfig",
    "NeRFField",
    "RayRenderer",
    "check_method",
    "is_dead",
    "probe_rows",
    "ray_points",
    "redraw_dead",
    "render_field",
]

NERF_METHODS = ("vanilla", "fr", "bn")
"""Training-time parameterisations of :class:`NeRFField` (see the module docstring)."""
FR_LAYERS = ("feature", "trunk")
NERF_FR_BASES = {"low": 64, "high": 64, "phases": 16}
"""The authors' NeRF FR bases (their ``param_mlplayer(..., high_freq_num=64, low_freq_num=64,
phi_num=16, ...)``)."""


class FrequencyEncoding(nn.Module):
    """``[x, sin(2⁰x), cos(2⁰x), …, sin(2^{L−1}x), cos(2^{L−1}x)]`` (nerf-pytorch's embedder:
    no factor π, the input itself included)."""

    def __init__(self, in_features: int, levels: int) -> None:
        super().__init__()
        self.in_features, self.levels = in_features, levels
        self.register_buffer("freqs", 2.0 ** torch.arange(levels, dtype=torch.float32))

    @property
    def out_features(self) -> int:
        return self.in_features * (1 + 2 * self.levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x[..., None, :] * self.freqs[:, None].to(x.dtype)  # [..., L, d]
        enc = torch.stack([torch.sin(xf), torch.cos(xf)], dim=-2)  # [..., L, 2, d]
        return torch.cat([x, enc.flatten(-3)], dim=-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, levels={self.levels}"


@dataclass
class NeRFConfig:
    """The NeRF MLP's shape (defaults: nerf-pytorch's)."""

    depth: int = field(default=8, metadata={"help": "NeRF MLP: ReLU layers of the trunk"})
    width: int = field(
        default=256, metadata={"help": "NeRF MLP: features per layer (view branch: half)"}
    )
    skip: int = field(
        default=4,
        metadata={"help": "NeRF MLP: concatenate the encoded point after this layer (-1: never)"},
    )
    multires: int = field(default=10, metadata={"help": "NeRF MLP: octaves of the point encoding"})
    multires_views: int = field(
        default=4, metadata={"help": "NeRF MLP: octaves of the direction encoding"}
    )
    use_viewdirs: bool = field(
        default=True, metadata={"help": "NeRF MLP: colour depends on the viewing direction"}
    )
    redraw_dead: bool = field(
        default=True,
        metadata={
            "help": "NeRF MLP: draw a network's initial weights again while σ > 0 at under "
            "1% of the probe points (a dead ReLU density gets no gradient and never learns)"
        },
    )
    fr_alpha: float = field(
        default=0.005,
        metadata={"help": "--method fr: amplitude α of the Fourier bases (the authors': 0.005)"},
    )
    fr_layers: str = field(
        default="feature",
        metadata={
            "help": "--method fr: reparameterise the feature layer (feature; the authors') or "
            "the trunk's hidden layers (trunk)"
        },
    )

    def __post_init__(self) -> None:
        for name in ("depth", "width", "multires", "multires_views"):
            v = getattr(self, name)
            low = 0 if name == "multires_views" else 1
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"NeRF {name} must be an int >= {low}; got {v!r}")
        if self.width < 2:
            raise ValueError(f"NeRF width must be at least 2; got {self.width}")
        if self.skip != -1 and not 0 <= self.skip <= self.depth - 2:
            raise ValueError(
                f"NeRF skip must be -1 (none) or a trunk layer 0..{self.depth - 2}; got {self.skip}"
            )
        if not (self.fr_alpha > 0 and math.isfinite(self.fr_alpha)):
            raise ValueError(f"--fr-alpha must be a positive number; got {self.fr_alpha}")
        if self.fr_layers not in FR_LAYERS:
            raise ValueError(f"--fr-layers must be feature or trunk; got {self.fr_layers!r}")


def check_method(cfg: NeRFConfig, method: str) -> None:
    """Raise a one-line ValueError when ``method`` cannot train a field of shape ``cfg``."""
    if method not in NERF_METHODS:
        raise ValueError(f"unknown NeRF method {method!r}; choose one of {', '.join(NERF_METHODS)}")
    if method == "fr" and cfg.fr_layers == "feature" and not cfg.use_viewdirs:
        raise ValueError(
            "--method fr reparameterises the feature layer, which exists only with view "
            "directions; use --use-viewdirs or --fr-layers trunk"
        )
    if method == "fr" and cfg.fr_layers == "trunk" and cfg.depth < 2:
        raise ValueError("--fr-layers trunk needs a trunk of at least 2 layers (--depth)")


class NeRFField(nn.Module):
    """The NeRF MLP: ``forward([N, 6]) -> raw [N, 4]`` (see the module docstring), trained as
    ``method`` (vanilla, fr or bn)."""

    def __init__(self, cfg: NeRFConfig | None = None, method: str = "vanilla") -> None:
        super().__init__()
        cfg = cfg or NeRFConfig()
        check_method(cfg, method)
        self.cfg, self.method = cfg, method
        self.embed = FrequencyEncoding(3, cfg.multires)
        self.embed_dirs = FrequencyEncoding(3, cfg.multires_views)
        d_in, w = self.embed.out_features, cfg.width
        layers = [nn.Linear(d_in, w)]
        for i in range(cfg.depth - 1):
            layers.append(nn.Linear(w + d_in if i == cfg.skip else w, w))
        self.trunk = nn.ModuleList(layers)
        self.sigma = nn.Linear(w, 1)
        if cfg.use_viewdirs:
            self.feature = nn.Linear(w, w)
            self.view = nn.Linear(w + self.embed_dirs.out_features, w // 2)
            self.rgb = nn.Linear(w // 2, 3)
        else:
            self.rgb = nn.Linear(w, 3)
        # BN before each trunk ReLU; Identity keeps one code path for the other methods.
        self.norms = nn.ModuleList(
            nn.BatchNorm1d(w) if method == "bn" else nn.Identity() for _ in self.trunk
        )
        if method == "fr":
            self._reparameterize()

    def muon_parameters(self) -> list[nn.Parameter]:
        """The hidden weight matrices (``--optimizer muon``, :func:`iga.optim.muon_split`):
        the trunk after its input layer, the feature and view layers; the input layer and the
        sigma and colour heads stay with Adam, as Muon-INRs keeps first and last layers."""
        hidden = [*self.trunk[1:], getattr(self, "feature", None), getattr(self, "view", None)]
        return [m.weight for m in hidden if isinstance(m, nn.Linear)]

    def _reparameterize(self) -> None:
        """Swap the FR layers in for their plain initial ones (Λ drawn as the authors do)."""

        def fr(layer: nn.Module) -> FRLinear:
            assert isinstance(layer, nn.Linear)
            return FRLinear(
                layer.weight, layer.bias, alpha=self.cfg.fr_alpha, init="uniform", **NERF_FR_BASES
            )

        if self.cfg.fr_layers == "feature":
            self.feature = fr(self.feature)
        else:
            for i in range(1, len(self.trunk)):
                self.trunk[i] = fr(self.trunk[i])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != 6:
            raise ValueError(
                f"NeRFField takes rows (x, y, z, dx, dy, dz); got {x.shape[-1]} columns"
            )
        h = self._trunk(x[..., :3])
        sigma = self.sigma(h)
        if self.cfg.use_viewdirs:
            dirs = x[..., 3:]
            dirs = dirs / torch.linalg.vector_norm(dirs, dim=-1, keepdim=True).clamp_min(1e-12)
            hv = torch.cat([self.feature(h), self.embed_dirs(dirs)], dim=-1)
            rgb = self.rgb(torch.relu(self.view(hv)))
        else:
            rgb = self.rgb(h)
        return torch.cat([rgb, sigma], dim=-1)

    def _trunk(self, points: torch.Tensor) -> torch.Tensor:
        pts = self.embed(points)
        h = pts
        for i, (layer, norm) in enumerate(zip(self.trunk, self.norms, strict=True)):
            h = torch.relu(norm(layer(h)))
            if i == self.cfg.skip:
                h = torch.cat([pts, h], dim=-1)
        return h

    def density(self, points: torch.Tensor) -> torch.Tensor:
        """The density ``σ = relu(raw σ)`` [...] at ``points`` [..., 3] (σ does not depend on
        the view direction, so the view branch is not computed; as :meth:`activate` without
        noise)."""
        return torch.relu(self.sigma(self._trunk(points))[..., 0])

    @staticmethod
    def activate(
        raw: torch.Tensor, noise_std: float = 0.0, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(rgb = sigmoid(raw[..., :3]), σ = relu(raw[..., 3] + noise))``."""
        sigma = raw[..., 3]
        if noise_std > 0:
            noise = torch.randn(sigma.shape, generator=generator, dtype=sigma.dtype)
            sigma = sigma + noise_std * noise.to(sigma.device)
        return torch.sigmoid(raw[..., :3]), torch.relu(sigma)


class NeRF(nn.Module):
    """Coarse and fine NeRF networks with nerf-pytorch's hierarchical sampling, both trained
    as ``method`` (vanilla, fr or bn; :class:`~iga.models.nerf.NeRFField`). ``render`` holds
    the sampling settings (``n_coarse``, ``n_fine``, ``perturb``, ``raw_noise_std``,
    ``white_background``, and the occupancy grid's ``grid``, ``grid_bound``,
    ``grid_threshold``, ``grid_floor``: the NeRF task's ``RenderConfig``). With ``grid`` > 0 the
    coarse samples are steered by :attr:`grid` (an
    :class:`~iga.models.occupancy_grid.OccupancyGrid`, updated by :meth:`update_grid`);
    without it (``grid`` 0 or absent) :attr:`grid` is None and nothing changes.

    ``forward(rays [R, 6])`` (origin, direction) returns ``[R, 6]``: the fine render then the
    coarse render (``[R, 3]``, the coarse render, without a fine network). After each forward,
    :attr:`last` holds the fine samples' depths and weights (detached), from which the IGA
    kernels take their inputs.
    """

    def __init__(
        self,
        net: NeRFConfig,
        render: Any,
        near: float,
        far: float,
        method: str = "vanilla",
    ) -> None:
        super().__init__()
        # FR and BN reparameterise both networks, as in the authors' nerf-pytorch (one class).
        self.coarse = NeRFField(net, method)
        self.fine = NeRFField(net, method) if render.n_fine > 0 else None
        self.render_cfg = render
        self.near, self.far = near, far
        self.last: dict[str, torch.Tensor] = {}
        cells = getattr(render, "grid", 0)
        self.grid = (
            OccupancyGrid(cells, render.grid_bound, render.grid_threshold, render.grid_floor)
            if cells
            else None
        )

    def forward(self, rays: torch.Tensor) -> torch.Tensor:
        cfg = self.render_cfg
        perturb = self.training and cfg.perturb
        noise = cfg.raw_noise_std if self.training else 0.0
        o, d = rays[:, :3], rays[:, 3:6]
        z = stratified_depths(
            self.near,
            self.far,
            cfg.n_coarse,
            rays.shape[0],
            perturb,
            device=rays.device,
            dtype=rays.dtype,
        )
        if self.grid is not None:
            z = self.grid.depths(o, d, z, self.near, self.far)
        rgb_c, w_c = render_field(self.coarse, o, d, z, cfg.white_background, noise)
        if self.fine is None:
            self.last = {"z": z.detach(), "weights": w_c.detach()}
            return rgb_c
        mids = 0.5 * (z[:, 1:] + z[:, :-1])
        z_f = sample_pdf(mids, w_c[:, 1:-1], cfg.n_fine, deterministic=not perturb)
        z_all, _ = torch.sort(torch.cat([z, z_f], dim=-1), dim=-1)
        rgb_f, w_f = render_field(self.fine, o, d, z_all, cfg.white_background, noise)
        self.last = {"z": z_all.detach(), "weights": w_f.detach()}
        return torch.cat([rgb_f, rgb_c], dim=-1)

    def update_grid(self, step: int, seed: int) -> None:
        """Update :attr:`grid` at training step ``step`` of a run seeded ``seed``
        (:meth:`OccupancyGrid.update`) from the larger of the coarse and the fine network's
        density, in eval mode (BN: running statistics, left as they were)."""
        if self.grid is None:
            raise ValueError("this NeRF has no occupancy grid (--grid 0)")
        nets = [n for n in (self.coarse, self.fine) if n is not None]
        modes = [n.training for n in nets]
        for n in nets:
            n.eval()

        def density(x: torch.Tensor) -> torch.Tensor:
            return torch.stack([n.density(x) for n in nets]).amax(dim=0)

        try:
            self.grid.update(density, step, update_generator(seed, step))
        finally:
            for n, mode in zip(nets, modes, strict=True):
                n.train(mode)

    @property
    def trained_field(self) -> NeRFField:
        """The network IGA adjusts: the fine one (the coarse one without it)."""
        return self.fine if self.fine is not None else self.coarse

    def kernel_rows(self, rays: torch.Tensor, kernel: str) -> torch.Tensor:
        """The rows the IGA kernel is taken on, one per ray of the last forward: the
        representative sample ``(point, direction)`` [R, 6] (``sample``) or the ray with its
        fine depths ``(o, d, z)`` [R, 6 + S] (``ray``)."""
        z, w = self.last["z"], self.last["weights"]
        o, d = rays[:, :3], rays[:, 3:6]
        if kernel == "ray":
            return torch.cat([o, d, z], dim=-1)
        # sample, sample-authors: the representative sample
        zi = z.gather(1, w.argmax(dim=1, keepdim=True))
        return torch.cat([o + d * zi, d], dim=-1)


class AuthorsKernel(nn.Module):
    """The function of the authors' ``compute_NTK``: ``Linear(4, 1)`` (weights 1/√4, no bias)
    after a sigmoid of the field's raw outputs, *with* that layer's weights among the
    parameters differentiated. They freeze them (``requires_grad=False``) but
    ``functorch.make_functional`` returns every parameter, frozen or not, so their kernel is
    ours (``sample``) plus ``sigmoid(raw_i)·sigmoid(raw_j)``. ``--kernel sample-authors``
    reproduces it (checked side by side with their code, docs/nerf.md); the proxy weights are
    never trained (they are not the NeRF's parameters)."""

    def __init__(self, field_net: nn.Module) -> None:
        super().__init__()
        self.field = field_net
        self.proxy = nn.Linear(4, 1, bias=False)
        with torch.no_grad():
            self.proxy.weight.fill_(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proxy(torch.sigmoid(self.field(x)))


DEAD_DRAWS = 10
"""How many times a dead network is drawn again before the run gives up."""


ALIVE_FRACTION = 0.01
"""A network with σ > 0 at fewer than this fraction of the probe points counts as dead: with
σ > 0 on a handful of points it can still get a gradient, but a seed-1 run of NeRF+IGA whose
fine network was that (1 probe ray in 1024) rendered white for 600 steps (docs/nerf.md)."""


def probe_rows(rays: torch.Tensor, near: float, far: float, n_samples: int) -> torch.Tensor:
    """Field rows [P, 6] of a fixed probe: up to 1024 rays evenly strided over ``rays``
    [N, 6], each at the midpoints of ``n_samples`` bins of [near, far]. It draws no random
    number, so probing leaves every seed's random stream as it was."""
    step = max(1, rays.shape[0] // 1024)
    r = rays[::step][:1024]
    edges = torch.linspace(near, far, n_samples + 1, dtype=r.dtype, device=r.device)
    z = (0.5 * (edges[1:] + edges[:-1])).expand(r.shape[0], n_samples)
    return ray_points(r[:, :3], r[:, 3:6], z).reshape(-1, 6)


def is_dead(field_net: nn.Module, rows: torch.Tensor) -> bool:
    """True when the field's density is zero (raw σ <= 0) at all but a fraction
    :data:`ALIVE_FRACTION` of the rows. At none, every rendering weight is zero, no gradient
    reaches the field, and it can never learn (ReLU density); at nearly none, it seldom does.
    Probed on a copy, so BN's running statistics stay as they were."""
    with torch.no_grad():
        alive = (copy.deepcopy(field_net)(rows)[:, 3] > 0).float().mean()
    return bool(alive < ALIVE_FRACTION)


def redraw_dead(
    nerf: NeRF, net: NeRFConfig, method: str, rows: torch.Tensor, seed: int
) -> dict[str, int]:
    """Draw each network of ``nerf`` that :func:`is_dead` on ``rows`` again (from the global
    random stream, so deterministically per seed); returns the draws per network.

    Raises:
        ValueError: when a network is still dead after :data:`DEAD_DRAWS` draws.
    """
    draws = {}
    device = rows.device
    for name in ("coarse", "fine"):
        if getattr(nerf, name) is None:
            continue
        k = 0
        while is_dead(getattr(nerf, name), rows):
            if k == DEAD_DRAWS:
                raise ValueError(
                    f"the {name} NeRF network renders (nearly) nothing (σ <= 0 almost "
                    f"everywhere) after {DEAD_DRAWS} draws of its weights with --seed {seed}; "
                    "try another "
                    "--seed, --method bn or a wider network"
                )
            setattr(nerf, name, NeRFField(net, method).to(device))
            k += 1
        draws[name] = k
    return draws


def ray_points(rays_o: torch.Tensor, rays_d: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Field rows [R, S, 6]: the samples ``o + z·d`` and the ray direction."""
    pts = rays_o[:, None, :] + rays_d[:, None, :] * z[..., None]
    return torch.cat([pts, rays_d[:, None, :].expand(pts.shape)], dim=-1)


def render_field(
    field_net: nn.Module,
    rays_o: torch.Tensor,
    rays_d: torch.Tensor,
    z: torch.Tensor,
    white_background: bool,
    noise_std: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour [R, 3] and weights [R, S] of ``field_net`` along rays sampled at depths ``z``."""
    raw = field_net(ray_points(rays_o, rays_d, z).reshape(-1, 6)).reshape(*z.shape, 4)
    rgb, sigma = NeRFField.activate(raw, noise_std)
    weights = render_weights(sigma, z, rays_d)
    return composite(rgb, weights, white_background), weights


class RayRenderer(nn.Module):
    """The fine render of a ray as a module of ``[R, 6 + S]`` rows ``(o, d, z_1..z_S)``: the
    function whose per-ray eNTK is the exact kernel (``--kernel ray``). Its parameters are the
    field's; the sample depths are inputs, i.e. held fixed."""

    def __init__(self, field_net: nn.Module, white_background: bool = True) -> None:
        super().__init__()
        self.field = field_net
        self.white_background = white_background

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb, _ = render_field(self.field, x[:, :3], x[:, 3:6], x[:, 6:], self.white_background)
        return rgb

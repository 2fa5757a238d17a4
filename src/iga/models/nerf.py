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

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from iga.models.reparam import FRLinear

__all__ = [
    "FR_LAYERS",
    "NERF_FR_BASES",
    "NERF_METHODS",
    "FrequencyEncoding",
    "NeRFConfig",
    "NeRFField",
    "check_method",
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
        pts = self.embed(x[..., :3])
        h = pts
        for i, (layer, norm) in enumerate(zip(self.trunk, self.norms, strict=True)):
            h = torch.relu(norm(layer(h)))
            if i == self.cfg.skip:
                h = torch.cat([pts, h], dim=-1)
        sigma = self.sigma(h)
        if self.cfg.use_viewdirs:
            dirs = x[..., 3:]
            dirs = dirs / torch.linalg.vector_norm(dirs, dim=-1, keepdim=True).clamp_min(1e-12)
            hv = torch.cat([self.feature(h), self.embed_dirs(dirs)], dim=-1)
            rgb = self.rgb(torch.relu(self.view(hv)))
        else:
            rgb = self.rgb(h)
        return torch.cat([rgb, sigma], dim=-1)

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

"""Neural radiance fields on Blender scenes, vanilla or with IGA on the fine network (paper
Sec. 6.3, App. F, Table 3).

The model is the original NeRF (:class:`iga.models.nerf.NeRFField`, coarse and fine networks)
and the renderer :mod:`iga.models.render` (nerf-pytorch's conventions). Each training step
draws ``batch_rays`` rays (by default from one random training view, as nerf-pytorch does for
Blender scenes), renders them with the coarse network (stratified samples) and the fine one
(the stratified plus ``n_fine`` inverse-CDF samples), and minimises the MSE of both renders.

IGA, as in the paper, adjusts the fine network's gradient only: every ray of the batch is a
group; the residual of a ray is its rendered fine colour minus the target; S mixes the ray
residuals across the batch; the coarse loss stays plain. The fine loss is
``(2/(R·C)) Σ rendered ⊙ (S r).detach()`` (:meth:`iga.IGA.loss`), so its gradient is
``Jᵀ S r`` with J the Jacobian of the rendered colours. Three kernels (``--kernel``):

* ``sample`` (the paper's): the eNTK of the fine network at each ray's representative, the
  fine sample with the largest rendering weight, of the scalar ``Σ sigmoid(raw) / 2`` over the
  four raw outputs (r, g, b, σ), the authors' scalar. This is a proxy: the renderer does not
  compute a sigmoid of σ.
* ``sample-authors``: the same kernel as the authors' code computes it, which also
  differentiates their frozen proxy layer and so adds ``sigmoid(raw_i)·sigmoid(raw_j)``
  (:class:`AuthorsKernel`).
* ``ray``: the exact per-ray kernel, the eNTK of ``Σ_c rendered_c / √3`` of each ray with
  respect to the fine network's parameters (its samples held fixed): the kernel of the
  function the loss actually sees. It costs one per-ray backward through all fine samples.

All go through the public core: an :class:`iga.IGA` whose model is the kernel's function
(:class:`RayRenderer`, :class:`AuthorsKernel` or the fine field with an ``output_fn``) and
whose inputs are the kernel's rows (rays with their sample depths, or the representative
points), wrapped by :class:`NeRFAdjuster`, which adds the plain coarse loss.

A run directory holds the usual ``config.json``, ``metrics.csv``, ``summary.json``
(:mod:`iga.tasks.base`) with ``psnr_test``/``ssim_test`` (held-out test views), plus
``test/`` (every rendered test view as PNG), ``test_views.png`` (renders beside the truth),
``turntable.gif``, ``psnr.png`` (training and validation PSNR) and ``best.pt``/``final.pt``.
"""

from __future__ import annotations

import copy
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from iga import metrics
from iga.core import IGA
from iga.figures import plots
from iga.io import save_gif, save_png, save_torch
from iga.models.nerf import NeRFConfig, NeRFField, check_method
from iga.models.render import camera_rays, composite, render_weights, sample_pdf, stratified_depths
from iga.optim import recipe_lr
from iga.tasks import registry
from iga.tasks.base import Fit, check_ints, config_from_dict, fit
from iga.tasks.nerf.data import BlenderScene, load_blender
from iga.train import MethodConfig, TrainConfig, TrainResult

__all__ = [
    "BATCHING",
    "KERNELS",
    "AuthorsKernel",
    "NeRF",
    "NeRFAdjuster",
    "NeRFFitConfig",
    "NeRFTask",
    "RayRenderer",
    "RenderConfig",
    "fit_nerf",
    "is_dead",
    "pose_spherical",
    "probe_rows",
    "redraw_dead",
    "render_image",
    "run_key",
    "score_views",
]

KERNELS = ("sample", "sample-authors", "ray")
BATCHING = ("image", "all")
NERF_LR = 5e-4
"""nerf-pytorch's learning rate (Adam), for every method."""


@dataclass
class RenderConfig:
    """Samples along each ray and the compositing (defaults: the cpu tier)."""

    n_coarse: int = field(default=32, metadata={"help": "stratified samples per ray (paper: 64)"})
    n_fine: int = field(
        default=32,
        metadata={
            "help": "extra inverse-CDF samples per ray for the fine network "
            "(paper: 128; 0: no fine network)"
        },
    )
    perturb: bool = field(default=True, metadata={"help": "jitter the samples while training"})
    raw_noise_std: float = field(
        default=0.0, metadata={"help": "noise added to σ while training (Blender scenes: 0)"}
    )
    white_background: bool = field(default=True, metadata={"help": "composite onto white"})
    chunk: int = field(default=2048, metadata={"help": "rays per chunk when rendering views"})

    def __post_init__(self) -> None:
        check_ints(
            ("--n-coarse", self.n_coarse, 2),
            ("--n-fine", self.n_fine, 0),
            ("--chunk", self.chunk, 1),
        )
        if not self.raw_noise_std >= 0:
            raise ValueError(f"--raw-noise-std must be >= 0; got {self.raw_noise_std}")


def _default_net() -> NeRFConfig:
    return NeRFConfig(depth=4, width=128, skip=-1, multires=10, multires_views=4)


def _default_method() -> MethodConfig:
    # The authors' NeRF runs: eigenvalues 0..4 lowered to λ_5 (xuhao=5, replace_end=5).
    return MethodConfig(end=5)


def _default_train() -> TrainConfig:
    # nerf-pytorch: Adam 5e-4, lr × 0.1^(step / (lrate_decay·1000)), i.e. ×0.1 over its run.
    return TrainConfig(steps=3000, lr=NERF_LR, schedule="exp", decay=0.1, checkpoint_every=500)


@dataclass
class NeRFFitConfig:
    """Everything that defines a NeRF run (defaults: the cpu tier)."""

    scene: str = field(default="", metadata={"help": "Blender scene folder (transforms_*.json)"})
    size: int = field(default=100, metadata={"help": "render views at SIZE×SIZE (0: as stored)"})
    train_views: int = field(default=0, metadata={"help": "first k training views (0: all)"})
    test_views: int = field(default=8, metadata={"help": "first k test views scored (0: all)"})
    val_views: int = field(
        default=1, metadata={"help": "validation views rendered every --validate-every steps"}
    )
    validate_every: int = field(
        default=500, metadata={"help": "validation PSNR every k steps (picks the best weights)"}
    )
    batch_rays: int = field(default=1024, metadata={"help": "rays per step (IGA: its groups)"})
    batching: str = field(
        default="image",
        metadata={"help": "rays of a step from one random view (image; nerf-pytorch) or all"},
    )
    kernel: str = field(
        default="sample",
        metadata={
            "help": "IGA's kernel: sample (paper: fine network at the max-weight sample), "
            "sample-authors (the same as the authors' code computes it) or ray (exact "
            "per-ray eNTK of the rendered colour)"
        },
    )
    turntable_frames: int = field(
        default=40, metadata={"help": "frames of turntable.gif (0: none)"}
    )
    net: NeRFConfig = field(default_factory=_default_net)
    render: RenderConfig = field(default_factory=RenderConfig)
    method: MethodConfig = field(default_factory=_default_method)
    train: TrainConfig = field(default_factory=_default_train)
    out: str = field(default="runs/nerf", metadata={"help": "run directory"})
    overwrite: bool = field(default=False, metadata={"help": "replace a run already in --out"})

    def __post_init__(self) -> None:
        check_ints(
            ("--size", self.size, 0),
            ("--train-views", self.train_views, 0),
            ("--test-views", self.test_views, 0),
            ("--val-views", self.val_views, 0),
            ("--validate-every", self.validate_every, 1),
            ("--batch-rays", self.batch_rays, 2),
            ("--turntable-frames", self.turntable_frames, 0),
        )
        if self.size == 1:
            raise ValueError("--size must be 0 (as stored) or at least 2")
        if self.batching not in BATCHING:
            raise ValueError(f"--batching must be image or all; got {self.batching!r}")
        if self.kernel not in KERNELS:
            raise ValueError(f"--kernel must be one of {', '.join(KERNELS)}; got {self.kernel!r}")
        if self.method.method in ("fr", "bn"):  # at config time: one-line CLI errors
            check_method(self.net, self.method.method)
        if self.method.method == "iga" and self.method.every != 1:
            raise ValueError(
                "--every must be 1 for NeRF: each step draws new rays, and S is a matrix over "
                "one step's rays"
            )
        if self.method.method == "iga" and self.method.sampling != "max_residual":
            raise ValueError(
                "--sampling does not apply to NeRF: each ray is its own group (its "
                "representative is the fine sample with the largest weight)"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NeRFFitConfig:
        """Rebuild a config from its ``asdict`` / ``config.json`` form (extra keys refused)."""
        return config_from_dict(cls, data)

    @property
    def lr(self) -> float:
        # NeRF's MLP is a ReLU network on positional encodings: an optimiser recipe's "pe" lr.
        return self.train.lr or recipe_lr(self.train.optimizer, "pe") or NERF_LR


def _points(rays_o: torch.Tensor, rays_d: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
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
    raw = field_net(_points(rays_o, rays_d, z).reshape(-1, 6)).reshape(*z.shape, 4)
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


class NeRF(nn.Module):
    """Coarse and fine NeRF networks with nerf-pytorch's hierarchical sampling, both trained
    as ``method`` (vanilla, fr or bn; :class:`~iga.models.nerf.NeRFField`).

    ``forward(rays [R, 6])`` (origin, direction) returns ``[R, 6]``: the fine render then the
    coarse render (``[R, 3]``, the coarse render, without a fine network). After each forward,
    :attr:`last` holds the fine samples' depths and weights (detached), from which the IGA
    kernels take their inputs.
    """

    def __init__(
        self,
        net: NeRFConfig,
        render: RenderConfig,
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


def _sigmoid_proxy(row: torch.Tensor) -> torch.Tensor:
    # The authors' scalar: Linear(4, 1) with weights 1/√4 after a sigmoid of the raw outputs.
    return torch.sigmoid(row).sum() / math.sqrt(row.shape[-1])


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


class NeRFAdjuster:
    """IGA on the fine render plus the plain coarse loss: what :func:`iga.train.train` calls.

    ``iga`` is an :class:`iga.IGA` over the batch's rays (one group each) whose model is the
    kernel's function; :meth:`loss` takes the NeRF's output ``[R, 6]`` (fine, coarse), the
    targets and the rays, and returns ``iga.loss(fine, target, kernel rows) + MSE(coarse)``.
    """

    def __init__(self, nerf: NeRF, iga: IGA, kernel: str) -> None:
        self.nerf, self.iga, self.kernel = nerf, iga, kernel

    @classmethod
    def build(
        cls, nerf: NeRF, batch_rays: int, kernel: str, method: MethodConfig, seed: int
    ) -> NeRFAdjuster:
        """The adjuster of ``method`` (end, start, ref, solver) for batches of ``batch_rays``."""
        field_net = nerf.trained_field
        if kernel == "ray":
            # Rows are rays of many field points: only the generic (torch.func) eNTK applies.
            model: nn.Module = RayRenderer(field_net, nerf.render_cfg.white_background)
            output_fn, entk_method = None, "functorch"
        elif kernel == "sample-authors":
            model, output_fn, entk_method = AuthorsKernel(field_net), None, "auto"
            model.to(next(field_net.parameters()))
        else:
            model, output_fn, entk_method = field_net, _sigmoid_proxy, "auto"
        iga = IGA(
            model,
            torch.arange(batch_rays).reshape(-1, 1),
            end=method.end,
            start=method.start,
            ref=method.ref,
            every=1,
            output_fn=output_fn,
            entk_method=entk_method,
            seed=seed,
            solver=method.solver,
            iters=method.solver_iters,
        )
        return cls(nerf, iga, kernel)

    def loss(self, pred: torch.Tensor, target: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        rows = self.nerf.kernel_rows(inputs, self.kernel)
        fine = self.iga.loss(pred[:, :3], target[:, :3], rows)
        if pred.shape[1] == 3:
            return fine
        return fine + nn.functional.mse_loss(pred[:, 3:], target[:, 3:])

    def stats(self) -> dict[str, Any]:
        return self.iga.stats()

    def state_dict(self) -> dict[str, Any]:
        return self.iga.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.iga.load_state_dict(state)


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
    return _points(r[:, :3], r[:, 3:6], z).reshape(-1, 6)


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


def _plain_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # nerf-pytorch's img_loss + img_loss0: the sum of the two renders' MSEs.
    loss = nn.functional.mse_loss(pred[:, :3], target[:, :3])
    if pred.shape[1] > 3:
        loss = loss + nn.functional.mse_loss(pred[:, 3:], target[:, 3:])
    return loss


def _fine_psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -10.0 * torch.log10(((pred[:, :3] - target[:, :3]) ** 2).mean())


def _view_rays(scene: BlenderScene, poses: torch.Tensor) -> torch.Tensor:
    """Rays [V, H, W, 6] of camera poses [V, 4, 4] at the scene's size and focal length."""
    out = []
    for c2w in poses:
        o, d = camera_rays(scene.height, scene.width, scene.focal, c2w)
        out.append(torch.cat([o, d], dim=-1))
    return torch.stack(out)


def render_image(model: NeRF, rays: torch.Tensor, chunk: int) -> torch.Tensor:
    """The fine (else coarse) render [H, W, 3] of one view's rays [H, W, 6], in eval mode."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            flat = rays.reshape(-1, 6)
            rgb = torch.cat([model(c)[:, :3] for c in flat.split(chunk)])
    finally:
        model.train(was)
    return rgb.reshape(*rays.shape[:-1], 3).clamp(0.0, 1.0)


def score_views(
    model: NeRF, scene: BlenderScene, chunk: int
) -> tuple[list[torch.Tensor], dict[str, list[float]]]:
    """Render every view of ``scene`` with ``model`` and score it against the view's image.

    Returns the renders [H, W, 3] (on the CPU) and per-view ``psnr``, ``ssim`` and ``lpips``
    lists (``lpips`` empty when LPIPS is not installed). Any NeRF-layout weights can be scored
    this way, e.g. another code's checkpoint mapped into :class:`NeRF`.
    """
    device = next(model.parameters()).device
    renders: list[torch.Tensor] = []
    scores: dict[str, list[float]] = {"psnr": [], "ssim": [], "lpips": []}
    for r, img in zip(_view_rays(scene, scene.poses), scene.images, strict=True):
        pred = render_image(model, r.to(device), chunk).cpu()
        renders.append(pred)
        scores["psnr"].append(metrics.psnr(pred, img))
        scores["ssim"].append(metrics.ssim(pred, img))
        lp = metrics.lpips_metric(pred, img)
        if lp is not None:
            scores["lpips"].append(lp)
    return renders, scores


def pose_spherical(theta: float, phi: float, radius: float) -> torch.Tensor:
    """nerf-pytorch's turntable camera: on a sphere of ``radius`` at azimuth ``theta`` and
    elevation ``phi`` (degrees), looking at the origin (Blender axes, z up)."""
    t = torch.eye(4)
    t[2, 3] = radius
    p, th = math.radians(phi), math.radians(theta)
    rot_phi = torch.tensor(
        [
            [1, 0, 0, 0],
            [0, math.cos(p), -math.sin(p), 0],
            [0, math.sin(p), math.cos(p), 0],
            [0, 0, 0, 1],
        ],
        dtype=torch.float32,
    )
    rot_theta = torch.tensor(
        [
            [math.cos(th), 0, -math.sin(th), 0],
            [0, 1, 0, 0],
            [math.sin(th), 0, math.cos(th), 0],
            [0, 0, 0, 1],
        ],
        dtype=torch.float32,
    )
    flip = torch.tensor(
        [[-1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=torch.float32
    )
    return flip @ rot_theta @ rot_phi @ t


class NeRFTask:
    """NeRF on the task contract (:mod:`iga.tasks.base`): rays -> rendered colour."""

    name: ClassVar[str] = "nerf"

    def method(self, cfg: NeRFFitConfig) -> MethodConfig:
        return cfg.method

    def lr(self, cfg: NeRFFitConfig) -> float:
        return cfg.lr

    def _load(self, cfg: NeRFFitConfig, split: str, views: int) -> BlenderScene:
        return load_blender(
            cfg.scene,
            split,
            size=cfg.size or None,
            views=views or None,
            white_background=cfg.render.white_background,
        )

    def setup(self, cfg: NeRFFitConfig, device: torch.device) -> Fit:
        if not str(cfg.scene).strip():
            raise ValueError("no scene given; name one: iga fit nerf SCENE_DIR (Blender layout)")
        train_scene = self._load(cfg, "train", cfg.train_views)
        self.train_scene = train_scene
        v, h, w = train_scene.images.shape[:3]
        if cfg.batching == "image" and cfg.batch_rays > h * w:
            raise ValueError(
                f"--batch-rays {cfg.batch_rays} exceeds the {h}×{w} pixels of a view; lower "
                "--batch-rays or use --batching all"
            )
        if cfg.method.method == "iga" and cfg.method.end >= cfg.batch_rays:
            raise ValueError(
                f"--end {cfg.method.end} must be smaller than --batch-rays {cfg.batch_rays}"
            )
        rays = _view_rays(train_scene, train_scene.poses).to(device)  # [V, H, W, 6]
        target = train_scene.images.to(device)
        field_method = cfg.method.method if cfg.method.method in ("fr", "bn") else "vanilla"
        model = NeRF(cfg.net, cfg.render, train_scene.near, train_scene.far, field_method)
        model = model.to(device)
        redraws = {}
        if cfg.net.redraw_dead:
            # nerf-pytorch's ReLU density is dead at initialisation for about half of the seeds
            # (docs/nerf.md): such a run renders white for ever. Drawing that network again
            # costs a forward pass and spares an hour of nothing.
            probe = probe_rows(rays[0].reshape(-1, 6), train_scene.near, train_scene.far, 64)
            redraws = redraw_dead(model, cfg.net, field_method, probe, cfg.train.seed)
            for name, k in redraws.items():
                if k:
                    print(
                        f"NeRF: the {name} network was dead at initialisation (σ > 0 at under "
                        f"{ALIVE_FRACTION:.0%} of {probe.shape[0]} probe points); drawn again {k}×",
                        file=sys.stderr,
                    )
        batch, mode = cfg.batch_rays, cfg.batching
        # The model renders [fine, coarse]; the target is repeated to match (the logged mse is
        # over both renders, the score over the fine one).
        n_out = 6 if model.fine is not None else 3

        def both(t: torch.Tensor) -> torch.Tensor:
            return t.repeat(1, n_out // 3)

        def draw(step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            del step
            if mode == "image":
                i = int(torch.randint(v, (1,), generator=generator))
                pix = torch.randperm(h * w, generator=generator)[:batch].to(device)
                return rays[i].reshape(-1, 6)[pix], both(target[i].reshape(-1, 3)[pix])
            pix = torch.randperm(v * h * w, generator=generator)[:batch].to(device)
            return rays.reshape(-1, 6)[pix], both(target.reshape(-1, 3)[pix])

        val = self._load(cfg, "val", cfg.val_views) if cfg.val_views else None
        val_rays = _view_rays(val, val.poses).to(device) if val is not None else None

        def validate(m: nn.Module) -> dict[str, Any]:
            assert val is not None and val_rays is not None
            scores = [
                metrics.psnr(render_image(m, r, cfg.render.chunk).cpu(), img)  # type: ignore[arg-type]
                for r, img in zip(val_rays, val.images, strict=True)
            ]
            return {"psnr_val": float(np.mean(scores))}

        adjuster = None
        if cfg.method.method == "iga":
            adjuster = NeRFAdjuster.build(model, batch, cfg.kernel, cfg.method, cfg.train.seed)
        self.model = model
        return Fit(
            model=model,
            inputs=torch.empty(0, 6),
            target=torch.empty(0, n_out),
            groups=torch.arange(batch).reshape(-1, 1),
            batch=draw,
            loss=_plain_loss,
            score=_fine_psnr,
            score_name="psnr_train",
            validate=validate if val is not None else None,
            validate_every=cfg.validate_every,
            validate_key="psnr_val",
            log_every=max(1, min(50, cfg.validate_every // 10)),
            adjuster=adjuster,
            resolved={
                "train_views": int(v),
                "image_size": [int(h), int(w)],
                "focal": float(train_scene.focal),
                "rays_per_step": int(batch),
                "samples_per_ray": [cfg.render.n_coarse, cfg.render.n_coarse + cfg.render.n_fine],
                "epochs": cfg.train.steps * batch / (v * h * w),
                "parameters": int(sum(p.numel() for p in model.parameters())),
                "dead_init_redraws": redraws,
            },
            groups_flag="--batch-rays",
        )

    def evaluate(
        self, cfg: NeRFFitConfig, fit: Fit, result: TrainResult, out: Path
    ) -> dict[str, Any]:
        model: NeRF = fit.model  # type: ignore[assignment]
        device = next(model.parameters()).device
        model.load_state_dict(result.best_state)
        test = self._load(cfg, "test", cfg.test_views)
        renders, scores = score_views(model, test, cfg.render.chunk)
        psnrs, ssims, lpipss = scores["psnr"], scores["ssim"], scores["lpips"]
        (out / "test").mkdir(exist_ok=True)
        for i, pred in enumerate(renders):
            save_png(out / "test" / f"{i:03d}.png", pred)
        title = f"{Path(cfg.scene).name} {cfg.method.method}"
        shown = {}
        for i in range(min(3, len(renders))):
            shown[f"test {i}: render"] = renders[i]
            shown[f"test {i}: truth"] = test.images[i]
        plots.side_by_side(
            shown,
            out / "test_views.png",
            titles_extra={
                f"test {i}: render": f"{psnrs[i]:.2f} dB" for i in range(len(shown) // 2)
            },
        )
        if cfg.turntable_frames:
            frames = []
            for k in range(cfg.turntable_frames):
                c2w = pose_spherical(-180 + 360 * k / cfg.turntable_frames, -30.0, 4.0)
                r = _view_rays(test, c2w[None])[0].to(device)
                frames.append(render_image(model, r, cfg.render.chunk).cpu())
            save_gif(out / "turntable.gif", frames)
        curves = {
            "training batch (fine)": (
                [row["step"] for row in result.history if "psnr_train" in row],
                [row["psnr_train"] for row in result.history if "psnr_train" in row],
            )
        }
        val_rows = [row for row in result.history if row.get("psnr_val") is not None]
        if val_rows:
            curves["validation views"] = (
                [row["step"] for row in val_rows],
                [row["psnr_val"] for row in val_rows],
            )
        plots.psnr_curves(curves, out / "psnr.png", title=title)
        save_torch(out / "best.pt", result.best_state)
        save_torch(out / "final.pt", result.final_state)
        lp_status = metrics.lpips_status()
        return {
            "scene": Path(cfg.scene).name,
            "method": cfg.method.method,
            "kernel": cfg.kernel if cfg.method.method == "iga" else None,
            "psnr_test": float(np.mean(psnrs)),
            "ssim_test": float(np.mean(ssims)),
            "lpips_test": float(np.mean(lpipss)) if lpipss else None,
            "lpips_status": lp_status[1],
            "psnr_test_views": [float(p) for p in psnrs],
            "test_views": len(psnrs),
            "best_step": result.best_step,
            "psnr_val_best": result.best_score if val_rows else None,
        }


def run_key(cfg: NeRFFitConfig) -> str:
    """The key of the run ``cfg`` describes, without running it
    (:func:`iga.tasks.registry.run_key`)."""
    return registry.run_key(NeRFTask(), cfg)


def fit_nerf(
    cfg: NeRFFitConfig, progress: bool = True, desc: str = "", resume: bool | str = False
) -> dict[str, Any]:
    """Run one NeRF fit into ``cfg.out``; returns the summary (also summary.json).

    Raises:
        TrainingDiverged: after writing the outputs of the best step before the divergence.
        TrainingInterrupted: SIGINT/SIGTERM; ``--resume`` continues from the checkpoint.
    """
    return fit(NeRFTask(), cfg, progress=progress, desc=desc, resume=resume)

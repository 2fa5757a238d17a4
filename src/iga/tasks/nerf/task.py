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

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from iga import metrics
from iga.adjusters import NeRFAdjuster
from iga.figures import plots
from iga.io import save_gif, save_png, save_torch
from iga.models.nerf import (
    ALIVE_FRACTION,
    NeRF,
    NeRFConfig,
    check_method,
    probe_rows,
    redraw_dead,
)
from iga.models.occupancy_grid import check_grid_options
from iga.models.render import camera_rays, pose_spherical
from iga.optim import recipe_lr
from iga.tasks import registry
from iga.tasks.base import Fit, check_ints, config_from_dict, fit
from iga.tasks.nerf.data import BlenderScene, load_blender
from iga.train import MethodConfig, TrainConfig, TrainResult

__all__ = [
    "BATCHING",
    "KERNELS",
    "NeRFFitConfig",
    "NeRFTask",
    "RenderConfig",
    "fit_nerf",
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
    # The occupancy grid (iga.models.occupancy_grid, docs/nerf.md): off by default.
    grid: int = field(
        default=0,
        metadata={"help": "occupancy grid: cells per axis steering the coarse samples (0: off)"},
    )
    grid_every: int = field(default=16, metadata={"help": "update the grid every k steps"})
    grid_threshold: float = field(
        default=0.01, metadata={"help": "a cell is occupied above this opacity σ·cell size"}
    )
    grid_bound: float = field(default=1.5, metadata={"help": "the grid spans [-B, B]³"})
    grid_floor: float = field(
        default=0.01, metadata={"help": "sampling density in empty cells, relative to occupied"}
    )

    def __post_init__(self) -> None:
        check_ints(
            ("--n-coarse", self.n_coarse, 2),
            ("--n-fine", self.n_fine, 0),
            ("--chunk", self.chunk, 1),
        )
        if not self.raw_noise_std >= 0:
            raise ValueError(f"--raw-noise-std must be >= 0; got {self.raw_noise_std}")
        g = (self.grid, self.grid_every, self.grid_threshold, self.grid_bound, self.grid_floor)
        check_grid_options(*g)


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


def plain_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """nerf-pytorch's img_loss + img_loss0: the sum of the fine and coarse renders' MSEs."""
    loss = nn.functional.mse_loss(pred[:, :3], target[:, :3])
    if pred.shape[1] > 3:
        loss = loss + nn.functional.mse_loss(pred[:, 3:], target[:, 3:])
    return loss


def _fine_psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -10.0 * torch.log10(((pred[:, :3] - target[:, :3]) ** 2).mean())


def _grid_column(model: NeRF) -> Callable[[int, torch.Tensor], dict[str, float]]:
    grid = model.grid
    assert grid is not None
    return lambda step, pred: {"grid_occupied": float(grid.occupied.float().mean())}


def view_rays(scene: BlenderScene, poses: torch.Tensor) -> torch.Tensor:
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
    for r, img in zip(view_rays(scene, scene.poses), scene.images, strict=True):
        pred = render_image(model, r.to(device), chunk).cpu()
        renders.append(pred)
        scores["psnr"].append(metrics.psnr(pred, img))
        scores["ssim"].append(metrics.ssim(pred, img))
        lp = metrics.lpips_metric(pred, img)
        if lp is not None:
            scores["lpips"].append(lp)
    return renders, scores


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
        rays = view_rays(train_scene, train_scene.poses).to(device)  # [V, H, W, 6]
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
            if model.grid is not None and step % cfg.render.grid_every == 0:
                model.update_grid(step, cfg.train.seed)  # before the step's forward
            if mode == "image":
                i = int(torch.randint(v, (1,), generator=generator))
                pix = torch.randperm(h * w, generator=generator)[:batch].to(device)
                return rays[i].reshape(-1, 6)[pix], both(target[i].reshape(-1, 3)[pix])
            pix = torch.randperm(v * h * w, generator=generator)[:batch].to(device)
            return rays.reshape(-1, 6)[pix], both(target.reshape(-1, 3)[pix])

        val = self._load(cfg, "val", cfg.val_views) if cfg.val_views else None
        val_rays = view_rays(val, val.poses).to(device) if val is not None else None

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
            loss=plain_loss,
            score=_fine_psnr,
            score_name="psnr_train",
            validate=validate if val is not None else None,
            validate_every=cfg.validate_every,
            validate_key="psnr_val",
            log_every=max(1, min(50, cfg.validate_every // 10)),
            adjuster=adjuster,
            extra=_grid_column(model) if model.grid is not None else None,
            resolved={
                "train_views": int(v),
                "image_size": [int(h), int(w)],
                "focal": float(train_scene.focal),
                "near": float(train_scene.near),
                "far": float(train_scene.far),
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
                r = view_rays(test, c2w[None])[0].to(device)
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

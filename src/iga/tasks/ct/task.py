"""Sparse-view CT (``iga fit ct``): fit an INR of the slice through its projections.

The slice's parallel-beam sinogram at ``--angles`` angles in [0°, 180°) is simulated with
scikit-image's ``radon`` (optionally with Gaussian noise, ``--noise`` × the sinogram's largest
value). The INR maps ``(y, x)`` in [-1, 1] to attenuation; a prediction is the mean of the INR
along a ray (:func:`iga.tasks.ct.data.project`), so a row of the model's input is a ray
``(θ, c')`` and the eNTK is that of the ray's integral (the "rows are rays" contract of NeRF).
IGA's groups are bundles of ``--bundle`` neighbouring detector cells of one angle; a step
draws ``--batch-groups`` bundles. Rays that miss the slice are left out.

The slice itself is never trained on. Every ``--eval-every`` steps the INR is scored on all
training rays (``sino_mse``: what a user can compute, so it picks the best weights; with
``--val-angles K``, K of the projections are set aside, never trained on, and their rays'
``val_sino_mse`` picks them instead) and, held out, on the N×N slice (``psnr`` in
``metrics.csv``: overfitting shows as a peak and a decline).
The summary's ``psnr``/``ssim`` are those of the weights the sinogram picks (``best.pt``),
``psnr_final`` the last step's, and ``psnr_oracle`` the best held-out score along training (with
``oracle_step``), which only an early stop that knows the truth could reach. Filtered
back-projection (``iradon``, ramp filter) of the same sinogram is the classical baseline
(``fbp_psnr``, ``fbp_ssim``).

A run directory holds ``config.json``, ``metrics.csv``, ``summary.json``,
``reconstruction.png`` (the picked weights), ``comparison.png`` (truth, FBP, INR), ``psnr.png``
(held-out PSNR along training, FBP as a line), ``best.pt`` and ``final.pt``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from iga import metrics
from iga.figures import plots
from iga.io import save_png, save_torch
from iga.methods import model_method
from iga.models import build
from iga.models.config import ModelConfig
from iga.optim import recipe_lr
from iga.tasks import registry
from iga.tasks.base import Fit, check_ints, config_from_dict, fit
from iga.tasks.common import fresh_facts, fresh_options, group_batches, predict, window_groups
from iga.tasks.ct.data import (
    PHANTOM,
    all_rays,
    angles_deg,
    fbp,
    load_slice,
    padded_size,
    project,
    sinogram,
)
from iga.tasks.image.data import image_coords
from iga.train import MethodConfig, TrainConfig, TrainResult

__all__ = [
    "CTFitConfig",
    "CTTask",
    "Projector",
    "build_model",
    "fit_ct",
    "fresh_choice",
    "fresh_signal",
    "run_key",
]


def default_lr(arch: str) -> float:
    """1e-2 for ReLU and PE, 1e-3 for the periodic archs: measured on the phantom (64², 50
    angles, 300 steps), where each was better than 10× lower for vanilla and IGA alike
    (``docs/ct.md``)."""
    return 1e-2 if arch in ("relu", "pe") else 1e-3


@dataclass
class CTFitConfig:
    """Everything that defines a sparse-view CT run (defaults: the cpu tier)."""

    path: str = field(default=PHANTOM, metadata={"help": "grey slice image, or 'phantom'"})
    size: int = field(default=64, metadata={"help": "slice side in pixels (resized)"})
    angles: int = field(default=50, metadata={"help": "projection angles in [0°, 180°)"})
    noise: float = field(
        default=0.0, metadata={"help": "Gaussian noise std, × the sinogram's largest value"}
    )
    bundle: int = field(default=4, metadata={"help": "IGA: neighbouring rays per group"})
    batch_groups: int = field(default=256, metadata={"help": "groups (bundles) per step"})
    eval_every: int = field(default=50, metadata={"help": "score the slice every k steps"})
    val_angles: int = field(
        default=0,
        metadata={
            "help": "set aside this many of the --angles projections (seeded): never trained "
            "on, their rays pick the best weights (0: the training rays pick them)"
        },
    )
    model: ModelConfig = field(default_factory=lambda: ModelConfig(arch="siren", width=64))
    method: MethodConfig = field(default_factory=lambda: MethodConfig(end=20))
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=1000, checkpoint_every=100)
    )
    out: str = field(default="runs/ct", metadata={"help": "run directory"})
    overwrite: bool = field(default=False, metadata={"help": "replace a run already in --out"})

    def __post_init__(self) -> None:
        check_ints(
            ("--size", self.size, 8),
            ("--angles", self.angles, 1),
            ("--bundle", self.bundle, 1),
            ("--batch-groups", self.batch_groups, 1),
            ("--eval-every", self.eval_every, 1),
            ("--val-angles", self.val_angles, 0),
        )
        if self.val_angles >= self.angles:
            raise ValueError(
                f"--val-angles {self.val_angles} leaves no projection to train on (--angles "
                f"{self.angles}); set aside fewer, e.g. --val-angles {max(1, self.angles // 10)}"
            )
        if not (math.isfinite(self.noise) and self.noise >= 0):
            raise ValueError(f"--noise must be >= 0; got {self.noise}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CTFitConfig:
        return config_from_dict(cls, data)

    @property
    def lr(self) -> float:
        return (
            self.train.lr
            or recipe_lr(self.train.optimizer, self.model.arch)
            or default_lr(self.model.arch)
        )


class Projector(nn.Module):
    """The forward model trained through: rays ``[R, 2]`` (θ, c') -> the mean of the INR
    along each ray ``[R, 1]`` (:func:`iga.tasks.ct.data.project`); ``inr`` is the field."""

    def __init__(self, inr: nn.Module, n: int) -> None:
        super().__init__()
        self.inr = inr
        self.n = n

    def forward(self, rays: torch.Tensor) -> torch.Tensor:
        return project(self.inr, rays, self.n)

    def describe(self) -> str:
        return f"{self.inr.describe()} (integrated along rays)"  # type: ignore[operator]


def build_model(cfg: CTFitConfig, fresh: dict[str, object] | None = None) -> nn.Module:
    """The INR of ``cfg`` (2 -> 1), initialised from ``cfg.train.seed``; with ``--fresh``, at
    FreSh's choice (``fresh``: a recorded choice, so a loaded run does not choose again)."""
    if fresh is None:
        fresh = fresh_choice(cfg)[0]
    return _build(cfg, {**cfg.model.options, **fresh}, cfg.train.seed)


def _build(cfg: CTFitConfig, options: dict[str, Any], seed: int) -> nn.Module:
    options = dict(options)
    if cfg.method.method == "bn":
        # Trained on points along rays, scored on the pixel grid: BN's eval mode needs the
        # running statistics of the training batches (batch statistics of the grid would
        # compute another function).
        options.setdefault("bn_running_stats", True)
    return build(
        cfg.model.arch,
        2,
        1,
        hidden_features=cfg.model.width,
        hidden_layers=cfg.model.hidden_layers,
        seed=seed,
        method=model_method(cfg.method.method),
        **options,
    )


def fresh_signal(cfg: CTFitConfig) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]:
    """What FreSh matches on CT, which never sees the slice: the filtered back-projection
    (:func:`~iga.tasks.ct.data.fbp`) of the projections the run trains on (noise included,
    ``--val-angles`` left out), on the N×N pixel grid: ``(coords [N², 2], fbp [N², 1], (N, N))``.
    iga's extension: FreSh's authors match the signal itself."""
    _, angles, sino, _ = measurements(cfg)
    train = ~val_angle_mask(len(angles), cfg.val_angles, cfg.train.seed)
    stand_in = fbp(sino[:, train], angles[train], cfg.size).astype(np.float32)
    coords = image_coords(cfg.size, cfg.size)
    return coords, torch.from_numpy(stand_in.reshape(-1, 1)), (cfg.size, cfg.size)


def fresh_choice(cfg: CTFitConfig) -> tuple[dict[str, object], Any]:
    """FreSh's choice for ``cfg`` on :func:`fresh_signal` (``({}, None)`` without ``--fresh``),
    with the image task's candidates: the slice's coordinates are the image task's."""
    what = (str(cfg.path), cfg.size, cfg.angles, cfg.noise, cfg.val_angles, cfg.method.method)
    return fresh_options(
        cfg.model,
        cfg.train.seed,
        what,
        lambda: fresh_signal(cfg),
        lambda extra, seed: _build(cfg, {**cfg.model.options, **extra}, seed),
    )


_CACHE: dict[tuple[Any, ...], tuple[np.ndarray, str]] = {}


def measurements(cfg: CTFitConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """``(slice [N, N], angles, measured sinogram [M, n_angles], note)``; the noise is drawn
    from ``cfg.train.seed``."""
    key = (str(cfg.path), cfg.size)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = load_slice(cfg.path, cfg.size)
    truth, note = _CACHE[key]
    angles = angles_deg(cfg.angles)
    sino = sinogram(truth, angles)
    if cfg.noise > 0:
        rng = np.random.default_rng(cfg.train.seed)
        sino = sino + rng.normal(scale=cfg.noise * float(sino.max()), size=sino.shape)
    return truth, angles, sino, note


def val_angle_mask(n_angles: int, count: int, seed: int) -> np.ndarray:
    """Which of ``n_angles`` projections ``--val-angles count`` sets aside: ``count`` of them
    drawn without replacement from a generator seeded by ``seed`` (boolean ``[n_angles]``)."""
    mask = np.zeros(n_angles, dtype=bool)
    if count:
        rng = np.random.default_rng([seed, 20_261_206])
        mask[rng.choice(n_angles, count, replace=False)] = True
    return mask


def _psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    return float(-10.0 * torch.log10(((pred.clamp(0, 1) - target) ** 2).mean()))


class CTTask:
    """Sparse-view CT on the task contract (:mod:`iga.tasks.base`): rays -> line integrals."""

    name: ClassVar[str] = "ct"

    def method(self, cfg: CTFitConfig) -> MethodConfig:
        return cfg.method

    def lr(self, cfg: CTFitConfig) -> float:
        return cfg.lr

    def describe_model(self, cfg: CTFitConfig) -> str:
        return build_model(cfg).describe()  # type: ignore[operator]

    def setup(self, cfg: CTFitConfig, device: torch.device) -> Fit:
        if not str(cfg.path).strip():
            raise ValueError("no slice given; name one: iga fit ct IMAGE (or 'phantom')")
        truth, angles, sino, note = measurements(cfg)
        if note:
            print(f"note: {note}")
        n = cfg.size
        rays = all_rays(n, angles)
        target = torch.from_numpy(sino.T.reshape(-1, 1).astype(np.float32))
        hits = project(lambda p: torch.ones(p.shape[0], 1), rays, n)[:, 0] > 0
        held = val_angle_mask(len(angles), cfg.val_angles, cfg.train.seed)
        is_val = torch.from_numpy(np.repeat(held, padded_size(n)))
        val, train = hits & is_val, hits & ~is_val
        val_rays, val_target = rays[val].to(device), target[val].to(device)
        rays, target = rays[train].to(device), target[train].to(device)
        groups = window_groups(int(rays.shape[0]), cfg.bundle, overlap_last=True)
        n_groups = int(groups.shape[0])
        if cfg.batch_groups > n_groups:
            raise ValueError(
                f"--batch-groups {cfg.batch_groups} exceeds the {n_groups} ray bundles; lower "
                "it or raise --angles"
            )
        model = Projector(build_model(cfg), n).to(device)
        self.truth = torch.from_numpy(truth.astype(np.float32)).to(device)
        self.sino, self.angles = sino, angles
        self.coords = image_coords(n, n, device=device)
        batch, p = cfg.batch_groups, cfg.bundle

        def mse_on(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
            return float(((predict(m, x, chunk=2048) - y) ** 2).mean())

        def validate(m: nn.Module) -> dict[str, Any]:
            mse = mse_on(m, rays, target)
            row = {"sino_mse": mse, "neg_sino_mse": -mse}
            if cfg.val_angles:
                held_mse = mse_on(m, val_rays, val_target)
                row.update({"val_sino_mse": held_mse, "neg_val_sino_mse": -held_mse})
            row["psnr"] = _psnr(self.slice_of(m), self.truth)
            return row

        job = Fit(
            model=model,
            inputs=torch.empty(0, 2),
            target=torch.empty(0, 1),
            groups=torch.arange(batch * p).reshape(batch, p),
            batch=group_batches(groups, batch, cfg.train.seed, rays, target),
            score=lambda pr, t: -((pr - t) ** 2).mean(),
            score_name="neg_mse_rays",
            validate=validate,
            validate_every=cfg.eval_every,
            validate_key="neg_val_sino_mse" if cfg.val_angles else "neg_sino_mse",
            log_every=max(1, cfg.eval_every // 10),
            resolved={
                "slice_size": [n, n],
                "detector_cells": padded_size(n),
                "rays": int(rays.shape[0]),
                "n_groups": n_groups,
                "points_per_group": p,
                "rays_per_step": batch * p,
                "note": note,
                **fresh_facts(fresh_choice(cfg)[1])[0],
            },
            groups_flag="--batch-groups",
        )
        if cfg.val_angles:
            job.resolved["val_angles_deg"] = [float(a) for a in angles[held]]
            job.resolved["val_rays"] = int(val_rays.shape[0])
        return job

    def slice_of(self, model: nn.Module) -> torch.Tensor:
        """The INR of a :class:`Projector` on the N×N pixel grid, ``[N, N]``."""
        inr = model.inr if isinstance(model, Projector) else model
        with torch.no_grad():
            return inr(self.coords).reshape(self.truth.shape)

    def evaluate(
        self, cfg: CTFitConfig, fit: Fit, result: TrainResult, out: Path
    ) -> dict[str, Any]:
        model = fit.model
        model.eval()  # BN: the running statistics of the training rays, as validation used
        model.load_state_dict(result.final_state)
        final = self.slice_of(model).clamp(0, 1).cpu()
        model.load_state_dict(result.best_state)
        best = self.slice_of(model).clamp(0, 1).cpu()
        truth = self.truth.cpu()
        fbp_t = torch.from_numpy(fbp(self.sino, self.angles, cfg.size).astype(np.float32))
        save_torch(out / "best.pt", result.best_state)
        save_torch(out / "final.pt", result.final_state)
        save_png(out / "reconstruction.png", best.numpy())
        fbp_psnr, inr_psnr = _psnr(fbp_t, truth), _psnr(best, truth)
        plots.side_by_side(
            {"truth": truth.numpy(), "FBP": fbp_t.numpy(), "INR": best.numpy()},
            out / "comparison.png",
            titles_extra={"FBP": f"{fbp_psnr:.2f} dB", "INR": f"{inr_psnr:.2f} dB"},
        )
        held = [(r["step"], r["psnr"]) for r in result.history if r.get("psnr") is not None]
        if held:
            steps = [s for s, _ in held]
            plots.psnr_curves(
                {
                    f"{cfg.model.arch}/{cfg.method.method}": (steps, [v for _, v in held]),
                    "FBP": ([steps[0], steps[-1]], [fbp_psnr, fbp_psnr]),
                },
                out / "psnr.png",
                title=f"{Path(cfg.path).name} {cfg.size}², {cfg.angles} angles (held out)",
            )
        return {
            "slice": str(cfg.path),
            "angles": cfg.angles,
            "noise": cfg.noise,
            "val_angles": cfg.val_angles,
            "picked_by": "val_sino_mse" if cfg.val_angles else "sino_mse",
            "arch": cfg.model.arch,
            "method": cfg.method.method,
            "psnr": inr_psnr,
            "ssim": metrics.ssim(best, truth),
            "best_step": result.best_step,
            "psnr_final": _psnr(final, truth),
            "ssim_final": metrics.ssim(final, truth),
            "psnr_oracle": max((v for _, v in held), default=None),
            "oracle_step": max(held, key=lambda sv: sv[1])[0] if held else None,
            "fbp_psnr": fbp_psnr,
            "fbp_ssim": metrics.ssim(fbp_t, truth),
            **fresh_facts(fresh_choice(cfg)[1])[1],
        }


def run_key(cfg: CTFitConfig) -> str:
    """The key of the run ``cfg`` describes, without running it."""
    return registry.run_key(CTTask(), cfg)


def fit_ct(
    cfg: CTFitConfig, progress: bool = True, desc: str = "", resume: bool | str = False
) -> dict[str, Any]:
    """Run one CT fit into ``cfg.out``; returns the summary (also summary.json)."""
    return fit(CTTask(), cfg, progress=progress, desc=desc, resume=resume)

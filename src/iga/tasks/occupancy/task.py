"""Fitting a shape's occupancy field (x, y, z) -> inside with an INR (paper Sec. 6.2, App. E).

The user's mesh becomes an occupancy grid of R³ points in [-1, 1]³
(:mod:`iga.meshes`: normalisation, winding-number inside test, cache). Training is
mini-batched as in the paper: the grid is split into groups (the paper's runs of consecutive
points in flattened order, or compact 3D blocks), each step draws ``batch_groups`` groups
(every group once per epoch, in a new order each epoch), the loss is the L2 error of the
occupancy values and IGA takes one representative per group of the batch.

Evaluation, stricter than the authors' (who report the best IoU of stale training-pass
predictions):

* ``iou`` / ``iou_final``: IoU at 0.5 of the trained model on the full training grid, with the
  best weights (highest full-grid IoU among the validations every ``validate_every`` steps,
  the final weights included) and with the final weights;
* ``iou_eval``: IoU on fresh uniform points of [-1, 1]³ (between the grid's voxels) and
  ``iou_near`` on fresh points within about a voxel of the surface, where shapes differ;
* ``chamfer``: Chamfer-L1 between the marching-cubes surface of the best model (on the
  training grid) and the input mesh, in normalised units (the shape spans 2·(1 − margin));
  ``chamfer_floor`` is the same for the ground-truth grid's own surface: what the
  resolution alone costs.

A run directory holds the usual ``config.json``, ``metrics.csv`` and ``summary.json``
(:mod:`iga.tasks.base`), plus ``surface.ply`` (best weights), ``surface.png`` (a shaded
picture), ``error_slices.png`` (false inside / false outside on the middle slices),
``iou.png`` (IoU along training) and ``best.pt``/``final.pt``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from iga import metrics
from iga.core import groups as groups_mod
from iga.figures import plots
from iga.io import save_torch
from iga.meshes import (
    inside,
    normalization_facts,
    sample_surface,
    surface_chamfer,
)
from iga.methods import model_method
from iga.models import build
from iga.models.config import ModelConfig
from iga.optim import recipe_lr
from iga.tasks import registry
from iga.tasks.base import Fit, check_ints, config_from_dict, fit
from iga.tasks.common import (
    batch_order,
    fresh_facts,
    mesh_fresh,
    save_surface,
)
from iga.tasks.occupancy.grid import OccupancyGrid, occupancy_grid
from iga.train import MethodConfig, TrainConfig, TrainResult

__all__ = [
    "GROUP_SHAPES",
    "OccupancyFitConfig",
    "OccupancyTask",
    "default_lr",
    "fit_occupancy",
    "flat_coords",
    "fresh_choice",
    "make_groups",
    "run_key",
]

GROUP_SHAPES = ("blocks", "runs")
"""``blocks``: cubes of ``block³`` neighbouring grid points (:func:`iga.groups.grid`);
``runs``: ``group_size`` consecutive points of the flattened grid (the paper's partition)."""

UP_AXES = ("x", "y", "z")

FR_ALPHA = 0.01
"""FR's α for every arch: the authors' occupancy scripts (``--alpha 0.01``), not their image
scripts' per-arch values (:data:`iga.models.FR_ALPHA`)."""

EVAL_SEED = 20250701
"""Seed of the fresh evaluation points: the same points for every run of a shape."""


def default_lr(method: str, arch: str) -> float:
    """The paper's occupancy learning rates (App. E): 5e-4 for SIREN, else 2e-3, the same for
    every method (the authors' scripts deviate for ReLU+IGA and ReLU+BN: 5e-3)."""
    del method
    return 5e-4 if arch == "siren" else 2e-3


def _default_train() -> TrainConfig:
    return TrainConfig(steps=3000, schedule="exp", decay=0.1, checkpoint_every=500)


def _default_method() -> MethodConfig:
    return MethodConfig(end=7)


MAX_RESOLUTION = 512
"""The largest ``--resolution`` accepted: the paper's 512³ grid."""


@dataclass
class OccupancyFitConfig:
    """Everything that defines an occupancy-fitting run (defaults: the cpu tier)."""

    path: str = field(default="", metadata={"help": "mesh file (OBJ, PLY, STL, OFF)"})
    resolution: int = field(default=128, metadata={"help": "training grid: R³ points in [-1, 1]³"})
    margin: float = field(default=0.05, metadata={"help": "empty border left around the shape"})
    groups: str = field(
        default="runs",
        metadata={"help": "IGA groups: blocks (block³ cubes) or runs (paper: flattened runs)"},
    )
    block: int = field(default=4, metadata={"help": "--groups blocks: cube edge in grid points"})
    group_size: int = field(
        default=64, metadata={"help": "--groups runs: consecutive points per group (paper: 256)"}
    )
    batch_groups: int = field(
        default=256, metadata={"help": "groups per training step (paper: 512)"}
    )
    validate_every: int = field(
        default=500, metadata={"help": "full-grid IoU every k steps (picks the best weights)"}
    )
    eval_points: int = field(
        default=500_000, metadata={"help": "fresh points for iou_eval and iou_near (each)"}
    )
    surface_points: int = field(
        default=100_000, metadata={"help": "points sampled per surface for the Chamfer distance"}
    )
    up: str = field(
        default="y", metadata={"help": "the mesh's up axis, for the pictures: x, y or z"}
    )
    cache_dir: str = field(
        default="",
        metadata={"help": "occupancy-grid cache (default: $IGA_CACHE_DIR or ~/.cache/iga)"},
    )
    model: ModelConfig = field(default_factory=lambda: ModelConfig(arch="relu", width=64))
    method: MethodConfig = field(default_factory=_default_method)
    train: TrainConfig = field(default_factory=_default_train)
    out: str = field(default="runs/occupancy", metadata={"help": "run directory"})
    overwrite: bool = field(default=False, metadata={"help": "replace a run already in --out"})

    def __post_init__(self) -> None:
        if self.groups not in GROUP_SHAPES:
            raise ValueError(f"unknown --groups {self.groups!r}; choose blocks or runs")
        check_ints(
            ("--resolution", self.resolution, 2),
            ("--block", self.block, 1),
            ("--group-size", self.group_size, 1),
            ("--batch-groups", self.batch_groups, 1),
            ("--validate-every", self.validate_every, 1),
            ("--eval-points", self.eval_points, 1),
            ("--surface-points", self.surface_points, 1),
        )
        if self.resolution > MAX_RESOLUTION:
            raise ValueError(
                f"--resolution {self.resolution} is above {MAX_RESOLUTION}, the paper's grid "
                f"({self.resolution}³ = {self.resolution**3 / 1e9:.2f} billion points to label, "
                f"train on and predict): use --resolution {MAX_RESOLUTION} or less"
            )
        if self.up not in UP_AXES:
            raise ValueError(f"--up must be x, y or z; got {self.up!r}")
        if not 0 <= self.margin < 1:
            raise ValueError(f"--margin must be in [0, 1); got {self.margin}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OccupancyFitConfig:
        """Rebuild a config from its ``asdict`` / ``config.json`` form (extra keys refused)."""
        return config_from_dict(cls, data)

    @property
    def lr(self) -> float:
        """The learning rate actually used."""
        return (
            self.train.lr
            or recipe_lr(self.train.optimizer, self.model.arch)
            or default_lr(self.method.method, self.model.arch)
        )

    @property
    def points_per_group(self) -> int:
        return self.block**3 if self.groups == "blocks" else self.group_size


def pe_levels_for(resolution: int) -> int:
    """Positional-encoding levels scaled with the grid: the authors use NeRF's 10 levels
    (top frequency 2⁹ rad per unit) at 512³, i.e. about twice the grid's Nyquist frequency;
    ``log2(R) + 1`` keeps that ratio at any R (8 at 128, 7 at 64)."""
    return max(1, round(math.log2(resolution)) + 1)


def build_model(cfg: OccupancyFitConfig, fresh: dict[str, object] | None = None) -> torch.nn.Module:
    """The INR of ``cfg`` on the CPU (3 -> 1), initialised from ``cfg.train.seed``; with
    ``--fresh``, at FreSh's choice (``fresh``: a recorded choice, not chosen again)."""
    if fresh is None:
        fresh = fresh_choice(cfg)[0]
    return _build(cfg, {**cfg.model.options, **fresh}, cfg.train.seed)


def fresh_choice(cfg: OccupancyFitConfig) -> tuple[dict[str, object], Any]:
    """FreSh on the occupancy grid's 3-D spectrum (the authors' 3-D spectrum, on at most 32³
    of its points: :func:`iga.tasks.common.cube_signal`)."""

    def grid() -> np.ndarray:
        cache = cfg.cache_dir or None
        return occupancy_grid(cfg.path, cfg.resolution, cfg.margin, cache).occupancy

    return mesh_fresh(cfg, grid, _build)


def _build(cfg: OccupancyFitConfig, options: dict[str, Any], seed: int) -> torch.nn.Module:
    options = dict(options)
    if cfg.method.method == "fr":
        options.setdefault("fr_alpha", FR_ALPHA)
    if cfg.method.method == "bn":
        # Mini-batches: evaluation (eval mode, any chunking) needs the running statistics.
        options.setdefault("bn_running_stats", True)
    if cfg.model.arch == "pe":
        options.setdefault("pe_levels", pe_levels_for(cfg.resolution))
    return build(
        cfg.model.arch,
        3,
        1,
        hidden_features=cfg.model.width,
        hidden_layers=cfg.model.hidden_layers,
        seed=seed,
        method=model_method(cfg.method.method),
        **options,
    )


def flat_coords(index: torch.Tensor, resolution: int) -> torch.Tensor:
    """Coordinates [M, 3] of flat grid indices ``i·R² + j·R + k`` -> (lin[i], lin[j], lin[k]),
    ``lin = linspace(-1, 1, R)`` (the layout of :func:`iga.meshes.grid_points`)."""
    r = resolution
    ijk = torch.stack((index // (r * r), (index // r) % r, index % r), dim=1)
    return ijk.to(torch.float32) * (2.0 / (r - 1)) - 1.0


def make_groups(cfg: OccupancyFitConfig) -> torch.Tensor:
    """The grid's groups [n_groups, p] of flat indices; every point in exactly one group."""
    r, n = cfg.resolution, cfg.resolution**3
    if cfg.groups == "blocks":
        if r % cfg.block:
            raise ValueError(
                f"--block {cfg.block} does not divide --resolution {r}; choose a resolution "
                f"that is a multiple of {cfg.block} or another --block"
            )
        return groups_mod.grid((r, r, r), cfg.block)
    if n % cfg.group_size:
        raise ValueError(
            f"--group-size {cfg.group_size} does not divide the {r}³ = {n} grid points; use a "
            "power of two and a --resolution that is a multiple of 16, or --groups blocks"
        )
    return torch.arange(n).reshape(-1, cfg.group_size)


def _predict(model: torch.nn.Module, coords: torch.Tensor, chunk: int = 1 << 17) -> torch.Tensor:
    """Model outputs [M] at ``coords``, chunked (no gradients)."""
    with torch.no_grad():
        return torch.cat([model(c).reshape(-1) for c in coords.split(chunk)])


def _predict_grid(model: torch.nn.Module, resolution: int, device: torch.device) -> torch.Tensor:
    n, chunk = resolution**3, 1 << 17
    with torch.no_grad():
        parts = [
            model(flat_coords(torch.arange(s, min(s + chunk, n), device=device), resolution))
            for s in range(0, n, chunk)
        ]
    return torch.cat(parts).reshape(-1)


class OccupancyTask:
    """Occupancy fitting on the task contract (:mod:`iga.tasks.base`): (x, y, z) -> inside."""

    name: ClassVar[str] = "occupancy"

    def method(self, cfg: OccupancyFitConfig) -> MethodConfig:
        return cfg.method

    def lr(self, cfg: OccupancyFitConfig) -> float:
        return cfg.lr

    def describe_model(self, cfg: OccupancyFitConfig) -> str:
        """The model's description (every resolved option): part of the run's key."""
        return build_model(cfg).describe()

    def setup(self, cfg: OccupancyFitConfig, device: torch.device) -> Fit:
        if not str(cfg.path).strip():
            raise ValueError("no mesh given; name one: iga fit occupancy MESH (OBJ/PLY/STL/OFF)")
        groups = make_groups(cfg)
        n_groups, p = groups.shape
        if cfg.batch_groups > n_groups:
            raise ValueError(
                f"--batch-groups {cfg.batch_groups} exceeds the {n_groups} groups of the grid; "
                "lower --batch-groups or raise --resolution"
            )
        grid = occupancy_grid(
            cfg.path, cfg.resolution, margin=cfg.margin, cache_dir=cfg.cache_dir or None
        )
        inside = int(grid.occupancy.sum())
        if inside == 0 or inside == grid.occupancy.size:
            what = "no point inside" if inside == 0 else "every point inside"
            raise ValueError(
                f"the mesh's {cfg.resolution}³ occupancy grid has {what} the shape (a very "
                "thin or open mesh, or --margin too large): raise --resolution or lower "
                "--margin; an IoU of such a grid would mean nothing"
            )
        self.grid: OccupancyGrid = grid
        target = torch.from_numpy(grid.occupancy.reshape(-1, 1).astype(np.float32)).to(device)
        model = build_model(cfg).to(device)
        batch, r, seed = cfg.batch_groups, cfg.resolution, cfg.train.seed
        groups_dev = groups.to(device)

        def draw(step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            del generator  # the order comes from per-epoch seeds (resumable, see batch_order)
            sel = batch_order(step, batch, n_groups, seed).to(device)
            index = groups_dev[sel].reshape(-1)
            return flat_coords(index, r), target[index]

        def validate(m: torch.nn.Module) -> dict[str, Any]:
            pred = _predict_grid(m, r, device)
            return {"iou": metrics.iou(pred, target.reshape(-1))}

        self.target = target
        return Fit(
            model=model,
            # Full data for the record; training reads batches (computed from indices).
            inputs=torch.empty(0, 3),
            target=torch.empty(0, 1),
            groups=torch.arange(batch * p).reshape(batch, p),
            batch=draw,
            score=metrics.iou,
            score_name="iou_batch",
            validate=validate,
            validate_every=cfg.validate_every,
            validate_key="iou",
            log_every=max(1, cfg.validate_every // 10),
            resolved={
                "grid_points": r**3,
                "occupied_fraction": float(grid.occupancy.mean()),
                "n_groups": int(n_groups),
                "points_per_group": int(p),
                "points_per_step": int(batch * p),
                "epochs": cfg.train.steps * batch * p / r**3,
                "watertight": bool(grid.watertight),
                "mesh_sha256": grid.sha256,
                **normalization_facts(grid.normalization),
                "model": model.describe(),
                **fresh_facts(fresh_choice(cfg)[1])[0],
            },
            groups_flag="--batch-groups",  # a step's groups: what --end is checked against
        )

    def evaluate(
        self, cfg: OccupancyFitConfig, fit: Fit, result: TrainResult, out: Path
    ) -> dict[str, Any]:
        from iga.figures import plots3d

        model, grid, r = fit.model, self.grid, cfg.resolution
        device = self.target.device
        truth = grid.occupancy
        model.eval()
        model.load_state_dict(result.best_state)
        pred_best = _predict_grid(model, r, device).cpu().numpy().reshape(r, r, r)
        iou_best = metrics.iou(pred_best, truth)
        # Fresh points: uniform in the cube, and within about a voxel of the surface.
        rng = np.random.default_rng(EVAL_SEED)
        uniform = rng.uniform(-1, 1, size=(cfg.eval_points, 3)).astype(np.float32)
        surf, _ = sample_surface(grid.mesh, cfg.eval_points, EVAL_SEED)
        near = (surf + rng.normal(scale=2.0 / r, size=surf.shape)).astype(np.float32)
        evals = {}
        for key, pts in (("iou_eval", uniform), ("iou_near", near)):
            pred = _predict(model, torch.from_numpy(pts).to(device)).cpu().numpy()
            evals[key] = metrics.iou(pred, inside(grid.mesh, pts)) if len(pts) else None
        # Surfaces: marching cubes on the grid, against points sampled on the input mesh.
        mesh_points, _ = sample_surface(grid.mesh, cfg.surface_points, EVAL_SEED + 1)
        surface, chamfer = surface_chamfer(
            pred_best, mesh_points, cfg.surface_points, EVAL_SEED + 2
        )
        _, chamfer_floor = surface_chamfer(
            truth.astype(np.float32), mesh_points, cfg.surface_points
        )
        if surface is not None:
            name = f"{Path(cfg.path).name} {cfg.model.arch}/{cfg.method.method}"
            save_surface(out, surface, cfg.up, f"{name} IoU {iou_best:.4f}")
        plots3d.error_slices(
            pred_best >= 0.5,
            truth,
            out / "error_slices.png",
            title=f"{Path(cfg.path).name} {cfg.model.arch}/{cfg.method.method}",
        )
        _iou_curves(result, out / "iou.png", f"{Path(cfg.path).name} {r}³")
        save_torch(out / "best.pt", result.best_state)
        save_torch(out / "final.pt", result.final_state)
        points = cfg.batch_groups * cfg.points_per_group
        return {
            "mesh": str(cfg.path),
            "shape": Path(cfg.path).stem,
            "arch": cfg.model.arch,
            "method": cfg.method.method,
            "iou": iou_best,
            "iou_final": _final_iou(fit.model, result, r, device, truth),
            "best_step": result.best_step,
            **evals,
            "chamfer": chamfer,
            "chamfer_floor": chamfer_floor,
            "epochs": result.steps_done * points / r**3,
            "watertight": bool(grid.watertight),
            "faces": int(len(surface.faces)) if surface is not None else 0,
            **fresh_facts(fresh_choice(cfg)[1])[1],
        }


def _final_iou(
    model: torch.nn.Module,
    result: TrainResult,
    resolution: int,
    device: torch.device,
    truth: np.ndarray,
) -> float:
    """The full-grid IoU of the final weights: the validation of the final weights when
    training logged it (every finished run), else measured here (a diverged run)."""
    last = result.history[-1] if result.history else {}
    if last.get("step") == result.steps_done and last.get("iou") is not None:
        return float(last["iou"])
    model.load_state_dict(result.final_state)
    return metrics.iou(_predict_grid(model, resolution, device), truth.reshape(-1))


def _iou_curves(result: TrainResult, path: Path, title: str) -> None:
    rows = result.history
    batch = [(r["step"], r["iou_batch"]) for r in rows if "iou_batch" in r]
    full = [(r["step"], r["iou"]) for r in rows if r.get("iou") is not None]
    curves = {}
    if batch:
        curves["training batch"] = ([s for s, _ in batch], [v for _, v in batch])
    if full:
        curves["full grid"] = ([s for s, _ in full], [v for _, v in full])
    plots.psnr_curves(curves, path, title=title, ylabel="IoU")


def run_key(cfg: OccupancyFitConfig) -> str:
    """The key of the run ``cfg`` describes, without running it
    (:func:`iga.tasks.registry.run_key`)."""
    return registry.run_key(OccupancyTask(), cfg)


def fit_occupancy(
    cfg: OccupancyFitConfig, progress: bool = True, desc: str = "", resume: bool | str = False
) -> dict[str, Any]:
    """Run one occupancy fit into ``cfg.out``; returns the summary (also summary.json).

    Raises:
        TrainingDiverged: after writing the outputs of the best step before the divergence.
        TrainingInterrupted: SIGINT/SIGTERM; ``--resume`` continues from the checkpoint.
    """
    return fit(OccupancyTask(), cfg, progress=progress, desc=desc, resume=resume)

"""Fitting a mesh's signed distance field: (x, y, z) ∈ [-1, 1]³ -> the signed distance
(negative inside), supervised on samples near the surface and uniform in the cube
(:mod:`iga.tasks.sdf.data`), vanilla or with IGA.

IGA's groups are ``--group-size`` consecutive samples in Morton order (spatial blocks of
sample points); a step fits every sample (``--batch-groups 0``) or a mini-batch of
``--batch-groups`` groups drawn per epoch without replacement (resumable). The loss is the
MSE of the signed distance, so IGA adjusts exactly the data term. The best weights are those
with the best sign IoU on the evaluation grid, measured every ``--eval-every`` steps.

Evaluation (best weights): ``iou`` (the sign on the ``--resolution``³ grid against the mesh's),
the zero level set by marching cubes on that grid (``surface.ply``, ``surface.png``) with
``chamfer`` (Chamfer-L1 to points sampled on the mesh, in normalised units; ``chamfer_floor``
is the same for the true SDF's grid, the resolution's floor) and ``normal_consistency`` (mean
|n·n'| of the level set's normals and the mesh's closest faces'), ``mae_near`` (mean absolute
SDF error on fresh near-surface points) and ``error_slices.png`` (the sign errors on the
middle slices). A field without a zero crossing (an untrained net) gives no surface: the
summary says so in ``note`` and the surface metrics are null.

``--loss siren`` fits with SIREN's loss from oriented points instead, sampled on the mesh or
read from a point cloud with normals (:mod:`iga.tasks.sdf.oriented`); with a mesh, the
evaluation above is the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from iga import metrics
from iga.figures import plots, plots3d
from iga.io import save_torch
from iga.meshes import (
    grid_points,
    normalization_facts,
    sample_surface,
)
from iga.methods import model_method
from iga.models import build
from iga.models.config import ModelConfig
from iga.optim import recipe_lr
from iga.tasks import registry
from iga.tasks.base import Fit, check_ints, config_from_dict, fit
from iga.tasks.common import (
    fresh_facts,
    group_batches,
    mesh_fresh,
    no_fresh,
    predict,
    save_surface,
    window_groups,
)
from iga.tasks.sdf.data import SDFSamples, level_set_metrics, sdf_samples, signed_distance
from iga.tasks.sdf.oriented import evaluate_cloud, siren_setup
from iga.tasks.sdf.pointcloud import CLOUD_SUFFIXES
from iga.train import MethodConfig, TrainConfig, TrainResult

__all__ = ["SDFFitConfig", "SDFTask", "fit_sdf", "fresh_choice", "run_key", "surface_metrics"]

EVAL_SEED = 20251206
LOSSES = ("regression", "siren")


@dataclass
class SDFFitConfig:
    """Everything that defines an SDF run (defaults: the cpu tier)."""

    path: str = field(
        default="",
        metadata={"help": "mesh file (OBJ, PLY, STL, OFF); with --loss siren also a point cloud"},
    )
    loss: str = field(
        default="regression",
        metadata={
            "help": "regression: MSE of the mesh's signed distance at --points samples; siren: "
            "SIREN's loss from oriented points (on-surface, normal, eikonal, off-surface "
            "terms; IGA adjusts the on-surface term) sampled on a mesh or read from a point "
            "cloud with normals (PLY with nx ny nz, or x y z nx ny nz text)",
            "choices": LOSSES,
        },
    )
    points: int = field(
        default=100_000,
        metadata={
            "help": "training samples (--loss siren: points on the mesh; a point cloud's own "
            "points are all used)"
        },
    )
    near_fraction: float = field(
        default=0.7, metadata={"help": "share of samples near the surface (the rest uniform)"}
    )
    near_std: float = field(
        default=0.02, metadata={"help": "std of the near samples' offset (normalised units)"}
    )
    group_size: int = field(default=64, metadata={"help": "IGA: samples per group (a block)"})
    batch_groups: int = field(
        default=0, metadata={"help": "groups per step (0: every sample, full batch)"}
    )
    resolution: int = field(default=64, metadata={"help": "evaluation grid per axis"})
    margin: float = field(default=0.05, metadata={"help": "gap between the shape and the cube"})
    eval_every: int = field(default=100, metadata={"help": "score the grid's sign every k"})
    surface_points: int = field(default=30_000, metadata={"help": "points for the Chamfer"})
    up: str = field(default="y", metadata={"help": "the mesh's up axis, for the pictures"})
    cache_dir: str = field(
        default="", metadata={"help": "sample cache (default: $IGA_CACHE_DIR or ~/.cache/iga)"}
    )
    model: ModelConfig = field(default_factory=lambda: ModelConfig(arch="siren", width=64))
    method: MethodConfig = field(default_factory=lambda: MethodConfig(end=20))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=1000))
    out: str = field(default="runs/sdf", metadata={"help": "run directory"})
    overwrite: bool = field(default=False, metadata={"help": "replace a run already in --out"})

    def __post_init__(self) -> None:
        check_ints(
            ("--points", self.points, 16),
            ("--group-size", self.group_size, 1),
            ("--batch-groups", self.batch_groups, 0),
            ("--resolution", self.resolution, 8),
            ("--eval-every", self.eval_every, 1),
            ("--surface-points", self.surface_points, 1),
        )
        if not 0 <= self.near_fraction <= 1:
            raise ValueError(f"--near-fraction must be in [0, 1]; got {self.near_fraction}")
        if not (math.isfinite(self.near_std) and self.near_std > 0):
            raise ValueError(f"--near-std must be > 0; got {self.near_std}")
        if self.up not in ("x", "y", "z"):
            raise ValueError(f"--up must be x, y or z; got {self.up!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"--loss must be one of {', '.join(LOSSES)}; got {self.loss!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SDFFitConfig:
        return config_from_dict(cls, data)

    @property
    def lr(self) -> float:
        return (
            self.train.lr
            or recipe_lr(self.train.optimizer, self.model.arch)
            or default_lr(self.model.arch)
        )


def default_lr(arch: str) -> float:
    """1e-4 for the periodic archs (SIREN's SDF lr); 1e-3 for ReLU and PE, which barely move
    at 1e-4 (the first cpu-tier runs: bunny IoU 0.78 and 0.74 after 2000 steps)."""
    return 1e-3 if arch in ("relu", "pe") else 1e-4


SIREN_NO_FRESH = (
    "matches the network's output spectrum to the signed distance on a grid, which --loss "
    "siren does not regress (use --loss regression)"
)
"""Why ``--fresh`` is refused with SIREN's loss (points and normals, no distances)."""


def build_model(cfg: SDFFitConfig, fresh: dict[str, object] | None = None) -> torch.nn.Module:
    """The INR of ``cfg`` (3 -> 1); with ``--fresh``, at FreSh's choice (``fresh``: a
    recorded choice, not chosen again). BN keeps running statistics: it trains on samples
    (mostly near the surface) and is scored on the grid in eval mode, which must compute the
    function trained, not one renormalised by the grid's (or a chunk's) own batch statistics."""
    if fresh is None:
        fresh = fresh_choice(cfg)[0]
    return _build(cfg, {**cfg.model.options, **fresh}, cfg.train.seed)


def fresh_choice(cfg: SDFFitConfig) -> tuple[dict[str, object], Any]:
    """FreSh on the signed distance's 3-D spectrum on the evaluation grid (the authors' 3-D
    spectrum, on at most 32³ of its points: :func:`iga.tasks.common.cube_signal`)."""
    if cfg.loss != "regression":
        no_fresh(cfg, SIREN_NO_FRESH)
        return {}, None
    return mesh_fresh(cfg, lambda: SDFTask()._samples(cfg).grid, _build)


def _build(cfg: SDFFitConfig, options: dict[str, Any], seed: int) -> torch.nn.Module:
    options = dict(options)
    if cfg.method.method == "bn":
        options.setdefault("bn_running_stats", True)
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


def surface_metrics(
    pred_grid: np.ndarray, mesh: Any, count: int, seed: int = EVAL_SEED
) -> dict[str, Any]:
    """The zero level set of a predicted SDF grid and its Chamfer-L1 and normal consistency
    against ``mesh``; ``surface`` None (and a ``note``) when the field never crosses 0."""
    mesh_points, _ = sample_surface(mesh, count, seed)
    return level_set_metrics(
        pred_grid,
        mesh_points,
        count,
        seed,
        lambda pts: mesh.face_normals[signed_distance(mesh, pts)[1]],
    )


class SDFTask:
    """SDF regression on the task contract (:mod:`iga.tasks.base`): points -> signed distance."""

    name: ClassVar[str] = "sdf"

    def method(self, cfg: SDFFitConfig) -> MethodConfig:
        return cfg.method

    def lr(self, cfg: SDFFitConfig) -> float:
        return cfg.lr

    def describe_model(self, cfg: SDFFitConfig) -> str:
        return build_model(cfg).describe()

    def _samples(self, cfg: SDFFitConfig) -> SDFSamples:
        if not str(cfg.path).strip():
            raise ValueError("no mesh given; name one: iga fit sdf MESH (OBJ/PLY/STL/OFF)")
        cloud = (
            f"{cfg.path} is a point cloud (points without faces), which has no signed "
            "distances to regress; pass --loss siren to fit it from its points and normals"
        )
        if Path(cfg.path).suffix.lower() in CLOUD_SUFFIXES:
            raise ValueError(cloud)
        try:
            return sdf_samples(
                cfg.path,
                cfg.points,
                cfg.near_fraction,
                cfg.near_std,
                cfg.resolution,
                cfg.margin,
                cfg.train.seed,
                cfg.cache_dir or None,
            )
        except ValueError as exc:
            if "but no faces" in str(exc):  # load_mesh's words for a faceless file
                raise ValueError(cloud) from None
            raise

    def setup(self, cfg: SDFFitConfig, device: torch.device) -> Fit:
        if cfg.loss == "siren":
            job, self.data = siren_setup(cfg, device, build_model(cfg).to(device))
            return job
        data = self._samples(cfg)
        self.data = data
        n, p = cfg.points, cfg.group_size
        if p > n:
            raise ValueError(f"--group-size {p} exceeds --points {n}; lower it")
        groups = window_groups(n, p, overlap_last=cfg.batch_groups > 0)
        n_groups = int(groups.shape[0])
        if cfg.batch_groups > n_groups:
            raise ValueError(
                f"--batch-groups {cfg.batch_groups} exceeds the {n_groups} groups; lower it"
            )
        x = torch.from_numpy(data.points).to(device)
        y = torch.from_numpy(data.sdf).reshape(-1, 1).to(device)
        grid_x = torch.from_numpy(grid_points(cfg.resolution).reshape(-1, 3)).to(device)
        truth = torch.from_numpy(data.grid.reshape(-1) < 0).to(device)

        def validate(m: torch.nn.Module) -> dict[str, Any]:
            inside = predict(m, grid_x).reshape(-1) < 0
            return {"iou": metrics.iou(inside, truth)}

        resolved = {
            "samples": n,
            "n_groups": n_groups,
            "points_per_group": p,
            "watertight": data.watertight,
            "mesh_sha256": data.sha256,
            **normalization_facts(data.normalization),
            **fresh_facts(fresh_choice(cfg)[1])[0],
        }
        common: dict[str, Any] = {
            "model": build_model(cfg).to(device),
            "score": lambda pr, t: -((pr - t) ** 2).mean(),
            "validate": validate,
            "validate_every": cfg.eval_every,
            "validate_key": "iou",
            "log_every": max(1, cfg.eval_every // 10),
        }
        if cfg.batch_groups == 0:
            return Fit(
                inputs=x,
                target=y,
                groups=groups,
                score_name="neg_mse",
                resolved=resolved,
                groups_flag="--group-size",
                **common,
            )
        batch, seed = cfg.batch_groups, cfg.train.seed

        draw = group_batches(groups, batch, seed, x, y)

        return Fit(
            inputs=torch.empty(0, 3),
            target=torch.empty(0, 1),
            groups=torch.arange(batch * p).reshape(batch, p),
            batch=draw,
            score_name="neg_mse_batch",
            resolved={**resolved, "samples_per_step": batch * p},
            groups_flag="--batch-groups",
            **common,
        )

    def evaluate(
        self, cfg: SDFFitConfig, fit: Fit, result: TrainResult, out: Path
    ) -> dict[str, Any]:
        data, r = self.data, cfg.resolution
        model = fit.model
        device = next(model.parameters()).device
        model.eval()
        grid_x = torch.from_numpy(grid_points(r).reshape(-1, 3)).to(device)
        model.load_state_dict(result.final_state)
        final = predict(model, grid_x).cpu().numpy().reshape(r, r, r)
        model.load_state_dict(result.best_state)
        pred = predict(model, grid_x).cpu().numpy().reshape(r, r, r)
        name = f"{Path(cfg.path).name} {cfg.model.arch}/{cfg.method.method}"
        siren = {"loss": cfg.loss} if cfg.loss != "regression" else {}
        if data.mesh is None:  # a point cloud: no truth for the IoU or the MAE
            summary = evaluate_cloud(cfg, data, result, pred, name, out)
            save_torch(out / "best.pt", result.best_state)
            save_torch(out / "final.pt", result.final_state)
            head = {"mesh": str(cfg.path), "shape": Path(cfg.path).stem, **siren}
            return {**head, "arch": cfg.model.arch, "method": cfg.method.method, **summary}
        truth = data.grid < 0
        rng = np.random.default_rng(EVAL_SEED)
        surf, _ = sample_surface(data.mesh, 20_000, EVAL_SEED)
        near = (surf + rng.normal(scale=cfg.near_std, size=surf.shape)).astype(np.float32)
        near_sdf, _ = signed_distance(data.mesh, near)
        near_pred = predict(model, torch.from_numpy(near).to(device)).cpu().numpy()[:, 0]
        surfaces = surface_metrics(pred, data.mesh, cfg.surface_points)
        floor = surface_metrics(data.grid, data.mesh, cfg.surface_points)
        iou = metrics.iou(pred < 0, truth)
        surface = surfaces.pop("surface")
        floor.pop("surface")
        if surface is not None:
            save_surface(out, surface, cfg.up, f"{name} IoU {iou:.4f}")
        plots3d.error_slices(pred < 0, truth, out / "error_slices.png", title=name)
        rows = [row for row in result.history if "iou" in row]
        if rows:
            plots.psnr_curves(
                {"IoU (grid sign)": ([r["step"] for r in rows], [r["iou"] for r in rows])},
                out / "iou.png",
                title=name,
                ylabel="IoU",
            )
        save_torch(out / "best.pt", result.best_state)
        save_torch(out / "final.pt", result.final_state)
        return {
            "mesh": str(cfg.path),
            "shape": Path(cfg.path).stem,
            **siren,
            "arch": cfg.model.arch,
            "method": cfg.method.method,
            "iou": iou,
            "iou_final": metrics.iou(final < 0, truth),
            "best_step": result.best_step,
            "mae_near": float(np.abs(near_pred - near_sdf).mean()),
            **surfaces,
            "chamfer_floor": floor["chamfer"],
            "watertight": data.watertight,
            "faces": int(len(surface.faces)) if surface is not None else 0,
            **fresh_facts(fresh_choice(cfg)[1])[1],
        }


def run_key(cfg: SDFFitConfig) -> str:
    """The key of the run ``cfg`` describes, without running it."""
    return registry.run_key(SDFTask(), cfg)


def fit_sdf(
    cfg: SDFFitConfig, progress: bool = True, desc: str = "", resume: bool | str = False
) -> dict[str, Any]:
    """Run one SDF fit into ``cfg.out``; returns the summary (also summary.json)."""
    return fit(SDFTask(), cfg, progress=progress, desc=desc, resume=resume)

"""``iga fit sdf --loss siren``: the SDF task's :class:`~iga.tasks.base.Fit` for SIREN's loss
from oriented points (:mod:`iga.tasks.sdf.siren_loss`, :mod:`iga.tasks.sdf.pointcloud`) and the
evaluation of a fit to a point cloud, which has no mesh.

Groups: the on-surface points in Morton order, ``--group-size`` consecutive ones each; a step
takes ``--batch-groups`` of them (0: every point) plus as many fresh uniform points. Best
weights: with a mesh, the sign IoU on the evaluation grid (as the regression path); with a
point cloud, the lowest SIREN loss on the held-out points (``neg_val_loss``), which needs no
ground truth. Evaluation without a mesh: Chamfer-L1 and normal consistency of the
marching-cubes zero level set against the given points and normals; no IoU or near-surface
MAE (null, with a ``note``), since they need the true signed distance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from iga import metrics
from iga.figures import plots
from iga.meshes import grid_points, normalization_facts
from iga.tasks.base import Fit
from iga.tasks.common import predict, save_surface, window_groups
from iga.tasks.sdf.pointcloud import OrientedPoints, cloud_surface_metrics, oriented_points
from iga.tasks.sdf.siren_loss import (
    OrientedBatches,
    data_loss,
    data_residual,
    heldout_validation,
)
from iga.train import TrainResult

__all__ = ["NO_MESH_NOTE", "evaluate_cloud", "siren_setup"]

NO_MESH_NOTE = (
    "no mesh: iou, iou_final and mae_near need the true signed distance; chamfer and "
    "normal_consistency are against the given points and normals"
)
VAL_SEED = 20251207


def siren_setup(cfg: Any, device: torch.device, model: nn.Module) -> tuple[Fit, OrientedPoints]:
    """The Fit of ``--loss siren`` for the SDF config ``cfg`` (see the module docstring) with
    ``model``, and the oriented points it trains on."""
    if not str(cfg.path).strip():
        raise ValueError(
            "no input given; name a mesh or a point cloud with normals: iga fit sdf PATH "
            "--loss siren"
        )
    data = oriented_points(
        cfg.path,
        cfg.points,
        cfg.margin,
        cfg.resolution,
        cfg.train.seed,
        cfg.cache_dir or None,
    )
    n, p, b = len(data.points), cfg.group_size, cfg.batch_groups
    if n < p * max(b, 1):
        held = f" ({len(data.heldout_points)} more held out for validation)"
        need = f"--group-size {p} x --batch-groups {b} = {p * b}" if b else f"--group-size {p}"
        raise ValueError(
            f"{cfg.path} gives {n} training points{held if len(data.heldout_points) else ''}, "
            f"fewer than a step needs ({need}); lower {'them' if b else 'it'}, or "
            + ("give more points" if data.mesh is None else "raise --points")
        )
    groups = window_groups(n, p, overlap_last=b > 0)
    if b > int(groups.shape[0]):
        raise ValueError(f"--batch-groups {b} exceeds the {int(groups.shape[0])} groups; lower it")
    points = torch.from_numpy(data.points).to(device)
    normals = torch.from_numpy(data.normals).to(device)
    batches = OrientedBatches(points, normals, groups, b, cfg.train.seed)
    m = batches.rows
    if data.mesh is not None:
        grid_x = torch.from_numpy(grid_points(cfg.resolution).reshape(-1, 3)).to(device)
        truth = torch.from_numpy(data.grid.reshape(-1) < 0).to(device)

        def validate(mdl: nn.Module) -> dict[str, Any]:
            inside = predict(mdl, grid_x).reshape(-1) < 0
            return {"iou": metrics.iou(inside, truth)}

        key = "iou"
    else:
        validate = heldout_validation(
            torch.from_numpy(data.heldout_points).to(device),
            torch.from_numpy(data.heldout_normals).to(device),
            VAL_SEED,
        )
        key = "neg_val_loss"
    resolved = {
        "samples": n,
        "heldout": len(data.heldout_points),
        "input": "mesh" if data.mesh is not None else "point cloud",
        "n_groups": int(groups.shape[0]),
        "points_per_group": p,
        "samples_per_step": 2 * m,
        "watertight": data.watertight,
        "mesh_sha256": data.sha256,
        **normalization_facts(data.normalization),
    }
    fit = Fit(
        model=model,
        inputs=torch.empty(0, 3),
        target=torch.empty(0, 1),
        groups=groups if b == 0 else torch.arange(m).reshape(b, p),
        batch=batches,
        loss=data_loss(2 * m),
        residual=data_residual(2 * m),
        data_rows=m,
        penalty=batches.penalty,
        score=lambda pr, t: -((pr - t) ** 2).mean(),
        score_name="neg_mse_surface",
        validate=validate,
        validate_every=cfg.eval_every,
        validate_key=key,
        log_every=max(1, cfg.eval_every // 10),
        resolved=resolved,
        groups_flag="--group-size" if b == 0 else "--batch-groups",
    )
    return fit, data


def evaluate_cloud(
    cfg: Any, data: OrientedPoints, result: TrainResult, pred: np.ndarray, name: str, out: Path
) -> dict[str, Any]:
    """The summary numbers of a point-cloud fit from its best weights' grid ``pred``; writes
    ``surface.ply``/``surface.png`` (when the field crosses 0) and ``val_loss.png``."""
    points, normals = data.all_points
    surfaces = cloud_surface_metrics(pred, points, normals, cfg.surface_points, VAL_SEED + 1)
    surface = surfaces.pop("surface")
    notes = [NO_MESH_NOTE]
    if surface is not None:
        save_surface(out, surface, cfg.up, f"{name} Chamfer {surfaces['chamfer']:.4f}")
    else:
        notes.insert(0, surfaces.pop("note"))
    rows = [row for row in result.history if "val_loss" in row]
    if rows:
        plots.psnr_curves(
            {"held-out points": ([r["step"] for r in rows], [r["val_loss"] for r in rows])},
            out / "val_loss.png",
            title=name,
            ylabel="SIREN loss (held out)",
        )
    best = [r for r in rows if r["step"] == result.best_step]
    return {
        "iou": None,
        "iou_final": None,
        "best_step": result.best_step,
        "val_loss": best[0]["val_loss"] if best else None,
        "mae_near": None,
        **surfaces,
        "chamfer_floor": None,
        "watertight": None,
        "faces": int(len(surface.faces)) if surface is not None else 0,
        "points": len(points),
        "note": "; ".join(notes),
    }

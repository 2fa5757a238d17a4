"""The SDF task: (x, y, z) -> signed distance to a mesh. ``data`` (samples and their signed
distances, cached), ``task`` (the task and the surface metrics), ``bench`` (``iga bench
sdf``); ``--loss siren``: ``siren_loss`` (SIREN's loss from oriented points), ``pointcloud``
(reading them), ``oriented`` (its Fit and the evaluation without a mesh); registered as
``iga fit sdf`` here."""

from __future__ import annotations

from typing import Any

from iga.tasks.common import check_model, shared_flags
from iga.tasks.registry import TaskSpec, register_task


def _report(cfg: Any, s: dict[str, Any]) -> str:
    if s.get("iou") is None:  # a point cloud (--loss siren): no mesh, no IoU or MAE
        surface = (
            f"Chamfer {s['chamfer']:.5f} and normal consistency {s['normal_consistency']:.4f} "
            "against the points; "
            if s.get("chamfer") is not None
            else ""
        )
        return (
            f"{cfg.model.arch}/{cfg.method.method} (--loss siren): {surface}{s['note']}; "
            f"{1000 * s['seconds_per_step']:.1f} ms/step -> {cfg.out}"
        )
    surface = (
        f"Chamfer {s['chamfer']:.5f} (floor {s['chamfer_floor']:.5f}), normal consistency "
        f"{s['normal_consistency']:.4f}"
        if s.get("chamfer") is not None
        else s.get("note", "no surface")
    )
    return (
        f"{cfg.model.arch}/{cfg.method.method}: IoU {s['iou']:.4f} (grid sign), {surface}, "
        f"MAE near {s['mae_near']:.4f}, {1000 * s['seconds_per_step']:.1f} ms/step -> {cfg.out}"
    )


def _config() -> Any:
    from iga.tasks.sdf.task import SDFFitConfig

    return SDFFitConfig()


def _task() -> Any:
    from iga.tasks.sdf.task import SDFTask

    return SDFTask()


SPEC = register_task(
    TaskSpec(
        name="sdf",
        config=_config,
        task=_task,
        help="fit a mesh's signed distance field (OBJ/PLY/STL/OFF), or a point cloud's",
        description="Fit the signed distance field of a triangle mesh with an INR, vanilla or "
        "with IGA (groups: spatial blocks of sample points), into a run directory (config.json, "
        "metrics.csv, summary.json with iou, chamfer, normal_consistency and mae_near, "
        "surface.ply, surface.png, error_slices.png, iou.png). --loss siren fits it with "
        "SIREN's loss from oriented points instead: sampled on a mesh, or a point cloud with "
        "normals (then no iou or mae_near, and val_loss.png instead of the sign's figures).",
        argument="path",
        argument_help="mesh file (OBJ, PLY, STL, OFF; read by trimesh); with --loss siren also "
        "a point cloud with normals (PLY with nx ny nz and no faces, or .xyz/.txt: x y z nx ny nz)",
        overrides=shared_flags,
        check=check_model,
        report=_report,
        fitted="iga.tasks.sdf.field",
        benches=("iga.tasks.sdf.bench",),
    )
)

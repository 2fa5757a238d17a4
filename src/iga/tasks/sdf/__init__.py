"""The SDF task: (x, y, z) -> signed distance to a mesh. ``data`` (samples and their signed
distances, cached), ``task`` (the task and the surface metrics), ``bench`` (``iga bench
sdf``); registered as ``iga fit sdf`` here."""

from __future__ import annotations

from typing import Any

from iga.tasks.common import check_model, shared_flags
from iga.tasks.registry import TaskSpec, register_task


def _report(cfg: Any, s: dict[str, Any]) -> str:
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
        help="fit a mesh's signed distance field (OBJ/PLY/STL/OFF)",
        description="Fit the signed distance field of a triangle mesh with an INR, vanilla or "
        "with IGA (groups: spatial blocks of sample points), into a run directory (config.json, "
        "metrics.csv, summary.json with iou, chamfer, normal_consistency and mae_near, "
        "surface.ply, surface.png, error_slices.png, iou.png).",
        argument="path",
        argument_help="mesh file (OBJ, PLY, STL, OFF; read by trimesh)",
        overrides=shared_flags,
        check=check_model,
        report=_report,
        fitted="iga.tasks.sdf.field",
        benches=("iga.tasks.sdf.bench",),
    )
)

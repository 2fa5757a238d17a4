"""The occupancy task: (x, y, z) -> inside a mesh. ``task`` (the task), ``mesh`` (mesh ->
occupancy grid, cached), ``bench`` (``iga bench occupancy``: the paper's Table 2); registered
as ``iga fit occupancy`` here."""

from __future__ import annotations

from typing import Any

from iga.tasks.common import check_model, shared_flags
from iga.tasks.registry import TaskSpec, register_task


def _overrides() -> dict[str, dict[str, Any]]:
    from iga.tasks.occupancy.task import GROUP_SHAPES

    return {**shared_flags(), "patch": {"min": 1}, "groups": {"choices": GROUP_SHAPES}}


def _report(cfg: Any, s: dict[str, Any]) -> str:
    return (
        f"{cfg.model.arch}/{cfg.method.method}: IoU {s['iou']:.4f} (grid, best weights; final "
        f"{s['iou_final']:.4f}), fresh points {s['iou_eval']:.4f}, near the surface "
        f"{s['iou_near']:.4f}, Chamfer {s['chamfer']:.5f} (grid floor {s['chamfer_floor']:.5f}), "
        f"{1000 * s['seconds_per_step']:.1f} ms/step -> {cfg.out}"
    )


def _config() -> Any:
    from iga.tasks.occupancy.task import OccupancyFitConfig

    return OccupancyFitConfig()


def _task() -> Any:
    from iga.tasks.occupancy.task import OccupancyTask

    return OccupancyTask()


SPEC = register_task(
    TaskSpec(
        name="occupancy",
        config=_config,
        task=_task,
        help="fit a mesh's occupancy field (OBJ/PLY/STL/OFF)",
        description="Fit the occupancy field of a triangle mesh with an INR, vanilla or with "
        "IGA, into a run directory (config.json, metrics.csv, summary.json with iou, iou_eval, "
        "iou_near and chamfer, surface.ply, surface.png, error_slices.png, iou.png). "
        "Defaults: the cpu tier of `iga bench occupancy`.",
        argument="path",
        argument_help="mesh file (OBJ, PLY, STL, OFF; read by trimesh)",
        overrides=_overrides,
        check=check_model,
        report=_report,
        fitted="iga.tasks.occupancy.field",
        benches=("iga.tasks.occupancy.bench",),
    )
)

"""The sparse-view CT task: rays -> line integrals of an INR of the slice. ``data`` (the slice,
its sinogram, the projector), ``task`` (the task), ``field`` (the fitted slice); registered as
``iga fit ct`` here."""

from __future__ import annotations

from typing import Any

from iga.tasks.common import check_model, shared_flags
from iga.tasks.registry import TaskSpec, register_task


def _report(cfg: Any, s: dict[str, Any]) -> str:
    return (
        f"{cfg.model.arch}/{cfg.method.method}: PSNR {s['psnr']:.2f} dB on the slice (weights "
        f"of step {s['best_step']}, picked by the sinogram; last step {s['psnr_final']:.2f}, "
        f"best held out {s['psnr_oracle']:.2f}), SSIM {s['ssim']:.4f}; filtered "
        f"back-projection {s['fbp_psnr']:.2f} dB -> {cfg.out}"
    )


def _config() -> Any:
    from iga.tasks.ct.task import CTFitConfig

    return CTFitConfig()


def _task() -> Any:
    from iga.tasks.ct.task import CTTask

    return CTTask()


SPEC = register_task(
    TaskSpec(
        name="ct",
        config=_config,
        task=_task,
        help="sparse-view CT: fit a slice through its parallel-beam projections",
        description="Simulate the sinogram of a grey slice at --angles angles (scikit-image's "
        "radon, optional --noise) and fit an INR of the slice through it: a prediction is the "
        "INR integrated along a ray, and IGA's groups are bundles of neighbouring rays. Scored "
        "on the slice itself (never trained on) against filtered back-projection. Writes "
        "config.json, metrics.csv, summary.json, reconstruction.png, comparison.png, psnr.png.",
        argument="path",
        argument_help="grey slice image (8/16-bit PNG...; colour is converted) or 'phantom'",
        overrides=shared_flags,
        check=check_model,
        report=_report,
        benches=("iga.tasks.ct.bench",),
        fitted="iga.tasks.ct.field",
    )
)

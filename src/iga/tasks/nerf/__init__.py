"""The NeRF task: rays -> colours through a radiance field. ``task`` (the task), ``data``
(Blender scenes), ``bench`` (``iga bench nerf``: the paper's Table 3); the field and the
renderer are models (:mod:`iga.models.nerf`, :mod:`iga.models.render`); registered as
``iga fit nerf`` here."""

from __future__ import annotations

from typing import Any

from iga.tasks.registry import TaskSpec, register_task


def _overrides() -> dict[str, dict[str, Any]]:
    from iga.models.nerf import FR_LAYERS
    from iga.optim import OPTIMIZERS, SCHEDULES
    from iga.tasks.nerf.task import BATCHING, KERNELS

    return {
        "method": {
            "choices": ("vanilla", "fr", "bn", "iga"),
            "help": "vanilla (MSE of both renders), fr (Fourier-reparameterised feature "
            "layer), bn (batch norm in the trunk) or iga (IGA on the fine render)",
        },
        "fr_layers": {"choices": FR_LAYERS},
        "sampling": {
            "help": "IGA: not used by NeRF (a ray's representative is its max-weight sample)"
        },
        "kernel": {"choices": KERNELS},
        "batching": {"choices": BATCHING},
        "steps": {"help": "training steps (one batch of rays each)"},
        "lr": {"help": "learning rate (nerf-pytorch: 5e-4)"},
        "schedule": {"choices": SCHEDULES},
        "optimizer": {"choices": tuple(OPTIMIZERS)},
        "ref": {"choices": ("end", "start")},
        "every": {"min": 1},
    }


def _report(cfg: Any, s: dict[str, Any]) -> str:
    lp = f", LPIPS {s['lpips_test']:.4f}" if s.get("lpips_test") is not None else ""
    kernel = f" ({s['kernel']} kernel)" if s.get("kernel") else ""
    return (
        f"{s['scene']} {cfg.method.method}{kernel}: test PSNR {s['psnr_test']:.2f} dB, SSIM "
        f"{s['ssim_test']:.4f}{lp} on {s['test_views']} test views, "
        f"{1000 * s['seconds_per_step']:.1f} ms/step -> {cfg.out}"
    )


def _config() -> Any:
    from iga.tasks.nerf.task import NeRFFitConfig

    return NeRFFitConfig()


def _task() -> Any:
    from iga.tasks.nerf.task import NeRFTask

    return NeRFTask()


SPEC = register_task(
    TaskSpec(
        name="nerf",
        config=_config,
        task=_task,
        help="fit a neural radiance field to a Blender scene (transforms_*.json + PNGs)",
        description="Fit NeRF (coarse + fine networks) to a Blender-layout scene, vanilla or "
        "with IGA on the fine network, into a run directory (config.json, metrics.csv, "
        "summary.json with psnr_test and ssim_test on held-out test views, test/*.png, "
        "test_views.png, turntable.gif, psnr.png). Defaults: the cpu tier.",
        argument="scene",
        argument_help="scene folder (transforms_train/val/test.json and images)",
        overrides=_overrides,
        report=_report,
        fitted="iga.tasks.nerf.field",
        benches=("iga.tasks.nerf.bench",),
    )
)

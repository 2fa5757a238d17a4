"""The image task: pixels (y, x) -> RGB. ``task`` (the task), ``data`` (loading, coordinates),
``inverse`` (inpainting and super-resolution), ``field`` (the fitted image, ``iga.load``),
``bench`` (``iga bench image``: the paper's Table 1), ``rivals`` (``iga bench rivals``),
``inverse_bench`` (``iga bench inpainting`` / ``superres``), ``demo`` (``iga demo``);
registered as ``iga fit image`` here."""

from __future__ import annotations

from typing import Any

from iga.tasks.common import check_model, shared_flags
from iga.tasks.registry import TaskSpec, register_task


def cli_overrides() -> dict[str, dict[str, Any]]:
    """The shared sections' flag settings plus this task's own (``--patch``, ``--size``)."""
    from iga.tasks.image.data import parse_size

    return {
        **shared_flags(),
        "patch": {"min": 1},
        "size": {"check": parse_size},
        "downsample": {"min": 1},
        "heldout_every": {"min": 1},
    }


def _report(cfg: Any, s: dict[str, Any]) -> str:
    if "psnr_heldout" in s:  # inpainting / super-resolution: what was not trained on
        base = f", bicubic {s['psnr_bicubic']:.2f} dB" if "psnr_bicubic" in s else ""
        return (
            f"{cfg.model.arch}/{cfg.method.method}: held-out PSNR {s['psnr_heldout']:.2f} dB, "
            f"whole image {s['psnr_full']:.2f} dB{base} (best training weights; held-out best "
            f"{s.get('heldout_best', float('nan')):.2f} dB at step "
            f"{s.get('heldout_best_step', '?')}), {1000 * s['seconds_per_step']:.1f} ms/step "
            f"-> {cfg.out}"
        )
    return (
        f"{cfg.model.arch}/{cfg.method.method}: best PSNR {s['psnr_best']:.2f} dB "
        f"(step {s['best_step']}), final {s['psnr_final']:.2f} dB, SSIM {s['ssim']:.4f}, "
        f"{1000 * s['seconds_per_step']:.1f} ms/step -> {cfg.out}"
    )


def _config() -> type:
    from iga.tasks.image.task import ImageFitConfig

    return ImageFitConfig


def _task() -> Any:
    from iga.tasks.image.task import ImageTask

    return ImageTask()


def _demo(**kwargs: Any) -> None:
    from iga.tasks.image.demo import demo

    demo(**kwargs)


SPEC = register_task(
    TaskSpec(
        name="image",
        config=_config,
        task=_task,
        help="fit an image (PNG/JPEG)",
        description="Fit an image with an INR, vanilla or with IGA, into a run directory "
        "(config.json, metrics.csv, summary.json, reconstruction.png, psnr.png, best.pt).",
        argument="path",
        argument_help="image file (PNG/JPEG; grayscale and RGBA are handled)",
        overrides=cli_overrides,
        check=check_model,
        report=_report,
        fitted="iga.tasks.image.field",
        benches=(
            "iga.tasks.image.bench",
            "iga.tasks.image.rivals",
            "iga.tasks.image.inverse_bench",
        ),
        demo=_demo,
    )
)

"""The audio task: t -> samples. ``data`` (reading WAV/FLAC), ``task`` (the task and the band
errors), ``figures`` (waveforms and spectrograms), ``bench`` (``iga bench audio``); registered
as ``iga fit audio`` here."""

from __future__ import annotations

from typing import Any

from iga.tasks.common import check_model, shared_flags
from iga.tasks.registry import TaskSpec, register_task


def _report(cfg: Any, s: dict[str, Any]) -> str:
    return (
        f"{cfg.model.arch}/{cfg.method.method}: PSNR {s['psnr']:.2f} dB (step {s['best_step']}), "
        f"SNR {s['snr_db']:.2f} dB, MSE {s['mse']:.3g}, {1000 * s['seconds_per_step']:.1f} "
        f"ms/step -> {cfg.out}"
    )


def _config() -> Any:
    from iga.tasks.audio.task import AudioFitConfig

    return AudioFitConfig()


def _task() -> Any:
    from iga.tasks.audio.task import AudioTask

    return AudioTask()


SPEC = register_task(
    TaskSpec(
        name="audio",
        config=_config,
        task=_task,
        help="fit an audio clip (WAV; mono or stereo)",
        description="Fit an audio clip with an INR, vanilla or with IGA (groups: windows of "
        "samples), into a run directory (config.json, metrics.csv, summary.json with psnr, "
        "snr_db, mse and per-band errors, reconstruction.wav, comparison.png, psnr.png). "
        "Defaults: a 1-second excerpt, SIREN with SIREN's audio ω₀ = 3000.",
        argument="path",
        argument_help="audio file (WAV; FLAC/OGG with the soundfile package)",
        overrides=shared_flags,
        check=check_model,
        report=_report,
        fitted="iga.tasks.audio.field",
        benches=("iga.tasks.audio.bench",),
    )
)

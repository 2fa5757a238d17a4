"""Fitting audio: time t ∈ [-1, 1] -> the samples (mono or stereo), vanilla or with IGA.

Groups are contiguous windows of ``--window`` samples (the last one may be shorter). A step
fits every sample (``--batch-windows 0``) or a mini-batch of ``--batch-windows`` windows drawn
without replacement per epoch (resumable: the order comes from per-epoch seeds); with
mini-batches the best weights are picked by the PSNR of the whole signal, measured every
``--eval-every`` steps. SIREN and FINER take SIREN's audio setting, a first-layer ω₀ of 3000
(``--siren-omega``), unless ``--opt first_omega0=...`` says otherwise; PE takes enough
frequency levels to reach the sampling rate's Nyquist frequency, unless ``--opt pe_levels``.

A run directory holds the usual ``config.json``, ``metrics.csv``, ``summary.json``
(:mod:`iga.tasks.base`) with ``psnr`` (best weights; peak amplitude 1: ``-10 log10 MSE``),
``snr_db`` (``10 log10(Σy² / Σ(y − ŷ)²)``, Muon-INRs' SNR), ``mse`` and the relative error
per frequency band (:func:`band_errors`), plus ``reconstruction.wav`` (best weights),
``comparison.png`` (waveforms, zoomed, and spectrograms), ``psnr.png`` and ``best.pt``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from iga.figures import plots
from iga.io import save_torch
from iga.methods import model_method
from iga.models import build
from iga.models.config import ModelConfig
from iga.optim import recipe_lr
from iga.tasks import registry
from iga.tasks.audio.data import AudioData, load_audio, write_wav
from iga.tasks.base import Fit, check_ints, config_from_dict, fit
from iga.tasks.common import fresh_facts, fresh_options, group_batches, predict, window_groups
from iga.train import MethodConfig, TrainConfig, TrainResult

__all__ = [
    "AudioFitConfig",
    "AudioTask",
    "band_errors",
    "build_model",
    "fit_audio",
    "fresh_choice",
    "pe_levels_for",
    "run_key",
]


def default_lr(arch: str) -> float:
    """SIREN's audio lr (1e-4) for the periodic archs; 1e-3 for ReLU and PE."""
    return 1e-3 if arch in ("relu", "pe") else 1e-4


@dataclass
class AudioFitConfig:
    """Everything that defines an audio-fitting run (defaults: the cpu tier)."""

    path: str = field(default="", metadata={"help": "WAV file (FLAC/OGG with soundfile)"})
    offset: float = field(default=0.0, metadata={"help": "seconds skipped at the start"})
    duration: float = field(default=1.0, metadata={"help": "seconds kept (0: to the end)"})
    window: int = field(default=128, metadata={"help": "IGA: samples per group (a window)"})
    batch_windows: int = field(
        default=0, metadata={"help": "windows per step (0: every sample, full batch)"}
    )
    siren_omega: float = field(
        default=3000.0,
        metadata={"help": "siren/finer first-layer ω₀ (SIREN's audio setting) unless --opt"},
    )
    bands: int = field(default=8, metadata={"help": "frequency bands of the band errors"})
    eval_every: int = field(
        default=100, metadata={"help": "with --batch-windows: score the whole signal every k"}
    )
    model: ModelConfig = field(default_factory=lambda: ModelConfig(arch="siren", width=128))
    method: MethodConfig = field(default_factory=lambda: MethodConfig(end=20))
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=1000, checkpoint_every=100)
    )
    out: str = field(default="runs/audio", metadata={"help": "run directory"})
    overwrite: bool = field(default=False, metadata={"help": "replace a run already in --out"})

    def __post_init__(self) -> None:
        check_ints(
            ("--window", self.window, 1),
            ("--batch-windows", self.batch_windows, 0),
            ("--bands", self.bands, 1),
            ("--eval-every", self.eval_every, 1),
        )
        if not (math.isfinite(self.siren_omega) and self.siren_omega > 0):
            raise ValueError(f"--siren-omega must be > 0; got {self.siren_omega}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioFitConfig:
        return config_from_dict(cls, data)

    @property
    def lr(self) -> float:
        return (
            self.train.lr
            or recipe_lr(self.train.optimizer, self.model.arch)
            or default_lr(self.model.arch)
        )


def pe_levels_for(samples: int) -> int:
    """PE levels whose top frequency ``2^(L−1)·π`` on [-1, 1] stays below the Nyquist
    frequency of ``samples`` samples (``π·samples/2``): ``ceil(log2 samples) − 1``."""
    return max(1, math.ceil(math.log2(samples)) - 1)


_AUDIO_CACHE: dict[tuple[str, float, float], AudioData] = {}


def load(cfg: AudioFitConfig) -> AudioData:
    """The kept samples of ``cfg`` (read once per file and crop)."""
    if not str(cfg.path).strip():
        raise ValueError("no audio file given; name one: iga fit audio FILE.wav")
    key = (str(Path(cfg.path).resolve()), cfg.offset, cfg.duration)
    if key not in _AUDIO_CACHE:
        _AUDIO_CACHE.clear()
        _AUDIO_CACHE[key] = load_audio(cfg.path).crop(cfg.offset, cfg.duration)
    return _AUDIO_CACHE[key]


AUDIO_FRESH: dict[str, tuple[float, ...]] = {
    "siren": (250.0, 500.0, 1000.0, 1500.0, 2000.0, 3000.0, 4000.0, 6000.0, 8000.0, 12000.0),
    "finer": (250.0, 500.0, 1000.0, 1500.0, 2000.0, 3000.0, 4000.0, 6000.0, 8000.0, 12000.0),
    "pe": tuple(float(v) for v in range(1, 21)),
}
"""``--fresh auto``'s candidates for audio: the image grid (ω₀ 10…200, L 1…10) is far below
a clip's frequencies (SIREN's audio ω₀ is 3000; PE needs about log2(samples) levels)."""


def build_model(
    cfg: AudioFitConfig,
    samples: int,
    channels: int,
    fresh: dict[str, object] | None = None,
) -> torch.nn.Module:
    """The INR of ``cfg`` for ``samples`` samples of ``channels`` channels; with ``--fresh``,
    at FreSh's choice (``fresh``: a recorded choice, so a loaded run does not choose again)."""
    if fresh is None:
        fresh = fresh_choice(cfg)[0]
    return _build(cfg, samples, channels, {**cfg.model.options, **fresh}, cfg.train.seed)


def fresh_choice(cfg: AudioFitConfig) -> tuple[dict[str, object], Any]:
    """FreSh on the clip's 1-D spectrum (:func:`iga.models.fresh.signal_spectrum`, iga's
    extension: the whole one-sided spectrum), candidates :data:`AUDIO_FRESH`."""

    def signal() -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]:
        data = load(cfg)
        return data.coords(), data.target(), (int(data.samples.shape[0]),)

    def make(extra: dict[str, object], seed: int) -> torch.nn.Module:
        n, c = load(cfg).samples.shape  # cached: read once per file and crop
        return _build(cfg, n, c, {**cfg.model.options, **extra}, seed)

    what = (str(Path(cfg.path).resolve()), cfg.offset, cfg.duration, cfg.siren_omega)
    what += (cfg.method.method, cfg.batch_windows)  # FR/BN build another model
    return fresh_options(
        cfg.model, cfg.train.seed, what, signal, make, AUDIO_FRESH.get(cfg.model.arch)
    )


def _build(
    cfg: AudioFitConfig, samples: int, channels: int, options: dict[str, Any], seed: int
) -> torch.nn.Module:
    options = dict(options)
    if cfg.model.arch in ("siren", "finer"):
        options.setdefault("first_omega0", cfg.siren_omega)
    if cfg.model.arch == "pe":
        options.setdefault("pe_levels", pe_levels_for(samples))
    if cfg.method.method == "bn" and cfg.batch_windows:
        # Mini-batches of windows: evaluation on the whole clip needs the running statistics.
        options.setdefault("bn_running_stats", True)
    return build(
        cfg.model.arch,
        1,
        channels,
        hidden_features=cfg.model.width,
        hidden_layers=cfg.model.hidden_layers,
        seed=seed,
        method=model_method(cfg.method.method),
        **options,
    )


def band_errors(pred: torch.Tensor, target: torch.Tensor, n_bands: int = 8) -> np.ndarray:
    """Relative error per frequency band, the 1D analogue of
    :func:`iga.analysis.bands.radial_band_errors`: the rFFT bins from 0 to Nyquist split into
    ``n_bands`` equal bands; ``e_k = sqrt(Σ_k |FFT(pred − target)|² / Σ_k |FFT(target)|²)``,
    channels pooled; NaN where the target has no energy (and the residual has some)."""
    p = pred.detach().cpu().double().numpy()
    t = target.detach().cpu().double().numpy()
    res = (np.abs(np.fft.rfft(p - t, axis=0)) ** 2).sum(axis=1)
    tgt = (np.abs(np.fft.rfft(t, axis=0)) ** 2).sum(axis=1)
    band = np.minimum((np.arange(len(tgt)) * n_bands) // len(tgt), n_bands - 1)
    r = np.bincount(band, weights=res, minlength=n_bands)
    g = np.bincount(band, weights=tgt, minlength=n_bands)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.sqrt(r / g)
    return np.where(g > 1e-12 * g.sum(), ratio, np.where(r == 0, 0.0, np.nan))


def _psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -10.0 * torch.log10(((pred.clamp(-1, 1) - target) ** 2).mean())


class AudioTask:
    """Audio on the task contract (:mod:`iga.tasks.base`): t -> samples."""

    name: ClassVar[str] = "audio"

    def method(self, cfg: AudioFitConfig) -> MethodConfig:
        return cfg.method

    def lr(self, cfg: AudioFitConfig) -> float:
        return cfg.lr

    def describe_model(self, cfg: AudioFitConfig) -> str:
        data = load(cfg)
        return build_model(cfg, data.samples.shape[0], data.channels).describe()

    def setup(self, cfg: AudioFitConfig, device: torch.device) -> Fit:
        data = load(cfg)
        n, c = data.samples.shape
        if cfg.window > n:
            raise ValueError(f"--window {cfg.window} exceeds the {n} kept samples; lower it")
        groups = window_groups(n, cfg.window, overlap_last=cfg.batch_windows > 0)
        n_groups = int(groups.shape[0])
        if cfg.batch_windows > n_groups:
            raise ValueError(
                f"--batch-windows {cfg.batch_windows} exceeds the {n_groups} windows; lower it "
                "(0: full batch)"
            )
        self.data = data
        t, y = data.coords().to(device), data.target().to(device)
        model = build_model(cfg, n, c).to(device)
        batch, seed = cfg.batch_windows, cfg.train.seed
        resolved = {
            "samples": n,
            "channels": c,
            "rate": data.rate,
            "first_sample": data.start,
            "n_groups": n_groups,
            "points_per_group": cfg.window,
            **fresh_facts(fresh_choice(cfg)[1])[0],
        }
        if batch == 0:
            return Fit(
                model=model,
                inputs=t,
                target=y,
                groups=groups,
                score=_psnr,
                score_name="psnr",
                log_every=max(1, cfg.train.steps // 200),
                resolved=resolved,
                groups_flag="--window",
            )

        draw = group_batches(groups, batch, seed, t, y)

        def validate(m: torch.nn.Module) -> dict[str, Any]:
            return {"psnr": float(_psnr(predict(m, t), y))}

        return Fit(
            model=model,
            inputs=torch.empty(0, 1),
            target=torch.empty(0, c),
            groups=torch.arange(batch * cfg.window).reshape(batch, cfg.window),
            batch=draw,
            score=_psnr,
            score_name="psnr_batch",
            validate=validate,
            validate_every=cfg.eval_every,
            validate_key="psnr",
            log_every=max(1, cfg.eval_every // 10),
            resolved={**resolved, "samples_per_step": batch * cfg.window},
            groups_flag="--batch-windows",
        )

    def evaluate(
        self, cfg: AudioFitConfig, fit: Fit, result: TrainResult, out: Path
    ) -> dict[str, Any]:
        data = self.data
        device = next(fit.model.parameters()).device
        t, y = data.coords().to(device), data.target().to(device)
        fit.model.eval()  # BN with running statistics (mini-batches) uses them, as validation did
        fit.model.load_state_dict(result.final_state)
        final = predict(fit.model, t).clamp(-1, 1).cpu()
        fit.model.load_state_dict(result.best_state)
        best = predict(fit.model, t).clamp(-1, 1).cpu()
        y = y.cpu()
        save_torch(out / "best.pt", result.best_state)
        save_torch(out / "final.pt", result.final_state)
        write_wav(out / "reconstruction.wav", best.numpy(), data.rate)
        from iga.tasks.audio.figures import comparison

        comparison(data, best.numpy(), out / "comparison.png", title=Path(cfg.path).name)
        steps = [r["step"] for r in result.history if "psnr" in r]
        values = [r["psnr"] for r in result.history if "psnr" in r]
        if steps:
            plots.psnr_curves({cfg.method.method: (steps, values)}, out / "psnr.png")
        mse = float(((best - y) ** 2).mean())
        errors = band_errors(best, y, cfg.bands)
        snr = 10 * math.log10(float((y**2).mean()) / mse) if mse > 0 else math.inf
        return {
            "audio": str(cfg.path),
            "arch": cfg.model.arch,
            "method": cfg.method.method,
            "psnr": float(_psnr(best, y)),
            "psnr_final": float(_psnr(final, y)),
            "best_step": result.best_step,
            "snr_db": snr,
            "mse": mse,
            "bands": [float(v) if math.isfinite(v) else None for v in errors],
            "seconds_audio": data.seconds,
            **fresh_facts(fresh_choice(cfg)[1])[1],
        }


def run_key(cfg: AudioFitConfig) -> str:
    """The key of the run ``cfg`` describes, without running it."""
    return registry.run_key(AudioTask(), cfg)


def fit_audio(
    cfg: AudioFitConfig, progress: bool = True, desc: str = "", resume: bool | str = False
) -> dict[str, Any]:
    """Run one audio fit into ``cfg.out``; returns the summary (also summary.json)."""
    return fit(AudioTask(), cfg, progress=progress, desc=desc, resume=resume)

"""The audio task's figure: waveforms (whole and zoomed where the error is largest) and
spectrograms of the target, the fit and the residual."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy import signal

from iga.io import save_figure
from iga.tasks.audio.data import AudioData

__all__ = ["comparison"]


def _spectrogram(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nper = min(512, len(x))
    f, t, s = signal.spectrogram(x, fs=rate, nperseg=nper, noverlap=nper // 2)
    return f, t, 10 * np.log10(s + 1e-12)


def comparison(data: AudioData, pred: np.ndarray, path: Path, title: str = "") -> Path:
    """Channel 0 of the target and ``pred`` ``[N, C]``: whole waveforms, a 20 ms zoom around
    the window with the largest error, and the spectrograms (target, fit, residual)."""
    y, p = data.samples[:, 0], np.asarray(pred)[:, 0]
    rate = data.rate
    seconds = np.arange(len(y)) / rate + data.start / rate
    span = max(8, min(len(y), int(0.02 * rate)))
    err = np.convolve((y - p) ** 2, np.ones(span), mode="valid")
    first = int(np.argmax(err)) if len(err) else 0
    zoom = slice(first, first + span)
    fig = Figure(figsize=(12, 7.5), layout="constrained")
    axes = fig.subplots(3, 2)
    ax = axes[0, 0]
    ax.plot(seconds, y, lw=0.4, label="target")
    ax.plot(seconds, p, lw=0.4, alpha=0.7, label="fit")
    ax.axvspan(seconds[zoom][0], seconds[zoom][-1], color="red", alpha=0.2)
    ax.set(title="waveform", xlabel="s")
    ax.legend(loc="upper right")
    ax = axes[0, 1]
    ax.plot(seconds[zoom], y[zoom], lw=1, label="target")
    ax.plot(seconds[zoom], p[zoom], lw=1, label="fit")
    ax.set(title="zoom: the 20 ms with the largest error", xlabel="s")
    specs = [("target", y), ("fit", p), ("residual", y - p)]
    vmax = _spectrogram(y, rate)[2].max()
    for ax, (name, x) in zip([axes[1, 0], axes[1, 1], axes[2, 0]], specs, strict=True):
        f, t, s = _spectrogram(x, rate)
        im = ax.pcolormesh(t, f / 1000, s, vmin=vmax - 90, vmax=vmax, shading="auto")
        ax.set(title=f"spectrogram: {name}", xlabel="s", ylabel="kHz")
    fig.colorbar(im, ax=axes[2, 0], label="dB")
    ax = axes[2, 1]
    fy, py = signal.welch(y, fs=rate, nperseg=min(2048, len(y)))
    fp, pp = signal.welch(y - p, fs=rate, nperseg=min(2048, len(y)))
    ax.semilogy(fy / 1000, py, label="target")
    ax.semilogy(fp / 1000, pp, label="residual")
    ax.set(title="power spectrum", xlabel="kHz")
    ax.legend()
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)

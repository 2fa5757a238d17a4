"""Reading audio into samples and time coordinates.

WAV is read by :func:`scipy.io.wavfile.read` (PCM 8/16/24/32-bit and float); FLAC and OGG by
the optional ``soundfile`` package when it is installed. Samples are converted to float32 in
[-1, 1] (8-bit PCM is unsigned: ``(x − 128) / 128``; 16/32-bit: ``x / 2^(bits−1)``); mono
gives one channel, stereo two (the INR's output width C). Time runs over [-1, 1] across the
kept samples, ``linspace(-1, 1, N)``, as in SIREN and Muon-INRs.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["AudioData", "load_audio", "write_wav"]

PathLike = str | os.PathLike[str]


@dataclass
class AudioData:
    """Samples ``[N, C]`` (float32 in [-1, 1]), their sample rate and where they came from."""

    samples: np.ndarray
    rate: int
    source: str
    start: int = 0
    """Index of the first kept sample in the file."""

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def seconds(self) -> float:
        return self.samples.shape[0] / self.rate

    def coords(self) -> torch.Tensor:
        """Time in [-1, 1], ``[N, 1]``."""
        return torch.linspace(-1.0, 1.0, self.samples.shape[0]).reshape(-1, 1)

    def target(self) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.samples))

    def crop(self, start: float, duration: float) -> AudioData:
        """The samples from ``start`` seconds for ``duration`` seconds (0: to the end)."""
        if not (math.isfinite(start) and start >= 0):
            raise ValueError(f"--offset must be >= 0 seconds; got {start}")
        if not (math.isfinite(duration) and duration >= 0):
            raise ValueError(f"--duration must be >= 0 seconds (0: to the end); got {duration}")
        n = self.samples.shape[0]
        first = int(round(start * self.rate))
        if first >= n:
            raise ValueError(
                f"--offset {start:g} s is past the end of {self.source} ({self.seconds:.2f} s)"
            )
        last = n if duration == 0 else min(n, first + int(round(duration * self.rate)))
        if last - first < 2:
            raise ValueError(f"--duration {duration:g} s keeps fewer than 2 samples; raise it")
        return AudioData(self.samples[first:last], self.rate, self.source, self.start + first)


def _to_float(x: np.ndarray, path: Path) -> np.ndarray:
    if x.dtype == np.uint8:  # 8-bit PCM is unsigned, centred on 128
        return ((x.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    if x.dtype == np.int16:
        return (x.astype(np.float32) / 32768.0).astype(np.float32)
    if x.dtype == np.int32:  # 24-bit WAVs come left-aligned in int32 too
        return (x.astype(np.float64) / 2147483648.0).astype(np.float32)
    if x.dtype in (np.float32, np.float64):
        return x.astype(np.float32)
    raise ValueError(f"{path}: unsupported sample type {x.dtype}; convert it to 16-bit PCM WAV")


def load_audio(path: PathLike) -> AudioData:
    """Read a mono or stereo audio file (WAV; FLAC/OGG with ``soundfile``) as float32 samples.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable, empty, more than two channels, a sample rate <= 0, or
            non-finite samples (one line naming the file and the fix).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no audio file {p}")
    suffix = p.suffix.lower()
    if suffix in (".wav", ".wave"):
        import warnings

        from scipy.io import wavfile

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", wavfile.WavFileWarning)
                rate, raw = wavfile.read(p)
        except (ValueError, OSError, EOFError, IndexError) as e:
            msg = " ".join(str(e).split()) or type(e).__name__
            raise ValueError(f"cannot read {p} as WAV ({msg}); is it a WAV file?") from None
        samples = _to_float(np.asarray(raw), p)
    elif suffix in (".flac", ".ogg"):
        try:
            import soundfile
        except ImportError:
            raise ValueError(
                f"{p}: reading {suffix} needs the soundfile package (pip install soundfile); "
                "or convert the file to WAV"
            ) from None
        try:
            samples, rate = soundfile.read(str(p), dtype="float32", always_2d=True)
        except Exception as e:  # noqa: BLE001 - soundfile raises its own error types
            raise ValueError(f"cannot read {p} ({' '.join(str(e).split())})") from None
    else:
        raise ValueError(f"{p}: unknown audio format {suffix or '(none)'}; give a WAV (or FLAC)")
    if samples.ndim == 1:
        samples = samples[:, None]
    if not rate or rate <= 0:
        raise ValueError(f"{p} declares a sample rate of {rate}; the file is damaged")
    if samples.shape[0] < 2:
        raise ValueError(f"{p} holds {samples.shape[0]} samples; nothing to fit")
    if samples.shape[1] > 2:
        raise ValueError(
            f"{p} has {samples.shape[1]} channels; give a mono or stereo file (mix it down)"
        )
    if not np.isfinite(samples).all():
        bad = int((~np.isfinite(samples)).sum())
        raise ValueError(f"{p} holds {bad} non-finite samples (NaN/inf); repair the file")
    return AudioData(np.ascontiguousarray(samples, dtype=np.float32), int(rate), str(p))


def write_wav(path: PathLike, samples: np.ndarray | torch.Tensor, rate: int) -> Path:
    """Write float samples ``[N]`` or ``[N, C]`` (clipped to [-1, 1]) as a float32 WAV,
    atomically."""
    from scipy.io import wavfile

    from iga.io import atomic_open

    x = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else samples
    x = np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    with atomic_open(path) as f:
        wavfile.write(f, int(rate), x)
    return Path(path)

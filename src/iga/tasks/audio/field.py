"""The fitted audio clip (:func:`iga.load` of an ``iga fit audio`` run): the network as a
function of time in seconds (from the excerpt's first sample), resampled at any rate."""

from __future__ import annotations

from pathlib import Path

import torch

from iga.fields import Field, FieldModule, RunRecord, load_weights
from iga.io import PathLike

__all__ = ["AudioField", "field"]


class AudioField(Field):
    """A fitted clip: :meth:`waveform` at any sample rate, :meth:`save_wav`."""

    @property
    def rate(self) -> int:
        """The training clip's sample rate (Hz)."""
        return int(self.meta["rate"])

    @property
    def seconds(self) -> float:
        """Time from the first to the last training sample."""
        return (int(self.meta["samples"]) - 1) / self.rate

    def waveform(self, rate: int | None = None) -> torch.Tensor:
        """The samples ``[N, channels]`` (CPU) at ``rate`` Hz (default: the clip's) from 0
        to :attr:`seconds`; at the clip's rate, the training instants (to float32 rounding of
        the time axis, which SIREN's ω₀ = 3000 turns into ~3e-5 of full scale)."""
        rate = self.rate if rate is None else rate
        if isinstance(rate, bool) or not isinstance(rate, int) or rate < 1:
            raise ValueError(f"--rate must be a positive integer (Hz); got {rate!r}")
        n = int(round(self.seconds * rate)) + 1
        t = torch.arange(n, dtype=torch.float64) / rate
        return self(t.float()[:, None]).cpu()

    def save_wav(self, path: PathLike, rate: int | None = None) -> Path:
        """:meth:`waveform` as a float32 WAV (clipped to ±1); returns its path."""
        from iga.tasks.audio.data import write_wav

        rate = self.rate if rate is None else rate
        return write_wav(path, self.waveform(rate).numpy(), rate)

    render_options = ("rate",)

    def _render_files(
        self, out: PathLike | None, *, progress: bool, rate: int | None = None
    ) -> list[Path]:
        rate = self.rate if rate is None else rate
        return [self.save_wav(self._target(out, f"audio_{rate}.wav", (".wav",)), rate)]


def field(record: RunRecord, data: PathLike | None = None) -> AudioField:
    """The :class:`AudioField` of a finished audio run (``data`` is not needed)."""
    from iga.tasks.audio.task import build_model
    from iga.tasks.common import recorded_fresh

    del data
    cfg, r = record.config, record.resolved
    n, channels, rate = int(r["samples"]), int(r["channels"]), int(r["rate"])
    model = load_weights(build_model(cfg, n, channels, recorded_fresh(r)), record)
    if cfg.method.method == "bn":  # full-grid statistics, as the full-batch runs trained with
        model = model.merge(torch.linspace(-1.0, 1.0, n).reshape(-1, 1))  # type: ignore[operator]
    elif cfg.method.method == "fr":
        model = model.merge()  # type: ignore[operator]
    span = (n - 1) / rate
    return AudioField(
        record,
        FieldModule(model, shift=torch.tensor([span / 2]), scale=torch.tensor([2.0 / span])),
        inputs="time in seconds from the excerpt's first sample",
        outputs=f"{channels} channel(s), full scale ±1",
        meta={
            "in_features": 1,
            "out_features": channels,
            "samples": n,
            "rate": rate,
            "first_sample": r.get("first_sample", 0),
            "input_columns": ["seconds"],
            "output_columns": [f"channel{i}" for i in range(channels)],
        },
    )

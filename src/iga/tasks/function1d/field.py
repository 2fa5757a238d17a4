"""The fitted 1D function (:func:`iga.load` of an ``iga fit function`` run): the network
as a function of the signal's own variable ``t`` (a ``circle`` run's ``(cos t, sin t)``
input is applied inside), sampled at any rate."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from iga.fields import Field, FieldModule, RunRecord, load_weights
from iga.io import PathLike, atomic_open

__all__ = ["SignalField", "field"]


class SignalField(Field):
    """A fitted 1D signal: :meth:`sample` it on the training domain at any number of points."""

    def sample(self, points: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(t, f(t))``, both ``[points]`` on the CPU, on the training domain with its
        endpoint convention (``line``: both ends; ``circle``: the right end left out)."""
        n = int(points or self.meta["points"])
        if n < 2:
            raise ValueError(f"--samples must be an integer >= 2; got {points!r}")
        lo, hi = self.meta["domain"]
        if self.meta["coords"] == "circle":
            t = lo + (hi - lo) * torch.arange(n, dtype=torch.float64) / n
        else:
            t = torch.linspace(lo, hi, n, dtype=torch.float64)
        t = t.float()
        return t, self(t).reshape(-1).cpu()

    def save_csv(self, path: PathLike, points: int | None = None) -> Path:
        """:meth:`sample` into a CSV with columns ``t`` and ``value``; returns its path."""
        t, y = self.sample(points)
        with atomic_open(path, text=True) as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["t", "value"])
            w.writerows(zip(t.tolist(), y.tolist(), strict=True))
        return Path(path)

    render_options = ("samples",)

    def _render_files(
        self, out: PathLike | None, *, progress: bool, samples: int | None = None
    ) -> list[Path]:
        n = int(samples or self.meta["points"])
        return [self.save_csv(self._target(out, f"signal_{n}.csv", (".csv",)), n)]


def field(record: RunRecord, data: PathLike | None = None) -> SignalField:
    """The :class:`SignalField` of a finished 1D run (``data`` is not needed)."""
    from iga.tasks.common import recorded_fresh
    from iga.tasks.function1d.task import build_net

    del data
    cfg = record.config
    circle = cfg.signal.coords == "circle"
    fresh = recorded_fresh(record.resolved)
    net = load_weights(build_net(cfg.net, 2 if circle else 1, cfg.train.seed, fresh), record)
    return SignalField(
        record,
        FieldModule(net, pre="circle" if circle else ""),
        inputs="t, the signal's variable (its domain: " + cfg.signal.domain + ")",
        outputs="the signal's value",
        meta={
            "in_features": 1,
            "out_features": 1,
            "domain": list(cfg.signal.bounds),
            "points": cfg.signal.points,
            "coords": cfg.signal.coords,
            "input_columns": ["t"],
            "output_columns": ["value"],
        },
    )

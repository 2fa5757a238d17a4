"""Activation regions along training: the image and 1D tasks with a region probe that logs
the counts of :mod:`iga.analysis.regions_count` every few steps and keeps the boundaries in
``regions.npz``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from iga.analysis.regions_count import _relu_parts, regions_1d, regions_2d
from iga.io import atomic_open
from iga.tasks.base import Fit
from iga.tasks.function1d.task import FunctionFitConfig, FunctionTask
from iga.tasks.image.data import image_coords
from iga.tasks.image.task import ImageFitConfig, ImageTask

__all__ = ["RegionFunctionTask", "RegionImageTask"]


class RegionImageTask(ImageTask):
    """The image task with the activation regions of the current network logged every
    ``every`` steps, on a grid ``oversample`` times finer than the pixels along each axis
    (same [-1, 1]² domain): columns ``regions``, ``patterns`` and ``boundary_frac`` (share of
    boundary points) in metrics.csv, and every boundary map in ``regions.npz`` (arrays
    ``steps``, ``boundary`` [k, s·H, s·W] and ``abs_error`` [k, H, W], the mean absolute
    residual over channels), rewritten atomically at each probe."""

    def __init__(self, every: int, oversample: int = 4) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1; got {every!r}")
        if isinstance(oversample, bool) or not isinstance(oversample, int) or oversample < 1:
            raise ValueError(f"oversample must be an integer >= 1; got {oversample!r}")
        self.every = every
        self.oversample = oversample

    def setup(self, cfg: ImageFitConfig, device: torch.device) -> Fit:
        job = super().setup(cfg, device)
        _relu_parts(job.model)  # fail before training, not at the first probe
        data = self.data
        kept: dict[str, list[Any]] = {"steps": [], "boundary": [], "abs_error": []}
        out = Path(cfg.out)
        fh, fw = data.height * self.oversample, data.width * self.oversample
        fine = image_coords(fh, fw, device=data.coords.device, dtype=data.coords.dtype)

        def extra(step: int, pred: torch.Tensor) -> dict[str, Any]:
            res = regions_2d(job.model, fine, fh, fw)
            err = (pred - data.target).abs().mean(dim=1).reshape(data.height, data.width)
            kept["steps"].append(step)
            kept["boundary"].append(res.boundaries)
            kept["abs_error"].append(err.cpu().numpy().astype(np.float32))
            with atomic_open(out / "regions.npz") as f:
                np.savez_compressed(f, **{k: np.asarray(v) for k, v in kept.items()})
            return {
                "regions": res.count,
                "patterns": res.patterns,
                "boundary_frac": float(res.boundaries.mean()),
            }

        job.extra = extra
        job.extra_every = self.every
        job.resolved["regions_probe"] = {"every": self.every, "oversample": self.oversample}
        return job


class RegionFunctionTask(FunctionTask):
    """The 1D task (``iga fit function``, line coordinates) with the linear pieces of the
    current network over the sampled interval logged every ``every`` steps (column
    ``regions``) and the boundary positions in ``regions.npz`` (``steps``, ``positions``
    concatenated, ``offsets`` [k + 1]), rewritten atomically at each probe."""

    def __init__(self, every: int) -> None:
        super().__init__(plots=False)
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1; got {every!r}")
        self.every = every

    def setup(self, cfg: FunctionFitConfig, device: torch.device) -> Fit:
        if cfg.signal.coords != "line":
            raise ValueError("regions are counted along the line: use --coords line")
        job = super().setup(cfg, device)
        _relu_parts(job.model)
        lo, hi = cfg.signal.bounds
        deltas = job.extra
        assert deltas is not None
        kept: dict[str, list[Any]] = {"steps": [], "positions": []}
        out = Path(cfg.out)

        def extra(step: int, pred: torch.Tensor) -> dict[str, Any]:
            row = deltas(step, pred) if step % cfg.eval_every == 0 else {}
            if step % self.every:
                return row
            res = regions_1d(job.model, lo, hi)
            kept["steps"].append(step)
            kept["positions"].append(res.boundaries)
            offsets = np.cumsum([0] + [len(p) for p in kept["positions"]])
            with atomic_open(out / "regions.npz") as f:
                np.savez(
                    f,
                    steps=np.asarray(kept["steps"]),
                    positions=np.concatenate(kept["positions"]),
                    offsets=offsets,
                )
            return {**row, "regions": res.count}

        job.extra = extra
        job.extra_every = math.gcd(self.every, cfg.eval_every)
        job.log_every = job.extra_every
        job.columns = (*job.columns, "regions")
        job.resolved["regions_probe"] = {"every": self.every}
        return job

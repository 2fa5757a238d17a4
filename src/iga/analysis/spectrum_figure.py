"""Figures of eNTK spectra: eigenvalues against index, one line (or seed band) per label."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from iga.analysis.spectrum_kernel import SpectrumResult
from iga.io import save_figure

__all__ = ["spectra_figure"]

PathLike = str | os.PathLike[str]


def _stack(results: SpectrumResult | Sequence[SpectrumResult]) -> list[SpectrumResult]:
    items = [results] if isinstance(results, SpectrumResult) else list(results)
    if not items or not all(isinstance(r, SpectrumResult) for r in items):
        raise TypeError("spectra_figure takes {label: SpectrumResult or a list of them}")
    return items


def _median_stat(items: Sequence[SpectrumResult], key: str) -> float:
    values = [r.stats[key] for r in items if math.isfinite(r.stats[key])]
    return float(np.median(values)) if values else float("nan")


def spectra_figure(
    results: Mapping[str, SpectrumResult | Sequence[SpectrumResult]],
    path: PathLike,
    title: str | None = None,
) -> Path:
    """Eigenvalues against index on a log axis, one line per label, saved to ``path``.

    A list of results (e.g. one per seed) is drawn as the median per index with a min-max
    band; lists of different lengths are cut to the shortest. Non-positive eigenvalues are
    left out (a log axis cannot show them). The legend gives the median normalised variance
    Var(λ)/mean(λ)² and condition number of each label.
    """
    if not results:
        raise ValueError("spectra_figure needs at least one spectrum; pass {label: result}")
    many = len(results) > 10  # beyond the default colour cycle: 20 colours, two line styles
    fig = Figure(figsize=(7.6, 4.8) if many else (6.4, 4.2), dpi=120, layout="constrained")
    ax = fig.add_subplot()
    palette = matplotlib.colormaps["tab20"].colors
    for k, (label, res) in enumerate(results.items()):
        items = _stack(res)
        n = min(r.eigenvalues.numel() for r in items)
        ev = np.stack([r.eigenvalues[:n].numpy() for r in items])
        ev = np.where(ev > 0, ev, np.nan)
        index = np.arange(1, n + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: drawn as gaps
            mid = np.nanmedian(ev, axis=0)
            lo, hi = np.nanmin(ev, axis=0), np.nanmax(ev, axis=0)
        var = _median_stat(items, "variance_normalised")
        cond = _median_stat(items, "condition")
        style = {"color": palette[k % 20], "linestyle": ("-", "--")[k // 20 % 2]} if many else {}
        (line,) = ax.plot(
            index,
            mid,
            linewidth=1.5,
            label=f"{label}: Var/mean² {var:.3g}, cond {cond:.2e}",
            **style,
        )
        if len(items) > 1:
            ax.fill_between(index, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel("eigenvalue of the eNTK")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7 if many else 8, ncol=2 if many else 1)
    if title:
        ax.set_title(title, fontsize=10)
    return save_figure(fig, path)

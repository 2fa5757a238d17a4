"""Figures of the 1D task: MSE curves, Δ_k heatmaps and the fitted signal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from iga.io import save_figure
from iga.tasks.function1d.signal import Signal

_DPI = 110


def mse_curves(
    panels: Mapping[str, Mapping[str, tuple[Sequence[int], Sequence[float]]]],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """MSE (log scale) against step: one subplot per panel, one line per run label."""
    if not panels:
        raise ValueError("mse_curves needs at least one panel; pass {panel: {label: curve}}")
    n = len(panels)
    fig = Figure(figsize=(4.2 * n, 3.4), dpi=_DPI, layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (name, curves) in zip(axes, panels.items(), strict=True):
        for label, (steps, values) in curves.items():
            y = np.asarray(values, dtype=np.float64)
            ax.plot(np.asarray(steps), np.where(y > 0, y, np.nan), label=label, linewidth=1.3)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("MSE")
        ax.set_title(name, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    return save_figure(fig, path)


def delta_heatmaps(
    grid: Sequence[Sequence[tuple[str, Sequence[int], np.ndarray] | None]],
    bins: Sequence[int],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Δ_k heatmaps (frequency × step), one shared colour scale [0, 1] (darker = worse).

    ``grid[row][col]`` is ``(label, steps, deltas[len(steps), len(bins)])`` or None for an
    empty cell. Values above 1 (early in training) are shown as 1, like the paper's figures.
    """
    rows = len(grid)
    cols = max((len(r) for r in grid), default=0)
    if rows == 0 or cols == 0:
        raise ValueError("delta_heatmaps needs at least one cell")
    fig = Figure(
        figsize=(3.0 * cols + 0.8, 1.0 + 0.25 * len(bins) * rows + 0.35 * rows),
        dpi=_DPI,
        layout="constrained",
    )
    axes = fig.subplots(rows, cols, squeeze=False)
    mappable = None
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            cell = grid[r][c] if c < len(grid[r]) else None
            if cell is None:
                ax.set_axis_off()
                continue
            label, steps, deltas = cell
            d = np.clip(np.asarray(deltas, dtype=np.float64).T, 0.0, 1.0)
            s = np.asarray(steps)
            mappable = ax.imshow(
                d,
                aspect="auto",
                origin="lower",
                cmap="magma_r",
                vmin=0.0,
                vmax=1.0,
                interpolation="nearest",
                extent=(float(s[0]), float(s[-1]), -0.5, len(bins) - 0.5),
            )
            ax.set_yticks(range(len(bins)), [str(b) for b in bins], fontsize=7)
            ax.set_title(label, fontsize=8)
            ax.tick_params(axis="x", labelsize=7)
            if c == 0:
                ax.set_ylabel("DFT bin k", fontsize=8)
            if r == rows - 1:
                ax.set_xlabel("step", fontsize=8)
    if mappable is not None:
        fig.colorbar(mappable, ax=axes.ravel().tolist(), label="Δ_k", shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def _fit_plot(signal: Signal, pred: torch.Tensor, path: Path, title: str) -> Path:
    fig = Figure(figsize=(7.0, 2.8), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    t = signal.t.numpy()
    ax.plot(t, signal.target[:, 0].numpy(), label="target", linewidth=1.0, color="0.3")
    ax.plot(t, pred[:, 0].cpu().numpy(), label="network", linewidth=0.9, color="tab:red")
    ax.set_xlabel("t")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)

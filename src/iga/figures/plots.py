"""Figures for experiments: PSNR curves, image comparisons, residual spectra, eNTK spectra.

Figures are built as ``matplotlib.figure.Figure`` objects, not through ``pyplot``: rendering to
a file then needs no GUI backend (it is headless-safe like the Agg backend) and importing this
module never changes the process-wide backend of a notebook or application that uses pyplot
itself. Every function saves atomically through :func:`iga.io.save_figure` and returns the path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from iga.io import save_figure

__all__ = [
    "fft_residual",
    "gain_bars",
    "method_comparison",
    "psnr_curves",
    "residual_spectra",
    "side_by_side",
    "spectrum_plot",
]

PathLike = str | os.PathLike[str]

_DPI = 120
# Floor of the log-magnitude, so an exact fit (zero residual) shows as a finite colour.
_LOG_EPS = 1e-8


def _as_numpy(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().to(torch.float64).numpy()
    if isinstance(x, np.ndarray):
        return x.astype(np.float64, copy=False)
    if isinstance(x, Sequence):
        return np.asarray(x, dtype=np.float64)
    raise TypeError(
        f"{name} must be a numpy array, torch tensor or sequence, got {type(x).__name__}"
    )


def _as_image(x: Any, name: str) -> np.ndarray:
    img = _as_numpy(x, name)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[-1] == 3)):
        raise ValueError(
            f"{name} must have shape [H, W, 3] or [H, W], got {tuple(img.shape)}; "
            "reshape flat predictions to the image shape first"
        )
    return img


def psnr_curves(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    path: PathLike,
    title: str | None = None,
    ylabel: str = "PSNR (dB)",
    styles: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Plot PSNR (dB), or any score named by ``ylabel``, against training step, one line per
    label, and save it to ``path``.

    ``curves`` maps a label to ``(steps, psnr_values)`` of equal length. Non-finite values
    (an ``inf`` PSNR from a perfect fit) are left out of the line rather than breaking the axis.
    ``styles`` maps a label to extra matplotlib line options (e.g. one colour per method and
    one line style per seed).
    """
    if not curves:
        raise ValueError("psnr_curves needs at least one curve; pass {label: (steps, psnr)}")
    fig = Figure(figsize=(6.0, 4.0), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    for label, (steps, values) in curves.items():
        x = _as_numpy(list(steps), f"steps of {label!r}")
        y = _as_numpy(list(values), f"PSNR values of {label!r}")
        if x.shape != y.shape or x.ndim != 1:
            raise ValueError(
                f"curve {label!r} has {x.size} steps but {y.size} PSNR values; "
                "pass equal-length 1-D sequences"
            )
        style = {"linewidth": 1.5, **((styles or {}).get(label) or {})}
        ax.plot(x, np.where(np.isfinite(y), y, np.nan), label=str(label), **style)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


def side_by_side(
    images: Mapping[str, Any],
    path: PathLike,
    titles_extra: Mapping[str, str] | None = None,
) -> Path:
    """Show images in one row, titled by their label, and save to ``path``.

    ``images`` maps labels to ``[H, W, 3]`` (or ``[H, W]``) arrays in [0, 1], shown clipped;
    the caller includes the target as one entry. ``titles_extra`` adds a second title line per
    label, e.g. ``{"siren": "33.7 dB"}``.
    """
    if not images:
        raise ValueError("side_by_side needs at least one image; pass {label: image}")
    extra = dict(titles_extra or {})
    arrays = {label: _as_image(img, f"image {label!r}") for label, img in images.items()}
    first = next(iter(arrays.values()))
    aspect = first.shape[0] / first.shape[1]
    n = len(arrays)
    panel = 3.0
    fig = Figure(figsize=(panel * n, panel * aspect + 0.6), dpi=_DPI, layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (label, img) in zip(axes, arrays.items(), strict=True):
        shown = np.clip(np.nan_to_num(img, nan=0.0), 0.0, 1.0)
        if shown.ndim == 2:
            ax.imshow(shown, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        else:
            ax.imshow(shown, interpolation="nearest")
        title = str(label) + (f"\n{extra[label]}" if label in extra else "")
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    return save_figure(fig, path)


def fft_residual(pred: Any, target: Any) -> np.ndarray:
    """Log-magnitude spectrum of the residual ``pred - target``, for frequency heatmaps.

    Returns an ``[H, W]`` array: ``log10(|FFT2(pred - target)| + 1e-8)`` with the orthonormal
    FFT (so values do not grow with image size), averaged over channels (magnitudes, not complex
    values) and ``fftshift``-ed so the zero frequency is in the centre and high frequencies at
    the borders.
    """
    p = _as_image(pred, "pred")
    t = _as_image(target, "target")
    if p.shape != t.shape:
        raise ValueError(
            f"pred shape {tuple(p.shape)} does not match target shape {tuple(t.shape)}; "
            "reshape the prediction to the target's shape"
        )
    residual = p - t
    if residual.ndim == 2:
        residual = residual[..., None]
    spectrum = np.fft.fft2(residual, axes=(0, 1), norm="ortho")
    magnitude = np.abs(spectrum).mean(axis=-1)
    return np.log10(np.fft.fftshift(magnitude) + _LOG_EPS)


def residual_spectra(images: Mapping[str, Any], target: Any, path: PathLike) -> Path:
    """Plot :func:`fft_residual` heatmaps of several predictions side by side and save them.

    All panels share one colour scale (and one colour bar) so they can be compared directly.
    """
    if not images:
        raise ValueError("residual_spectra needs at least one prediction; pass {label: image}")
    spectra = {label: fft_residual(img, target) for label, img in images.items()}
    values = np.concatenate([s.ravel() for s in spectra.values()])
    vmin, vmax = float(values.min()), float(values.max())
    if vmax <= vmin:  # all residuals identical (e.g. all exact): give imshow a non-empty range
        vmax = vmin + 1.0
    first = next(iter(spectra.values()))
    aspect = first.shape[0] / first.shape[1]
    n = len(spectra)
    panel = 3.0
    fig = Figure(figsize=(panel * n + 0.8, panel * aspect + 0.6), dpi=_DPI, layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    mappable = None
    for ax, (label, spec) in zip(axes, spectra.items(), strict=True):
        mappable = ax.imshow(spec, cmap="magma", vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(str(label), fontsize=10)
        ax.set_axis_off()
    fig.colorbar(mappable, ax=list(axes), label="log10 |FFT(residual)|", shrink=0.9)
    return save_figure(fig, path)


def spectrum_plot(
    eigenvalues_before: Any,
    eigenvalues_after: Any,
    path: PathLike,
    title: str | None = None,
) -> Path:
    """Plot eNTK eigenvalues before and after balancing, sorted descending, on a log y axis.

    Non-positive eigenvalues (numerical noise of a PSD matrix) cannot be drawn on a log axis and
    are omitted from the lines.
    """
    fig = Figure(figsize=(6.0, 4.0), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    for values, label in (
        (eigenvalues_before, "before balancing"),
        (eigenvalues_after, "after balancing"),
    ):
        ev = _as_numpy(values, f"eigenvalues {label}").ravel()
        if ev.size == 0:
            raise ValueError(f"eigenvalues {label} are empty; pass at least one eigenvalue")
        ev = np.sort(ev)[::-1]
        shown = np.where(np.isfinite(ev) & (ev > 0), ev, np.nan)
        ax.plot(np.arange(1, ev.size + 1), shown, label=label, linewidth=1.5)
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue index (descending)")
    ax.set_ylabel("eigenvalue")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


def _detail_crop(target: np.ndarray, size: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner of the ``size`` window of ``target`` with the most gradient energy.

    Deterministic and content-driven, so the crops show texture (where the methods differ)
    rather than flat sky.
    """
    gray = target.mean(axis=-1) if target.ndim == 3 else target
    energy = np.zeros_like(gray)
    energy[:, 1:] += np.diff(gray, axis=1) ** 2
    energy[1:, :] += np.diff(gray, axis=0) ** 2
    return _heaviest_window(energy, size)


def _heaviest_window(weight: np.ndarray, size: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner of the ``size`` window of ``weight`` [H, W] with the largest sum."""
    ch, cw = size
    # Summed-area table: the sum of every window in O(H W).
    sat = np.pad(weight.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    windows = sat[ch:, cw:] - sat[:-ch, cw:] - sat[ch:, :-cw] + sat[:-ch, :-cw]
    r, c = np.unravel_index(int(np.argmax(windows)), windows.shape)
    return int(r), int(c)


def method_comparison(
    target: Any,
    reconstructions: Mapping[str, Any],
    path: PathLike,
    *,
    titles_extra: Mapping[str, str] | None = None,
    crop: tuple[int, int, int, int] | None = None,
    title: str | None = None,
    dpi: int = 72,
) -> Path:
    """The IGA paper's Figure 4 layout for one image: crops and Fourier residual heatmaps.

    Top row: the target with the crop box, then the crop of the target and of every
    reconstruction (titled by label and ``titles_extra``, e.g. the PSNR). Bottom row, under
    each reconstruction: :func:`fft_residual` of the whole image (log10 |FFT(recon − target)|,
    zero frequency in the centre), all on one colour scale, so darker = smaller error at that
    frequency. ``crop`` is ``(row, col, height, width)``; by default a window a quarter of the
    image's size placed where the target has the most detail. ``dpi`` defaults low: these
    figures are committed by the dozen, and the panels are small images anyway.
    """
    if not reconstructions:
        raise ValueError("method_comparison needs at least one reconstruction; pass {label: image}")
    tgt = np.clip(_as_image(target, "target"), 0.0, 1.0)
    recs = {
        k: np.clip(_as_image(v, f"reconstruction {k!r}"), 0.0, 1.0)
        for k, v in reconstructions.items()
    }
    for label, img in recs.items():
        if img.shape != tgt.shape:
            raise ValueError(
                f"reconstruction {label!r} has shape {img.shape}, target {tgt.shape}; "
                "pass images of the same size"
            )
    h, w = tgt.shape[:2]
    if crop is None:
        ch, cw = max(h // 4, 1), max(w // 4, 1)
        r, c = _detail_crop(tgt, (ch, cw))
    else:
        r, c, ch, cw = crop
        if not (r >= 0 and c >= 0 and ch >= 1 and cw >= 1 and r + ch <= h and c + cw <= w):
            raise ValueError(f"crop {crop} does not fit an image of {h}x{w}; pass (row, col, h, w)")
    extra = dict(titles_extra or {})
    spectra = {k: fft_residual(v, tgt) for k, v in recs.items()}
    values = np.concatenate([s.ravel() for s in spectra.values()])
    vmin, vmax = float(np.percentile(values, 1)), float(values.max())
    if vmax <= vmin:
        vmax = vmin + 1.0
    n = len(recs) + 1
    panel = 2.2
    # Row height follows the image's aspect so landscape images leave no blank band.
    row = panel * h / w
    fig = Figure(figsize=(panel * n + 1.4, 2 * row + 0.9), dpi=dpi, layout="constrained")
    axes = fig.subplots(2, n, squeeze=False)
    from matplotlib.patches import Rectangle

    ax = axes[0, 0]
    ax.imshow(tgt, interpolation="nearest")
    ax.add_patch(Rectangle((c - 0.5, r - 0.5), cw, ch, fill=False, edgecolor="red", lw=1.2))
    ax.set_title("target", fontsize=9)
    ax.set_axis_off()
    ax = axes[1, 0]
    ax.imshow(tgt[r : r + ch, c : c + cw], interpolation="nearest")
    ax.set_title("target (crop)", fontsize=9)
    ax.set_axis_off()
    mappable = None
    for j, (label, img) in enumerate(recs.items(), start=1):
        ax = axes[0, j]
        ax.imshow(img[r : r + ch, c : c + cw], interpolation="nearest")
        sub = f"\n{extra[label]}" if label in extra else ""
        ax.set_title(f"{label}{sub}", fontsize=9)
        ax.set_axis_off()
        ax = axes[1, j]
        mappable = ax.imshow(
            spectra[label], cmap="jet", vmin=vmin, vmax=vmax, interpolation="nearest"
        )
        ax.set_title(f"{label}: FFT residual", fontsize=8)
        ax.set_axis_off()
    fig.colorbar(mappable, ax=list(axes[1, 1:]), label="log10 |FFT(recon - target)|", shrink=0.85)
    if title:
        fig.suptitle(title, fontsize=10)
    # "tight" keeps the colorbar's label inside the saved image.
    return save_figure(fig, path, bbox_inches="tight")


def zoomed_comparison(
    images: Mapping[str, Any],
    path: PathLike,
    *,
    titles_extra: Mapping[str, str] | None = None,
    crop: tuple[int, int, int, int] | None = None,
    dpi: int = 90,
) -> Path:
    """Images side by side (top) and the same crop of each, enlarged (bottom).

    ``images`` maps labels to ``[H, W, 3]`` arrays in [0, 1], the reference first. ``crop`` is
    ``(row, col, height, width)``; by default a window a quarter of the size where the last
    two images differ most (e.g. NeRF and NeRF+IGA), else where the first has the most detail.
    """
    if not images:
        raise ValueError("zoomed_comparison needs at least one image; pass {label: image}")
    arrays = {k: np.clip(_as_image(v, f"image {k!r}"), 0.0, 1.0) for k, v in images.items()}
    first = next(iter(arrays.values()))
    h, w = first.shape[:2]
    if any(a.shape != first.shape for a in arrays.values()):
        raise ValueError("zoomed_comparison needs images of one size")
    if crop is None:
        ch, cw = max(h // 4, 1), max(w // 4, 1)
        if len(arrays) >= 3:
            a, b = list(arrays.values())[-2:]
            diff = np.abs(a - b).sum(axis=-1) if a.ndim == 3 else np.abs(a - b)
            r, c = _heaviest_window(diff, (ch, cw))
        else:
            r, c = _detail_crop(first, (ch, cw))
    else:
        r, c, ch, cw = crop
    extra = dict(titles_extra or {})
    n = len(arrays)
    panel = 2.6
    fig = Figure(figsize=(panel * n, 2 * panel * h / w + 0.8), dpi=dpi, layout="constrained")
    axes = fig.subplots(2, n, squeeze=False)
    from matplotlib.patches import Rectangle

    for j, (label, img) in enumerate(arrays.items()):
        ax = axes[0, j]
        ax.imshow(img, interpolation="nearest")
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), cw, ch, fill=False, edgecolor="red", lw=1.0))
        sub = f"\n{extra[label]}" if extra.get(label) else ""
        ax.set_title(f"{label}{sub}", fontsize=9)
        ax.set_axis_off()
        ax = axes[1, j]
        ax.imshow(img[r : r + ch, c : c + cw], interpolation="nearest")
        ax.set_axis_off()
    return save_figure(fig, path)


def gain_bars(
    gains: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float] | None]]],
    path: PathLike,
    title: str | None = None,
    reference_label: str = "paper",
) -> Path:
    """Bar chart of per-image gains over a baseline, one panel per group (e.g. architecture).

    ``gains[group][method] = (ours, reference)``: ``ours`` holds one gain per image (the bar is
    their mean, the error bar their standard deviation, the dots the images); ``reference``
    (same images, or ``None``) is drawn as a black diamond at its mean, e.g. the paper's gain.
    """
    groups = [g for g in gains if gains[g]]
    if not groups:
        raise ValueError("gain_bars needs at least one group with one method; got none")
    fig = Figure(figsize=(3.2 * len(groups) + 0.4, 3.4), dpi=_DPI, layout="constrained")
    axes = fig.subplots(1, len(groups), squeeze=False, sharey=True)[0]
    shown_ref = False
    for ax, group in zip(axes, groups, strict=True):
        for j, (ours, ref) in enumerate(gains[group].values()):
            vals = np.asarray(ours, dtype=np.float64)
            if vals.size == 0:
                continue
            err = vals.std(ddof=1) if vals.size > 1 else 0.0
            ax.bar(j, vals.mean(), yerr=err, color=f"C{j % 10}", alpha=0.8, capsize=3)
            ax.plot(
                np.full(vals.size, j) + np.linspace(-0.15, 0.15, vals.size),
                vals,
                ".",
                color="k",
                ms=3,
                alpha=0.6,
            )
            if ref is not None and len(ref):
                ax.plot(
                    j,
                    float(np.mean(ref)),
                    "D",
                    color="k",
                    ms=6,
                    mfc="white",
                    label=reference_label if not shown_ref else None,
                )
                shown_ref = True
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xticks(range(len(gains[group])), list(gains[group]), fontsize=8)
        ax.set_title(group, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("gain over vanilla (dB)")
    if shown_ref:
        axes[0].legend(fontsize=8, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)

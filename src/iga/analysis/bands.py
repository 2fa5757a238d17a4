"""Frequency-band convergence of image fits: which frequencies a method has learned, and when.

The image analogue of the IGA paper's per-frequency relative error Δ_k (its 1D experiments):
the 2D spectrum of the residual is split into radial frequency bands, and each band's residual
energy is compared with the target's energy in the same band.

Radial frequency: with ``fftfreq`` frequencies (cycles per pixel) divided by the Nyquist
frequency 1/2, each axis runs over [-1, 1] and a bin's radius is
``ρ = sqrt(ρ_y² + ρ_x²) ∈ [0, √2]``. Band k of ``n_bands`` covers ``k/n ≤ ρ < (k+1)/n``
(equal widths in radius); the last band also takes everything from ``(n-1)/n`` up, including
the corners beyond ρ = 1 where both axes are near Nyquist. Band 0 holds the DC term (mean
colour).

Relative error of band k (channels pooled by summing squared magnitudes)::

    e_k = sqrt(Σ_{bins in k, c} |FFT(pred − target)_c|²) / sqrt(Σ_{bins in k, c} |FFT(target)_c|²)

1 means the band is as wrong as predicting nothing there, 0 that it is learned exactly. A band
the target does not occupy (or one with no FFT bins, on tiny images) has no relative error:
NaN, unless the residual is exactly zero there too (then 0).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from iga.analysis.inputs import analysis_image, image_label
from iga.io import read_csv, save_figure, write_json
from iga.models import ARCHS
from iga.models.config import ModelConfig
from iga.tasks.base import Fit, fit
from iga.tasks.image.data import parse_size
from iga.tasks.image.task import BUNDLED_IMAGE, ImageFitConfig, ImageTask
from iga.train import METHODS, MethodConfig, TrainConfig

__all__ = [
    "BandImageTask",
    "BandsOptions",
    "analyze_bands",
    "band_columns",
    "band_curves",
    "band_edges",
    "band_energies",
    "band_index",
    "bands_figure",
    "check_bands_fit",
    "radial_band_errors",
    "read_band_curves",
]

PathLike = str | os.PathLike[str]

# A band whose target energy is below this fraction of the total is empty up to FFT round-off
# (about 1e-16 in amplitude, 1e-32 in energy); dividing by it would give noise.
_EMPTY = 1e-20


def band_edges(n_bands: int = 8) -> np.ndarray:
    """The ``n_bands + 1`` band edges in normalised radius, ``linspace(0, 1, n_bands + 1)``
    (the last band extends beyond 1 to the corners at √2)."""
    _check_bands(n_bands)
    return np.linspace(0.0, 1.0, n_bands + 1)


def _check_bands(n_bands: int) -> None:
    if isinstance(n_bands, bool) or not isinstance(n_bands, int) or n_bands < 1:
        raise ValueError(f"n_bands must be an integer >= 1; got {n_bands!r}")


def check_bands_fit(n_bands: int, height: int, width: int) -> None:
    """Refuse ``--bands`` that leaves a band without any frequency bin of an H×W image (its
    error would be NaN), naming the largest count that fits."""
    counts = np.bincount(band_index(height, width, n_bands).ravel(), minlength=n_bands)
    if (counts == 0).any():
        fits = next(
            n
            for n in range(n_bands - 1, 0, -1)
            if np.bincount(band_index(height, width, n).ravel(), minlength=n).all()
        )
        raise ValueError(
            f"--bands {n_bands} leaves {int((counts == 0).sum())} band(s) without a frequency "
            f"of the {width}x{height} image; use --bands {fits} or fewer, or a larger --size"
        )


def band_index(height: int, width: int, n_bands: int = 8) -> np.ndarray:
    """The band (0 … n_bands−1) of every bin of an unshifted ``fft2`` of an H×W image."""
    _check_bands(n_bands)
    ry = np.abs(np.fft.fftfreq(height)) / 0.5
    rx = np.abs(np.fft.fftfreq(width)) / 0.5
    radius = np.sqrt(ry[:, None] ** 2 + rx[None, :] ** 2)
    return np.minimum((radius * n_bands).astype(np.int64), n_bands - 1)


def _as_channels(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().to(torch.float64).numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"{name} must be an image [H, W] or [H, W, C]; got shape {tuple(arr.shape)}"
        )
    return arr


def band_energies(image: Any, n_bands: int = 8) -> np.ndarray:
    """Spectral energy ``Σ |FFT2(image)_c|²`` per radial band, summed over channels.

    ``image`` is [H, W] or [H, W, C] (numpy or torch); returns float64 [n_bands].
    """
    arr = _as_channels(image, "image")
    power = (np.abs(np.fft.fft2(arr, axes=(0, 1))) ** 2).sum(axis=-1)
    idx = band_index(arr.shape[0], arr.shape[1], n_bands)
    return np.bincount(idx.ravel(), weights=power.ravel(), minlength=n_bands)


def radial_band_errors(pred: Any, target: Any, n_bands: int = 8) -> np.ndarray:
    """Relative error per radial frequency band of ``pred`` against ``target`` (module doc).

    Args:
        pred, target: images [H, W] or [H, W, C] of the same shape (numpy or torch; values
            are not clipped).
        n_bands: number of equal-width radial bands.

    Returns:
        float64 [n_bands]; NaN for a band the target does not occupy while the residual does.
    """
    p, t = _as_channels(pred, "pred"), _as_channels(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred shape {p.shape} does not match target shape {t.shape}")
    res = band_energies(p - t, n_bands)
    tgt = band_energies(t, n_bands)
    counts = np.bincount(band_index(t.shape[0], t.shape[1], n_bands).ravel(), minlength=n_bands)
    occupied = (tgt > _EMPTY * tgt.sum()) & (counts > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.sqrt(res / tgt)
    return np.where(occupied, ratio, np.where((res == 0) & (counts > 0), 0.0, np.nan))


def band_columns(n_bands: int) -> list[str]:
    """The metrics.csv column names of the band errors: ``band_0`` … ``band_{n-1}``."""
    return [f"band_{k}" for k in range(n_bands)]


class BandImageTask(ImageTask):
    """The image task, plus :func:`radial_band_errors` of the current prediction in
    metrics.csv (columns :func:`band_columns`) every ``every`` steps.

    The errors are those of the raw network output at each logged step, before that step's
    update (the function the gradient sees; no clipping to [0, 1]).
    """

    def __init__(self, every: int, n_bands: int = 8) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1; got {every!r}")
        _check_bands(n_bands)
        self.every = every
        self.n_bands = n_bands

    def setup(self, cfg: ImageFitConfig, device: torch.device) -> Fit:
        job = super().setup(cfg, device)
        data = self.data
        target = data.image.detach().cpu().to(torch.float64).numpy()
        cols = band_columns(self.n_bands)

        def extra(step: int, pred: torch.Tensor) -> dict[str, Any]:
            errors = radial_band_errors(data.as_image(pred), target, self.n_bands)
            return dict(zip(cols, errors.tolist(), strict=True))

        job.extra = extra
        job.extra_every = self.every
        # Recorded in config.json (and its key): a band run is told apart from a plain one.
        job.resolved["bands"] = {"n_bands": self.n_bands, "every": self.every}
        return job


def read_band_curves(run_dir: PathLike, n_bands: int | None = None) -> dict[str, Any]:
    """The band errors logged in a run's metrics.csv.

    Returns ``{"steps": [int], "errors": float64 [n_steps, n_bands]}`` over the rows that hold
    band columns (NaN where a value is empty). ``n_bands`` defaults to the number of
    ``band_k`` columns found.

    Raises:
        FileNotFoundError: no metrics.csv in ``run_dir``.
        ValueError: it has no band columns.
    """
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no metrics.csv")
    rows = read_csv(path)
    if n_bands is None:
        n_bands = sum(1 for c in (rows[0] if rows else {}) if c.startswith("band_"))
    if not n_bands:
        raise ValueError(f"{path} has no band_k columns; was it written by band_curves?")
    cols = band_columns(n_bands)
    steps, errors = [], []
    for row in rows:
        if all(row.get(c, "") == "" for c in cols):
            continue
        steps.append(int(row["step"]))
        errors.append([float(row[c]) if row.get(c, "") != "" else math.nan for c in cols])
    return {"steps": steps, "errors": np.asarray(errors, dtype=np.float64).reshape(-1, n_bands)}


def band_curves(
    cfg: ImageFitConfig, every: int, n_bands: int = 8, *, progress: bool = False
) -> dict[str, Any]:
    """Train ``cfg`` (a full ``iga fit image`` run into ``cfg.out``) logging band errors.

    Returns ``{"steps", "errors" [n_steps, n_bands], "edges", "summary"}``: the band errors
    every ``every`` steps (read back from the run's metrics.csv), the band edges and the run's
    summary (PSNR etc.).
    """
    summary = fit(BandImageTask(every, n_bands), cfg, progress=progress, desc=cfg.method.method)
    curves = read_band_curves(cfg.out, n_bands)
    return {**curves, "edges": band_edges(n_bands), "summary": summary}


def _finite_range(arrays: Sequence[np.ndarray]) -> tuple[float, float]:
    values = np.concatenate([a[np.isfinite(a) & (a > 0)].ravel() for a in arrays])
    if values.size == 0:
        return 1e-3, 1.0
    lo, hi = float(values.min()), float(values.max())
    return (lo, hi) if hi > lo else (lo / 10, hi * 10)


def bands_figure(
    curves: Mapping[str, tuple[Sequence[int], Any]],
    path: PathLike,
    title: str | None = None,
) -> Path:
    """Per-band relative error along training, one heatmap per label, and the final errors.

    ``curves`` maps a label (e.g. a method) to ``(steps, errors)`` with ``errors``
    [n_steps, n_bands]. Each heatmap shows band (low frequencies at the bottom) against step
    on one shared log colour scale, as the paper's Δ_k heatmaps; the last panel compares the
    per-band error at the last logged step. Zero and NaN values are left blank.
    """
    if not curves:
        raise ValueError("bands_figure needs at least one curve; pass {label: (steps, errors)}")
    data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for label, (steps, errors) in curves.items():
        s = np.asarray(list(steps), dtype=np.float64)
        e = np.asarray(errors, dtype=np.float64)
        if e.ndim != 2 or e.shape[0] != s.size or s.size == 0:
            raise ValueError(
                f"curve {label!r}: errors must be [n_steps, n_bands] with one row per step; "
                f"got {s.size} steps and shape {tuple(e.shape)}"
            )
        data[str(label)] = (s, e)
    vmin, vmax = _finite_range([e for _, e in data.values()])
    norm = LogNorm(vmin=vmin, vmax=vmax)
    n = len(data)
    fig = Figure(figsize=(3.0 * (n + 1) + 0.8, 3.4), dpi=120, layout="constrained")
    axes = fig.subplots(1, n + 1, squeeze=False)[0]
    mesh = None
    for ax, (label, (s, e)) in zip(axes[:-1], data.items(), strict=True):
        # Cell edges halfway between logged steps, so uneven logging still tiles the axis.
        if s.size > 1:
            mids = (s[1:] + s[:-1]) / 2
            x = np.concatenate([[s[0] - (mids[0] - s[0])], mids, [s[-1] + (s[-1] - mids[-1])]])
        else:
            x = np.array([s[0] - 0.5, s[0] + 0.5])
        y = np.arange(e.shape[1] + 1) - 0.5
        shown = np.ma.masked_where(~(np.isfinite(e) & (e > 0)), e)
        mesh = ax.pcolormesh(x, y, shown.T, norm=norm, cmap="viridis", shading="flat")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("step")
        ax.set_ylabel("band (low → high frequency)")
    assert mesh is not None
    fig.colorbar(mesh, ax=list(axes[:-1]), label="relative error per band", shrink=0.9)
    final = axes[-1]
    for label, (_, e) in data.items():
        last = np.where(np.isfinite(e[-1]) & (e[-1] > 0), e[-1], np.nan)
        final.plot(np.arange(e.shape[1]), last, marker="o", linewidth=1.2, label=label)
    final.set_yscale("log")
    final.set_xlabel("band")
    final.set_ylabel("relative error at the last step")
    final.grid(True, which="both", alpha=0.25)
    final.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


# --- ``iga analyze bands`` ---------------------------------------------------------------------


def _check_method(name: str) -> None:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {', '.join(METHODS)}")


@dataclass
class BandsOptions:
    """The options of ``iga analyze bands`` (each field is a flag)."""

    out: str = field(metadata={"help": "output directory (bands.png, bands.json, one run each)"})
    image: str | None = field(
        default=None, metadata={"help": "image to fit (default: the bundled Kodak image)"}
    )
    methods: list[str] = field(
        default_factory=lambda: ["vanilla", "iga", "fr", "bn"],
        metadata={"help": f"methods to train ({'|'.join(METHODS)})", "check": _check_method},
    )
    arch: str = field(default="pe", metadata={"help": "the INR", "choices": ARCHS})
    steps: int = field(default=300, metadata={"help": "training steps per method", "min": 1})
    every: int = field(default=25, metadata={"help": "log the band errors every k steps", "min": 1})
    size: str | None = field(
        default="48x32", metadata={"help": "resize to WIDTHxHEIGHT", "check": parse_size}
    )
    patch: int = field(default=4, metadata={"help": "IGA group = patch x patch pixels", "min": 1})
    end: int = field(
        default=20, metadata={"help": "IGA: number of top eNTK eigenvalues balanced", "min": 0}
    )
    width: int = field(default=64, metadata={"help": "hidden features per layer", "min": 1})
    hidden_layers: int = field(
        default=3, metadata={"help": "activations between linears", "min": 1}
    )
    bands: int = field(default=8, metadata={"help": "number of radial frequency bands", "min": 1})
    seed: int = field(default=0, metadata={"help": "seed of the initial weights"})
    device: str = field(default="auto", metadata={"help": "auto (CUDA when present), cpu, cuda"})
    quiet: bool = field(default=False, metadata={"help": "no progress bars"})

    def __post_init__(self) -> None:
        from iga.train import _check_device

        if not str(self.out).strip():
            raise ValueError("--out is empty; name an output directory")
        if not self.methods:
            raise ValueError("--methods is empty; name at least one method")
        if len(set(self.methods)) < len(self.methods):
            raise ValueError("--methods lists a method more than once; give each method once")
        for method in self.methods:
            try:
                _check_method(method)
            except ValueError as e:
                raise ValueError(f"--methods: {e}") from None
        if self.arch not in ARCHS:
            raise ValueError(f"--arch: unknown arch {self.arch!r}; choose from {', '.join(ARCHS)}")
        if self.size is not None:
            parse_size(self.size)
        for flag, value, low in (
            ("--steps", self.steps, 1),
            ("--every", self.every, 1),
            ("--patch", self.patch, 1),
            ("--end", self.end, 0),
            ("--width", self.width, 1),
            ("--hidden-layers", self.hidden_layers, 1),
            ("--bands", self.bands, 1),
        ):
            if value < low:
                raise ValueError(f"{flag} must be >= {low}; got {value}")
        _check_device(self.device)

    def config(self, method: str) -> ImageFitConfig:
        """The ``iga fit image`` config of one method's run (into ``out/<method>``), with the
        image task's defaults for everything not set here (lr, schedule, sampling)."""
        return ImageFitConfig(
            path=self.image or BUNDLED_IMAGE,
            size=self.size,
            patch=self.patch,
            model=ModelConfig(arch=self.arch, width=self.width, hidden_layers=self.hidden_layers),
            method=MethodConfig(method=method, end=self.end),
            train=TrainConfig(steps=self.steps, seed=self.seed, device=self.device),
            out=str(Path(self.out) / method),
            overwrite=True,
        )


def analyze_bands(opts: BandsOptions, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run ``iga analyze bands``: train each method with the band hook into ``out/<method>``,
    then write ``bands.png`` and ``bands.json`` into ``opts.out``; returns what the JSON holds.

    Raises:
        ValueError: ``--end`` not below the number of IGA groups or ``--patch`` larger than
            the image, found before anything is trained (messages name the flag).
    """
    say = log or (lambda _: None)
    image, data = analysis_image(opts.image, opts.size, opts.patch)
    n_groups = math.ceil(data.height / opts.patch) * math.ceil(data.width / opts.patch)
    if "iga" in opts.methods and opts.end >= n_groups:
        raise ValueError(
            f"--end {opts.end} must be smaller than the number of IGA groups ({n_groups}); "
            "lower --end or use a smaller --patch"
        )
    check_bands_fit(opts.bands, data.height, data.width)
    results: dict[str, dict[str, Any]] = {}
    for method in opts.methods:
        cfg = opts.config(method)
        res = band_curves(cfg, opts.every, opts.bands, progress=not opts.quiet)
        final = " ".join(f"{e:.3g}" for e in res["errors"][-1])
        say(
            f"{method}: best PSNR {res['summary']['psnr_best']:.2f} dB; last logged band "
            f"errors (low -> high): {final} -> {cfg.out}"
        )
        results[method] = res
    out = Path(opts.out)
    bands_figure(
        {m: (r["steps"], r["errors"]) for m, r in results.items()},
        out / "bands.png",
        title=f"{Path(image).name} {data.width}x{data.height}, {opts.arch}: relative error per "
        "radial frequency band",
    )
    record = {
        "options": asdict(opts),
        "image": image_label(image),
        "image_size": [data.width, data.height],
        "edges": band_edges(opts.bands),
        "methods": {
            m: {
                "run": str(Path(opts.out) / m),
                "steps": r["steps"],
                "errors": r["errors"],
                "psnr_best": r["summary"]["psnr_best"],
                "lr": r["summary"]["lr"],
            }
            for m, r in results.items()
        },
    }
    write_json(out / "bands.json", record)
    return record

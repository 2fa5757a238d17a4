"""Diagnostics along training: eNTK spectra and frequency-band errors, per method and seed.

``iga analyze spectrum`` looks at one set of weights (initial or saved); this module follows
the same quantities while a model trains. :class:`ProbeImageTask` is the image task with a
probe that, every ``every`` steps and before that step's update,

* computes the band errors of :func:`~iga.analysis.bands.radial_band_errors`, and
* computes the eNTK of the current weights on the patch centres
  (:func:`~iga.analysis.spectrum.patch_centres`, fixed points, so the kernels of different
  steps, methods and seeds differ only through the weights), in float64, with and without
  IGA's ``S`` for ``end``.

The statistics go into the run's ``metrics.csv`` (columns :data:`SPECTRUM_COLUMNS`) and every
eigenvalue into ``spectra_training.npz`` (arrays ``steps``, ``eigenvalues`` [k, n],
``adjusted`` [k, n]), rewritten atomically at each probe so an interrupted run keeps what it
had. :func:`analyze_training` runs methods × seeds and draws the curves.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from iga.analysis.bands import (
    BandImageTask,
    BandsOptions,
    band_edges,
    bands_figure,
    check_bands_fit,
    read_band_curves,
)
from iga.analysis.inputs import analysis_image, image_label
from iga.analysis.spectrum_kernel import kernel_spectrum
from iga.analysis.spectrum_points import patch_centres
from iga.io import atomic_open, read_csv, save_figure, write_json
from iga.tasks.base import Fit, fit
from iga.tasks.image.task import ImageFitConfig

__all__ = [
    "SPECTRUM_COLUMNS",
    "ProbeImageTask",
    "TrainingOptions",
    "analyze_training",
    "band_ratio_figure",
    "read_spectrum_curves",
    "spectrum_training_figure",
]

_STATS = (("condition", "cond"), ("variance_normalised", "var"), ("effective_rank", "erank"))
SPECTRUM_COLUMNS: tuple[str, ...] = tuple(f"K_{short}" for _, short in _STATS) + tuple(
    f"KS_{short}" for _, short in _STATS
)
"""metrics.csv columns of the probe: condition number, Var(λ)/mean(λ)² and effective rank of
K (``K_*``) and of K·S (``KS_*``, IGA's adjusted kernel for ``end``)."""


class ProbeImageTask(BandImageTask):
    """The image task with band errors and eNTK spectra logged every ``every`` steps.

    Args:
        every: probe every ``every`` steps (step 0 included).
        n_bands: number of radial frequency bands.
        end: ``end`` of the K·S spectrum (the same for every method, so a vanilla run shows
            what IGA's S would do to its kernel); 0 for no K·S.
    """

    def __init__(self, every: int, n_bands: int = 8, end: int = 20) -> None:
        super().__init__(every, n_bands)
        if isinstance(end, bool) or not isinstance(end, int) or end < 0:
            raise ValueError(f"end must be an integer >= 0; got {end!r}")
        self.end = end

    def setup(self, cfg: ImageFitConfig, device: torch.device) -> Fit:
        job = super().setup(cfg, device)
        data = self.data
        x = data.coords[patch_centres(data.height, data.width, cfg.patch).to(data.coords.device)]
        if self.end >= x.shape[0]:
            raise ValueError(
                f"--end {self.end} must be smaller than the number of patches ({x.shape[0]}); "
                "lower --end or use a smaller --patch"
            )
        bands = job.extra
        assert bands is not None
        out = Path(cfg.out)
        kept: dict[str, list[Any]] = {"steps": [], "eigenvalues": [], "adjusted": []}
        model = job.model
        end = self.end or None

        def extra(step: int, pred: torch.Tensor) -> dict[str, Any]:
            row = bands(step, pred)
            # The trainer calls this under no_grad; the eNTK needs autograd.
            with torch.enable_grad():
                res = kernel_spectrum(model, x, end, grid=data.coords)
            for key, short in _STATS:
                row[f"K_{short}"] = res.stats[key]
                row[f"KS_{short}"] = res.stats_adjusted[key] if res.stats_adjusted else math.nan
            kept["steps"].append(step)
            kept["eigenvalues"].append(res.eigenvalues.numpy())
            adjusted = res.adjusted if res.adjusted is not None else res.eigenvalues * math.nan
            kept["adjusted"].append(adjusted.numpy())
            with atomic_open(out / "spectra_training.npz") as f:
                np.savez(f, **{k: np.asarray(v) for k, v in kept.items()})
            return row

        job.extra = extra
        job.resolved["spectrum_probe"] = {
            "every": self.every,
            "end": self.end,
            "points": "patch centres",
            "n": int(x.shape[0]),
        }
        return job


def read_spectrum_curves(run_dir: str | Path) -> dict[str, np.ndarray]:
    """The probe's statistics from a run's metrics.csv: ``{"steps": [k], column: [k]}`` for
    every column of :data:`SPECTRUM_COLUMNS` (NaN where empty).

    Raises:
        FileNotFoundError: no metrics.csv.
        ValueError: it has no probe columns (not a run of :class:`ProbeImageTask`).
    """
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} has no metrics.csv")
    rows = [r for r in read_csv(path) if r.get("K_cond", "") != ""]
    if not rows:
        raise ValueError(f"{path} has no K_cond column; was it written by analyze_training?")
    out: dict[str, np.ndarray] = {"steps": np.array([int(r["step"]) for r in rows])}
    for col in SPECTRUM_COLUMNS:
        out[col] = np.array([float(r[col]) if r.get(col, "") != "" else math.nan for r in rows])
    return out


def _median_band(curves: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = min(len(c) for c in curves)
    stack = np.stack([np.asarray(c[:n], dtype=np.float64) for c in curves])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        return np.nanmedian(stack, 0), np.nanmin(stack, 0), np.nanmax(stack, 0)


def spectrum_training_figure(
    curves: Mapping[str, Sequence[Mapping[str, np.ndarray]]],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Condition number, Var(λ)/mean(λ)² and effective rank of the eNTK against step.

    ``curves`` maps a method to one :func:`read_spectrum_curves` result per seed; each line is
    the median over seeds with a min-max band. K·S (dashed) is drawn for ``iga`` only, the
    kernel its training follows.
    """
    if not curves:
        raise ValueError("spectrum_training_figure needs at least one method")
    fig = Figure(figsize=(13, 3.8), dpi=120, layout="constrained")
    axes = fig.subplots(1, 3)
    labels = {"cond": "condition number", "var": "Var(λ) / mean(λ)²", "erank": "effective rank"}
    for ax, (_, short) in zip(axes, _STATS, strict=True):
        for method, seeds in curves.items():
            steps = seeds[0]["steps"][: min(len(s["steps"]) for s in seeds)]
            mid, lo, hi = _median_band([s[f"K_{short}"] for s in seeds])
            (line,) = ax.plot(steps, mid, linewidth=1.4, label=f"{method}: K")
            if len(seeds) > 1:
                ax.fill_between(steps, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
            if method == "iga":
                mid, lo, hi = _median_band([s[f"KS_{short}"] for s in seeds])
                ax.plot(steps, mid, "--", color=line.get_color(), linewidth=1.4, label="iga: K·S")
        if short != "erank":
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(labels[short])
        ax.grid(True, which="both", alpha=0.25)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def band_ratio_figure(
    errors: Mapping[str, Sequence[np.ndarray]],
    steps: Sequence[int],
    path: str | Path,
    baseline: str = "vanilla",
    title: str | None = None,
) -> Path:
    """Each method's band error divided by the baseline's, per band, at a few steps.

    ``errors`` maps a method to one ``[n_steps, n_bands]`` array per seed (seeds paired with
    the baseline's by position, same initial weights); ``steps`` are the logged steps. A value
    below 1 in band k means the method has learned that band better than the baseline by then.
    Median over seeds with a min-max band; one panel per chosen step (a quarter, half and all
    of training).
    """
    if baseline not in errors:
        raise ValueError(f"band_ratio_figure needs the baseline {baseline!r} among the methods")
    steps = list(steps)
    picks = sorted({max(0, round(f * (len(steps) - 1))) for f in (0.25, 0.5, 1.0)})
    fig = Figure(figsize=(4.0 * len(picks) + 0.5, 3.6), dpi=120, layout="constrained")
    axes = fig.subplots(1, len(picks), squeeze=False)[0]
    base = errors[baseline]
    for ax, i in zip(axes, picks, strict=True):
        for method, runs in errors.items():
            if method == baseline:
                continue
            pairs = list(zip(runs, base, strict=False))
            ratios = [r[i] / b[i] for r, b in pairs]
            mid, lo, hi = _median_band(ratios)
            bands = np.arange(mid.size)
            (line,) = ax.plot(bands, mid, marker="o", linewidth=1.2, label=method)
            if len(ratios) > 1:
                ax.fill_between(bands, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.axhline(1.0, color="k", linewidth=0.8)
        ax.set_yscale("log")
        ax.set_title(f"step {steps[i]}", fontsize=10)
        ax.set_xlabel("band (low → high frequency)")
        ax.set_ylabel(f"error / {baseline}'s")
        ax.grid(True, which="both", alpha=0.25)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


@dataclass
class TrainingOptions(BandsOptions):
    """The options of ``iga analyze training``: those of ``iga analyze bands`` (``seed``
    aside) plus the seeds and the K·S ``end`` of the spectrum probe (``--end``)."""

    seeds: list[int] = field(
        default_factory=lambda: [0, 1],
        metadata={"help": "seeds of the initial weights (one run per method and seed)"},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.seeds:
            raise ValueError("--seeds is empty; name at least one seed")
        if len(set(self.seeds)) < len(self.seeds):
            raise ValueError("--seeds lists a seed more than once; give each seed once")
        for seed in self.seeds:
            if seed < 0:
                raise ValueError(f"--seeds must be >= 0; got {seed}")

    def run_config(self, method: str, seed: int) -> ImageFitConfig:
        """The run of one method and seed, into ``out/<method>/seed<k>``."""
        cfg = self.config(method)
        cfg.train.seed = seed
        cfg.out = str(Path(self.out) / method / f"seed{seed}")
        return cfg


def analyze_training(
    opts: TrainingOptions, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run ``iga analyze training``: each method × seed with :class:`ProbeImageTask`, then
    ``spectra_training.png`` (kernel statistics against step), ``bands.png`` (band errors,
    median over seeds), ``band_ratio.png`` (each method's band errors over vanilla's) and
    ``training.json`` in ``opts.out``; returns what the JSON holds.

    Raises:
        ValueError: ``--patch`` larger than the image, or ``--end`` not below the number of
            patches, found before anything trains (messages name the flag).
    """
    say = log or (lambda _: None)
    image, data = analysis_image(opts.image, opts.size, opts.patch)
    n = int(patch_centres(data.height, data.width, opts.patch).numel())
    if opts.end >= n:
        raise ValueError(
            f"--end {opts.end} must be smaller than the number of patches ({n}); lower --end "
            "or use a smaller --patch"
        )
    check_bands_fit(opts.bands, data.height, data.width)
    task = ProbeImageTask(opts.every, opts.bands, opts.end)
    spectra: dict[str, list[dict[str, np.ndarray]]] = {}
    bands: dict[str, list[np.ndarray]] = {}
    summaries: dict[str, list[dict[str, Any]]] = {}
    steps: list[int] = []
    for method in opts.methods:
        for seed in opts.seeds:
            cfg = opts.run_config(method, seed)
            summary = fit(task, cfg, progress=not opts.quiet, desc=f"{method} seed {seed}")
            curve = read_spectrum_curves(cfg.out)
            band = read_band_curves(cfg.out, opts.bands)
            steps = band["steps"]
            spectra.setdefault(method, []).append(curve)
            bands.setdefault(method, []).append(band["errors"])
            summaries.setdefault(method, []).append(summary)
            say(
                f"{method} seed {seed}: best PSNR {summary['psnr_best']:.2f} dB; eNTK condition "
                f"{curve['K_cond'][0]:.3g} -> {curve['K_cond'][-1]:.3g}, Var/mean² "
                f"{curve['K_var'][0]:.3g} -> {curve['K_var'][-1]:.3g}"
            )
    out = Path(opts.out)
    where = f"{Path(image).name} {data.width}x{data.height}, {opts.arch}, {n} patch centres"
    spectrum_training_figure(
        spectra, out / "spectra_training.png", title=f"eNTK along training: {where}"
    )
    medians = {m: _median_band(e)[0] for m, e in bands.items()}
    bands_figure(
        {m: (steps, e) for m, e in medians.items()},
        out / "bands.png",
        title=f"{where}: relative error per radial band (median of {len(opts.seeds)} seeds)",
    )
    if "vanilla" in bands and len(bands) > 1:
        band_ratio_figure(
            bands, steps, out / "band_ratio.png", title=f"{where}: band errors over vanilla's"
        )
    record = {
        "options": asdict(opts),
        "image": image_label(image),
        "image_size": [data.width, data.height],
        "n_points": n,
        "edges": band_edges(opts.bands),
        "steps": steps,
        "methods": {
            m: {
                "psnr_best": [s["psnr_best"] for s in summaries[m]],
                "lr": summaries[m][0]["lr"],
                "band_errors": [e for e in bands[m]],
                "spectrum": [{k: v for k, v in c.items()} for c in spectra[m]],
            }
            for m in opts.methods
        },
    }
    write_json(out / "training.json", record)
    return record

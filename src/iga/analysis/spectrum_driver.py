"""The ``iga analyze spectrum`` driver: its options (:class:`SpectrumOptions`) and
:func:`analyze_spectrum`, which computes the spectra of archs at initialisation (image patch
centres or the 1D line, optionally with short fits) or of trained runs, draws the figures and
writes ``spectra.json``.
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

from iga.analysis.inputs import analysis_image, image_label
from iga.analysis.spectrum_figure import spectra_figure
from iga.analysis.spectrum_kernel import STAT_KEYS, SpectrumResult, arch_spec, compare_archs
from iga.analysis.spectrum_points import (
    _WEIGHTS,
    SAMPLINGS,
    _read_run,
    patch_centres,
    spectrum_of_checkpoint,
)
from iga.io import write_json
from iga.models import ARCHS, build
from iga.tasks.image.data import parse_size

__all__ = ["SpectrumOptions", "analyze_spectrum"]

PathLike = str | os.PathLike[str]


def _check_arch(name: str) -> None:
    arch, kw = arch_spec(name)
    try:  # a tiny build checks the options now, not after the first archs have run
        build(arch, 2, 1, 2, 1, **kw)
    except TypeError as e:
        raise ValueError(str(e)) from None


@dataclass
class SpectrumOptions:
    """The options of ``iga analyze spectrum`` (each field is a flag)."""

    out: str = field(metadata={"help": "output directory (spectra_*.png, spectra.json)"})
    archs: list[str] = field(
        default_factory=lambda: ["relu", "pe", "siren", "finer"],
        metadata={
            "help": f"archs to compare at initialisation ({'|'.join(ARCHS)}), each optionally "
            "with model options: relu:spherical_norm, pe:hadamard=all",
            "check": _check_arch,
        },
    )
    image: str | None = field(
        default=None,
        metadata={
            "help": "image whose patch centres are the points (default: the bundled "
            "Kodak image; with --run: each run's own image)"
        },
    )
    size: str | None = field(
        default="48x32",
        metadata={"help": "resize to WIDTHxHEIGHT (without --run)", "check": parse_size},
    )
    patch: int = field(
        default=4, metadata={"help": "one point per patch x patch pixels (without --run)", "min": 1}
    )
    width: int = field(default=64, metadata={"help": "hidden features per layer", "min": 1})
    hidden_layers: int = field(
        default=3, metadata={"help": "activations between linears", "min": 1}
    )
    seeds: list[int] = field(
        default_factory=lambda: [0, 1, 2], metadata={"help": "initialisation seeds"}
    )
    end: int = field(
        default=20, metadata={"help": "IGA: number of top eigenvalues balanced in K·S", "min": 0}
    )
    runs: list[str] = field(
        default_factory=list, metadata={"help": "run directories of `iga fit image`"}
    )
    weights: str = field(
        default="best",
        metadata={"help": "with --run: best or final weights", "choices": _WEIGHTS},
    )
    sampling: str = field(
        default="center",
        metadata={
            "help": "with --run: point per patch, center or max_residual (of the weights)",
            "choices": SAMPLINGS,
        },
    )
    signal: str = field(
        default="image",
        metadata={
            "help": "image (patch centres of --image) or 1d (the middle sample of each group "
            "of --patch consecutive samples of `iga fit function`'s line); without --run",
            "choices": ("image", "1d"),
        },
    )
    fit_steps: int = field(
        default=0,
        metadata={
            "help": "also fit the image with each arch for this many steps and report the "
            "best PSNR beside the spectrum (0: no fits; without --run)",
            "min": 0,
        },
    )
    fit_methods: list[str] = field(
        default_factory=lambda: ["vanilla"],
        metadata={"help": "with --fit-steps: the methods each arch is fitted with"},
    )

    def __post_init__(self) -> None:
        if not str(self.out).strip():
            raise ValueError("--out is empty; name an output directory")
        if not self.archs and not self.runs:
            raise ValueError("--archs is empty; name at least one arch")
        for arch in self.archs:
            try:
                _check_arch(arch)
            except ValueError as e:
                raise ValueError(f"--archs: {e}") from None
        if self.size is not None:
            parse_size(self.size)
        if not self.seeds:
            raise ValueError("--seeds is empty; give at least one seed, e.g. 0,1,2")
        if len(set(self.seeds)) < len(self.seeds):
            raise ValueError("--seeds lists a seed more than once; give each seed once")
        for flag, value, low in (
            ("--patch", self.patch, 1),
            ("--width", self.width, 1),
            ("--hidden-layers", self.hidden_layers, 1),
            ("--end", self.end, 0),
        ):
            if value < low:
                raise ValueError(f"{flag} must be >= {low}; got {value}")
        if self.fit_steps < 0:
            raise ValueError(f"--fit-steps must be >= 0; got {self.fit_steps}")
        if self.signal not in ("image", "1d"):
            raise ValueError(f"--signal must be image or 1d; got {self.signal!r}")
        if self.signal == "1d" and (self.fit_steps or self.runs):
            raise ValueError("--signal 1d analyses archs at initialisation: drop --fit-steps/--run")
        from iga.train import METHODS

        for method in self.fit_methods:
            if method not in METHODS:
                raise ValueError(
                    f"--fit-methods: unknown method {method!r}; choose from {', '.join(METHODS)}"
                )
        if self.weights not in _WEIGHTS:
            raise ValueError(f"--weights must be best or final; got {self.weights!r}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(
                f"--sampling must be one of {', '.join(SAMPLINGS)}; got {self.sampling!r}"
            )
        for run in self.runs:
            if not Path(run).is_dir():
                raise FileNotFoundError(f"--run {run}: no such run directory")
            if not (Path(run) / "config.json").is_file():
                raise FileNotFoundError(
                    f"--run {run}: no config.json there; is it a run of `iga fit image`?"
                )
            if not (Path(run) / f"{self.weights}.pt").is_file():
                raise FileNotFoundError(
                    f"--run {run}: no {self.weights}.pt there; has the run finished?"
                )


def _median_stats(items: Sequence[SpectrumResult], adjusted: bool = False) -> dict[str, float]:
    """Per statistic, the median over ``items`` (seeds) of its finite values."""
    tables = [r.stats_adjusted if adjusted else r.stats for r in items]
    out = {}
    for key in STAT_KEYS:
        finite = [t[key] for t in tables if t is not None and math.isfinite(t[key])]
        out[key] = float(np.median(finite)) if finite else float("nan")
    return out


def _describe(stats: Mapping[str, float]) -> str:
    return (
        f"Var/mean² {stats['variance_normalised']:.3g}, condition {stats['condition']:.3g}, "
        f"effective rank {stats['effective_rank']:.3g}"
    )


def _run_labels(runs: Sequence[str], results: Sequence[SpectrumResult]) -> list[str]:
    names = [Path(r).name or str(r) for r in runs]
    # Two runs of the same name in different places: fall back to the paths as given.
    use = names if len(set(names)) == len(names) else [str(r) for r in runs]
    return [f"{n} ({r.info['arch']}/{r.info['method']})" for n, r in zip(use, results, strict=True)]


def analyze_spectrum(
    opts: SpectrumOptions, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run ``iga analyze spectrum``: write the figures and ``spectra.json`` into ``opts.out``.

    Without runs: the archs at initialisation on the image's patch centres (one result per
    seed; ``spectra_archs.png``) and, for the first arch, K against K·S (``spectra_iga.png``).
    With runs: each run's saved weights (``spectra_runs.png``). Returns what ``spectra.json``
    holds.

    Raises:
        ValueError: ``--end`` not below the number of points, or ``--patch`` larger than the
            image (messages name the flag).
    """
    from iga.tasks.base import check_groups

    say = log or (lambda _: None)
    out = Path(opts.out)
    record: dict[str, Any] = {"options": asdict(opts)}
    if opts.runs:
        # A directory named twice (e.g. by --run and in a comma list) is analysed once.
        by_path: dict[Path, str] = {}
        for r in opts.runs:
            by_path.setdefault(Path(r).resolve(), r)
        runs = list(by_path.values())
        results = []
        for run in runs:
            # The run recorded its number of groups, so a bad --end fails before any work.
            n_groups = _read_run(Path(run)).get("resolved", {}).get("n_groups")
            if opts.end and isinstance(n_groups, int) and opts.end >= n_groups:
                raise ValueError(
                    f"--end {opts.end} must be smaller than the number of groups of --run {run} "
                    f"({n_groups}); lower --end"
                )
            results.append(
                spectrum_of_checkpoint(
                    run,
                    weights=opts.weights,
                    sampling=opts.sampling,
                    end=opts.end or None,
                    image=opts.image,
                )
            )
        labels = _run_labels(runs, results)
        for label, res in zip(labels, results, strict=True):
            say(f"{label}: {_describe(res.stats)} ({res.info['n']} points)")
        out.mkdir(parents=True, exist_ok=True)
        spectra_figure(
            dict(zip(labels, results, strict=True)),
            out / "spectra_runs.png",
            title=f"eNTK spectra of trained weights ({opts.weights}, {opts.sampling} points)",
        )
        record["mode"] = "runs"
        record["results"] = {
            label: [res.to_dict()] for label, res in zip(labels, results, strict=True)
        }
    else:
        if opts.signal == "1d":
            return _spectrum_1d(opts, record, say)
        image, data = analysis_image(opts.image, opts.size, opts.patch)
        idx = patch_centres(data.height, data.width, opts.patch)
        n = int(idx.numel())
        where = (
            f"{n} points: a {data.width}x{data.height} image in {opts.patch}x{opts.patch} patches"
        )
        if opts.end >= n:
            raise ValueError(
                f"--end {opts.end} must be smaller than the number of groups ({where}); "
                "lower --end or use a smaller --patch"
            )
        check_groups(n, torch.device("cpu"), "--patch")
        x = data.coords[idx]

        def progress(arch: str, items: list[SpectrumResult]) -> None:
            with_s = _describe(_median_stats(items, adjusted=True)) if opts.end else "-"
            say(
                f"{arch}: {_describe(_median_stats(items))}; K·S (end {opts.end}): {with_s} "
                f"(median of {len(items)} seeds)"
            )

        say(f"eNTK at initialisation on the patch centres ({where})")
        results_by_arch = compare_archs(
            opts.archs,
            x,
            width=opts.width,
            hidden_layers=opts.hidden_layers,
            seeds=opts.seeds,
            end=opts.end or None,
            on_arch=progress,
        )
        out.mkdir(parents=True, exist_ok=True)
        name = Path(image).name
        spectra_figure(
            results_by_arch,
            out / "spectra_archs.png",
            title=f"eNTK at init, {name} {data.width}x{data.height}, {n} patch centres, "
            f"width {opts.width}",
        )
        record.update(
            image=image_label(image),
            image_size=[data.width, data.height],
            **_archs_record(opts, results_by_arch, n, out),
        )
        if opts.fit_steps:
            record["fits"] = _short_fits(opts, image, say)
    write_json(out / "spectra.json", record)
    return record


def _archs_record(
    opts: SpectrumOptions, results: Mapping[str, list[SpectrumResult]], n: int, out: Path
) -> dict[str, Any]:
    """Draw the first arch's K against K·S (``spectra_iga.png``) and return the JSON record
    of an arch comparison."""
    first = opts.archs[0]
    pair: dict[str, Any] = {f"{first}: K": results[first]}
    if opts.end:
        pair[f"{first}: K·S (IGA, end {opts.end})"] = [r.balanced() for r in results[first]]
    spectra_figure(pair, out / "spectra_iga.png", title=f"{first} at init: K vs K·S")
    return {
        "mode": "archs",
        "n_points": n,
        "results": {a: [r.to_dict() for r in rs] for a, rs in results.items()},
        "summary": {
            a: {
                "stats": _median_stats(rs),
                "stats_adjusted": _median_stats(rs, adjusted=True) if opts.end else None,
            }
            for a, rs in results.items()
        },
    }


def _spectrum_1d(
    opts: SpectrumOptions, record: dict[str, Any], say: Callable[[str], None]
) -> dict[str, Any]:
    """``--signal 1d``: the archs at initialisation on the middle sample of each group of
    ``--patch`` consecutive samples of the 1D task's line (``iga fit function``'s default
    signal: 2048 samples of [-1, 1], one output)."""
    from iga.tasks.function1d.signal import SignalConfig, make_signal

    inputs = make_signal(SignalConfig()).inputs
    idx = torch.arange(opts.patch // 2, inputs.shape[0], opts.patch)
    n = int(idx.numel())
    if opts.end >= n:
        raise ValueError(
            f"--end {opts.end} must be smaller than the number of groups ({n} groups of "
            f"{opts.patch} of the {inputs.shape[0]} samples); lower --end or --patch"
        )
    say(f"eNTK at initialisation on {n} points of [-1, 1] (one per {opts.patch} samples)")
    results = compare_archs(
        opts.archs,
        inputs[idx],
        width=opts.width,
        hidden_layers=opts.hidden_layers,
        seeds=opts.seeds,
        end=opts.end or None,
        out_features=1,
        on_arch=lambda a, items: say(f"{a}: {_describe(_median_stats(items))}"),
    )
    out = Path(opts.out)
    spectra_figure(
        results,
        out / "spectra_archs.png",
        title=f"eNTK at init, 1D line, {n} points, width {opts.width}",
    )
    record.update(signal="1d", **_archs_record(opts, results, n, out))
    write_json(out / "spectra.json", record)
    return record


def _short_fits(
    opts: SpectrumOptions, image: PathLike, say: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    """``--fit-steps``: each arch spec × method fitted on the image (first seed, the image
    task's default lrs) into ``out/fits/<spec>/<method>``; their best PSNRs."""
    from iga.models.config import ModelConfig
    from iga.tasks.image.task import ImageFitConfig, fit_image
    from iga.train import MethodConfig, TrainConfig

    fits: dict[str, dict[str, Any]] = {}
    for label in opts.archs:
        arch, kw = arch_spec(label)
        for method in opts.fit_methods:
            cfg = ImageFitConfig(
                path=str(image),
                size=opts.size,
                patch=opts.patch,
                model=ModelConfig(
                    arch=arch, width=opts.width, hidden_layers=opts.hidden_layers, options=kw
                ),
                method=MethodConfig(method=method, end=opts.end),
                train=TrainConfig(steps=opts.fit_steps, seed=int(opts.seeds[0])),
                out=str(Path(opts.out) / "fits" / label.replace(":", "_") / method),
                overwrite=True,
            )
            summary = fit_image(cfg, progress=False)
            fits.setdefault(label, {})[method] = {
                "psnr_best": summary["psnr_best"],
                "lr": summary["lr"],
                "seconds": summary.get("seconds"),
            }
            say(
                f"{label} {method}: best PSNR {summary['psnr_best']:.2f} dB "
                f"({opts.fit_steps} steps)"
            )
    return fits

"""The ``iga analyze`` commands, declared as data (the CLI loops over :data:`ANALYSES` and
holds no analysis of its own)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ANALYSES", "AnalysisSpec"]


@dataclass(frozen=True)
class AnalysisSpec:
    """One ``iga analyze NAME``: its options dataclass and the function that runs it."""

    name: str
    module: str
    """The module holding :attr:`options` and :attr:`function` (imported when used)."""
    options: str
    function: str
    """``function(options, log=print)``."""
    help: str
    description: str
    writes: Callable[[Any], str]
    """What it wrote, from the options (printed after the run)."""
    skip: tuple[str, ...] = ()
    """Option fields without a flag (set by :attr:`add_arguments`/:attr:`given`, or default)."""
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    given: Callable[[argparse.Namespace], dict[str, Any]] | None = None
    """Option values from the extra arguments."""

    def load(self) -> tuple[type, Callable[..., Any]]:
        mod = importlib.import_module(self.module)
        return getattr(mod, self.options), getattr(mod, self.function)


def _run_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="RUN_DIR",
        help="run directory of `iga fit image` (repeatable or comma-separated); its weights' "
        "spectrum replaces the arch comparison",
    )


def _runs(ns: argparse.Namespace) -> dict[str, Any]:
    # --run is repeatable and each value may list several directories.
    return {"runs": [r.strip() for value in ns.run for r in value.split(",") if r.strip()]}


ANALYSES: dict[str, AnalysisSpec] = {
    spec.name: spec
    for spec in (
        AnalysisSpec(
            "spectrum",
            "iga.analysis.spectrum",
            "SpectrumOptions",
            "analyze_spectrum",
            help="eNTK spectra of archs at initialisation (K and IGA's K·S) or of trained runs",
            description="eNTK eigenvalues on one point per patch (the patch centre), with their "
            "condition number, normalised variance Var/mean² and effective rank: of several "
            "archs at initialisation (over seeds) and, for the first arch, K against IGA's K·S "
            "(spectra_archs.png, spectra_iga.png, spectra.json); or, with --run, of the saved "
            "weights of `iga fit image` runs (spectra_runs.png, spectra.json). See "
            "docs/analyze.md.",
            writes=lambda o: (
                ("spectra_runs.png" if o.runs else "spectra_archs.png, spectra_iga.png")
                + " and spectra.json"
            ),
            skip=("runs",),
            add_arguments=_run_argument,
            given=_runs,
        ),
        AnalysisSpec(
            "bands",
            "iga.analysis.bands",
            "BandsOptions",
            "analyze_bands",
            help="per-frequency-band relative errors of image fits along training",
            description="Fit an image with each method (the image task's defaults for lr and "
            "schedule), logging the relative error of the residual in each radial frequency "
            "band every --every steps (metrics.csv of out/<method>), then write bands.png "
            "(band x step heatmaps and the final errors) and bands.json. See docs/analyze.md.",
            writes=lambda o: "bands.png and bands.json",
        ),
        AnalysisSpec(
            "training",
            "iga.analysis.training",
            "TrainingOptions",
            "analyze_training",
            help="eNTK spectra and band errors along training, per method and seed",
            description="Fit an image with each method and seed, probing every --every steps "
            "the eNTK on the patch centres (condition number, Var/mean², effective rank; of K "
            "and of IGA's K·S for --end) and the per-band errors; then write "
            "spectra_training.png, bands.png, band_ratio.png and training.json. See "
            "docs/analyze.md.",
            writes=lambda o: "spectra_training.png, bands.png, band_ratio.png and training.json",
            skip=("seed",),
        ),
        AnalysisSpec(
            "regions",
            "iga.analysis.regions",
            "RegionsOptions",
            "analyze_regions",
            help="activation (linear) regions of ReLU INRs along training",
            description="Fit an image with each ReLU arch (relu, pe) and method, counting every "
            "--every steps the connected regions of constant activation pattern on the pixel "
            "grid; write regions.png (counts, boundary maps, errors) and regions.json with the "
            "correlation of the local region density with the target's detail and with the "
            "error drop. See docs/analyze.md.",
            writes=lambda o: "regions.png and regions.json",
        ),
    )
}
"""``iga analyze NAME`` -> its spec."""

"""What each ``iga`` subcommand does once its options are parsed. No command names a task:
``fit``, ``bench`` and ``experiment`` commands come from the task registry."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from iga.cli import configcli
from iga.io import atomic_write_text
from iga.tasks.registry import TaskSpec

__all__ = [
    "analyze",
    "analyze_spectrum",
    "bench_overhead",
    "check_output_file",
    "demo",
    "fit",
    "harness",
]


def check_output_file(path: str, flag: str) -> None:
    """Fail before the work, not after it, when ``path`` cannot be written as a file."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{flag} {path} is a directory; name a file, e.g. {p / 'result.json'}")
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: {parent} is a file, not a directory; choose another")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: {parent} is not writable; choose another path")


def fit(spec: TaskSpec, ns: argparse.Namespace) -> int:
    """``iga fit <task>``: build the task's config from the flags, check it, run it."""
    given = {spec.argument: getattr(ns, spec.argument)} if spec.argument else {}
    cfg = configcli.build(spec.config(), ns, **given)
    if spec.check is not None:
        spec.check(cfg)
    summary = spec.fit(cfg, progress=not ns.quiet, resume=ns.resume)
    print(spec.report(cfg, summary) if spec.report else f"{spec.name}: done -> {cfg.out}")
    return 0


def demo(spec: TaskSpec, ns: argparse.Namespace) -> int:
    """``iga demo``: the demo of the task that declares one (on its bundled data)."""
    assert spec.demo is not None
    spec.demo(steps=ns.steps, seed=ns.seed, device=ns.device, out=ns.out, progress=not ns.quiet)
    return 0


def bench_overhead(ns: argparse.Namespace) -> int:
    from iga.overhead import OverheadConfig, format_overhead, overhead

    cfg = configcli.build(OverheadConfig, ns)
    if ns.save:
        check_output_file(ns.save, "--save")
    res = overhead(cfg, progress=None if ns.json else (lambda m: print(m, file=sys.stderr)))
    text = json.dumps(res, indent=2) if ns.json else format_overhead(res)
    print(text)
    if ns.save:
        atomic_write_text(ns.save, json.dumps(res, indent=2) + "\n")
    return 0


def analyze_spectrum(ns: argparse.Namespace) -> int:
    from iga.analysis.spectrum import SpectrumOptions, analyze_spectrum

    # --run is repeatable and each value may list several directories.
    runs = [r.strip() for value in ns.run for r in value.split(",") if r.strip()]
    opts = configcli.build(SpectrumOptions, ns, runs=runs)
    analyze_spectrum(opts, log=print)
    figures = "spectra_runs.png" if runs else "spectra_archs.png, spectra_iga.png"
    print(f"wrote {figures} and spectra.json to {opts.out}")
    return 0


ANALYSES = {
    # subcommand: (module, options class, function, what it writes)
    "bands": ("bands", "BandsOptions", "analyze_bands", "bands.png and bands.json"),
    "training": (
        "training",
        "TrainingOptions",
        "analyze_training",
        "spectra_training.png, bands.png, band_ratio.png and training.json",
    ),
    "regions": ("regions", "RegionsOptions", "analyze_regions", "regions.png and regions.json"),
}


def analyze(ns: argparse.Namespace) -> int:
    module, options, function, files = ANALYSES[ns.analysis]
    mod = importlib.import_module(f"iga.analysis.{module}")
    opts = configcli.build(getattr(mod, options), ns)
    getattr(mod, function)(opts, log=print)
    print(f"wrote {files} to {opts.out}")
    return 0


def harness(module: str, name: str, ns: argparse.Namespace) -> int:
    """``iga bench NAME`` / ``iga experiment NAME``: a declared benchmark through the harness."""
    from iga.harness import RunOptions, execute

    mod = importlib.import_module(module)
    ro = configcli.build(RunOptions, ns)
    setup: dict[str, Any] = mod.setup(name, configcli.build(mod.Options, ns), ro)
    if "print" in setup:
        print(setup["print"])
        return 0
    if ro.threads:
        import torch

        torch.set_num_threads(ro.threads)
    report = execute(setup, ro)
    if report.failures:
        name, error = report.failures[0]
        first = error.strip().splitlines()[-1] if error.strip() else "see its failure.json"
        raise ValueError(
            f"{len(report.failures)} run(s) failed (first: {name}: {first}); the others are "
            "kept, and the same command retries the failed ones"
        )
    return 0

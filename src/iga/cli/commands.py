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

import iga.cli.configcli as configcli
from iga.analysis.commands import AnalysisSpec
from iga.io import atomic_write_text
from iga.tasks.registry import TaskSpec

__all__ = [
    "analyze",
    "bench_overhead",
    "check_output_file",
    "demo",
    "export",
    "fit",
    "harness",
    "render",
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


def analyze(spec: AnalysisSpec, ns: argparse.Namespace) -> int:
    """``iga analyze NAME``."""
    options, function = spec.load()
    opts = configcli.build(options, ns, **(spec.given(ns) if spec.given else {}))
    function(opts, log=print)
    print(f"wrote {spec.writes(opts)} to {opts.out}")
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


def render(ns: argparse.Namespace) -> int:
    """``iga render RUN``: the fitted field's files (see ``iga render --help``)."""
    from iga.fields import load

    field = load(ns.run, ns.weights, device=ns.device, data=ns.data or None)
    paths = field.render_files(
        ns.out or None,
        progress=not ns.quiet,
        size=ns.size,
        resolution=ns.resolution,
        frames=ns.frames,
        rate=ns.rate,
        samples=ns.samples,
    )
    for p in paths[:3]:
        print(f"wrote {p}")
    if len(paths) > 3:
        print(f"... and {len(paths) - 3} more in {paths[-1].parent}")
    return 0


def export(ns: argparse.Namespace) -> int:
    """``iga export RUN``: TorchScript, torch.export and safetensors (``iga export --help``)."""
    from iga.export import FORMATS
    from iga.export import export as write
    from iga.fields import load

    names = [f.strip() for f in ns.format.split(",") if f.strip()]
    formats = list(FORMATS) if names == ["all"] else names
    field = load(ns.run, ns.weights, device=ns.device, data=ns.data or None)
    out = ns.out or str(Path(ns.run) / "export")
    written = write(field, out, formats, overwrite=ns.overwrite)
    for fmt, p in written.items():
        print(f"{fmt}: {p}")
    return 0

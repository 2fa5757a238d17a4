"""Aggregation: :func:`aggregate` re-reads a plan's finished runs, computes the table cells
and comparisons, writes every report file (their text is in :mod:`iga.harness.writers`) and
``aggregate.json``, and returns them as a :class:`Report`.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iga.harness.declare import TIMING_KEYS, Bench, Record, _text
from iga.harness.planning import Plan
from iga.harness.running import build_records, run_status
from iga.harness.stats import Comparison, Stat, _key, _number, compare, complete_units, summarize
from iga.harness.writers import (
    _comparison_md,
    _missing_md,
    _per_axis_md,
    _runs_csv,
    _selection_md,
    _table_csv,
    _table_md,
    _timing_md,
)
from iga.io import atomic_write_text, to_jsonable, write_json
from iga.runs import cpu_description
from iga.sweep import collect


@dataclass
class Report:
    """What :func:`aggregate` computed and wrote."""

    bench: Bench
    plan: Plan
    out_dir: Path
    records: list[Record]
    """One per finished main run, in plan order."""
    missing: list[tuple[str, str]]
    """(run name, :func:`run_status`) of every unfinished run counted."""
    cells: dict[tuple[Any, ...], dict[str, Stat]]
    """Table cell (row + column values) -> metric key -> :class:`Stat`."""
    units: list[tuple[Any, ...]] | None
    """The ``average_over`` units the table averages (None: all a cell has)."""
    complete: list[tuple[Any, ...]]
    comparisons: dict[str, list[Comparison]]
    """Reference label -> its comparison rows."""
    table: str
    """table.md's body (to print)."""
    files: list[Path] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    """(run name, error) of every run that failed in this call (:func:`execute` sets it)."""

    @property
    def finished(self) -> int:
        return len(self.records)

    @property
    def expected(self) -> int:
        """The main runs of the plan (known before the selection finishes)."""
        return len(self.plan.grid)


def _combos(cells: Iterable[Mapping[str, Any]], axes: Sequence[str]) -> list[tuple[Any, ...]]:
    """Distinct ``axes`` values of the cells, in order of first appearance."""
    return list(dict.fromkeys(_key(c, axes) for c in cells))


def _describe(config: Any) -> str:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        config = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        return ", ".join(f"{k} {v}" for k, v in config.items() if k != "note")
    return str(config)


def _jsonable(obj: Any) -> Any:
    try:
        return to_jsonable(obj)
    except TypeError:
        return str(obj)


def aggregate(bench: Bench, p: Plan, out_dir: str | Path, *, figures: bool = True) -> Report:
    """Rebuild every report of ``p`` in ``out_dir`` from its finished runs (never fatal on
    missing runs: they are listed, and a cell averages the units it has and says how many)."""
    out_dir = Path(out_dir)
    cell_axes = (*bench.rows, *bench.columns)
    avg = bench.average_over
    keys = list(dict.fromkeys([*(m.key for m in bench.metrics), *bench.record_keys, *TIMING_KEYS]))
    summaries = collect([r.spec for r in p.main])
    records = build_records(p.main, summaries, keys, bench.derive, out_dir)
    todo = p.selection if p.pending else p.main
    done = collect([r.spec for r in todo]) if p.pending else summaries
    missing = [(r.spec.name, run_status(r.spec)) for r in todo if done[r.spec.name] is None]

    complete = complete_units(p.grid, records, cell_axes, avg) if avg else []
    all_units = _combos(p.grid, avg)
    units = complete if avg and complete else None
    combos = _combos(p.grid, cell_axes)
    by_cell: dict[tuple[Any, ...], list[Record]] = {c: [] for c in combos}
    for r in records:
        by_cell.setdefault(_key(r, cell_axes), []).append(r)
    cells = {
        c: {m.key: summarize(rs, m.key, avg, bench.spread_over, units) for m in bench.metrics}
        for c, rs in by_cell.items()
    }
    comparisons = {
        ref.label: compare(records, ref, cell_axes, avg, combos, units) for ref in bench.references
    }
    total = len(units) if units is not None else len(all_units)
    table = _table_md(bench, p, cells, combos, complete, all_units, total)
    report = Report(bench, p, out_dir, records, missing, cells, units, complete, comparisons, table)

    head = _head(bench, p, report)
    write = {
        "table.md": head + table,
        "table.csv": _table_csv(bench, cells),
        "runs.csv": _runs_csv(records),
        "timing.md": head + _timing_md(bench, p, by_cell),
        "missing.md": _missing_md(bench, p, missing),
    }
    for axis in bench.per if bench.per is not None else avg:
        write[f"per_{axis}.md"] = head + _per_axis_md(bench, p, axis, by_cell, cells, total)
    if bench.selection is not None:
        write["selection.md"] = head + _selection_md(bench, p)
    if bench.references:
        write["comparison.md"] = _comparison_md(bench, comparisons)
    if bench.reports is not None:
        write.update(bench.reports(report))
    for name, text in write.items():
        report.files.append(atomic_write_text(out_dir / name, text.rstrip("\n") + "\n"))
    report.files.append(write_json(out_dir / "aggregate.json", _summary_json(report, keys)))
    if figures and bench.figures is not None:
        bench.figures(report, out_dir)
    return report


def _head(bench: Bench, p: Plan, report: Report) -> str:
    describe = bench.describe or _describe
    text = f"{bench.title or bench.name}, tier `{p.tier}` ({describe(p.context.config)})"
    sel = bench.selection
    if sel is not None and p.chosen:
        first = ", ".join(f"{a} {_text(p.axes[a][0])}" for a in sel.on_first)
        chosen = ", ".join(
            f"{'/'.join(_text(v) for v in g)} {_text(v)}" for g, v in p.chosen.items()
        )
        text += f"; {sel.param} chosen on {first}: {chosen}"
    return text + f". {report.finished} of {report.expected} runs finished.\n\n"


def _summary_json(report: Report, keys: Sequence[str]) -> dict[str, Any]:
    bench, p = report.bench, report.plan
    cell_axes = [*bench.rows, *bench.columns]
    selection = None
    if bench.selection is not None:
        group_axes = [a for a in p.axes if a not in bench.selection.on_first]
        selection = {
            "param": bench.selection.param,
            "score": bench.selection.score,
            "on": {a: p.axes[a][0] for a in bench.selection.on_first},
            "pending": p.pending,
            "groups": [
                {
                    **dict(zip(group_axes, g, strict=True)),
                    "scores": {_text(c): s for c, s in scores.items()},
                    "chosen": p.chosen.get(g),
                }
                for g, scores in p.scores.items()
            ],
        }
    return {
        "bench": bench.name,
        "tier": p.tier,
        "settings": _jsonable(p.context.config),
        "axes": _jsonable(p.axes),
        "selection": selection,
        "finished": report.finished,
        "expected": report.expected,
        "averaged_units": report.units,
        "complete_units": report.complete,
        "missing": [{"run": n, "status": s} for n, s in report.missing],
        "training_seconds": sum(_number(r.get("seconds")) or 0.0 for r in report.records),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}, "
        f"{cpu_description()}",
        "record_keys": list(keys),
        "cells": [
            {
                **dict(zip(cell_axes, c, strict=True)),
                **{k: dataclasses.asdict(s) for k, s in stats.items()},
            }
            for c, stats in report.cells.items()
        ],
        "comparisons": {
            label: [
                {
                    **dict(zip(cell_axes, c.cell, strict=True)),
                    **{k: v for k, v in dataclasses.asdict(c).items() if k != "cell"},
                }
                for c in rows
            ]
            for label, rows in report.comparisons.items()
        },
        "files": sorted(f.name for f in report.files),
    }

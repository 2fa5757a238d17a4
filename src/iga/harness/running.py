"""Running a plan through :func:`iga.sweep.run_sweep` (:func:`run`) and reading its runs
back: one record per finished run (:func:`build_records`) and why a run is not counted
(:func:`run_status`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from iga.harness.declare import Bench, Record
from iga.harness.planning import Plan, PlannedRun, replan
from iga.runs import run_state
from iga.sweep import FAILURE_FILE, Executor, RunSpec, SweepReport, run_sweep


def run(
    bench: Bench,
    p: Plan,
    executor: Executor | None = None,
    *,
    max_runs: int = 0,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> tuple[Plan, list[SweepReport]]:
    """Run (resume) the plan's unfinished runs; returns the plan as it stands afterwards.

    When the plan's selection was pending and its runs finish now, the main runs are planned
    and run in the same call. ``max_runs`` caps the runs launched over both (0: all).
    """
    reports: list[SweepReport] = []
    budget = max_runs
    for _ in range(2):
        report = run_sweep(
            p.specs, bench.worker, executor, progress=progress, max_runs=budget, log=log
        )
        reports.append(report)
        was_pending = p.pending
        p = replan(bench, p)
        if not (was_pending and not p.pending):
            break
        if max_runs:
            budget -= len(report.by_status("done")) + len(report.by_status("failed"))
            if budget <= 0:
                break
    return p, reports


def build_records(
    runs: Sequence[PlannedRun],
    summaries: Mapping[str, Mapping[str, Any] | None],
    keys: Sequence[str],
    derive: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    relative_to: str | Path | None = None,
) -> list[Record]:
    """One record per finished run (in plan order): its cell, ``run``, the summary's ``keys``
    (None where absent), ``derive(summary)`` and ``run_dir`` (relative to ``relative_to``)."""
    records = []
    for r in runs:
        summary = summaries.get(r.spec.name)
        if summary is None:
            continue
        record: Record = {"run": r.spec.name, **r.cell}
        record.update({k: summary.get(k) for k in keys})
        if derive is not None:
            record.update(derive(summary))
        out = r.spec.out
        record["run_dir"] = os.path.relpath(out, relative_to) if relative_to else out
        records.append(record)
    return records


def run_status(spec: RunSpec) -> str:
    """Why a run is not counted: ``not started``, ``started``, ``interrupted (resumable)``,
    ``failed (see failure.json)`` or ``stale (finished with another config)``."""
    state, key = run_state(spec.out)
    if state == "finished":
        return "stale (finished with another config)" if key != spec.key else "finished"
    if (Path(spec.out) / FAILURE_FILE).is_file():
        return "failed (see failure.json)"
    return {"resumable": "interrupted (resumable)", "partial": "started"}.get(state, "not started")

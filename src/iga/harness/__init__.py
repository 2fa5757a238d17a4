"""One benchmark harness: a benchmark is a declaration, the harness plans, runs and reports.

A :class:`Bench` declares *what* a benchmark is: its tiers (the task config per tier, the only
source of defaults), its axes (``image``, ``arch``, ``method``, ``seed``...), how one cell of
the axes becomes a run (``make_run``, a :class:`~iga.sweep.RunSpec` with its directory and
config key), the module-level ``worker`` that executes a run, and how the finished runs are
tabulated (``rows``, ``columns``, ``metrics``, ``average_over``, ``spread_over``), with an
optional fair parameter choice (:class:`Selection`), published numbers to compare with
(:class:`Reference`) and figures. Three functions do the rest:

* :func:`plan` expands the axes into runs, in launch order. With a :class:`Selection` (e.g. the
  fair-lr protocol), the selection runs come first, and until they are all finished they are
  the only runs planned; then the main runs use the chosen value per cell.
* :func:`run` executes a plan through :func:`iga.sweep.run_sweep` (resumable, failure-tolerant,
  in-process or on Ray) and plans again once a selection has finished.
* :func:`aggregate` re-reads the finished runs (:func:`iga.sweep.collect`; a run finished with
  another config key counts as missing) and writes ``runs.csv``, ``table.md``/``table.csv``,
  ``per_<axis>.md``, ``timing.md``, ``missing.md``, ``selection.md`` (with a selection),
  ``comparison.md`` (with references) and ``aggregate.json``, then calls the figures callback.

The arithmetic is in pure functions over run *records* (plain dicts: the cell's values plus
the summary's numbers) so that it can be checked on hand-written records:
:func:`summarize` (mean over ``average_over``, ± spread over ``spread_over``),
:func:`format_values` / :func:`format_stat`, :func:`choose` and :func:`compare`.

The modules: :mod:`~iga.harness.declare` (the declaration), :mod:`~iga.harness.planning`
(:func:`plan`), :mod:`~iga.harness.running` (:func:`run`, records, run status),
:mod:`~iga.harness.stats` (the arithmetic), :mod:`~iga.harness.report` (:func:`aggregate`),
:mod:`~iga.harness.writers` (the report files' text), :mod:`~iga.harness.entry`
(:class:`RunOptions`, :func:`execute`), plus :mod:`~iga.harness.options` and
:mod:`~iga.harness.worker`, which benchmarks import directly.
"""

from __future__ import annotations

from iga.harness.declare import (
    TIMING_KEYS,
    Bench,
    Context,
    Metric,
    Reference,
    Selection,
    cell_path,
    resolve_tier,
)
from iga.harness.declare import AxisValues as AxisValues  # type aliases
from iga.harness.declare import Cell as Cell
from iga.harness.declare import Record as Record
from iga.harness.entry import RunOptions, execute
from iga.harness.planning import Plan, PlannedRun, choose, plan, replan
from iga.harness.report import Report, aggregate
from iga.harness.running import build_records, run, run_status
from iga.harness.stats import (
    Comparison,
    Stat,
    compare,
    complete_units,
    format_stat,
    format_values,
    summarize,
)
from iga.harness.writers import markdown_table

__all__ = [
    "TIMING_KEYS",
    "Bench",
    "Comparison",
    "Context",
    "Metric",
    "Plan",
    "PlannedRun",
    "Reference",
    "Report",
    "Selection",
    "Stat",
    "aggregate",
    "build_records",
    "cell_path",
    "choose",
    "compare",
    "complete_units",
    "format_stat",
    "format_values",
    "markdown_table",
    "plan",
    "replan",
    "resolve_tier",
    "run",
    "run_status",
    "RunOptions",
    "execute",
    "summarize",
]

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
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import math
import os
import platform
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iga.io import atomic_write_text, run_state, to_jsonable, write_json
from iga.sweep import FAILURE_FILE, Executor, RunSpec, SweepReport, collect, run_sweep

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

Cell = dict[str, Any]
"""One point of the axes: ``{axis: value}``, plus the run parameters (``params``, the selected
value) once planned."""
Record = dict[str, Any]
"""One finished run: its cell, ``run`` (name), ``run_dir`` and the summary values it keeps."""

TIMING_KEYS = ("seconds", "seconds_per_step")
"""Summary keys every record keeps: the run's wall time and time per step (for timing.md)."""


# --- the declaration ------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A summary key shown in the tables."""

    key: str
    """The summary key (or a key added by :attr:`Bench.derive`), e.g. ``psnr_best``."""
    label: str = ""
    """Table label (default: the key); the direction arrow is appended."""
    fmt: str = ".2f"
    """Format spec of the mean and the spread (``.4f`` for SSIM, ``.3g`` for an MSE)."""
    higher_is_better: bool | None = True
    """↑ (True), ↓ (False) or no arrow (None)."""

    @property
    def title(self) -> str:
        """The label with its arrow, e.g. ``PSNR best (dB) ↑``."""
        arrow = {True: " ↑", False: " ↓", None: ""}[self.higher_is_better]
        return (self.label or self.key) + arrow


@dataclass(frozen=True)
class Selection:
    """A parameter chosen per cell by a fair protocol (e.g. the best lr on the first image).

    The selection runs are the cells with the ``on_first`` axes at their first value, once per
    candidate; per combination of the other axes the candidate with the best ``score`` wins, and
    the main runs of that combination use it.
    """

    param: str
    """The cell key the value is stored under and ``make_run`` reads (e.g. ``lr``)."""
    candidates: tuple[Any, ...]
    """Values tried (in this order; ties go to the earlier one)."""
    on_first: tuple[str, ...]
    """Axes held at their first value during the selection (e.g. ``("seed", "image")``)."""
    score: str
    """Summary key compared (e.g. ``psnr_best``); a missing or non-finite score loses."""
    higher_is_better: bool = True


@dataclass(frozen=True)
class Reference:
    """Published numbers printed beside ours in ``comparison.md`` (e.g. the paper's table)."""

    metric: str
    """Our summary key they are compared with."""
    keys: tuple[str, ...]
    """The axes a value is keyed by, in key order: the table's rows and columns, plus the
    ``average_over`` axes for per-unit numbers (e.g. ``("arch", "method", "image")``), which
    are then compared on the same units ours has."""
    values: Mapping[tuple[Any, ...], float]
    """``{key tuple: value}``."""
    label: str = "reference"
    baseline: Mapping[str, Any] = field(default_factory=dict)
    """The cell gains are measured over, as axis overrides (e.g. ``{"method": "vanilla"}``:
    a cell's gain is it minus the vanilla cell of its arch); empty: no gains."""
    fmt: str = ".2f"


@dataclass(frozen=True)
class Context:
    """What ``make_run``, ``params`` and ``where`` see besides the cell."""

    bench: str
    tier: str
    config: Any
    """The tier's task config."""
    root: Path
    """The tier's results folder (``<out>/<tier>``); runs conventionally go under ``runs/``."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """Run options that are no part of the benchmark (threads, keep checkpoints, data folder)."""


AxisValues = Sequence[Any] | Callable[[Any], Sequence[Any]]
"""An axis' values, or a function of the tier config returning them."""


@dataclass(frozen=True)
class Bench:
    """A benchmark, declared: axes × tiers -> runs, and how their summaries are tabulated."""

    name: str
    tiers: Mapping[str, Any]
    """Tier name -> task config, or a function returning it (called when planning)."""
    axes: Mapping[str, AxisValues]
    """Axis name -> values, outermost first: the launch order nests them in this order."""
    make_run: Callable[[Context, Cell], RunSpec]
    """Builds one run (unique name, directory, config for ``worker``, config key) from a cell."""
    worker: Callable[[dict[str, Any]], dict[str, Any]]
    """``worker(spec.config) -> summary``; module-level (importable by Ray workers)."""
    metrics: tuple[Metric, ...]
    rows: tuple[str, ...] = ()
    """Axes indexing the table's rows (none: one row)."""
    columns: tuple[str, ...] = ()
    """Axes indexing its columns; none: one column per metric, else one table per metric."""
    average_over: tuple[str, ...] = ()
    """Axes a cell averages over (e.g. ``("image",)``: mean over images of per-image means)."""
    spread_over: tuple[str, ...] = ()
    """Axes of the ± spread: the std over them (``("image",)``: over per-image means;
    ``("seed",)``: per image over seeds, averaged over images)."""
    per: tuple[str, ...] | None = None
    """Axes getting a ``per_<axis>.md`` (one column per value); default ``average_over``."""
    params: Mapping[str, Callable[[Context, Cell], Any]] = field(default_factory=dict)
    """Run parameters derived per cell, added to it (e.g. the paper's lr per arch and method)."""
    selection: Selection | None = None
    where: Callable[[Context, Cell], bool] | None = None
    """Keep only the cells where this holds (e.g. extra seeds only on some images)."""
    record_keys: tuple[str, ...] = ()
    """Summary keys records keep besides the metrics and :data:`TIMING_KEYS`."""
    derive: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    """Extra record values from a summary (e.g. one column per entry of a nested dict)."""
    references: tuple[Reference, ...] = ()
    figures: Callable[[Report, Path], None] | None = None
    """``figures(report, out_dir)``, called last by :func:`aggregate`."""
    reports: Callable[[Report], Mapping[str, str]] | None = None
    """Extra report files ``{file name: text}`` (they replace the harness' file of the same
    name, e.g. a ``table.md`` in a benchmark's own layout)."""
    labels: Mapping[str, Mapping[Any, str]] = field(default_factory=dict)
    """Display labels: axis -> value -> label (e.g. ``{"method": {"iga": "+IGA"}}``)."""
    metric_rows: bool = False
    """Lay ``table.md`` out as the paper's Table 1: one row per metric, one column per cell
    (``rows`` × ``columns`` values), instead of one table per metric."""
    title: str = ""
    describe: Callable[[Any], str] | None = None
    """One line describing a tier config in the reports (default: its fields)."""

    def __post_init__(self) -> None:
        if not self.tiers:
            raise ValueError(f"bench {self.name!r} needs at least one tier")
        if not self.metrics:
            raise ValueError(f"bench {self.name!r} needs at least one metric")
        axes = set(self.axes)
        named = {
            "rows": self.rows,
            "columns": self.columns,
            "average_over": self.average_over,
            "spread_over": self.spread_over,
            "per": self.per or (),
        }
        if self.selection is not None:
            named["selection.on_first"] = self.selection.on_first
        for what, names in named.items():
            unknown = [n for n in names if n not in axes]
            if unknown:
                raise ValueError(f"{what} of bench {self.name!r} names unknown axes {unknown}")
        table = (*self.rows, *self.columns)
        for what in ("average_over", "spread_over", "per"):
            clash = set(named[what]) & set(table)
            if clash:
                raise ValueError(f"{what} may not name a row or column axis; got {sorted(clash)}")
        params = [*self.params, *([self.selection.param] if self.selection else [])]
        clash = set(params) & axes
        if clash:
            raise ValueError(f"parameters {sorted(clash)} are also axes; rename one")
        labels = [ref.label for ref in self.references]
        if len(set(labels)) != len(labels):
            # comparisons are filed by label: a repeated one would print one reference's
            # numbers under the other's metric
            raise ValueError(f"reference labels must be unique; got {labels}")
        for ref in self.references:
            missing = [a for a in table if a not in ref.keys]
            unknown = [k for k in ref.keys if k not in table and k not in self.average_over]
            if missing or unknown:
                raise ValueError(
                    f"reference {ref.label!r} must be keyed by the row and column axes "
                    f"{list(table)} (plus average_over axes); got {list(ref.keys)}"
                )

    def label(self, axis: str, value: Any) -> str:
        """The display label of one axis value."""
        return self.labels.get(axis, {}).get(value, _text(value))


def resolve_tier(bench: Bench, tier: str) -> Any:
    """The task config of a built-in tier (calling the tier's factory when it is one)."""
    if tier not in bench.tiers:
        raise ValueError(
            f"unknown tier {tier!r} of bench {bench.name!r}; choose one of {', '.join(bench.tiers)}"
        )
    value = bench.tiers[tier]
    return value() if callable(value) else value


def cell_path(
    cell: Mapping[str, Any], keys: Sequence[str], formats: Mapping[str, str] | None = None
) -> str:
    """A run name/relative directory from a cell: ``kodim01/pe/iga/lr0.005/seed0``.

    One part per key, formatted with ``formats[key]`` (a ``str.format`` pattern such as
    ``"lr{:g}"``) or as the plain value.
    """
    formats = formats or {}
    return "/".join(formats.get(k, "{}").format(cell[k]) for k in keys)


# --- planning -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedRun:
    """One run of a plan: the cell it stands for and its spec."""

    cell: Cell
    spec: RunSpec


@dataclass
class Plan:
    """The runs of one benchmark at one tier, and what the selection decided so far."""

    bench: str
    context: Context
    axes: dict[str, list[Any]]
    """The axes' effective values (declared, tier-resolved, overridden)."""
    grid: list[Cell]
    """Every main cell (axis values only), in launch order, known before any selection."""
    runs: list[PlannedRun]
    """What to launch, in order, each once: the selection runs first, then the main runs."""
    main: list[PlannedRun]
    """The table's runs (empty while the selection is pending)."""
    selection: list[PlannedRun] = field(default_factory=list)
    scores: dict[tuple[Any, ...], dict[Any, float | None]] = field(default_factory=dict)
    """Selection: group (the non-``on_first`` axis values) -> candidate -> score (finished)."""
    chosen: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    """Selection: group -> the chosen value (only once the selection is complete)."""
    pending: bool = False
    """True while selection runs are unfinished: ``runs`` then holds only them."""
    where: Callable[[Cell], bool] | None = None
    overrides: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def tier(self) -> str:
        return self.context.tier

    @property
    def root(self) -> Path:
        return self.context.root

    @property
    def specs(self) -> list[RunSpec]:
        """The runs' specs in launch order (what :func:`iga.sweep.run_sweep` takes)."""
        return [r.spec for r in self.runs]


def plan(
    bench: Bench,
    tier: str,
    out: str | Path,
    *,
    tier_config: Any = None,
    axes: Mapping[str, Sequence[Any]] | None = None,
    where: Callable[[Cell], bool] | None = None,
    options: Mapping[str, Any] | None = None,
) -> Plan:
    """Every run of ``bench`` at ``tier``, in launch order; results go under ``out/<tier>``.

    Args:
        tier_config: use this task config under the name ``tier`` instead of the declared one
            (a tier read from a file, or one with command-line overrides: give it its own name,
            as finished runs are found by directory).
        axes: replace some axes' values (e.g. ``{"image": [...], "seed": [0, 1, 2]}``).
        where: keep only the cells where this also holds (after :attr:`Bench.where`).
        options: :attr:`Context.options` for ``make_run``.

    The cells are the product of the axes (first axis outermost) that pass the filters. With a
    :attr:`Bench.selection` the selection runs come first; until all are finished they are the
    only runs (``pending``); then each main cell gets its group's chosen value.
    """
    config = tier_config if tier_config is not None else resolve_tier(bench, tier)
    ctx = Context(bench.name, tier, config, Path(out) / tier, dict(options or {}))
    values = {name: list(v(config) if callable(v) else v) for name, v in bench.axes.items()}
    overrides = {name: list(v) for name, v in (axes or {}).items()}
    for name, v in overrides.items():
        if name not in values:
            raise ValueError(f"unknown axis {name!r}; {bench.name} has {', '.join(values)}")
        values[name] = v
    empty = [name for name, v in values.items() if not v]
    if empty:
        raise ValueError(f"axes {empty} have no values; give each at least one")

    def keep(cell: Cell) -> bool:
        return (bench.where is None or bench.where(ctx, cell)) and (where is None or where(cell))

    grid: list[Cell] = []
    for combo in itertools.product(*values.values()):
        cell = dict(zip(values, combo, strict=True))
        if keep(cell):
            grid.append(cell)
    runs: dict[str, PlannedRun] = {}

    def add(cell: Cell, extra: Mapping[str, Any]) -> PlannedRun:
        full = {**cell, **{p: f(ctx, cell) for p, f in bench.params.items()}, **extra}
        spec = bench.make_run(ctx, full)
        known = runs.get(spec.name)
        if known is not None:
            if (known.spec.out, known.spec.key) != (spec.out, spec.key):
                raise ValueError(f"two different runs are both named {spec.name!r}")
            return known
        runs[spec.name] = PlannedRun(full, spec)
        return runs[spec.name]

    p = Plan(bench.name, ctx, values, grid, [], [], where=where, overrides=overrides)
    sel = bench.selection
    if sel is not None:
        first = {a: values[a][0] for a in sel.on_first}
        for cell in grid:
            if all(cell[a] == v for a, v in first.items()):
                p.selection += [add(cell, {sel.param: c}) for c in sel.candidates]
        summaries = collect([r.spec for r in p.selection])
        for r in p.selection:
            scores = p.scores.setdefault(_group(sel, r.cell, values), {})
            summary = summaries[r.spec.name]
            if summary is not None:
                scores[r.cell[sel.param]] = _number(summary.get(sel.score))
        p.pending = any(s is None for s in summaries.values())
        if not p.pending:
            for g, scores in p.scores.items():
                p.chosen[g] = choose(scores, sel.higher_is_better)
    if not p.pending:
        for cell in grid:
            if sel is None:
                p.main.append(add(cell, {}))
            elif (g := _group(sel, cell, values)) in p.chosen:  # cells without selection runs: none
                p.main.append(add(cell, {sel.param: p.chosen[g]}))
    p.runs = list(runs.values())
    return p


def replan(bench: Bench, p: Plan) -> Plan:
    """:func:`plan` again with the same arguments (after runs finished)."""
    return plan(
        bench,
        p.tier,
        p.root.parent,
        tier_config=p.context.config,
        axes=p.overrides,
        where=p.where,
        options=p.context.options,
    )


def _group(sel: Selection, cell: Mapping[str, Any], axes: Iterable[str]) -> tuple[Any, ...]:
    """The selection group of a cell: its values of the axes not held at their first value."""
    return tuple(cell[a] for a in axes if a not in sel.on_first)


def choose(scores: Mapping[Any, float | None], higher_is_better: bool = True) -> Any:
    """The candidate with the best score (``{candidate: score}``; None or NaN lose, ties go to
    the first); None when there is no candidate."""
    best, best_score = None, -math.inf
    sign = 1.0 if higher_is_better else -1.0
    for candidate, score in scores.items():
        s = sign * score if score is not None and math.isfinite(score) else -math.inf
        if best is None or s > best_score:
            best, best_score = candidate, s
    return best


# --- running --------------------------------------------------------------------------------


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


# --- records and statistics -----------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A finite float, or None (missing, null, NaN, inf, non-numeric)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


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


@dataclass(frozen=True)
class Stat:
    """One table cell: a mean and its spread."""

    mean: float | None
    """Mean over the averaged units (None: no value)."""
    spread: float | None = None
    """Std over the spread axes (None: fewer than two values anywhere)."""
    n: int = 0
    """Units averaged (with a value)."""
    n_spread: int = 0
    """Groups the spread averages (each with at least two values)."""
    runs: int = 0
    """Records in the cell (also those without a value: ``n/a`` rather than ``—``)."""


def _key(record: Mapping[str, Any], axes: Sequence[str]) -> tuple[Any, ...]:
    return tuple(record[a] for a in axes)


def summarize(
    records: Sequence[Mapping[str, Any]],
    metric: str,
    average_over: Sequence[str] = (),
    spread_over: Sequence[str] = (),
    units: Iterable[tuple[Any, ...]] | None = None,
) -> Stat:
    """Mean and spread of ``metric`` over one cell's records.

    Each unit (a combination of ``average_over`` values, e.g. an image) gets the mean of its
    records (e.g. over seeds); the cell's mean is the mean over units. The spread: the values
    per combination of ``average_over`` and ``spread_over`` axes are grouped by the
    ``average_over`` axes not in ``spread_over``; the spread is the mean, over groups with at
    least two values, of their sample std. So ``spread_over == average_over == ("image",)`` is
    the std over per-image means, and ``("seed",)`` with ``("image",)`` the per-image std over
    seeds, averaged over images. ``units`` restricts the averaged units (e.g. to complete ones).
    """
    fine_axes = [*average_over, *(s for s in spread_over if s not in average_over)]
    allowed = None if units is None else set(units)
    fine: dict[tuple[Any, ...], list[float]] = {}
    for r in records:
        value = _number(r.get(metric))
        if value is None or (allowed is not None and _key(r, average_over) not in allowed):
            continue
        fine.setdefault(_key(r, fine_axes), []).append(value)
    # fine key -> mean; its unit is the first len(average_over) entries.
    k = len(average_over)
    per_unit: dict[tuple[Any, ...], list[float]] = {}
    strata: dict[tuple[Any, ...], list[float]] = {}
    not_spread = [i for i, a in enumerate(fine_axes) if a in average_over and a not in spread_over]
    for key, vals in fine.items():
        m = statistics.fmean(vals)
        per_unit.setdefault(key[:k], []).append(m)
        strata.setdefault(tuple(key[i] for i in not_spread), []).append(m)
    if not per_unit:
        return Stat(None, runs=len(records))
    mean = statistics.fmean(statistics.fmean(v) for v in per_unit.values())
    stds = [statistics.stdev(v) for v in strata.values() if len(v) > 1]
    spread = statistics.fmean(stds) if stds and spread_over else None
    return Stat(mean, spread, len(per_unit), len(stds) if spread_over else 0, len(records))


def format_values(values: Sequence[float | None], fmt: str = ".2f") -> str:
    """``mean ± std`` of the values (``mean`` alone for one, ``—`` for none; None skipped)."""
    clean = [v for v in (_number(x) for x in values) if v is not None]
    if not clean:
        return "—"
    mean = statistics.fmean(clean)
    if len(clean) == 1:
        return format(mean, fmt)
    return f"{mean:{fmt}} ± {statistics.stdev(clean):{fmt}}"


def format_stat(stat: Stat, fmt: str = ".2f", total: int = 0, spread: bool = True) -> str:
    """A table cell: ``—`` without runs, ``n/a`` without values, else ``mean [± spread]``
    with `` (n/total)`` when it averages fewer than ``total`` units."""
    if stat.runs == 0:
        return "—"
    if stat.mean is None:
        return "n/a"
    text = format(stat.mean, fmt)
    if spread and stat.spread is not None:
        text += f" ± {stat.spread:{fmt}}"
    if total and stat.n < total:
        text += f" ({stat.n}/{total})"
    return text


def complete_units(
    grid: Sequence[Mapping[str, Any]],
    records: Sequence[Mapping[str, Any]],
    cell_axes: Sequence[str],
    unit_axes: Sequence[str],
) -> list[tuple[Any, ...]]:
    """The units (``unit_axes`` values, in grid order) in which every planned table cell
    (``cell_axes`` values) has at least one finished record."""
    need: dict[tuple[Any, ...], set[tuple[Any, ...]]] = {}
    for c in grid:
        need.setdefault(_key(c, unit_axes), set()).add(_key(c, cell_axes))
    have: dict[tuple[Any, ...], set[tuple[Any, ...]]] = {}
    for r in records:
        have.setdefault(_key(r, unit_axes), set()).add(_key(r, cell_axes))
    return [u for u, cells in need.items() if cells <= have.get(u, set())]


@dataclass(frozen=True)
class Comparison:
    """One table cell beside a reference: ours, theirs and both gains over the baseline."""

    cell: tuple[Any, ...]
    """The row and column axis values."""
    units: int
    """Units ours averages (for per-unit references: those with a reference value)."""
    ours: float
    reference: float | None
    gain: Stat | None = None
    """Ours minus the baseline cell: mean ± std over the units both have (None: no baseline)."""
    reference_gain: float | None = None
    d_ours: tuple[float, ...] = ()
    """Per-unit gains (ours), e.g. for a bar chart."""
    d_reference: tuple[float, ...] = ()
    """The reference's per-unit gains on the same units (per-unit references only)."""


def _unit_means(
    records: Sequence[Mapping[str, Any]], metric: str, unit_axes: Sequence[str]
) -> dict[tuple[Any, ...], float]:
    vals: dict[tuple[Any, ...], list[float]] = {}
    for r in records:
        v = _number(r.get(metric))
        if v is not None:
            vals.setdefault(_key(r, unit_axes), []).append(v)
    return {u: statistics.fmean(v) for u, v in vals.items()}


def compare(
    records: Sequence[Mapping[str, Any]],
    ref: Reference,
    cell_axes: Sequence[str],
    unit_axes: Sequence[str] = (),
    cells: Sequence[tuple[Any, ...]] | None = None,
    units: Iterable[tuple[Any, ...]] | None = None,
) -> list[Comparison]:
    """Ours beside ``ref``, per table cell (``cell_axes`` values, in ``cells`` order or order
    of appearance), for cells with records.

    Ours is the mean over units (``unit_axes`` values; each the mean of its records). A
    per-unit reference (keyed by the unit axes too) is compared on the units both have; an
    aggregate one with ours over ``units`` (e.g. the complete ones; default all). Gains: the
    cell minus ``ref.baseline``'s cell, per unit both have, mean ± std over those units; the
    reference's gain on the same units (per-unit) or of its two numbers (aggregate).
    """
    per_unit_ref = any(k in unit_axes for k in ref.keys)
    allowed = None if units is None or per_unit_ref else set(units)
    by_cell: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for r in records:
        by_cell.setdefault(_key(r, cell_axes), []).append(r)

    def theirs(cell: tuple[Any, ...], unit: tuple[Any, ...] = ()) -> float | None:
        named = dict(zip(cell_axes, cell, strict=True))
        if per_unit_ref:
            named.update(zip(unit_axes, unit, strict=True))
        return ref.values.get(tuple(named[k] for k in ref.keys))

    def theirs_on(cell: tuple[Any, ...], unit: tuple[Any, ...]) -> float:
        value = theirs(cell, unit)
        assert value is not None  # only asked for units that have one
        return value

    def means(cell: tuple[Any, ...]) -> dict[tuple[Any, ...], float]:
        m = _unit_means(by_cell.get(cell, []), ref.metric, unit_axes)
        if per_unit_ref:
            return {u: v for u, v in m.items() if theirs(cell, u) is not None}
        return {u: v for u, v in m.items() if allowed is None or u in allowed}

    out = []
    for cell in cells if cells is not None else list(by_cell):
        ours = means(cell)
        if not ours:
            continue
        if per_unit_ref:
            reference: float | None = statistics.fmean(theirs_on(cell, u) for u in ours)
        else:
            reference = theirs(cell)
        gain = ref_gain = None
        d_ours: list[float] = []
        d_ref: list[float] = []
        named = dict(zip(cell_axes, cell, strict=True))
        base = tuple({**named, **ref.baseline}[a] for a in cell_axes)
        if ref.baseline and base != cell:
            base_means = means(base)
            paired = [u for u in ours if u in base_means]  # per-unit refs: both have one
            d_ours = [ours[u] - base_means[u] for u in paired]
            if d_ours:
                spread = statistics.stdev(d_ours) if len(d_ours) > 1 else None
                n = len(d_ours)
                gain = Stat(statistics.fmean(d_ours), spread, n, int(n > 1), n)
            if per_unit_ref and paired:
                d_ref = [theirs_on(cell, u) - theirs_on(base, u) for u in paired]
                ref_gain = statistics.fmean(d_ref)
            elif not per_unit_ref:
                a, b = theirs(cell), theirs(base)
                ref_gain = a - b if a is not None and b is not None else None
        out.append(
            Comparison(
                cell,
                len(ours),
                statistics.fmean(ours.values()),
                reference,
                gain,
                ref_gain,
                tuple(d_ours),
                tuple(d_ref),
            )
        )
    return out


def run_status(spec: RunSpec) -> str:
    """Why a run is not counted: ``not started``, ``started``, ``interrupted (resumable)``,
    ``failed (see failure.json)`` or ``stale (finished with another config)``."""
    state, key = run_state(spec.out)
    if state == "finished":
        return "stale (finished with another config)" if key != spec.key else "finished"
    if (Path(spec.out) / FAILURE_FILE).is_file():
        return "failed (see failure.json)"
    return {"resumable": "interrupted (resumable)", "partial": "started"}.get(state, "not started")


# --- reports --------------------------------------------------------------------------------


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A Markdown table; the first ``left`` columns left-aligned, the others right-aligned."""
    align = ["---" if i < left else "---:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(str(c) for c in line) + " |" for line in lines)


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


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


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


def _cell_label(bench: Bench, axes: Sequence[str], values: tuple[Any, ...]) -> str:
    return " ".join(bench.label(a, v) for a, v in zip(axes, values, strict=True)) or "all"


def _table_md(
    bench: Bench,
    p: Plan,
    cells: Mapping[tuple[Any, ...], Mapping[str, Stat]],
    combos: Sequence[tuple[Any, ...]],
    complete: Sequence[tuple[Any, ...]],
    all_units: Sequence[tuple[Any, ...]],
    total: int,
) -> str:
    avg, spread = bench.average_over, bench.spread_over
    notes = []
    if avg:
        what = "/".join(avg)
        if not complete:
            notes.append(f"No {what} has all its runs finished: cells average what they have.")
        elif len(complete) < len(all_units):
            names = ", ".join("/".join(_text(v) for v in u) for u in complete)
            notes.append(
                f"Averages over the {len(complete)} complete {what} value(s) ({names}); "
                f"{what} values with unfinished runs are left out of the averages."
            )
        else:
            notes.append(f"Averages over all {len(all_units)} {what} values.")
    if spread:
        rest = [a for a in avg if a not in spread]
        notes.append(
            f"± = std over {'/'.join(spread)}"
            + (f", averaged over {'/'.join(rest)}." if rest else ".")
        )
    blocks = [" ".join(notes)] if notes else []
    rows, cols = bench.rows, bench.columns
    if bench.metric_rows:
        axes = (*rows, *cols)
        header = ["Metric", *(_cell_label(bench, axes, c) for c in combos)]
        body = [
            [m.title, *(format_stat(cells[c][m.key], m.fmt, total) for c in combos)]
            for m in bench.metrics
        ]
        blocks.append(markdown_table(header, body))
    elif not cols:
        header = [*(rows or ["cell"]), *(m.title for m in bench.metrics)]
        body = [
            [
                *([bench.label(a, v) for a, v in zip(rows, c, strict=True)] or ["all"]),
                *(format_stat(cells[c][m.key], m.fmt, total) for m in bench.metrics),
            ]
            for c in combos
        ]
        blocks.append(markdown_table(header, body, left=max(len(rows), 1)))
    else:
        row_combos = list(dict.fromkeys(c[: len(rows)] for c in combos))
        col_combos = list(dict.fromkeys(c[len(rows) :] for c in combos))
        empty = Stat(None)
        for m in bench.metrics:
            body = [
                [_cell_label(bench, rows, r)]
                + [
                    format_stat(cells.get(r + c, {}).get(m.key, empty), m.fmt, total)
                    for c in col_combos
                ]
                for r in row_combos
            ]
            header = [" / ".join(rows), *(_cell_label(bench, cols, c) for c in col_combos)]
            blocks.append(f"### {m.title}\n\n" + markdown_table(header, body))
    return "\n\n".join(blocks)


def _csv(rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(
        [["" if v is None else v for v in row] for row in rows]
    )
    return buffer.getvalue()


def _table_csv(bench: Bench, cells: Mapping[tuple[Any, ...], Mapping[str, Stat]]) -> str:
    def num(v: float | None) -> str:
        return "" if v is None else f"{v:.6g}"

    header = [*bench.rows, *bench.columns]
    for m in bench.metrics:
        header += [m.key, f"{m.key}_spread", f"{m.key}_n"]
    rows: list[list[Any]] = [header]
    for c, stats in cells.items():
        row: list[Any] = [_text(v) for v in c]
        for m in bench.metrics:
            s = stats[m.key]
            row += [num(s.mean), num(s.spread), s.n]
        rows.append(row)
    return _csv(rows)


def _runs_csv(records: Sequence[Record]) -> str:
    if not records:
        return ""
    header = list(dict.fromkeys(k for r in records for k in r))
    header.remove("run_dir")
    header.append("run_dir")
    return _csv([header, *([r.get(k) for k in header] for r in records)])


def _timing_md(bench: Bench, p: Plan, by_cell: Mapping[tuple[Any, ...], list[Record]]) -> str:
    cell_axes = [*bench.rows, *bench.columns]
    params = [*bench.params, *([bench.selection.param] if bench.selection else [])]
    header = [*cell_axes, *params, "runs", "s/run (mean)", "ms/step (mean)", "total s"]
    body, total = [], 0.0
    for c, rs in by_cell.items():
        secs = [s for s in (_number(r.get("seconds")) for r in rs) if s is not None]
        steps = [s for s in (_number(r.get("seconds_per_step")) for r in rs) if s is not None]
        total += sum(secs)
        used = [", ".join(_text(v) for v in dict.fromkeys(r[q] for r in rs)) or "—" for q in params]
        sel = bench.selection
        if not rs and sel is not None and set(p.axes) - set(sel.on_first) <= set(cell_axes):
            chosen = p.chosen.get(_group(sel, dict(zip(cell_axes, c, strict=True)), p.axes))
            used[-1] = "—" if chosen is None else _text(chosen)  # decided, not run yet
        body.append(
            [
                *(_text(v) for v in c),
                *used,
                str(len(rs)),
                f"{statistics.fmean(secs):.1f}" if secs else "—",
                f"{1000 * statistics.fmean(steps):.1f}" if steps else "—",
                f"{sum(secs):.0f}",
            ]
        )
    table = markdown_table(header, body, left=len(cell_axes))
    return table + f"\n\nTotal training time of these runs: {total / 60:.1f} min."


def _missing_md(bench: Bench, p: Plan, missing: Sequence[tuple[str, str]]) -> str:
    lines = [f"# Missing runs ({len(missing)})", ""]
    if p.pending and bench.selection is not None:
        sel = bench.selection
        first = ", ".join(f"{a} {_text(p.axes[a][0])}" for a in sel.on_first)
        lines += [
            f"The selection of {sel.param} (on {first}) is not finished yet; the main runs are "
            "not planned yet. Unfinished selection runs:",
            "",
        ]
    lines += [f"- {name}: {status}" for name, status in missing] or ["None: every run is finished."]
    return "\n".join(lines)


def _per_axis_md(
    bench: Bench,
    p: Plan,
    axis: str,
    by_cell: Mapping[tuple[Any, ...], list[Record]],
    cells: Mapping[tuple[Any, ...], Mapping[str, Stat]],
    total: int,
) -> str:
    cell_axes = [*bench.rows, *bench.columns]
    values = [v for v in p.axes[axis] if any(c[axis] == v for c in p.grid)]
    blocks = []
    for m in bench.metrics:
        header = [" ".join(cell_axes), *(bench.label(axis, v) for v in values), "Average"]
        body = [
            [_cell_label(bench, cell_axes, c)]
            + [format_values([r.get(m.key) for r in rs if r[axis] == v], m.fmt) for v in values]
            + [format_stat(cells[c][m.key], m.fmt, total, spread=False)]
            for c, rs in by_cell.items()
        ]
        blocks.append(f"### {m.title}\n\n" + markdown_table(header, body))
    note = f"Each cell: mean ± std over the runs of that {axis} (e.g. over seeds)."
    return note + "\n\n" + "\n\n".join(blocks)


def _selection_md(bench: Bench, p: Plan) -> str:
    sel = bench.selection
    assert sel is not None
    group_axes = [a for a in p.axes if a not in sel.on_first]
    first = ", ".join(f"{a} {_text(p.axes[a][0])}" for a in sel.on_first)
    header = [*group_axes, *(f"{sel.param} {_text(c)}" for c in sel.candidates), "chosen"]
    body = []
    for g, scores in p.scores.items():
        shown = [
            "—" if c not in scores else ("n/a" if scores[c] is None else f"{scores[c]:.4g}")
            for c in sel.candidates
        ]
        chosen = _text(p.chosen[g]) if g in p.chosen else "pending"
        body.append([*(_text(v) for v in g), *shown, chosen])
    best = "highest" if sel.higher_is_better else "lowest"
    text = f"{sel.param} chosen per cell on {first}: the {best} `{sel.score}`."
    return text + "\n\n" + markdown_table(header, body, left=len(group_axes))


def _comparison_md(bench: Bench, comparisons: Mapping[str, list[Comparison]]) -> str:
    cell_axes = [*bench.rows, *bench.columns]
    unit = "/".join(bench.average_over) or "cell"
    blocks = []
    for ref in bench.references:
        metric = next((m for m in bench.metrics if m.key == ref.metric), Metric(ref.metric))
        text = f"{metric.title}, ours vs {ref.label}"
        if any(k in bench.average_over for k in ref.keys):
            text += " on the same " + unit
        if ref.baseline:
            base = ", ".join(f"{a} {bench.label(a, v)}" for a, v in ref.baseline.items())
            text += f"; gain = cell − the cell with {base} (± std over {unit})"
        header = [*cell_axes, f"{unit}s", "ours", ref.label]
        if ref.baseline:
            header += ["ours gain", f"{ref.label} gain"]
        body = []
        for c in comparisons[ref.label]:
            row = [bench.label(a, v) for a, v in zip(cell_axes, c.cell, strict=True)]
            row += [str(c.units), format(c.ours, ref.fmt)]
            row.append("—" if c.reference is None else format(c.reference, ref.fmt))
            if ref.baseline:
                gain = "—"
                if c.gain is not None and c.gain.mean is not None:
                    gain = format(c.gain.mean, "+" + ref.fmt)
                    if c.gain.spread is not None:
                        gain += f" ± {c.gain.spread:{ref.fmt}}"
                rg = c.reference_gain
                row += [gain, "—" if rg is None else format(rg, "+" + ref.fmt)]
            body.append(row)
        blocks.append(text + ".\n\n" + markdown_table(header, body, left=len(cell_axes)))
    return "\n\n".join(blocks)


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
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
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


# --- the command line's entry point ----------------------------------------------------------


@dataclass
class RunOptions:
    """What every ``iga bench NAME`` / ``iga experiment NAME`` takes besides its own options."""

    tier: str = field(
        default="cpu",
        metadata={
            "help": "tier name (cpu, paper); bench image and rivals also take a JSON tier "
            "file, experiment function1d-* a plan file (--print-plan)"
        },
    )
    out: str = field(default="", metadata={"help": "results folder (default: the benchmark's)"})
    report: str = field(
        default="",
        metadata={
            "help": "folder under <out>/<tier> for the tables (default: the benchmark's), "
            "so a subset does not overwrite the main table"
        },
    )
    executor: str = field(default="inprocess", metadata={"help": "inprocess or ray"})
    ray_address: str = field(default="", metadata={"help": "Ray cluster address (empty: local)"})
    cpus_per_run: float = field(default=1.0, metadata={"help": "Ray: CPUs reserved per run"})
    threads: int = field(default=0, metadata={"help": "torch threads per run (0: torch default)"})
    max_runs: int = field(default=0, metadata={"help": "launch at most this many runs (0: all)"})
    aggregate_only: bool = field(default=False, metadata={"help": "only rebuild the reports"})
    no_figures: bool = field(default=False, metadata={"help": "skip the figures"})
    quiet: bool = field(default=False, metadata={"help": "no progress bars"})

    def __post_init__(self) -> None:
        from iga.sweep import EXECUTORS

        if self.executor not in EXECUTORS:
            raise ValueError(
                f"unknown --executor {self.executor!r}; choose {' or '.join(EXECUTORS)}"
            )
        if self.report and (
            self.report in (".", "..", "runs")
            or not all(c.isalnum() or c in "_.-" for c in self.report)
        ):
            raise ValueError(
                f"--report must be a plain folder name other than 'runs'; got {self.report!r}"
            )
        for name in ("threads", "max_runs"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be >= 0; got {getattr(self, name)}"
                )


def execute(setup: Mapping[str, Any], ro: RunOptions, log: Callable[[str], None] = print) -> Report:
    """Plan, run (unless ``--aggregate-only``) and report one benchmark.

    ``setup`` holds :func:`plan`'s arguments from the benchmark's own options (``bench``,
    ``tier``, ``tier_config``, ``axes``, ``where``, ``options``) and its default ``report``
    folder name.
    """
    from iga.sweep import make_executor

    b: Bench = setup["bench"]
    out = ro.out or f"benchmarks/results/{b.name}"
    options = {**setup.get("options", {}), "threads": ro.threads}
    p = plan(
        b,
        setup["tier"],
        out,
        tier_config=setup.get("tier_config"),
        axes=setup.get("axes"),
        where=setup.get("where"),
        options=options,
    )
    if not ro.aggregate_only:
        kw: dict[str, Any] = {}
        if ro.executor == "ray":
            kw = {"address": ro.ray_address or None, "num_cpus": ro.cpus_per_run}
        try:
            executor = make_executor(ro.executor, **kw)
        except ImportError as e:  # --executor ray without Ray: a one-line error
            raise ValueError(str(e)) from None
        log(
            f"{b.name}, tier {p.tier}: {len(p.specs)} runs planned"
            + (" (selection first)" if p.pending else "")
        )
        p, reports = run(b, p, executor, max_runs=ro.max_runs, progress=not ro.quiet, log=log)
        for r in reports:
            log(r.summary())
        failures = [(o.spec.name, o.error or "") for r in reports for o in r.by_status("failed")]
    else:
        failures = []
    out_dir = p.root / ro.report if ro.report else setup.get("report_dir")
    out_dir = out_dir or p.root / (setup.get("report") or b.name)
    report = aggregate(b, p, out_dir, figures=not ro.no_figures)
    report.failures = failures
    log(report.table)
    log(
        f"{report.finished}/{report.expected} runs finished; reports in {report.out_dir}"
        + (f"; {len(report.missing)} missing (see missing.md)" if report.missing else "")
    )
    return report

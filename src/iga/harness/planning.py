"""Planning: a bench's axes at one tier expanded into runs in launch order (:class:`Plan`,
:class:`PlannedRun`, :func:`plan`, :func:`replan`), the selection runs first while a
:class:`~iga.harness.declare.Selection` is pending, and its choice (:func:`choose`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iga.harness.declare import Bench, Cell, Context, Selection, resolve_tier
from iga.harness.stats import _number
from iga.sweep import RunSpec, collect


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

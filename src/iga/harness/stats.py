"""The arithmetic over run records (plain dicts: a cell's values plus a summary's numbers):
a table cell's mean and spread (:class:`Stat`, :func:`summarize`), its text
(:func:`format_stat`, :func:`format_values`), the complete units (:func:`complete_units`) and
ours beside a published reference (:class:`Comparison`, :func:`compare`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iga.harness.declare import Reference


def _number(value: Any) -> float | None:
    """A finite float, or None (missing, null, NaN, inf, non-numeric)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


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

"""What a benchmark declares: :class:`Bench` (tiers, axes, how a cell becomes a run, how the
finished runs are tabulated) and its parts :class:`Metric`, :class:`Selection`,
:class:`Reference` and :class:`Context`; the record types ``Cell`` and ``Record``;
:func:`resolve_tier` and :func:`cell_path`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iga.sweep import RunSpec

if TYPE_CHECKING:  # for an annotation only: iga.harness.report imports this module
    from iga.harness.report import Report

Cell = dict[str, Any]
"""One point of the axes: ``{axis: value}``, plus the run parameters (``params``, the selected
value) once planned."""
Record = dict[str, Any]
"""One finished run: its cell, ``run`` (name), ``run_dir`` and the summary values it keeps."""

TIMING_KEYS = ("seconds", "seconds_per_step")
"""Summary keys every record keeps: the run's wall time and time per step (for timing.md)."""


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


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)

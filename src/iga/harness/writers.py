"""The text of the report files :func:`iga.harness.report.aggregate` writes: ``table.md``,
``table.csv``, ``runs.csv``, ``timing.md``, ``missing.md``, ``per_<axis>.md``,
``selection.md`` and ``comparison.md``, and :func:`markdown_table`.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from iga.harness.declare import Bench, Metric, Record, _text
from iga.harness.planning import Plan, _group
from iga.harness.stats import Comparison, Stat, _number, format_stat, format_values


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A Markdown table; the first ``left`` columns left-aligned, the others right-aligned."""
    align = ["---" if i < left else "---:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(str(c) for c in line) + " |" for line in lines)


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

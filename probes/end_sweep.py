#!/usr/bin/env python
"""IGA's ``end`` against overfitting (issue 26): one table of a benchmark's score per row for
vanilla, IGA at the tier's ``end`` and IGA at each swept ``end``.

Reads ``runs.csv`` of the tier's own report (vanilla and IGA at the tier's ``end``) and of
each ``--end K`` tier's report (``iga bench ct|inpainting ... --end K`` runs in the tier
``<tier>_endK``), keeps the rows of the selected arch(s), averages each score over
``--over`` (slices or images; ``--split``: a row per slice or image) and writes ``OUT``
(markdown):

    python probes/end_sweep.py results/ct/cpu/table_a20 results/ct/cpu_end{2,5,10}/table \\
        --rows arch,angles --over slice --scores psnr,psnr_oracle --out results/ct/end_sweep.md
    python probes/end_sweep.py results/inpainting/cpu/table \\
        results/inpainting/cpu_end{1,2,5,10}/table --rows arch,keep --over image \\
        --scores psnr_heldout,heldout_best --out results/inpainting/end_sweep.md

Each swept tier's ``end`` is read from its folder name (``cpu_end5`` -> 5), the tier's own
from its IGA runs' ``config.json``. Only seed 0 is read; a cell missing a run is left empty.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics as st
from collections import defaultdict
from pathlib import Path

from iga.io import read_csv


def _end_of_tier(report: Path) -> int:
    match = re.search(r"_end(\d+)", report.parent.name)
    if not match:
        raise SystemExit(f"{report}: no _endK in the tier folder {report.parent.name!r}")
    return int(match.group(1))


def _base_end(report: Path, rows: list[dict[str, str]]) -> int:
    ends = set()
    for r in rows:
        if r["method"] == "iga":
            cfg = json.loads((report / r["run_dir"] / "config.json").read_text())
            ends.add(int(cfg["method"]["end"]))
    if len(ends) != 1:
        raise SystemExit(f"{report}: IGA runs with ends {sorted(ends)}; expected one")
    return ends.pop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", type=Path, help="the tier's own report folder (has runs.csv)")
    ap.add_argument("sweep", type=Path, nargs="+", help="report folders of the --end K tiers")
    ap.add_argument("--rows", default="arch,angles", help="columns that form a row")
    ap.add_argument("--over", default="slice", help="column averaged over")
    ap.add_argument("--scores", default="psnr,psnr_oracle", help="scores, one table each")
    ap.add_argument("--split", action="store_true", help="a row per --over value, no mean")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    keys, scores = a.rows.split(",") + ([a.over] if a.split else []), a.scores.split(",")
    # each swept tier's IGA runs (seed 0), by end; the base tier's runs of the same archs
    swept = {
        _end_of_tier(report): [
            r for r in read_csv(report / "runs.csv") if r["seed"] == "0" and r["method"] == "iga"
        ]
        for report in sorted(a.sweep, key=_end_of_tier)
    }
    arches = {r["arch"] for rows in swept.values() for r in rows}
    base = [r for r in read_csv(a.base / "runs.csv") if r["seed"] == "0" and r["arch"] in arches]
    # column label -> rows of runs.csv
    columns: dict[str, list[dict[str, str]]] = {
        "vanilla": [r for r in base if r["method"] == "vanilla"],
        f"IGA, end {_base_end(a.base, base)}": [r for r in base if r["method"] == "iga"],
        **{f"IGA, end {end}": rows for end, rows in swept.items()},
    }
    # how many --over values each row has in the base tier (a mean over fewer is left empty)
    n_over: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for r in base:
        n_over[tuple(r[k] for k in keys)].add(r[a.over])
    lines = [
        "IGA's `end` against overfitting: seed 0, "
        + (f"per {a.over}" if a.split else f"mean over {a.over}")
        + f" (`python probes/end_sweep.py {a.base} {' '.join(map(str, a.sweep))} --rows "
        f"{a.rows} --over {a.over}{' --split' if a.split else ''} --scores {a.scores} "
        f"--out {a.out}`).",
    ]
    for score in scores:
        table: dict[tuple[str, ...], dict[str, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for label, rows in columns.items():
            for r in rows:
                if r.get(score):
                    table[tuple(r[k] for k in keys)][label].append(float(r[score]))
        lines += [
            "",
            f"### {score}",
            "",
            f"| {' / '.join(keys)} | " + " | ".join(columns) + " |",
            "| --- |" + " ---: |" * len(columns),
        ]
        for row in sorted(table, key=lambda t: tuple(float(x) if _num(x) else x for x in t)):
            cells = []
            for label in columns:
                v = table[row].get(label, [])
                full = len(v) == len(n_over.get(row, ()))
                cells.append(f"{st.mean(v):.2f}" if v and full else "")
            lines.append(f"| {' '.join(row)} | " + " | ".join(cells) + " |")
    a.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _num(x: str) -> bool:
    try:
        float(x)
    except ValueError:
        return False
    return True


if __name__ == "__main__":
    main()

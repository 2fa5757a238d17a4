#!/usr/bin/env python
"""Paired seed comparisons of the rivals (issue 23): which method is ahead of which, image by
image and seed by seed, at the lrs the fair protocol chose.

Reads ``REPORT/runs.csv`` of ``iga bench rivals --images 1-3 --seeds 0,1,2 --report REPORT``
(the lr grid on kodim01, seed 0, plus every method at its chosen lr on every image and seed)
and writes ``REPORT/seed_pairs.md``:

    python probes/rivals_seed_pairs.py [results/rivals/cpu/seeds_kodim01-03]

For each arch: every method's best PSNR as the mean over images of its mean over seeds, the
largest standard deviation over seeds of one image, and for the comparisons a user asks about
(Muon + IGA against Muon and against IGA, Muon against IGA, IGA against Adam, ESGD + IGA
against ESGD) the number of (image, seed) pairs where the first is ahead and the paired
differences (same image, same seed: the same initial weights for both methods).
"""

from __future__ import annotations

import argparse
import statistics as st
from collections import defaultdict
from pathlib import Path

from iga.io import read_csv
from iga.tasks.image.rivals import LABELS as RIVAL_LABELS

# The methods compared, in table order; their names are the rivals benchmark's labels.
METHODS = ("adam", "adam-cos", "iga", "muon", "muon+iga", "esgd", "esgd+iga")
ARCHS, LABELS = RIVAL_LABELS["arch"], RIVAL_LABELS["method"]
PAIRS = (
    ("muon+iga", "muon"),
    ("muon+iga", "iga"),
    ("muon", "iga"),
    ("iga", "adam"),
    ("esgd+iga", "esgd"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", nargs="?", default="results/rivals/cpu/seeds_kodim01-03")
    report = Path(ap.parse_args().report)
    rows = read_csv(report / "runs.csv")
    # The chosen lr of a method is the rank its runs at seeds > 0 use.
    chosen = {(r["arch"], r["method"]): r["rank"] for r in rows if int(r["seed"]) > 0}
    psnr: dict[tuple[str, str], dict[tuple[str, int], float]] = defaultdict(dict)
    for r in rows:
        if chosen.get((r["arch"], r["method"])) == r["rank"] and r["psnr_best"]:
            psnr[(r["arch"], r["method"])][(r["image"], int(r["seed"]))] = float(r["psnr_best"])
    images = sorted({i for v in psnr.values() for i, _ in v})
    seeds = sorted({s for v in psnr.values() for _, s in v})
    out = [
        f"Best PSNR (dB), {', '.join(images)} × seeds {', '.join(map(str, seeds))}, each method "
        f"at the lr chosen on kodim01 seed 0 (`{report / 'runs.csv'}`; "
        "`python probes/rivals_seed_pairs.py`).\n"
    ]
    for arch, name in ARCHS.items():
        methods = [m for m in METHODS if psnr.get((arch, m))]
        if not methods:
            continue
        out += [f"\n### {name}\n", "| method | pairs | mean | largest seed std (one image) |"]
        out.append("| --- | ---: | ---: | ---: |")
        for m in methods:
            v = psnr[(arch, m)]
            per = defaultdict(list)
            for (img, _), x in v.items():
                per[img].append(x)
            mean = st.mean(st.mean(x) for x in per.values())
            spread = max((st.stdev(x) for x in per.values() if len(x) > 1), default=float("nan"))
            out.append(f"| {LABELS[m]} | {len(v)} | {mean:.2f} | {spread:.2f} |")
        out += ["", "| comparison | ahead in | mean paired difference | range |"]
        out.append("| --- | ---: | ---: | --- |")
        for a, b in PAIRS:
            va, vb = psnr.get((arch, a), {}), psnr.get((arch, b), {})
            keys = sorted(set(va) & set(vb))
            if not keys:
                continue
            d = [va[k] - vb[k] for k in keys]
            ahead = sum(x > 0 for x in d)
            out.append(
                f"| {LABELS[a]} vs {LABELS[b]} | {ahead}/{len(keys)} | {st.mean(d):+.2f} | "
                f"{min(d):+.2f} … {max(d):+.2f} |"
            )
    text = "\n".join(out) + "\n"
    (report / "seed_pairs.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

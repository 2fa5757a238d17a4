#!/usr/bin/env python
"""Paired seed comparisons of IGA against vanilla on the inverse problems (issue 26): in how
many (image, seed) pairs IGA is ahead, and by how much, per arch and keep ratio, factor or
number of projections.

Reads ``REPORT/runs.csv`` of ``iga bench inpainting|superres --images 1-3 --methods
vanilla,iga --seeds 0,1,2 --report seeds --aggregate-only`` (or ``iga bench ct --angles 20
--methods vanilla,iga --seeds 0,1,2 --report seeds_a20 --aggregate-only``) and writes
``REPORT/seed_pairs.md``:

    python probes/inverse_seed_pairs.py results/inpainting/cpu/seeds
    python probes/inverse_seed_pairs.py results/superres/cpu/seeds
    python probes/inverse_seed_pairs.py results/ct/cpu/seeds_a20

A pair is one image (or CT slice) and one seed: the same initial weights for both methods
(and, for inpainting, the same kept pixels), so the paired difference removes what the seed
changes for both. Two scores: the weights a user can pick
(best training PSNR, or best sinogram fit for CT) and the best along training (an early stop
that knows the truth).
"""

from __future__ import annotations

import argparse
import statistics as st
from collections import defaultdict
from pathlib import Path

from iga.io import read_csv
from iga.tasks.image.inverse_bench import ARCH_LABELS

SCORES = {
    "keep": (("psnr_heldout", "held-out PSNR, picked weights"), ("heldout_best", "best along")),
    "factor": (("psnr_full", "full-size PSNR, picked weights"), ("heldout_best", "best along")),
    "angles": (("psnr", "slice PSNR, picked weights"), ("psnr_oracle", "best along")),
}
TITLES = {"keep": "keep", "factor": "factor", "angles": "projections"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path)
    report = ap.parse_args().report
    rows = read_csv(report / "runs.csv")
    first = rows[0] if rows else {}
    axis = next((a for a in ("keep", "angles") if first.get(a)), "factor")
    where = "slice" if axis == "angles" else "image"
    score: dict[tuple[str, str, str], dict[tuple[str, int], float]] = defaultdict(dict)
    for r in rows:
        for key, _ in SCORES[axis]:
            if r[key]:
                cell = (r["arch"], r[axis], r["method"], key)
                score[cell][(r[where], int(r["seed"]))] = float(r[key])
    images = sorted({r[where] for r in rows})
    seeds = sorted({int(r["seed"]) for r in rows})
    title = TITLES[axis]
    out = [
        f"IGA against vanilla (Adam), paired by {where} and seed: {', '.join(images)} × seeds "
        f"{', '.join(map(str, seeds))} (`{report}/runs.csv`; "
        f"`python probes/inverse_seed_pairs.py {report}`).\n",
        f"| arch | {title} | score | IGA ahead | mean paired difference (dB) | range (dB) |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    values = sorted({r[axis] for r in rows}, key=float)
    for arch, name in ARCH_LABELS.items():
        for v in values:
            for key, label in SCORES[axis]:
                a = score.get((arch, v, "vanilla", key), {})
                b = score.get((arch, v, "iga", key), {})
                pairs = sorted(set(a) & set(b))
                if not pairs:
                    continue
                diff = [b[p] - a[p] for p in pairs]
                shown = {"keep": f"{100 * float(v):g} %", "factor": f"×{v}"}.get(axis, v)
                out.append(
                    f"| {name} | {shown} | {label} | {sum(d > 0 for d in diff)} of {len(diff)} "
                    f"| {st.mean(diff):+.2f} | {min(diff):+.2f} to {max(diff):+.2f} |"
                )
    (report / "seed_pairs.md").write_text("\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()

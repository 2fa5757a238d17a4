#!/usr/bin/env python
# ruff: noqa: E501
"""Time to quality of the rivals (issue 23): PSNR against seconds, each method at its chosen lr.

The rivals' runs shared the machine (1 thread each, two at a time), so their own clocks say
little. Their *steps* are exact, and the cost of one step of each method was measured alone,
in one run where the methods take turns (``probes/rivals_step_cost.py``, 2 threads:
``step_cost.md``). This script puts the two together:

    seconds at step t = t × (that method's ms per step, measured alone) [+ FreSh's selection]

Weight scaling and FreSh train the same model with the same optimiser as Adam (or IGA), so
their step costs are Adam's (IGA's); FreSh adds its selection before the first step
(``--fresh-seconds``: the selection times of ``evidence/fresh/EVIDENCE.md``).

Reads ``<results>/fair/curves.csv`` (best PSNR so far every 10 steps, seed 0, kodim01) and
``<results>/step_cost.md``; writes ``<results>/fair/time_to_quality.md`` and
``time_to_quality.png``:

    python probes/rivals_time_to_quality.py [--results results/rivals/cpu]

Columns: Adam's best PSNR over its 2000 steps (the target), each method's seconds to first reach it and the ratio
to Adam's whole run, and each method's best PSNR within Adam's whole-run time (equal time).
"""

from __future__ import annotations

import argparse
import csv
import math
import re
from collections import defaultdict
from pathlib import Path

from iga.tasks.image.rivals import RIVALS

ARCH_LABELS = {"relu": "ReLU", "pe": "PE", "siren": "SIREN"}
COST_OF = {"ws": "adam", "ws+iga": "iga", "fresh": "adam", "fresh+iga": "iga"}
"""Recipes whose step is another recipe's step (same model cost and optimiser)."""
COLOURS = {"adam": "C0", "iga": "C0", "adam-cos": "C1", "muon": "C3", "esgd": "C5"}
COLOURS |= {"ws": "C4", "fresh": "C2"}
"""One colour per optimiser or init; the recipe with IGA on top is the same colour, dashed."""


def read_step_cost(path: Path) -> dict[tuple[str, str], float]:
    """(arch, method) -> ms per step, from the table of ``rivals_step_cost.py``."""
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("|")]
    methods = [c.strip() for c in lines[0].strip("|").split("|")][1:]
    cost = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        for m, c in zip(methods, cells[1:], strict=True):
            cost[(cells[0], m)] = float(re.match(r"([\d.]+) ms", c).group(1))
    return cost


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default="results/rivals/cpu")
    ap.add_argument("--image", default="kodim01")
    ap.add_argument(
        "--fresh-seconds",
        default="pe=1.9,siren=6.2",
        help="FreSh's selection time per arch (s), added before its first step (default: "
        "kodim01 at 192x128 in evidence/fresh/EVIDENCE.md, 1 thread beside another run: an "
        "upper bound)",
    )
    ns = ap.parse_args()
    root = Path(ns.results)
    cost = read_step_cost(root / "step_cost.md")
    fresh_s = {k: float(v) for k, v in (kv.split("=") for kv in ns.fresh_seconds.split(","))}
    curves: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    with open(root / "fair" / "curves.csv") as f:
        for r in csv.DictReader(f):
            if r["image"] == ns.image:
                curves[(r["arch"], r["method"])].append(
                    (int(r["step"]), float(r["psnr_best_so_far"]))
                )

    def seconds(arch: str, method: str, step: int) -> float:
        ms = cost[(arch, COST_OF.get(method, method))]
        start = fresh_s.get(arch, 0.0) if method.startswith("fresh") else 0.0
        return start + step * ms / 1000

    archs = [a for a in ARCH_LABELS if (a, "adam") in curves]
    lines = [
        f"Time to quality on {ns.image} (cpu tier: 192×128, width 64, 2000 steps; each method "
        "at its chosen lr, seed 0). Seconds = steps × the method's step cost measured alone at "
        "2 threads (`step_cost.md`), plus FreSh's selection before its first step; made by "
        "`python probes/rivals_time_to_quality.py`.",
        "",
        "| arch | method | best PSNR, 2000 steps (dB) | s to reach Adam's | × Adam's run time | best PSNR within Adam's run time |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(archs), figsize=(5.2 * len(archs), 4.2), squeeze=False)
    for ax, arch in zip(axes[0], archs, strict=True):
        adam = curves[(arch, "adam")]
        target = adam[-1][1]
        adam_run = seconds(arch, "adam", adam[-1][0])
        for method in RIVALS:
            pts = curves.get((arch, method))
            if not pts:
                continue
            reach = next((seconds(arch, method, s) for s, v in pts if v >= target), math.nan)
            at_equal = max(
                (v for s, v in pts if seconds(arch, method, s) <= adam_run), default=math.nan
            )
            lines.append(
                f"| {ARCH_LABELS[arch]} | {RIVALS[method].label} | {pts[-1][1]:.2f} | "
                + ("never" if math.isnan(reach) else f"{reach:.1f}")
                + " | "
                + ("—" if math.isnan(reach) else f"{reach / adam_run:.2f}")
                + f" | {at_equal:.2f} |"
            )
            ax.plot(
                [seconds(arch, method, s) for s, _ in pts],
                [v for _, v in pts],
                label=RIVALS[method].label,
                linestyle="--" if "iga" in method else "-",
                color=COLOURS[method.removesuffix("+iga")],
                linewidth=1.3,
            )
        ax.axhline(target, color="0.6", linewidth=0.8, linestyle=":")
        ax.axvline(adam_run, color="0.6", linewidth=0.8, linestyle=":")
        ax.set_title(f"{ns.image}, {ARCH_LABELS[arch]}")
        ax.set_xlabel("seconds (step cost measured alone, 2 threads)")
        ax.set_ylabel("best PSNR so far (dB)")
        lo = min(v for (a, _), pts in curves.items() if a == arch for _, v in pts[len(pts) // 10 :])
        ax.set_ylim(bottom=max(lo - 1, 10))
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(root / "fair" / "time_to_quality.png", dpi=110)
    (root / "fair" / "time_to_quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""The held-out curves of ``iga bench ct``: the slice's PSNR (never trained on) against the
training step, one panel per slice (rows) and number of angles (columns), one line per arch
and method, with filtered back-projection as a flat line. Reads the runs' ``metrics.csv``
and ``summary.json`` under the results folder and writes ``heldout_curves.png`` there
(``--methods``: which methods' folders to draw, ``muon@0.01`` included; ``--name``: the
figure's file name):

    python probes/ct_curves.py results/ct/cpu
    python probes/ct_curves.py results/ct/cpu --methods iga,muon,muon+iga --name rivals.png
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from iga.io import save_figure

COLOURS = {"relu": "tab:blue", "pe": "tab:orange", "siren": "tab:green"}
STYLES = {
    "vanilla": ":",
    "iga": "-",
    "fr": "--",
    "bn": "-.",
    "muon": (0, (5, 1)),
    "muon+iga": (0, (3, 1, 1, 1)),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", type=Path, default=Path("results/ct/cpu"))
    ap.add_argument("--methods", default="vanilla,iga", help="comma-separated method folders")
    ap.add_argument("--name", default="heldout_curves.png", help="the figure's file name")
    ns = ap.parse_args()
    root, methods = ns.root, [m for m in ns.methods.split(",") if m]
    runs = sorted(
        s for s in (root / "runs").glob("*/a*/*/*/seed0/summary.json") if s.parts[-3] in methods
    )
    if not runs:
        raise SystemExit(f"no finished runs under {root / 'runs'}")
    panels: dict[tuple[str, str], list[Path]] = {}
    for s in runs:
        slice_, angles = s.parts[-6], s.parts[-5]
        panels.setdefault((slice_, angles), []).append(s.parent)
    slices = sorted({k[0] for k in panels})
    angles = sorted({k[1] for k in panels}, key=lambda a: int(a[1:]))
    fig = Figure(figsize=(5.2 * len(angles), 4.0 * len(slices)), dpi=110)
    grid = fig.subplots(len(slices), len(angles), squeeze=False)
    for (i, j), ax in ((ij, grid[ij]) for ij in np.ndindex(grid.shape)):
        key = (slices[i], angles[j])
        if key not in panels:
            ax.set_axis_off()
            continue
        fbp = None
        for run in sorted(panels[key]):
            arch, method = run.parts[-3], run.parts[-2]
            with (run / "metrics.csv").open() as f:
                rows = [r for r in csv.DictReader(f) if r.get("psnr")]
            summary = json.loads((run / "summary.json").read_text())
            fbp = summary["fbp_psnr"]
            ax.plot(
                [int(r["step"]) for r in rows],
                [float(r["psnr"]) for r in rows],
                color=COLOURS.get(arch, "black"),
                linestyle=STYLES.get(method, (0, (1, 2))),  # muon@0.01: finely dotted
                label=f"{arch} {method}",
            )
        if fbp is not None:
            ax.axhline(fbp, color="grey", linewidth=1, label=f"FBP {fbp:.2f} dB")
        ax.set_title(f"{key[0]}, {key[1][1:]} angles")
        ax.set_xlabel("step")
        ax.set_ylabel("held-out PSNR of the slice (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    out = save_figure(fig, root / ns.name)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

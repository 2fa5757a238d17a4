#!/usr/bin/env python
"""The held-out curves of ``iga bench inpainting`` and ``iga bench superres``: the PSNR on
what training never sees (inpainting: the held-out pixels; super-resolution: the
full-resolution image) against the training step, mean over the images, one panel per arch
(rows) and keep ratio or factor (columns), one line per method. A peak followed by a decline
is overfitting; the dot on each line is where the weights a user can pick (best *training*
PSNR) land on average.

The runs' ``metrics.csv`` files are not committed (140 kB each); this script keeps the
held-out column of every run, thinned to the logged steps, in ``heldout_curves.csv`` beside
the table, and draws the figure from it:

    python probes/heldout_curves.py results/inpainting/cpu
    python probes/heldout_curves.py results/superres/cpu --from-curves   # redraw only
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path

from matplotlib.figure import Figure

from iga.io import save_figure

ARCHS = ("relu", "pe", "siren")
LABELS = {"relu": "ReLU", "pe": "PE", "siren": "SIREN"}
METHODS = {
    "vanilla": ("Vanilla", "tab:gray", ":"),
    "fr": ("+FR", "tab:purple", "--"),
    "bn": ("+BN", "tab:green", "-."),
    "iga": ("+IGA", "tab:red", "-"),
    "muon": ("Muon", "tab:blue", (0, (5, 1))),
    "muon+iga": ("Muon + IGA", "tab:orange", "-"),
}


def style(method: str) -> tuple[str, str, object]:
    """(label, colour, line style) of a method folder; ``muon@0.01`` (a recipe at its own lr)
    takes its recipe's colour, dotted, and names the lr."""
    base, _, lr = method.partition("@")
    label, colour, line = METHODS.get(base, (base, "black", "-"))
    return (f"{label} (lr {lr})", colour, ":") if lr else (label, colour, line)


def order(methods: set[str]) -> list[str]:
    """The recipes in :data:`METHODS` order, each followed by its runs at their own lrs."""
    rank = {m: i for i, m in enumerate(METHODS)}
    return sorted(methods, key=lambda m: (rank.get(m.partition("@")[0], len(rank)), m))


FIELDS = ["image", "value", "arch", "method", "seed", "step", "psnr_heldout", "picked_step"]


def collect(root: Path) -> list[dict[str, str]]:
    """One row per logged step of every finished run under ``root/runs``."""
    rows = []
    for summary in sorted((root / "runs").glob("*/*/*/*/seed*/summary.json")):
        run = summary.parent
        image, value, arch, method, seed = run.parts[-5:]
        picked = json.loads(summary.read_text()).get("best_step")
        with (run / "metrics.csv").open() as f:
            for r in csv.DictReader(f):
                if r.get("psnr_heldout"):
                    rows.append(
                        {
                            "image": image,
                            "value": value,
                            "arch": arch,
                            "method": method,
                            "seed": seed.removeprefix("seed"),
                            "step": r["step"],
                            "psnr_heldout": f"{float(r['psnr_heldout']):.4f}",
                            "picked_step": str(picked),
                        }
                    )
    return rows


def axis_value(folder: str) -> float:
    """A run folder's keep ratio or factor: ``keep0.1`` -> 0.1, ``x2`` -> 2."""
    return float(folder.removeprefix("keep").removeprefix("x"))


def draw(rows: list[dict[str, str]], out: Path, title: str) -> None:
    curves: dict[tuple[str, str, str], dict[int, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    picked: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    seen = set()
    for r in rows:
        if r["seed"] != "0":
            continue
        key = (r["value"], r["arch"], r["method"])
        curves[key][int(r["step"])].append(float(r["psnr_heldout"]))
        if (key, r["image"]) not in seen and r["picked_step"] not in ("", "None"):
            seen.add((key, r["image"]))
            picked[key].append(int(r["picked_step"]))
    values = sorted({k[0] for k in curves}, key=axis_value)
    archs = [a for a in ARCHS if any(k[1] == a for k in curves)]
    fig = Figure(figsize=(5.0 * len(values), 3.6 * len(archs)), dpi=110)
    grid = fig.subplots(len(archs), len(values), squeeze=False)
    for i, arch in enumerate(archs):
        for j, value in enumerate(values):
            ax = grid[i, j]
            for method in order({k[2] for k in curves if k[:2] == (value, arch)}):
                by_step = curves[(value, arch, method)]
                label, colour, line = style(method)
                n = max(len(v) for v in by_step.values())
                steps = sorted(s for s, v in by_step.items() if len(v) == n)
                mean = [statistics.fmean(by_step[s]) for s in steps]
                ax.plot(steps, mean, color=colour, linestyle=line, label=f"{label} ({n} img)")
                if picked[(value, arch, method)]:
                    at = statistics.median(picked[(value, arch, method)])
                    near = min(steps, key=lambda s, at=at: abs(s - at))
                    ax.plot([near], [mean[steps.index(near)]], "o", color=colour, ms=4)
            what = (
                f"keep {100 * float(value[4:]):g} %"
                if value.startswith("keep")
                else (f"×{value[1:]}")
            )
            ax.set_title(f"{LABELS.get(arch, arch)}, {what}", fontsize=10)
            ax.set_xlabel("step")
            ax.set_ylabel("held-out PSNR (dB), mean")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    print(f"wrote {save_figure(fig, out)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="the tier folder, e.g. results/inpainting/cpu")
    ap.add_argument("--from-curves", action="store_true", help="redraw from the CSV alone")
    ns = ap.parse_args()
    path = ns.root / "heldout_curves.csv"
    if ns.from_curves:
        with path.open() as f:
            rows = list(csv.DictReader(f))
    else:
        rows = collect(ns.root)
        if not rows:
            raise SystemExit(f"no finished runs under {ns.root / 'runs'}")
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(rows)
        print(f"wrote {path} ({len(rows)} rows)")
    problem = ns.root.parent.name
    title = {
        "inpainting": "Inpainting: PSNR on the held-out pixels during training (seed 0; dots: "
        "the step a user picks by training PSNR, median over images)",
        "superres": "Super-resolution: full-resolution PSNR during training (seed 0; dots: "
        "the step a user picks by training PSNR, median over images)",
    }.get(problem, problem)
    draw(rows, ns.root / "heldout_curves.png", title)


if __name__ == "__main__":
    main()

"""IGA's step against the vanilla step as the number of groups grows (issue 28).

Each point is one ``iga.overhead.overhead`` call (the engine of ``iga bench overhead``): the
vanilla step and one IGA variant timed in interleaved blocks of ``every`` steps (so a block
holds a run's share of refreshes), the cold first IGA step apart, each phase timed (eNTK,
eigenpairs + S, mixing); the peak memory of each is measured apart (``--memory-only``), in a
fresh process running a few steps. PE, kodim01 resized,
4 layers; the variants are the exact solver (S every step, the paper's) and the fast setting
(subspace solver, 3 iterations, S every 4 steps). Run alone on the machine, 2 threads:

    python probes/scaling.py                 # runs what is missing, then the report
    python probes/scaling.py --report-only   # table, cost model and figure from the JSONs
    python probes/scaling.py --memory-only --threads 1   # peak memory again (3 steps each)

Writes ``results/overhead/scaling/<size>_p<patch>_w<width>_<variant>.json`` (one per point;
a point already there is kept), ``scaling.md`` (table + fitted cost model) and
``scaling.png``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

OUT = Path("results/overhead/scaling")
IMAGE = "../shared/data/kodak/kodim01.png"
GRID = [  # (size, patch): 384, 1,536 and 6,144 groups at 8×8, then 768×512 at coarser patches
    ("192x128", 8),
    ("384x256", 8),
    ("768x512", 8),
    ("768x512", 16),
    ("768x512", 32),
]
WIDTHS = (64, 256)
VARIANTS = {"exact": "exact", "fast": "subspace/i3/e4"}
PHASES = ("entk", "eigh_S", "mix", "select")


def groups(size: str, patch: int) -> int:
    w, h = map(int, size.split("x"))
    return math.ceil(w / patch) * math.ceil(h / patch)


def repeats(size: str, patch: int, variant: str) -> tuple[int, int]:
    """(timed blocks, warm-up steps): fewer where a step takes seconds."""
    n = groups(size, patch)
    if variant == "exact" and n >= 6144:
        return 1, 0  # an exact refresh is ~36 s here (LAPACK on one thread)
    return {"192x128": (20, 5), "384x256": (8, 3)}.get(size, (3, 2))


def name(size: str, patch: int, width: int, variant: str) -> str:
    return f"{size}_p{patch}_w{width}_{variant}"


def measure(threads: int) -> None:
    from iga.overhead import OverheadConfig, overhead

    OUT.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        for size, patch in GRID:
            for variant, spec in VARIANTS.items():
                path = OUT / f"{name(size, patch, width, variant)}.json"
                if path.is_file():
                    continue
                reps, warm = repeats(size, patch, variant)
                cfg = OverheadConfig(
                    path=IMAGE,
                    archs="pe",
                    size=size,
                    width=width,
                    patch=patch,
                    end=20,
                    repeats=reps,
                    warmup=warm,
                    threads=threads,
                    variants=spec,
                )
                print(f"{path.stem} ({groups(size, patch)} groups)…", file=sys.stderr, flush=True)
                res = overhead(cfg)["pe"]
                res.update(size=size, patch=patch, variant=variant, spec=spec)
                res["torch"] = torch.__version__
                path.write_text(json.dumps(res, indent=2) + "\n")


MEMORY_STEPS = 3
"""Steps of each fresh process of ``--memory-only`` (the first refresh and two more)."""


def memory(threads: int) -> None:
    """Measure the peak RSS of vanilla and the variant of every point again, each in a fresh
    process running :data:`MEMORY_STEPS` steps, and store it in the point's JSON."""
    from iga.overhead import OverheadConfig, peak_memory

    for path in sorted(OUT.glob("*.json")):
        r = json.loads(path.read_text())
        if r.get("memory_steps") == MEMORY_STEPS:
            continue
        print(f"memory of {path.stem}…", file=sys.stderr, flush=True)
        cfg = OverheadConfig(
            path=IMAGE,
            archs="pe",
            size=r["size"],
            width=r["width"],
            patch=r["patch"],
            end=20,
            repeats=MEMORY_STEPS - 1,
            warmup=1,
            threads=threads,
            variants=r["spec"],
        )
        base = peak_memory(cfg, "pe", "vanilla")
        peak = peak_memory(cfg, "pe", r["spec"])
        v = r["variants"][r["spec"]]
        r["vanilla_peak_mb"], v["peak_mb"], v["memory_ratio"] = (
            base / 2**20,
            peak / 2**20,
            peak / base,
        )
        r["memory_steps"] = MEMORY_STEPS
        path.write_text(json.dumps(r, indent=2) + "\n")


def load() -> list[dict]:
    rows = []
    for p in sorted(OUT.glob("*.json")):
        r = json.loads(p.read_text())
        v = r["variants"][r["spec"]]
        rows.append(
            {
                "size": r["size"],
                "patch": r["patch"],
                "n": r["n_groups"],
                "width": r["width"],
                "variant": r["variant"],
                "vanilla_ms": r["vanilla_ms"],
                "iga_ms": v["iga_ms"],
                "ratio": v["ratio"],
                "first_ms": v["first_step_ms"],
                "phases": v["breakdown_ms"],
                "vanilla_mb": r.get("vanilla_peak_mb"),
                "peak_mb": v.get("peak_mb"),
                "fallbacks": v.get("fallbacks"),
            }
        )
    return rows


def fit(ns: list[float], ts: list[float]) -> tuple[float, float]:
    """Least squares of log t = log c + α log n: (c, α)."""
    import numpy as np

    alpha, logc = np.polyfit(np.log(ns), np.log(ts), 1)
    return float(np.exp(logc)), float(alpha)


def select(rows: list[dict], width: int, variant: str, fine: bool = True) -> list[dict]:
    """The points of one width and variant: the 8×8-patch ones (``fine``) or the others."""
    return [
        r
        for r in rows
        if r["width"] == width and r["variant"] == variant and (r["patch"] == 8) == fine
    ]


def report(rows: list[dict]) -> None:
    key = {(s, p): i for i, (s, p) in enumerate(GRID)}
    rows.sort(key=lambda r: (r["width"], key.get((r["size"], r["patch"]), 99), r["variant"]))
    lines = [
        "| image | patch | groups | width | IGA | vanilla ms | IGA ms | ratio | cold first "
        "step s | eNTK ms | eigenpairs + S ms | mixing ms | vanilla MB | IGA MB |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
        "---: | ---: |",
    ]
    for r in rows:
        ph = r["phases"]
        lines.append(
            f"| {r['size']} | {r['patch']} | {r['n']:,} | {r['width']} | {r['variant']} | "
            f"{r['vanilla_ms']:.0f} | {r['iga_ms']:.0f} | **{r['ratio']:.2f}** | "
            f"{r['first_ms'] / 1e3:.2f} | {ph['entk']:.0f} | {ph['eigh_S']:.0f} | "
            f"{ph['mix']:.1f} | {r['vanilla_mb'] or math.nan:.0f} | "
            f"{r['peak_mb'] or math.nan:.0f} |"
        )
    model = [
        "",
        "Cost model: each phase's time per refresh fitted as c·n^α over the 8×8-patch points "
        "(n = 384, 1,536, 6,144 groups; ms):",
        "",
        "| width | phase | IGA | c (ms) | α |",
        "| ---: | --- | --- | ---: | ---: |",
    ]
    for width in WIDTHS:
        for variant in VARIANTS:
            pts = select(rows, width, variant)
            if len(pts) < 2:
                continue
            for phase in ("entk", "eigh_S"):
                if variant == "fast" and phase == "entk":
                    continue  # the same eNTK as exact's
                c, a = fit([r["n"] for r in pts], [r["phases"][phase] for r in pts])
                label = {"entk": "eNTK", "eigh_S": "eigenpairs + S"}[phase]
                model.append(f"| {width} | {label} | {variant} | {c:.3g} | {a:.2f} |")
    text = "\n".join(lines + model) + "\n"
    (OUT / "scaling.md").write_text(text)
    print(text)
    figure(rows)


def figure(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {64: "-", 256: "--"}
    colors = {"exact": "tab:red", "fast": "tab:blue"}
    for width in WIDTHS:
        for variant in VARIANTS:
            pts = select(rows, width, variant)
            if pts:
                a.plot(
                    [r["n"] for r in pts],
                    [r["ratio"] for r in pts],
                    styles[width],
                    marker="o",
                    color=colors[variant],
                    label=f"{variant}, width {width}",
                )
            other = select(rows, width, variant, fine=False)
            a.scatter(
                [r["n"] for r in other],
                [r["ratio"] for r in other],
                marker="s",
                facecolors="none",
                edgecolors=colors[variant],
            )
    a.axhline(1.0, color="gray", lw=0.8)
    a.axhline(1.25, color="tab:blue", lw=0.8, ls=":", label="goal at width 64 (1.25)")
    a.set(
        xscale="log",
        yscale="log",
        xlabel="groups n (circles: 8×8 patches at 192×128, 384×256, 768×512;\n"
        "squares: 768×512 at 16×16 and 32×32)",
        ylabel="IGA step / vanilla step (block mean)",
        title="Overhead against the number of groups (PE)",
    )
    a.legend(fontsize=8)
    for width in WIDTHS:
        pts = {v: select(rows, width, v) for v in VARIANTS}
        for label, v, phase, color in (
            ("eNTK", "exact", "entk", "tab:green"),
            ("exact eigenpairs", "exact", "eigh_S", "tab:red"),
            ("subspace eigenpairs", "fast", "eigh_S", "tab:blue"),
        ):
            if pts[v]:
                b.plot(
                    [r["n"] for r in pts[v]],
                    [r["phases"][phase] for r in pts[v]],
                    styles[width],
                    marker="o",
                    color=color,
                    label=f"{label}, width {width}",
                )
        if pts["fast"]:
            b.plot(
                [r["n"] for r in pts["fast"]],
                [r["vanilla_ms"] for r in pts["fast"]],
                styles[width],
                marker="x",
                color="black",
                label=f"vanilla step, width {width}",
            )
    b.set(
        xscale="log",
        yscale="log",
        xlabel="groups n (8×8 patches)",
        ylabel="ms per refresh (vanilla: per step)",
        title="Where a refresh's time goes",
    )
    b.legend(fontsize=7)
    from matplotlib.ticker import NullFormatter

    for ax in (a, b):
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks([384, 1536, 6144], ["384", "1,536", "6,144"])
    fig.tight_layout()
    fig.savefig(OUT / "scaling.png", dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--memory-only", action="store_true", help="re-measure the peak memory")
    ap.add_argument("--threads", type=int, default=2)
    ns = ap.parse_args()
    if ns.memory_only:
        memory(ns.threads)
    elif not ns.report_only:
        measure(ns.threads)
    report(load())


if __name__ == "__main__":
    main()

"""Time to quality: best-so-far PSNR against wall-clock time, vanilla against IGA (issue 12).

The runs are ordinary image-benchmark runs in their own results folder, made with the
machine to themselves (2 threads, nothing else running) so that their clocks mean something:

    iga bench image --methods vanilla,iga,iga-sub3-e4 --images 1-3 --threads 2 \\
        --out results/time_to_quality --report runs_report --no-figures

Each run's ``metrics.csv`` holds the training PSNR of every step and the time since its
first step (forward, loss, IGA's work, backward and the optimiser; not the final evaluation).
This script reads them, keeps a thinned copy of every curve in ``curves.csv`` (committed:
the run folders' CSVs are not), and writes ``time_to_quality.md`` and ``time_to_quality.png``:

    python probes/time_to_quality.py [--results results/time_to_quality]
    python probes/time_to_quality.py --from-curves   # redraw from curves.csv alone

(``curves.csv`` keeps every 10th step, so a redraw from it reads each crossing up to 10 steps
late: its time ratios come out a little above those drawn from the full ``metrics.csv``.)

The full-size tier (issue 28; its runs trained outside the repository, one thread each beside
another run, then copied in with their ``metrics.csv``):

    python probes/time_to_quality.py --results results/image --tier full \
        --out results/image/full/time_to_quality

The headline: for each image and arch, the time a method takes to first reach vanilla's
final PSNR (the PSNR of its last step), divided by the time vanilla's whole run took.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

TIER = "cpu"
ARCHS = ("relu", "pe", "siren")
METHOD_NAMES = {"vanilla": "vanilla", "iga": "IGA (exact)", "iga-sub3-e4": "IGA (fast)"}
THIN = 10
"""Keep every THIN-th step of a curve (and its last) in curves.csv."""

Curve = list[tuple[int, float, float]]
"""(step, seconds, PSNR) rows."""


def read_runs(results: Path, tier: str = TIER) -> dict[tuple[str, str, str], Curve]:
    """{(image, arch, method): curve} from every finished seed-0 run under ``results``."""
    curves: dict[tuple[str, str, str], Curve] = {}
    for metrics in sorted((results / tier / "runs").glob("*/*/*/*/seed0/metrics.csv")):
        run = metrics.parent
        if not (run / "summary.json").is_file():
            continue  # unfinished
        image, arch, method = run.parts[-5], run.parts[-4], run.parts[-3]
        with metrics.open() as f:
            rows = [r for r in csv.DictReader(f) if r.get("psnr") and r.get("time")]
        curves[(image, arch, method)] = [
            (int(r["step"]), float(r["time"]), float(r["psnr"])) for r in rows
        ]
    return curves


def write_curves(curves: dict[tuple[str, str, str], Curve], path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "arch", "method", "step", "seconds", "psnr"])
        for (image, arch, method), rows in sorted(curves.items()):
            for i, (step, sec, psnr) in enumerate(rows):
                if i % THIN == 0 or i == len(rows) - 1:
                    w.writerow([image, arch, method, step, f"{sec:.4f}", f"{psnr:.4f}"])


def read_curves(path: Path) -> dict[tuple[str, str, str], Curve]:
    curves: dict[tuple[str, str, str], Curve] = defaultdict(list)
    with path.open() as f:
        for r in csv.DictReader(f):
            key = (r["image"], r["arch"], r["method"])
            curves[key].append((int(r["step"]), float(r["seconds"]), float(r["psnr"])))
    return dict(curves)


def first_time_at(curve: Curve, target: float) -> float | None:
    """Seconds at the first step whose PSNR reaches ``target`` (None: never)."""
    for _, sec, psnr in curve:
        if psnr >= target:
            return sec
    return None


def geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def report(curves: dict[tuple[str, str, str], Curve], command: str, setting: str) -> str:
    images = sorted({k[0] for k in curves})
    methods = [m for m in METHOD_NAMES if m != "vanilla" and any(k[2] == m for k in curves)]
    lines = [
        "# Time to quality",
        "",
        "The time each method takes to first reach vanilla's final PSNR, as a fraction of "
        "vanilla's whole run, per image and arch; < 1 means faster than vanilla. "
        "`—`: never reached. Seconds are the training loop's own clock (`time` in the runs' "
        "`metrics.csv`, thinned into `curves.csv`).",
        "",
        f"Runs: `{command}` (seed 0, {setting}).",
        "",
        "| image | arch | vanilla final PSNR | vanilla s | "
        + " | ".join(
            f"{METHOD_NAMES[m]} s/step ÷ vanilla's | {METHOD_NAMES[m]} time ratio" for m in methods
        )
        + " |",
        "| --- | --- | ---: | ---: | " + " | ".join("---: | ---:" for _ in methods) + " |",
    ]
    ratios: dict[tuple[str, str], list[float]] = defaultdict(list)
    for arch in ARCHS:
        for image in images:
            van = curves.get((image, arch, "vanilla"))
            if not van:
                continue
            target, t_van = van[-1][2], van[-1][1]
            n_van = van[-1][0] + 1
            cells = [image, arch, f"{target:.2f}", f"{t_van:.1f}"]
            for m in methods:
                cur = curves.get((image, arch, m))
                if not cur:
                    cells += ["", ""]
                    continue
                step_ratio = (cur[-1][1] / (cur[-1][0] + 1)) / (t_van / n_van)
                t = first_time_at(cur, target)
                cells.append(f"{step_ratio:.2f}")
                if t is None:
                    cells.append("—")
                else:
                    ratios[(arch, m)].append(t / t_van)
                    cells.append(f"**{t / t_van:.2f}**")
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Geometric mean of the time ratio over the images:", ""]
    lines += ["| arch | " + " | ".join(METHOD_NAMES[m] for m in methods) + " |"]
    lines += ["| --- | " + " | ".join("---:" for _ in methods) + " |"]
    for arch in ARCHS:
        cells = []
        for m in methods:
            r = ratios.get((arch, m), [])
            n = sum(1 for k in curves if k[1] == arch and k[2] == m)
            cells.append(
                f"{geomean(r):.2f}" + ("" if len(r) == n else f" ({len(r)}/{n})") if r else "—"
            )
        lines.append(f"| {arch} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(curves: dict[tuple[str, str, str], Curve], path: Path, tier: str, clock: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = sorted({k[0] for k in curves})
    archs = [a for a in ARCHS if any(k[1] == a for k in curves)]
    fig, axes = plt.subplots(
        len(images), len(archs), figsize=(4.2 * len(archs), 3.2 * len(images)), squeeze=False
    )
    colours = {"vanilla": "0.35", "iga": "tab:red", "iga-sub3-e4": "tab:blue"}
    for i, image in enumerate(images):
        for j, arch in enumerate(archs):
            ax = axes[i][j]
            van = curves.get((image, arch, "vanilla"))
            for m, label in METHOD_NAMES.items():
                cur = curves.get((image, arch, m))
                if not cur:
                    continue
                best, xs, ys = -math.inf, [], []
                for _, sec, psnr in cur:
                    best = max(best, psnr)
                    xs.append(sec)
                    ys.append(best)
                ax.plot(xs, ys, color=colours[m], label=label, lw=1.3)
            if van:
                ax.axhline(van[-1][2], color="0.6", ls=":", lw=1)
                lo = sorted(p for _, _, p in van)[len(van) // 20]
                ax.set_ylim(bottom=lo)
            ax.set_title(f"{image}, {arch}", fontsize=10)
            ax.grid(alpha=0.3)
            if i == len(images) - 1:
                ax.set_xlabel(f"seconds (training loop, {clock})")
            if j == 0:
                ax.set_ylabel("best PSNR so far (dB)")
    for ax in axes.flat:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="lower right")
            break
    title = f"Time to quality at the {tier} tier (dotted: vanilla's final PSNR)"
    fig.suptitle(title if len(archs) > 1 else title.replace(" (", "\n("))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


class Runs(NamedTuple):
    """What made a tier's runs: the command, the setting and the clock they ran on."""

    command: str
    setting: str
    clock: str


RUNS = {
    "cpu": Runs(
        "iga bench image --methods vanilla,iga,iga-sub3-e4 --images 1-3 --threads 2 "
        "--out results/time_to_quality --report runs_report --no-figures",
        "the cpu tier: 192×128, width 64, patch 8, the paper's lrs",
        "2 threads",
    ),
    "full": Runs(
        "iga bench image --tier full --images 1-3 --archs pe --methods vanilla,iga --threads 1",
        "the full tier: 768×512, width 256, patch 32 (384 groups), 1000 steps, the paper's lrs",
        "1 thread beside another run",
    ),
}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--results", type=Path, default=Path("results/time_to_quality"))
    p.add_argument(
        "--tier", default=TIER, help="the runs' tier folder (cpu_steps40 for --steps 40)"
    )
    p.add_argument("--from-curves", action="store_true", help="redraw from curves.csv only")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: --results)")
    a = p.parse_args(argv)
    out = a.out or a.results
    out.mkdir(parents=True, exist_ok=True)
    runs = RUNS.get(a.tier, RUNS[TIER]._replace(setting=f"the {a.tier} tier", clock="seconds"))
    curves_csv = out / "curves.csv"
    if a.from_curves:
        if not curves_csv.is_file():
            raise SystemExit(f"error: no {curves_csv}; run without --from-curves first")
        curves = read_curves(curves_csv)
    else:
        curves = read_runs(a.results, a.tier)
        if not curves:
            raise SystemExit(f"error: no finished runs under {a.results}; run:\n  {runs.command}")
        write_curves(curves, curves_csv)
    text = report(curves, runs.command, runs.setting)
    (out / "time_to_quality.md").write_text(text)
    figure(curves, out / "time_to_quality.png", a.tier, runs.clock)
    print(text)


if __name__ == "__main__":
    main()

"""How much Exp. 1's numbers move with the seed and the torch thread count (issue 22).

The committed Exp. 1 table (``results/function1d/exp1``) is one seed at one
thread. This script reruns its eight main runs (widths 1024 and 4096; I, S, S̃, S̃_e) as
replicates, one per (seed, threads), each an ordinary ``iga experiment function1d-exp1`` run
from a plan file that differs from the cpu tier only in the seed (the lr 0.1 check runs are
left out), and tabulates the final MSE and Δ_k per run as mean ± std and range:

    python probes/function1d_exp1_spread.py run --seed 1 --threads 1     # one replicate
    python probes/function1d_exp1_spread.py report                      # spread.md/.csv

Replicates go to ``<out>/s<seed>t<threads>/`` (default out:
``results/function1d/exp1_spread``); git keeps each replicate's ``table.csv``,
from which ``report`` rebuilds the spread tables. Two 1-thread replicates may run side by
side; a 2-thread replicate should run alone (the results do not depend on the load, only
the timings do). The spread is over seeds (one replicate each, the lowest thread count); a
second thread count of a seed is compared with the first.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

from iga.tasks.function1d.plans import EXPERIMENTS, plan_to_dict

OUT = Path("results/function1d/exp1_spread")
MAIN = [f"w{w}-{m}" for w in (1024, 4096) for m in ("identity", "ntk-15", "entk-15", "iga-15")]
LABELS = {"identity": "I", "ntk-15": "S", "entk-15": "S̃", "iga-15": "S̃_e"}
COLUMNS = ("mse_final", "delta_3", "delta_5", "delta_10")


def _iga() -> str:
    return str(Path(sys.executable).with_name("iga"))


def plan_for(seed: int) -> dict:
    """The cpu tier's Exp. 1 plan with every run at ``seed`` and without the lr 0.1 checks."""
    plan = plan_to_dict(EXPERIMENTS["function1d-exp1"]("cpu"))
    plan["runs"] = {k: v for k, v in plan["runs"].items() if k in MAIN}
    plan["labels"] = {k: v for k, v in plan["labels"].items() if k in MAIN}
    plan["panels"] = {
        k: [r for r in v if r in MAIN] for k, v in plan["panels"].items() if "lr 0.1" not in k
    }
    for run in plan["runs"].values():
        run["train"]["seed"] = seed
    plan["notes"] = plan["notes"].split(". Check")[0] + f"; seed {seed} (spread, issue 22)"
    return plan


def run(seed: int, threads: int, out: Path) -> None:
    folder = out / f"s{seed}t{threads}"
    folder.mkdir(parents=True, exist_ok=True)
    plan_file = folder / "plan.json"
    plan_file.write_text(json.dumps(plan_for(seed), indent=1) + "\n")
    cmd = [_iga(), "experiment", "function1d-exp1", "--tier", str(plan_file)]
    cmd += ["--threads", str(threads), "--out", str(folder), "--quiet"]
    subprocess.run(cmd, check=True)


def _read(folder: Path) -> dict[str, dict[str, float]]:
    with open(folder / "table.csv", newline="") as f:
        return {r["run"]: {c: float(r[c]) for c in COLUMNS} for r in csv.DictReader(f)}


def report(out: Path, committed: Path) -> str:
    reps = {p.name: _read(p) for p in sorted(out.glob("s*t*")) if (p / "table.csv").is_file()}
    if not reps:
        raise SystemExit(f"no replicate under {out}; run one first")
    # One value per seed in the spread (the lowest thread count); other thread counts of the
    # same seed are compared with it.
    by_seed: dict[str, dict[str, dict[str, float]]] = {}
    threads_note = []
    for name in sorted(reps, key=lambda n: (int(n[1:].split("t")[0]), int(n.split("t")[1]))):
        seed = name.split("t")[0]
        if seed not in by_seed:
            by_seed[seed] = reps[name]
            continue
        diff = max(
            abs(reps[name][r][c] - by_seed[seed][r][c])
            for r in MAIN
            if r in reps[name]
            for c in COLUMNS
        )
        first = next(n for n in reps if n.split("t")[0] == seed)
        threads_note.append(f"{name} against {first}: max |difference| {diff:.3g}")
    base = _read(committed)
    head = (
        f"Exp. 1 (cpu tier) over seeds {', '.join(s[1:] for s in by_seed)} (1 torch thread). "
        "Cells: mean ± std (min–max) over the seeds; `committed` is the final MSE in "
        "`results/function1d/exp1` (seed 0, 1 thread, made on another machine).\n"
        + "".join(f"\nThreads: {t}." for t in threads_note)
        + "\n\n| run | method | "
        + " | ".join(COLUMNS)
        + " | committed MSE |\n| --- | --- |"
        + " ---: |" * (len(COLUMNS) + 1)
        + "\n"
    )
    lines, rows = [], []
    for name in MAIN:
        cells = []
        for c in COLUMNS:
            v = [r[name][c] for r in by_seed.values() if name in r]
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            cells.append(f"{statistics.mean(v):.3f} ± {sd:.3f} ({min(v):.3f}–{max(v):.3f})")
            rows.append({"run": name, "column": c, "values": " ".join(f"{x:.6g}" for x in v)})
        label = LABELS[name.split("-", 1)[1]]
        lines.append(
            f"| {name} | {label} | " + " | ".join(cells) + f" | {base[name]['mse_final']:.3f} |"
        )
    text = head + "\n".join(lines) + "\n"
    (out / "spread.md").write_text(text)
    with open(out / "spread.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["run", "column", "values"])
        w.writeheader()
        w.writerows(rows)
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="one replicate")
    r.add_argument("--seed", type=int, required=True)
    r.add_argument("--threads", type=int, required=True)
    r.add_argument("--out", type=Path, default=OUT)
    a = sub.add_parser("report", help="the spread tables from the replicates' table.csv")
    a.add_argument("--out", type=Path, default=OUT)
    a.add_argument("--committed", type=Path, default=Path("results/function1d/exp1"))
    ns = p.parse_args()
    if ns.cmd == "run":
        run(ns.seed, ns.threads, ns.out)
    else:
        print(report(ns.out, ns.committed))


if __name__ == "__main__":
    main()

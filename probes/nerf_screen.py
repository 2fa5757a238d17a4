#!/usr/bin/env python
"""The NeRF screen of issue 28: which cheap change moves vanilla NeRF toward 25 dB on lego.

Each run is `cpu16-grid`'s vanilla NeRF (16 + 16 samples, the occupancy grid, 3000 steps,
the lr's ×0.1 decay over them, seed 0) with one or two options changed, made with

    iga fit nerf ../shared/data/nerf_synthetic/lego --n-coarse 16 --n-fine 16 --grid 32 \\
        --method vanilla --steps 3000 --turntable-frames 0 --threads 1 --out DIR [FLAGS]

The probe reads the runs under ``ROOT/runs/*`` (and the committed `cpu16-grid` vanilla run as
the baseline), names each run's changes from its ``config.json`` against the baseline's, and
writes ``ROOT/screen.md`` (validation PSNR along the run, test PSNR, training-ray PSNR,
s/step) and ``ROOT/screen.png`` (the validation curves). A run without ``summary.json`` was
stopped early: its row says so and has no test PSNR.

    python probes/nerf_screen.py results/nerf/screen
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from iga.figures.plots import psnr_curves
from iga.io import read_csv

BASELINE = Path("results/nerf/cpu16-grid/runs/lego/vanilla/seed0")
CHANGES = {  # config field -> the flag that sets it
    "batching": "--batching",
    "train.lr": "--lr",
    "net.depth": "--depth",
    "net.skip": "--skip",
    "net.width": "--width",
    "train.steps": "--steps",
}
VAL_STEPS = (500, 1000, 1500, 2000, 2500, 3000)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _run(path: Path, base: dict[str, Any]) -> dict[str, Any]:
    cfg = _flat(json.loads((path / "config.json").read_text()))
    rows = read_csv(path / "metrics.csv")
    val = {int(r["step"]): float(r["psnr_val"]) for r in rows if r.get("psnr_val")}
    last = max(int(r["step"]) for r in rows if r.get("time"))
    seconds = max(float(r["time"]) for r in rows if r.get("time"))
    steps = [(int(r["step"]), r.get("psnr_train")) for r in rows]
    train = [float(v) for k, v in steps if v and 2000 <= k < 3000]
    summary_path = path / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
    changed = [f"{flag} {cfg[k]}" for k, flag in CHANGES.items() if cfg.get(k) != base.get(k)]
    return {
        "name": path.name,
        "changes": " ".join(changed) or "(the baseline)",
        "val": val,
        "train": sum(train) / len(train) if train else math.nan,
        "test": summary["psnr_test"] if summary else None,
        "last": summary["steps"] if summary else last,
        "s_per_step": summary["seconds_per_step"] if summary else seconds / max(last, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", type=Path, default=Path("results/nerf/screen"))
    ap.add_argument("--baseline", type=Path, default=BASELINE, help="the unchanged run")
    ns = ap.parse_args()
    base = _flat(json.loads((ns.baseline / "config.json").read_text()))
    dirs = sorted(p for p in (ns.root / "runs").iterdir() if (p / "metrics.csv").is_file())
    if not dirs:
        raise SystemExit(f"no runs under {ns.root / 'runs'}")
    runs = [_run(ns.baseline, base) | {"name": "cpu16-grid vanilla"}]
    runs += [_run(d, base) for d in dirs]
    head = " / ".join(str(s) for s in VAL_STEPS)
    lines = [
        "# NeRF screen (issue 28): vanilla NeRF on lego, `cpu16-grid` with one or two "
        "options changed",
        "",
        "Made by `python probes/nerf_screen.py " + str(ns.root) + "` from the runs' files; "
        "each run's command is in the probe's docstring, its flags in the table. Seed 0, one "
        "thread beside another run (s/step is not a timing).",
        "",
        f"| run | changes | validation PSNR at steps {head} | test PSNR (8 views) "
        "| training-ray PSNR, steps 2000–2999 | steps run | s/step |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        vals = " / ".join(f"{r['val'][s]:.2f}" if s in r["val"] else "—" for s in VAL_STEPS)
        test = f"{r['test']:.2f}" if r["test"] is not None else "stopped"
        train = f"{r['train']:.2f}" if math.isfinite(r["train"]) else "—"
        lines.append(
            f"| {r['name']} | {r['changes']} | {vals} | {test} | {train} | {r['last']} "
            f"| {r['s_per_step']:.2f} |"
        )
    (ns.root / "screen.md").write_text("\n".join(lines) + "\n")
    curves = {
        r["name"] if r is runs[0] else f"{r['name']} ({r['changes']})": (
            sorted(r["val"]),
            [r["val"][s] for s in sorted(r["val"])],
        )
        for r in runs
    }
    psnr_curves(curves, ns.root / "screen.png", title="lego, validation view, vanilla NeRF")
    print(f"wrote {ns.root / 'screen.md'} and {ns.root / 'screen.png'}")


if __name__ == "__main__":
    main()

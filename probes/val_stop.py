#!/usr/bin/env python
"""Which weights a user without ground truth should keep in inpainting: the held-out PSNR
(the pixels training never sees) of three choices, per keep ratio × arch × method, mean over
the images of both runs:

* **training PSNR**: the weights of the best training PSNR (``iga bench inpainting``, tier
  ``cpu``, every kept pixel trained on);
* **own pixels**: the weights that score best on a seeded share of the kept pixels set aside
  from training (``iga bench inpainting --val-fraction q``, tier ``cpu_val<q>``; those runs
  train on the other ``1 − q`` of the kept pixels);
* **truth (oracle)**: the best held-out PSNR along the tier-``cpu`` run, an early stop that
  knows the truth (no user has it).

    python probes/val_stop.py results/inpainting/cpu results/inpainting/cpu_val0.05

writes ``val_stop.md`` into the second folder and prints it.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path

LABELS = {"relu": "ReLU", "pe": "PE", "siren": "SIREN"}


def summaries(root: Path) -> dict[tuple[str, str, str, str, str], dict]:
    """``(image, keep, arch, method, seed) -> summary`` of every finished run under ``root``."""
    out = {}
    for path in sorted((root / "runs").glob("*/*/*/*/seed*/summary.json")):
        out[tuple(path.parent.parts[-5:])] = json.loads(path.read_text())
    return out


def table(plain_root: Path, val_root: Path) -> str:
    plain, val = summaries(plain_root), summaries(val_root)
    cells: dict[tuple[str, str, str], dict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for key, v in val.items():
        p = plain.get(key)
        if p is None:
            continue
        image, keep, arch, method, seed = key
        c = cells[(keep, arch, method)]
        c["train"].append(p["psnr_heldout"])
        c["val"].append(v["psnr_heldout"])
        c["oracle"].append(p["heldout_best"])
        c["images"].append(image)
    q = next(iter(val.values()))["val_fraction"] if val else 0.0
    lines = [
        f"Inpainting: held-out PSNR (dB) of the weights each rule keeps, mean over the images "
        f"that have both runs. 'own pixels': {100 * q:g} % of the kept pixels set aside and "
        "scored every 50 steps (those runs train on the rest). Commands: `iga bench "
        "inpainting --images 1-3` and the same with `--val-fraction "
        f"{q:g}`; this table: `python probes/val_stop.py {plain_root} {val_root}`.",
        "",
        "| keep | arch | method | images | training PSNR | own pixels | truth (oracle) | "
        "own − training |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (keep, arch, method), c in sorted(
        cells.items(), key=lambda kv: (kv[0][0], list(LABELS).index(kv[0][1]), kv[0][2])
    ):
        t, v, o = (statistics.fmean(c[k]) for k in ("train", "val", "oracle"))
        lines.append(
            f"| {keep.removeprefix('keep')} | {LABELS.get(arch, arch)} | {method} | "
            f"{len(c['images'])} | {t:.2f} | {v:.2f} | {o:.2f} | {v - t:+.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("plain", type=Path, help="the tier-cpu results folder")
    ap.add_argument("val", type=Path, help="the --val-fraction results folder")
    args = ap.parse_args()
    text = table(args.plain, args.val)
    (args.val / "val_stop.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()

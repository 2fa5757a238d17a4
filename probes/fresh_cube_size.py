#!/usr/bin/env python
"""Does FreSh's 3-D choice depend on how much of the grid it reads?

``iga fit occupancy|sdf --fresh`` compares spectra on at most 32³ points of the training grid
(:data:`iga.tasks.common.FRESH_CUBE`: every 4th point per axis of the default 128³), where
the authors' 3-D path takes the whole volume. This probe makes FreSh's choice on the occupancy
grid of each mesh read at 32³, 64³ and the whole 128³ (every 4th, 2nd and every point), at the
occupancy benchmark's cpu tier (width 64, 3 hidden layers, seed 0, the default candidates),
and prints a markdown table of the choices, each side's distance at its choice, and seconds
per choice.

Usage (iga's venv python; one thread; the 128³ choices take minutes each):

    python probes/fresh_cube_size.py [--meshes ../shared/data/meshes] [--sides 32,64,128]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from iga.meshes import grid_points
from iga.models import fresh
from iga.tasks.occupancy import task as occ
from iga.tasks.occupancy.bench import TIERS
from iga.tasks.occupancy.grid import occupancy_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meshes", default="../shared/data/meshes")
    parser.add_argument("--names", default="bunny,armadillo,dragon")
    parser.add_argument("--archs", default="pe,siren")
    parser.add_argument("--sides", default="32,64,128")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sides = [int(s) for s in args.sides.split(",")]
    print("| mesh | arch | " + " | ".join(f"choice at {s}³" for s in sides) + " | s per choice |")
    print("| --- | --- | " + " | ".join("---:" for _ in sides) + " | --- |")
    for name in args.names.split(","):
        path = next(Path(args.meshes).glob(f"{name}.*"))
        for arch in args.archs.split(","):
            tier = TIERS["cpu"]
            cfg = replace(tier, path=str(path), model=replace(tier.model, arch=arch))
            vals = occupancy_grid(cfg.path, cfg.resolution, cfg.margin).occupancy
            r = int(vals.shape[0])
            values = fresh.parse_values(arch, "auto")

            def make(extra: dict, seed: int, cfg=cfg) -> torch.nn.Module:
                return occ._build(cfg, {**cfg.model.options, **extra}, seed)

            cells, secs = [], []
            for side in sides:
                stride = r // side
                pts = grid_points(r)[::stride, ::stride, ::stride]
                n = pts.shape[0]
                coords = torch.from_numpy(np.ascontiguousarray(pts.reshape(-1, 3)))
                v = np.asarray(vals, dtype=np.float32)[::stride, ::stride, ::stride]
                target = torch.from_numpy(np.ascontiguousarray(v.reshape(-1, 1)))
                t0 = time.perf_counter()
                choice = fresh.select(arch, make, coords, target, (n, n, n), values, seed=0)
                secs.append(time.perf_counter() - t0)
                dist = choice.distances[choice.value][0]
                cells.append(f"{choice.param}={choice.value:g} ({dist:.3f})")
            times = ", ".join(f"{s:.0f}" for s in secs)
            print(f"| {name} | {arch} | " + " | ".join(cells) + f" | {times} |", flush=True)


if __name__ == "__main__":
    main()

"""Milliseconds per NeRF training step with and without the occupancy grid (``--grid``).

    python probes/nerf_grid_step_cost.py [--scene ../shared/data/nerf_synthetic/lego]
        [--threads 1] [--steps 32]

Vanilla NeRF at the cpu tier's settings (lego at 100×100, 1024 rays from one view per step,
4×128 networks) in five configurations: 32 + 32 and 16 + 16 samples without a grid, 32 + 32
and 16 + 16 with ``--grid 32``, 16 + 16 with ``--grid 64``. Each starts from seed 0's
networks, its grid (if any) after one full (warm-up) update, and runs the steps 256 onwards
(past the warm-up, so an update every 16 steps evaluates a quarter of the cells plus up to as
many occupied ones). The configurations take turns one step at a time, so that a drift of the
machine's speed is shared; printed: the median step without an update, and the steps with one.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from iga.tasks.nerf.task import NeRFFitConfig, NeRFTask, RenderConfig
from iga.train import MethodConfig

CONFIGS = {
    "plain, 32 + 32": (0, 32, 32),
    "--grid 32, 32 + 32": (32, 32, 32),
    "plain, 16 + 16": (0, 16, 16),
    "--grid 32, 16 + 16": (32, 16, 16),
    "--grid 64, 16 + 16": (64, 16, 16),
}
"""Name -> (grid cells per axis, coarse samples, fine samples)."""


def main() -> None:
    """Time the configurations (see the module docstring) and print one line each."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scene", default="../shared/data/nerf_synthetic/lego")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=32, help="timed steps per configuration")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    runs = {}
    for name, (grid, nc, nf) in CONFIGS.items():
        cfg = NeRFFitConfig(
            scene=args.scene,
            val_views=0,
            method=MethodConfig(method="vanilla", end=5),
            render=RenderConfig(n_coarse=nc, n_fine=nf, grid=grid),
        )
        torch.manual_seed(0)
        job = NeRFTask().setup(cfg, torch.device("cpu"))
        if job.model.grid is not None:
            job.model.update_grid(0, 0)  # the warm-up's full update, as a run has
        opt = torch.optim.Adam(job.model.parameters(), 5e-4)
        runs[name] = (job, opt, torch.Generator().manual_seed(0), [], [])
    for step in range(256, 256 + args.steps):
        for job, opt, gen, plain, updates in runs.values():
            t = time.perf_counter()
            x, y = job.batch(step, gen)  # updates the grid at multiples of 16
            loss = job.loss(job.model(x), y)  # type: ignore[misc]
            opt.zero_grad()
            loss.backward()
            opt.step()
            (updates if step % 16 == 0 else plain).append(time.perf_counter() - t)
    for name, (job, _, _, plain, updates) in runs.items():
        grid = job.model.grid
        occupied = "" if grid is None else f", {float(grid.occupied.float().mean()):.0%} occupied"
        with_update = ", ".join(f"{1000 * u:.0f}" for u in updates)
        print(
            f"{name}: {1000 * statistics.median(plain):.0f} ms/step, "
            f"with an update {with_update} ms{occupied}"
        )


if __name__ == "__main__":
    main()

"""Seconds per NeRF training step, vanilla against IGA with each kernel, for a few settings.

    python probes/nerf_step_cost.py [--scene ../shared/data/nerf_synthetic/lego]
        [--size 100] [--threads 2] [--settings 0,1,2,3,4] [--methods fr,bn]

Real rays of the scene's first 10 training views; for each setting (rays per step, MLP depth ×
width, skip, coarse + fine samples) the median of 4 timed steps after 2 untimed ones of each
of vanilla, IGA with the paper's kernel (``sample``), the exact per-ray kernel (``ray``), end 5,
and the baselines ``--methods`` (FR, BN: their own networks), taking turns one step at a time
on the same rays. One untimed pass of the first setting comes first, so that no setting pays
the process's warm-up. Run it with the machine
otherwise idle (what docs/nerf.md reports).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from iga.adjusters import NeRFAdjuster
from iga.models.nerf import NeRF, NeRFConfig
from iga.tasks.nerf.data import load_blender
from iga.tasks.nerf.task import RenderConfig, plain_loss, view_rays
from iga.train import MethodConfig

SETTINGS = [
    (1024, 4, 128, -1, 32, 32),
    (512, 4, 128, -1, 32, 32),
    (1024, 4, 128, -1, 64, 64),
    (1024, 6, 128, 2, 32, 64),
    (1024, 8, 128, 4, 32, 64),
]
"""(rays per step, depth, width, skip, coarse samples, fine samples)."""


def _seconds(nets: dict[str, NeRF], rays, target, n_rays: int) -> dict[str, float]:
    """Median seconds of a step per mode over 4 rounds after 2 (``nets``: mode -> network).

    The modes take turns, one step each per round, so that a drift of the machine's speed
    (another process, the allocator, the CPU's clock) is shared by all of them.
    """
    opts = {m: torch.optim.Adam(n.parameters(), 5e-4) for m, n in nets.items()}
    adjs = {
        m: NeRFAdjuster.build(n, n_rays, m, MethodConfig(end=5), seed=0)
        for m, n in nets.items()
        if m in ("sample", "ray")
    }
    times: dict[str, list[float]] = {m: [] for m in nets}
    for _ in range(6):
        idx = torch.randint(len(rays), (n_rays,))
        x, y = rays[idx], target[idx].repeat(1, 2)
        for m, net in nets.items():
            t = time.perf_counter()
            out = net(x)
            loss = plain_loss(out, y) if m not in adjs else adjs[m].loss(out, y, x)
            opts[m].zero_grad()
            loss.backward()
            opts[m].step()
            times[m].append(time.perf_counter() - t)
    return {m: statistics.median(t[2:]) for m, t in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scene", default="../shared/data/nerf_synthetic/lego")
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--settings", default="0,1,2,3,4", help="rows of SETTINGS to time")
    p.add_argument("--methods", default="", help="baselines to time too: fr, bn")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    scene = load_blender(a.scene, "train", size=a.size, views=10)
    rays = view_rays(scene, scene.poses).reshape(-1, 6)
    target = scene.images.reshape(-1, 3)
    baselines = [m for m in a.methods.split(",") if m]
    rows = [SETTINGS[int(i)] for i in a.settings.split(",")]

    def nerf(setting: tuple[int, ...], method: str = "vanilla") -> NeRF:
        _, depth, width, skip, nc, nf = setting
        torch.manual_seed(0)
        cfg = NeRFConfig(depth=depth, width=width, skip=skip)
        return NeRF(cfg, RenderConfig(n_coarse=nc, n_fine=nf), scene.near, scene.far, method)

    modes = ("vanilla", "sample", "ray", *baselines)

    def nets(setting: tuple[int, ...]) -> dict[str, NeRF]:
        # the same initial network for vanilla and both kernels; FR and BN have their own
        return {m: nerf(setting, m if m in baselines else "vanilla") for m in modes}

    _seconds(nets(SETTINGS[0]), rays, target, 256)  # warm-up, not reported
    extra = "".join(f" {m} |" for m in baselines)
    print(f"| rays | MLP | samples | vanilla s/step | sample kernel | ray kernel |{extra}")
    print("| ---: | --- | --- | ---: | ---: | ---: |" + " ---: |" * len(baselines))
    for setting in rows:
        n_rays, depth, width, skip, nc, nf = setting
        sec = _seconds(nets(setting), rays, target, n_rays)
        ratios = "".join(
            f" {sec[m] / sec['vanilla']:.2f}× |" for m in ("sample", "ray", *baselines)
        )
        print(
            f"| {n_rays} | {depth}×{width} (skip {skip}) | {nc}+{nf} | {sec['vanilla']:.3f} |"
            + ratios,
            flush=True,
        )


if __name__ == "__main__":
    main()

"""Seconds per NeRF training step, vanilla against IGA with each kernel, for a few settings.

    python benchmarks/nerf_step_cost.py [--scene ../shared/data/nerf_synthetic/lego]
        [--size 100] [--threads 2] [--settings 0,1,2,3,4] [--methods fr,bn]

Real rays of the scene's first 10 training views; for each setting (rays per step, MLP depth ×
width, skip, coarse + fine samples) the median of 4 timed steps after 2 untimed ones, vanilla
then IGA with the paper's kernel (``sample``) then the exact per-ray kernel (``ray``), end 5,
then the baselines ``--methods`` (FR, BN: their own networks). One untimed pass of the first
setting comes first, so that no setting pays the process's warm-up. Run it with the machine
otherwise idle (what docs/nerf.md reports).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from iga.models.nerf import NeRFConfig
from iga.tasks.nerf import NeRF, NeRFAdjuster, RenderConfig, _plain_loss, _view_rays
from iga.tasks.nerf_data import load_blender
from iga.train import MethodConfig

SETTINGS = [
    (1024, 4, 128, -1, 32, 32),
    (512, 4, 128, -1, 32, 32),
    (1024, 4, 128, -1, 64, 64),
    (1024, 6, 128, 2, 32, 64),
    (1024, 8, 128, 4, 32, 64),
]
"""(rays per step, depth, width, skip, coarse samples, fine samples)."""


def _seconds(net: NeRF, mode: str, rays, target, n_rays: int) -> float:
    """Median seconds of 4 steps after 2 (``mode``: vanilla, fr, bn or an IGA kernel)."""
    opt = torch.optim.Adam(net.parameters(), 5e-4)
    adj = None
    if mode in ("sample", "ray"):
        adj = NeRFAdjuster.build(net, n_rays, mode, MethodConfig(end=5), seed=0)
    times = []
    for _ in range(6):
        idx = torch.randint(len(rays), (n_rays,))
        x, y = rays[idx], target[idx].repeat(1, 2)
        t = time.perf_counter()
        out = net(x)
        loss = _plain_loss(out, y) if adj is None else adj.loss(out, y, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return statistics.median(times[2:])


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
    rays = _view_rays(scene, scene.poses).reshape(-1, 6)
    target = scene.images.reshape(-1, 3)
    baselines = [m for m in a.methods.split(",") if m]
    rows = [SETTINGS[int(i)] for i in a.settings.split(",")]

    def nerf(setting: tuple[int, ...], method: str = "vanilla") -> NeRF:
        _, depth, width, skip, nc, nf = setting
        torch.manual_seed(0)
        cfg = NeRFConfig(depth=depth, width=width, skip=skip)
        return NeRF(cfg, RenderConfig(n_coarse=nc, n_fine=nf), scene.near, scene.far, method)

    for mode in ("vanilla", "sample", "ray", *baselines):  # warm-up, not reported
        _seconds(
            nerf(SETTINGS[0], mode if mode in baselines else "vanilla"), mode, rays, target, 256
        )
    extra = "".join(f" {m} |" for m in baselines)
    print(f"| rays | MLP | samples | vanilla s/step | sample kernel | ray kernel |{extra}")
    print("| ---: | --- | --- | ---: | ---: | ---: |" + " ---: |" * len(baselines))
    for setting in rows:
        n_rays, depth, width, skip, nc, nf = setting
        net = nerf(setting)
        sec = {
            mode: _seconds(net, mode, rays, target, n_rays) for mode in ("vanilla", "sample", "ray")
        }
        for m in baselines:
            sec[m] = _seconds(nerf(setting, m), m, rays, target, n_rays)
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

"""Seconds per NeRF training step, vanilla against IGA with each kernel, for a few settings.

    python benchmarks/nerf_step_cost.py [--scene ../shared/data/nerf_synthetic/lego]
        [--size 100] [--threads 2]

Real rays of the scene's first 10 training views; for each setting (rays per step, MLP depth ×
width, skip, coarse + fine samples) the median of 4 timed steps after 2 untimed ones, vanilla
then IGA with the paper's kernel (``sample``) then the exact per-ray kernel (``ray``), end 5.
Run it with the machine otherwise idle (what docs/nerf.md reports).
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scene", default="../shared/data/nerf_synthetic/lego")
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    scene = load_blender(a.scene, "train", size=a.size, views=10)
    rays = _view_rays(scene, scene.poses).reshape(-1, 6)
    target = scene.images.reshape(-1, 3)
    print("| rays | MLP | samples | vanilla s/step | sample kernel | ray kernel |")
    print("| ---: | --- | --- | ---: | ---: | ---: |")
    for n_rays, depth, width, skip, nc, nf in SETTINGS:
        torch.manual_seed(0)
        net = NeRF(
            NeRFConfig(depth=depth, width=width, skip=skip),
            RenderConfig(n_coarse=nc, n_fine=nf),
            scene.near,
            scene.far,
        )
        opt = torch.optim.Adam(net.parameters(), 5e-4)
        sec = {}
        for mode in ("vanilla", "sample", "ray"):
            adj = None
            if mode != "vanilla":
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
            sec[mode] = statistics.median(times[2:])
        print(
            f"| {n_rays} | {depth}×{width} (skip {skip}) | {nc}+{nf} | {sec['vanilla']:.3f} | "
            f"{sec['sample'] / sec['vanilla']:.2f}× | {sec['ray'] / sec['vanilla']:.2f}× |",
            flush=True,
        )


if __name__ == "__main__":
    main()

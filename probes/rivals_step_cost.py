"""Cost of a training step for each method of ``iga bench rivals``, against Adam's (issue 23).

Run it with the machine to itself (2 threads, nothing else running):

    python probes/rivals_step_cost.py [--archs relu,pe,siren] [--size 192x128] [--steps 60]

Each method's step is what ``iga.train.train`` does: forward, the loss (IGA's adjusted loss
with a fresh S every step, or the MSE), ESGD's Hessian-vector product on its curvature steps,
backward, the optimiser's step. The methods take turns one step at a time on the same pixels,
so a slower or faster phase of the machine hits them alike. ESGD has two kinds of step (with
and without the curvature); the cost of a 2000-step run weights them as the run does (50
warm-up curvature steps, then one every 100: 69 of 2000). Prints a Markdown table: ms per step
and the ratio to Adam's step; ``--save`` writes it to a file too.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

import iga
from iga.tasks.image.bench import END
from iga.tasks.image.data import ImageData, parse_size
from iga.tasks.image.rivals import RIVALS


def _curvature_steps(steps: int, warmup: int = 50, every: int = 100) -> int:
    """How many of ``steps`` ESGD steps compute Hv (its defaults)."""
    return sum(1 for t in range(steps) if t < warmup or (t - (warmup - 1)) % every == 0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--image", default="../shared/data/kodak/kodim01.png")
    p.add_argument("--size", default="192x128")
    p.add_argument("--archs", default="relu,pe,siren")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--patch", type=int, default=8)
    p.add_argument("--steps", type=int, default=60, help="timed steps per method and kind")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--save", type=Path)
    ns = p.parse_args()
    torch.set_num_threads(ns.threads)
    data = ImageData.from_file(ns.image, size=parse_size(ns.size))
    x, y = data.coords, data.target
    groups = iga.groups.grid((data.height, data.width), ns.patch)
    lines = [
        f"Step cost on {Path(ns.image).name} at {ns.size}, width {ns.width}, {ns.patch}×"
        f"{ns.patch} patches, {ns.threads} threads, torch {torch.__version__}; median of "
        f"{ns.steps} steps per method (methods take turns), ESGD's run cost weighted "
        f"{_curvature_steps(2000)}/2000 curvature steps.",
        "",
        "| arch | " + " | ".join(RIVALS) + " |",
        "| --- |" + " ---: |" * len(RIVALS),
    ]
    for arch in ns.archs.split(","):
        jobs = {}
        for name, rival in RIVALS.items():
            model = iga.models.build(arch, 2, 3, hidden_features=ns.width, seed=0)
            # A tiny lr: the cost does not depend on it, and the weights must stay finite.
            opt = iga.optim.build_optimizer(model, rival.optimizer, 1e-6)
            adj = iga.IGA(model, groups, end=END[arch]) if rival.method == "iga" else None
            jobs[name] = (model, opt, adj, {"plain": [], "curvature": []})

        def step(name: str, curvature: bool, jobs: dict = jobs) -> float:
            model, opt, adj, _ = jobs[name]
            t0 = time.perf_counter()
            pred = model(x)
            loss = adj.loss(pred, y, x) if adj is not None else ((pred - y) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            if curvature:
                if adj is None:
                    opt.update_curvature(loss, set_grad=True)
                else:
                    opt.update_curvature(((pred - y) ** 2).mean())
                    loss.backward()
            else:
                if isinstance(opt, iga.optim.ESGD):
                    opt.steps_since_d = 0  # time a plain ESGD step: no refresh due
                    opt.steps = max(opt.steps, opt.d_warmup)
                loss.backward()
            opt.step()
            return time.perf_counter() - t0

        for i in range(ns.steps + 5):
            for name in jobs:
                kinds = ["curvature", "plain"] if RIVALS[name].optimizer == "esgd" else ["plain"]
                for kind in kinds:
                    dt = step(name, kind == "curvature")
                    if i >= 5:  # warm-up
                        jobs[name][3][kind].append(dt)
        cost = {}
        for name, (_, _, _, t) in jobs.items():
            plain = statistics.median(t["plain"])
            if t["curvature"]:
                c = _curvature_steps(2000)
                plain = (c * statistics.median(t["curvature"]) + (2000 - c) * plain) / 2000
            cost[name] = plain
        base = cost["adam"]
        lines.append(
            f"| {arch} | "
            + " | ".join(f"{1000 * cost[n]:.1f} ms ({cost[n] / base:.2f}×)" for n in RIVALS)
            + " |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if ns.save:
        ns.save.parent.mkdir(parents=True, exist_ok=True)
        ns.save.write_text(text)


if __name__ == "__main__":
    main()

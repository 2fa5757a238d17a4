"""How far is the warm-started subspace solver's S from the exact one in a real training run?

Trains an image fit with ``iga.IGA(..., solver="subspace")`` and, every ``--check-every``
steps, recomputes S exactly (``iga.balance`` on the same kernel) and measures the relative
error of the mixed residual ``S·r`` (the only thing S is used for). Prints the number of
fallbacks to the exact solver and the error's median, 90th percentile and maximum.

    OMP_NUM_THREADS=1 python probes/solver_accuracy.py --arch pe --tol 0.2
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import iga
from iga.models import build
from iga.tasks.image.data import ImageData
from iga.tasks.image.task import default_lr


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", default="../shared/data/kodak/kodim01.png")
    p.add_argument("--size", default="192x128")
    p.add_argument("--arch", default="pe")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--patch", type=int, default=8)
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--decay-at", type=int, default=240, help="step of the x0.1 lr decay")
    p.add_argument("--tol", type=float, default=0.2)
    p.add_argument("--iters", type=int, default=2)
    p.add_argument("--oversample", type=int, default=10)
    p.add_argument("--check-every", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    w, h = (int(v) for v in a.size.split("x"))
    data = ImageData.from_file(a.image, size=(w, h))
    x, y = data.coords, data.target
    model = build(a.arch, 2, 3, a.width, 3, seed=0)
    opt = torch.optim.Adam(model.parameters(), default_lr("iga", a.arch))
    end = 25 if a.arch == "relu" else 20
    groups = iga.groups.grid((data.height, data.width), a.patch)
    adj = iga.IGA(
        model,
        groups,
        end=end,
        solver="subspace",
        tol=a.tol,
        iters=a.iters,
        oversample=a.oversample,
    )
    errors = []
    for step in range(a.steps):
        pred = model(x)
        loss = adj.loss(pred, y, x)
        if step % a.check_every == 0 and adj.spectrum is not None:
            R = adj.grouping.gather(pred.detach() - y).reshape(groups.shape[0], -1).double()
            exact = iga.balance(adj.spectrum.K, end).apply(R)
            errors.append(float(torch.linalg.norm(adj.spectrum.apply(R) - exact) / exact.norm()))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step + 1 == a.decay_at:
            for g in opt.param_groups:
                g["lr"] *= 0.1
    e = np.array(errors)
    print(
        f"{a.arch} tol {a.tol} iters {a.iters} oversample {a.oversample}: fallbacks "
        f"{adj.fallbacks}/{a.steps}, S·r error median {np.median(e):.1e} p90 "
        f"{np.quantile(e, 0.9):.1e} max {e.max():.1e}"
    )


if __name__ == "__main__":
    main()

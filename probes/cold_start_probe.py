#!/usr/bin/env python
# ruff: noqa: E501
"""The subspace solver's cold start against the exact solver on a large eNTK (issue 28).

The eNTK of a PE network (width 64, seed 0) on one representative per patch of kodim01 (its
centre pixel), then the exact top 31 eigenpairs against block subspace iteration from a random
block: the time, the weighted residual that :func:`iga.core.spectrum.balance` tests (accepted
at ≤ 0.2) and the largest relative error of the top 21 eigenvalues. One thread:

    python probes/cold_start_probe.py 768x512 8     # 6,144 groups
    python probes/cold_start_probe.py 384x256 8     # 1,536 groups
"""

from __future__ import annotations

import sys
import time

import torch

import iga
from iga.core.spectrum import eigh_desc, spectrum_scales, subspace_eigs
from iga.tasks.image.data import ImageData


def main() -> None:
    torch.set_num_threads(1)
    size, patch = sys.argv[1], int(sys.argv[2])
    w, h = map(int, size.split("x"))
    data = ImageData.from_file("../shared/data/kodak/kodim01.png", size=(w, h))
    model = iga.models.build("pe", 2, 3, 64, 3, seed=0)
    groups = iga.groups.grid((h, w), patch)
    idx = groups[:, groups.shape[1] // 2]
    t = time.perf_counter()
    K = iga.entk(model, data.coords[idx])
    tk = time.perf_counter() - t
    K64 = K.double()
    K64 = (K64 + K64.T) / 2
    n, end = K64.shape[0], 20
    k, b = end + 1, end + 1 + 10
    t = time.perf_counter()
    ev, _ = eigh_desc(K64, b)
    te = time.perf_counter() - t
    print(
        f"n={n}: eNTK {tk:.2f} s; exact top {b}: {te:.2f} s; λ0/λ_end {float(ev[0] / ev[end]):.3g}"
    )
    g = torch.Generator().manual_seed(0)
    for iters in (2, 4, 8, 12, 16):
        block = torch.linalg.qr(torch.randn(n, b, generator=g, dtype=torch.float64)).Q
        t = time.perf_counter()
        th, _, res = subspace_eigs(K64, block, iters)
        ts = time.perf_counter() - t
        scale, _ = spectrum_scales(th[:k], end, 0, "end")
        weight = torch.ones_like(scale)
        weight[:end] = 1 - scale[:end]
        err = float((weight * res[:k] / th[:k].abs()).max())
        rel = float(((th[:k] - ev[:k]).abs() / ev[:k]).max())
        print(
            f"  cold start, {iters:2d} iterations: {ts:.3f} s, weighted residual {err:.3g} "
            f"(tol 0.2), max relative eigenvalue error {rel:.2e}"
        )


if __name__ == "__main__":
    main()

"""iga.train's ESGD step without IGA against the authors' ESGD, bit for bit (issue 23).

Without IGA, ``iga.train.train`` takes the gradient together with the curvature on ESGD's
curvature steps (``ESGD.update_curvature(loss, set_grad=True)``: one backward pass, where the
authors' protocol is ``loss.backward(create_graph=True)``). This checks that path against the
authors' ``optimizers/esgd.py`` (sfchng/preconditioner_neural_fields, unmodified) in lockstep:
same initial weights, data and Rademacher stream, 400 full-batch steps (50 warm-up curvature
steps, then one every 100):

    python probes/esgd_single_backward_check.py REF_DIR/optimizers
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import sys
import types

import torch

import iga


def authors_esgd(folder: str) -> type:
    """The authors' ESGD class, loaded from their package folder without its ``__init__``."""
    pkg = types.ModuleType("optimizers")
    pkg.__path__ = [folder]
    sys.modules["optimizers"] = pkg
    for name in ("optimizer", "esgd"):
        spec = importlib.util.spec_from_file_location(f"optimizers.{name}", f"{folder}/{name}.py")
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[f"optimizers.{name}"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["optimizers.esgd"].ESGD


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("optimizers", help="the authors' optimizers/ folder")
    p.add_argument("--steps", type=int, default=400)
    ns = p.parse_args()
    torch.set_num_threads(1)
    reference = authors_esgd(ns.optimizers)
    for arch, dtype in [("siren", torch.float32), ("pe", torch.float32), ("siren", torch.float64)]:
        base = iga.models.build(arch, 2, 3, hidden_features=64, hidden_layers=3, seed=0)
        base = base.to(dtype)
        g = torch.Generator().manual_seed(1)
        x = (torch.rand(1024, 2, generator=g) * 2 - 1).to(dtype)
        y = torch.sin(3 * x).sum(1, keepdim=True).repeat(1, 3)
        a, b = copy.deepcopy(base), copy.deepcopy(base)
        torch.manual_seed(0)  # their vectors come from the global stream, ours from seed 0
        oa = reference(a.parameters(), lr=0.15, eps=1e-4, update_d_every=100, d_warmup=50)
        ob = iga.optim.ESGD(b.parameters(), lr=0.15, eps=1e-4, update_every=100, d_warmup=50)
        worst = 0.0
        for _ in range(ns.steps):
            la = ((a(x) - y) ** 2).mean()
            oa.zero_grad(set_to_none=True)
            la.backward(create_graph=oa.should_create_graph())
            oa.step()
            lb = ((b(x) - y) ** 2).mean()
            ob.zero_grad(set_to_none=True)
            if ob.wants_curvature():
                ob.update_curvature(lb, set_grad=True)  # iga.train's path without IGA
            else:
                lb.backward()
            ob.step()
            with torch.no_grad():
                diff = max(
                    float((u - v).abs().max())
                    for u, v in zip(a.parameters(), b.parameters(), strict=True)
                )
            worst = max(worst, diff)
        print(
            f"{arch} {dtype}: max |Δθ| over {ns.steps} steps = {worst:g}; "
            f"final MSE {float(la):.6g} (authors) / {float(lb):.6g} (iga)"
        )


if __name__ == "__main__":
    main()

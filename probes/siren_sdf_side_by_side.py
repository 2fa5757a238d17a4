#!/usr/bin/env python
# ruff: noqa: E402, E501
"""Side by side: SIREN's own ``loss_functions.sdf`` (vsitzmann/siren @ 4df34ba, with its
``diff_operators``, ``modules.SingleBVPNet`` and ``dataio.PointCloud``) against iga's
``--loss siren`` pieces (:mod:`iga.tasks.sdf.siren_loss`), on the same SIREN weights and the same
batch of 1400 + 1400 points from a 50k-point bunny ``.xyz``, in float32 and float64: each loss
term, the total, the parameter gradient, and IGA with ``end = 0`` against SIREN's gradient.

    python probes/siren_sdf_side_by_side.py REF_DIR [--out /tmp/siren_sbs]

REF_DIR: a work tree of vsitzmann/siren. Their four files are copied unchanged into OUT (a
scratch folder outside the repository) beside the only CPU/offline patch: a minimal
``torchmeta`` stand-in (the package does not install beside torch 2.x; SIREN's ``modules.py``
imports ``MetaModule``, ``MetaSequential`` and ``get_subdict`` from it) and empty
``skvideo``/``torchvision`` modules, which ``dataio`` imports and ``PointCloud`` never uses.
The numbers are in docs/sdf.md.
"""

import argparse
import os
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import torch

TORCHMETA = {
    "torchmeta/__init__.py": '"""Minimal stand-in for torchmeta (not installable beside torch 2.x): only what SIREN\'s\nmodules.py imports (MetaModule, MetaSequential, get_subdict), with torchmeta\'s semantics."""\n',
    "torchmeta/modules/__init__.py": "from collections import OrderedDict\n\nfrom torch import nn\n\nfrom torchmeta.modules.utils import get_subdict\n\n\nclass MetaModule(nn.Module):\n    pass\n\n\nclass MetaSequential(nn.Sequential, MetaModule):\n    def forward(self, input, params=None):\n        for name, module in self._modules.items():\n            if isinstance(module, MetaModule):\n                input = module(input, params=get_subdict(params, name))\n            else:\n                input = module(input)\n        return input\n",
    "torchmeta/modules/utils.py": "import re\nfrom collections import OrderedDict\n\n\ndef get_subdict(dictionary, key=None):\n    # torchmeta.modules.utils.get_subdict\n    if dictionary is None:\n        return None\n    if (key is None) or (key == ''):\n        return dictionary\n    key_re = re.compile(r'^{0}\\.(.+)'.format(re.escape(key)))\n    return OrderedDict((key_re.sub(r'\\1', k), value) for (k, value)\n                       in dictionary.items() if key_re.match(k) is not None)\n",
}


def _prepare(ref: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in ("dataio.py", "loss_functions.py", "diff_operators.py", "modules.py"):
        shutil.copy(ref / name, out / name)
    for rel, text in TORCHMETA.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    os.chdir(out)
    sys.path.insert(0, str(out))
    for name in ("skvideo", "skvideo.io", "torchvision", "torchvision.transforms"):
        sys.modules.setdefault(name, types.ModuleType(name))
    for attr in ("Resize", "Compose", "ToTensor", "Normalize"):
        setattr(sys.modules["torchvision.transforms"], attr, object)


ap = argparse.ArgumentParser(description="SIREN's SDF loss against iga's --loss siren")
ap.add_argument("ref", type=Path, help="a work tree of vsitzmann/siren")
ap.add_argument("--out", type=Path, default=Path("/tmp/siren_sbs"), help="scratch folder")
args = ap.parse_args()
torch.set_num_threads(1)
_prepare(args.ref.resolve(), args.out.resolve())

import dataio  # noqa: E402  (SIREN's)
import loss_functions  # noqa: E402
import modules  # noqa: E402
import trimesh  # noqa: E402

from iga import IGA  # noqa: E402
from iga.models import build  # noqa: E402
from iga.tasks.sdf.siren_loss import (  # noqa: E402
    OrientedBatches,
    data_loss,
    data_residual,
    siren_terms,
)

MESH = str(Path(__file__).resolve().parents[1].parent / "shared/data/meshes/bunny.obj")
M, WIDTH, LAYERS, P = 1400, 64, 3, 14  # SIREN's default batch (1400 on + 1400 off), groups of 14


def write_xyz(path: str, count: int = 50_000) -> None:
    mesh = trimesh.load(MESH, force="mesh")
    pts, face = trimesh.sample.sample_surface(mesh, count, seed=0)
    np.savetxt(path, np.hstack([pts, mesh.face_normals[face]]))


def run(dtype: torch.dtype) -> dict[str, float]:
    np.random.seed(0)
    torch.manual_seed(0)
    cloud = dataio.PointCloud("bunny.xyz", on_surface_points=M)
    inputs, gt = cloud[0]
    coords = inputs["coords"].to(dtype)
    gt = {k: v.to(dtype)[None] for k, v in gt.items()}
    theirs = modules.SingleBVPNet(
        type="sine", in_features=3, hidden_features=WIDTH, num_hidden_layers=LAYERS
    ).to(dtype)
    # ours: the same architecture (hidden_layers counts the activations: theirs + 1)
    ours = build("siren", 3, 1, hidden_features=WIDTH, hidden_layers=LAYERS + 1, seed=0).to(dtype)
    lin = [m for m in ours.modules() if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for i, layer in enumerate(lin):
            theirs.net.net[i][0].weight.copy_(layer.weight)
            theirs.net.net[i][0].bias.copy_(layer.bias)
    # --- SIREN's code: training.py sums loss.mean() of each term
    out = theirs({"coords": coords[None]})
    terms_t = loss_functions.sdf(out, gt)
    total_t = sum(v.mean() for v in terms_t.values())
    grads_t = torch.autograd.grad(
        total_t,
        [theirs.net.net[i][0].weight for i in range(len(lin))]
        + [theirs.net.net[i][0].bias for i in range(len(lin))],
    )
    # --- ours: the pieces the training loop calls (data rows :M, the penalty on all rows)
    on_normals = gt["normals"][0, :M]
    x = coords.clone().requires_grad_(True)
    pred = ours(x)
    fwd = float((pred - out["model_out"][0]).abs().max())
    batches = OrientedBatches(coords[:M], on_normals, torch.arange(M).reshape(-1, P), 0, 0)
    batches.current = on_normals  # what batches(step) sets for the rows it draws
    y = gt["sdf"][0]
    loss_o = data_loss(2 * M)(pred[:M], y[:M]) + batches.penalty(x, pred)
    params = [m.weight for m in lin] + [m.bias for m in lin]
    grads_o = torch.autograd.grad(loss_o, params, retain_graph=True)
    terms_o = siren_terms(x, pred, on_normals)
    # --- ours with IGA at end = 0 (the adjusted path), also against SIREN's gradient
    adj = IGA(ours, torch.arange(M).reshape(-1, P), end=0)
    target = pred[:M].detach() - data_residual(2 * M)(pred[:M].detach(), y[:M])
    loss_i = adj.loss(pred[:M], target, x[:M].detach()) + batches.penalty(x, pred)
    grads_i = torch.autograd.grad(loss_i, params)

    def gdiff(a, b):
        ab = max(float((u - v).abs().max()) for u, v in zip(a, b, strict=True))
        rel = max(float((u - v).norm() / v.norm()) for u, v in zip(a, b, strict=True))
        return ab, rel

    names = {
        "sdf": "sdf",
        "inter": "inter",
        "normal": "normal_constraint",
        "grad": "grad_constraint",
    }
    res = {"forward max|Δf|": fwd}
    for k, v in names.items():
        a, b = float(terms_o[k]), float(terms_t[v].mean())
        res[f"{k}: ours"] = a
        res[f"{k}: SIREN"] = b
        res[f"{k}: rel diff"] = abs(a - b) / abs(b)
    res["total: ours"], res["total: SIREN"] = float(loss_o), float(total_t)
    res["total: rel diff"] = abs(float(loss_o) - float(total_t)) / abs(float(total_t))
    res["grad vanilla: max abs diff"], res["grad vanilla: max rel diff (per tensor, L2)"] = gdiff(
        grads_o, grads_t
    )
    res["grad IGA end=0: max abs diff"], res["grad IGA end=0: max rel diff (per tensor, L2)"] = (
        gdiff(grads_i, grads_t)
    )
    res["largest |grad| entry (SIREN)"] = max(float(g.abs().max()) for g in grads_t)
    return res


write_xyz("bunny.xyz")
for dtype in (torch.float32, torch.float64):
    print(f"--- {dtype}")
    for k, v in run(dtype).items():
        print(f"{k:48s} {v:.6g}")
# their normalisation vs ours, on the same file
np.random.seed(0)
c = dataio.PointCloud("bunny.xyz", on_surface_points=10)
from iga.tasks.sdf.pointcloud import oriented_points

o = oriented_points("bunny.xyz", 0, 0.05, 8, seed=0)
p, _ = o.all_points
print("SIREN PointCloud: min", c.coords.min(0).round(4), "max", c.coords.max(0).round(4))
print("iga (margin 0.05): min", p.min(0).round(4), "max", p.max(0).round(4))

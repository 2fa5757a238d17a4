"""The authors' NeRF training (LabShuHangGU/IGA-INR, ``nerf-pytorch-master/``) on the CPU at
the cpu tier's settings, and iga's scorer on its checkpoints: the side-by-side run of
docs/nerf.md.

    python probes/nerf_authors_side_by_side.py probe AUTHORS_DIR
    python probes/nerf_authors_side_by_side.py train AUTHORS_DIR SEED NAME [--gradient_adjust]
    python probes/nerf_authors_side_by_side.py score CHECKPOINT [--theirs]

``AUTHORS_DIR`` is a checkout of their ``nerf-pytorch-master/`` (not part of this repository);
their script needs ``configargparse``, ``imageio`` and ``opencv-python-headless`` (``cv2``, for
their half-resolution resize). Patched for the CPU only: ``.cuda()`` is a no-op, and the
``torch.cuda.FloatTensor`` default (set in their ``__main__``) is not set. Their seed is a
module constant (4096, a dead fine network at 4×128, see ``probe``); ``train`` calls their
``seed_torch(SEED)`` again before their ``train()``. Everything else is their code. Env:
``ITERS`` (default 500), ``THREADS`` (1), ``SCENE`` (../shared/data/nerf_synthetic/lego),
``LOGS`` (their ``--basedir``, default runs/authors_nerf). ``score`` renders the first 8 test
views at 100×100 with iga's renderer and metrics (their weights mapped into
:class:`iga.tasks.nerf.task.NeRF`, whose field equals theirs to 1e-16), for their checkpoints
(``--theirs``) and our ``final.pt`` alike.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch
from torch import nn

SCENE = os.environ.get("SCENE", "../shared/data/nerf_synthetic/lego")
TIER = [
    "--dataset_type", "blender", "--half_res", "--white_bkgd", "--no_batching", "--use_viewdirs",
    "--netdepth", "4", "--netwidth", "128", "--netdepth_fine", "4", "--netwidth_fine", "128",
    "--N_samples", "32", "--N_importance", "32", "--N_rand", "1024",
    "--xuhao", "5", "--replace_start", "0", "--replace_end", "5",
    "--lrate", "5e-4", "--lrate_decay", "200", "--precrop_iters", "0", "--testskip", "1",
]  # fmt: skip


def _authors(path: str):  # noqa: ANN202 - their module
    torch.Tensor.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    nn.Module.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    sys.path.insert(0, path)
    import run_nerf  # type: ignore[import-not-found]

    return run_nerf


def _argv(name: str, *extra: str) -> list[str]:
    logs = os.environ.get("LOGS", "runs/authors_nerf")
    return ["run_nerf.py", *TIER, "--datadir", SCENE, "--basedir", logs, "--expname", name, *extra]


def probe(path: str) -> None:
    """Whether their coarse and fine networks are alive at initialisation, seeds 0-19 and 4096
    (their default), by iga's own rule and probe (:func:`iga.tasks.nerf.task.is_dead` on
    :func:`~iga.tasks.nerf.task.probe_rows` of the first training view)."""
    from iga.models.nerf import is_dead, probe_rows
    from iga.tasks.nerf.data import load_blender
    from iga.tasks.nerf.task import view_rays

    a = _authors(path)
    sys.argv = _argv("probe", "--no_reload")
    args = a.config_parser().parse_args()
    os.makedirs(os.path.join(args.basedir, "probe"), exist_ok=True)
    scene = load_blender(SCENE, "train", size=100, views=1)
    rows = probe_rows(view_rays(scene, scene.poses)[0].reshape(-1, 6), scene.near, scene.far, 64)

    class Field(nn.Module):  # their network as a field of (point, direction) rows
        def __init__(self, query, net: nn.Module) -> None:  # noqa: ANN001 - their closure
            super().__init__()
            self.query, self.net = query, net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.query(x[:, None, :3], x[:, 3:6], self.net)[:, 0]

    for seed in [*range(20), 4096]:
        a.seed_torch(seed)
        kw = a.create_nerf(args)[0]
        q = kw["network_query_fn"]
        dead = [is_dead(Field(q, kw[n]), rows) for n in ("network_fn", "network_fine")]
        state = "alive" if not any(dead) else "DEAD"
        print(f"seed {seed}: coarse {'dead' if dead[0] else 'alive'}, "
              f"fine {'dead' if dead[1] else 'alive'}: {state}")  # fmt: skip


def train(path: str, seed: int, name: str, extra: list[str]) -> None:
    """Their ``train()`` at the cpu tier's settings, a checkpoint every 500 steps."""
    a = _authors(path)
    iters = os.environ.get("ITERS", "500")
    sys.argv = _argv(name, "--N_iters", iters, "--i_weights", "500", "--i_testset", "100000000",
                     "--i_print", "50", *extra)  # fmt: skip
    a.seed_torch(seed)
    a.train()


def score(checkpoint: str, theirs: bool) -> None:
    """Test PSNR and SSIM of the first 8 test views at 100×100, iga's renderer and metrics."""
    from iga.models.nerf import NeRF, NeRFConfig
    from iga.tasks.nerf.data import load_blender
    from iga.tasks.nerf.task import RenderConfig, score_views

    model = NeRF(
        NeRFConfig(depth=4, width=128, skip=-1), RenderConfig(n_coarse=32, n_fine=32), 2.0, 6.0
    )
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if theirs:
        names = {"trunk": "pts_linears", "sigma": "alpha_linear", "feature": "feature_linear",
                 "view": "views_linears.0", "rgb": "rgb_linear"}  # fmt: skip
        nets = {"coarse": "network_fn_state_dict", "fine": "network_fine_state_dict"}
        mapped = {}
        for key, value in model.state_dict().items():
            net, head, tail = key.split(".", 2)
            # the encodings' frequency buffers are ours; their encoder holds no tensors
            mapped[key] = (
                value if head.startswith("embed") else state[nets[net]][f"{names[head]}.{tail}"]
            )
        state = mapped
    model.load_state_dict(state)
    _, scores = score_views(model, load_blender(SCENE, "test", size=100, views=8), 4096)
    out = {
        "checkpoint": os.path.basename(checkpoint),
        "psnr_test": float(np.mean(scores["psnr"])),
        "ssim_test": float(np.mean(scores["ssim"])),
        "psnr_test_views": [float(p) for p in scores["psnr"]],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "probe":
        probe(sys.argv[2])
    elif cmd == "train":
        train(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:])
    elif cmd == "score":
        score(sys.argv[2], "--theirs" in sys.argv[3:])
    else:
        sys.exit(__doc__)

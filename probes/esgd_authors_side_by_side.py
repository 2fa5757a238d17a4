#!/usr/bin/env python
"""Side-by-side check: iga.optim.ESGD against the authors' optimizers/esgd.py ESGD
(sfchng/preconditioner_neural_fields, CVPR 2025).

Usage (one torch thread; run with iga's venv):

    OMP_NUM_THREADS=1 python probes/esgd_authors_side_by_side.py REF_DIR [--out DIR]
        [--part 1|2a|2b|all] [--steps 400] [--epochs 10] [--iga-steps 300]
        [--pydeps DIR]   (easydict, pyyaml, termcolor if not installed)

REF_DIR is an unmodified checkout of the reference repository (``git archive HEAD``). It is
never modified: it is copied to ``OUT/../patched/ref_patched`` and the CPU patches (PATCHES below;
three files, device handling and a removed ``torch._six`` import only) are applied to the copy.
Nothing is written under the iga repository.

Part 1  optimizer-level exactness. Same initial weights (deep copies), same full-batch MSE
        data; the authors' ESGD with their calling protocol
            zero_grad(set_to_none=True); loss.backward(create_graph=opt.should_create_graph());
            opt.step()
        against iga's ESGD with iga's protocol
            zero_grad(set_to_none=True); if opt.wants_curvature(): opt.update_curvature(loss);
            loss.backward(); opt.step()
        run in lockstep. The global RNG is seeded with S right before the loop, iga's ESGD gets
        seed=S. The Rademacher vectors actually drawn are recorded by pass-through wrappers of
        torch.randint_like / torch.randint (values untouched) and compared. Also: iga with
        bias_correction="updates" (expected to coincide for t <= d_warmup and then differ) and a
        same-state one-step probe of the "steps" vs "updates" update size against
        sqrt((1 - b2^t) / (1 - b2^u)).
Part 2a training level, the authors' own train.py (img_siren_stochastic, ESGD, their img.yaml
        recipe: SIREN 2-256x4(sine, w0=30)-3, lr 0.15, eps 1e-4, update 100, warmup 50,
        mini-batches of 512 shuffled pixels, 128 steps an epoch) on a fake data/data_div2k.npz
        whose test_data[14] is the kodim03 centre crop; once with their ESGD, once with
        iga.optim.ESGD swapped in (iga's protocol; its generator set to torch.default_generator
        so that, as in theirs, the vectors and the DataLoader shuffles share the global stream).
Part 2b iga's own pipeline: ``iga fit image`` on the same 256x256 target (their bilinear
        downsample, saved as 8-bit PNG), SIREN width 256, 4 sine layers + linear, esgd, lr 0.15,
        no lr decay, --method vanilla, FULL batch: a qualitative comparison only.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(1)

HERE = Path(__file__).resolve().parent
KODIM = Path(__file__).resolve().parents[1] / "src" / "iga" / "data" / "kodim03.png"

# (file, old, new): every old string must occur exactly once. Same content as
# the CPU patch of the authors' repository.
PATCHES = [
    ("optimizers/lr_scheduler.py", "from torch._six import inf", "from math import inf"),
    ("train.py", "import importlib\n", "import importlib\nimport contextlib\n"),
    (
        "train.py",
        "    with torch.cuda.device(opt.device):",
        '    with (torch.cuda.device(opt.device) if str(opt.device).startswith("cuda") '
        "else contextlib.nullcontext()):",
    ),
    ("warp.py", "    return pixel_coords.cuda()", "    return pixel_coords.to(opt.device)"),
]


# --------------------------------------------------------------------------------------------
# preparation
# --------------------------------------------------------------------------------------------


def kodim_crop512() -> np.ndarray:
    from PIL import Image

    im = np.array(Image.open(KODIM).convert("RGB"))  # 512 x 768 x 3
    assert im.shape == (512, 768, 3), im.shape
    return im[:, 128:640].copy()  # centre 512 x 512 crop


def prepare(ref: Path, work: Path) -> Path:
    dst = work / "ref_patched"
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(ref, dst, ignore=shutil.ignore_patterns(".git"))
    for rel, old, new in PATCHES:
        f = dst / rel
        text = f.read_text()
        n = text.count(old)
        if n != 1:
            raise SystemExit(f"patch {rel}: expected 1 occurrence of {old!r}, found {n}")
        f.write_text(text.replace(old, new))
    # Fake data/data_div2k.npz: only test_data[div2k_id=14] is read by the img recipe
    # (div2k_mode "test"); it is the kodim03 centre crop, everything else is zeros.
    test = np.zeros((15, 512, 512, 3), np.uint8)
    test[14] = kodim_crop512()
    train = np.zeros((1, 512, 512, 3), np.uint8)
    np.savez(dst / "data" / "data_div2k.npz", train_data=train, test_data=test)
    # diff of the patched copy, for the record
    d = subprocess.run(
        ["diff", "-ru", "-x", "*.npz", "-x", "__pycache__", str(ref), str(dst)],
        capture_output=True,
        text=True,
    )
    (work / "applied_patch.diff").write_text(d.stdout)
    return dst


# --------------------------------------------------------------------------------------------
# part 1
# --------------------------------------------------------------------------------------------


def small_data(n: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """kodim03 centre crop box-downsampled to n x n, coords (y, x) in [-1, 1] (their grid)."""
    crop = torch.from_numpy(kodim_crop512()).double().permute(2, 0, 1)[None] / 255.0
    img = F.adaptive_avg_pool2d(crop, n)[0].permute(1, 2, 0).reshape(-1, 3)
    ax = torch.linspace(-1, 1, n, dtype=torch.float64)
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    coords = torch.stack([yy, xx], -1).reshape(-1, 2)
    return coords.to(dtype), img.to(dtype)


def maxdiff(ma: torch.nn.Module, mb: torch.nn.Module) -> float:
    return max(
        float((a.detach() - b.detach()).abs().max())
        for a, b in zip(ma.parameters(), mb.parameters(), strict=True)
    )


def probe_bias_correction(opt, model) -> dict:
    """One step of ``opt`` (iga ESGD, bias_correction "steps") taken twice from the same state:
    once as "updates", once as "steps"; returns the size ratio of the two updates."""
    params = list(model.parameters())
    before = [p.detach().clone() for p in params]
    saved = {
        p: {k: (v.clone() if torch.is_tensor(v) else v) for k, v in opt.state[p].items()}
        for p in params
    }
    steps, ssd = opt.steps, opt.steps_since_d
    hv = list(opt._hvps) if opt._hvps is not None else None
    t = saved[params[0]]["step"] + 1
    u = saved[params[0]]["d_updates"] + (1 if opt.wants_curvature() else 0)
    opt.bias_correction = "updates"
    opt.step()
    du = [p.detach() - b for p, b in zip(params, before, strict=False)]
    with torch.no_grad():
        for p, b in zip(params, before, strict=False):
            p.copy_(b)
    for p in params:
        opt.state[p] = saved[p]
    opt.steps, opt.steps_since_d, opt._hvps = steps, ssd, hv
    opt.bias_correction = "steps"
    opt.step()
    ds = [p.detach() - b for p, b in zip(params, before, strict=False)]
    nu = math.sqrt(sum(float((x.double() ** 2).sum()) for x in du))
    ns = math.sqrt(sum(float((x.double() ** 2).sum()) for x in ds))
    # Element ratios only where the update is well above the rounding of p + update (an
    # update of a few ulps of p is measured as a multiple of an ulp, e.g. 1 vs 2 ulps).
    tiny = 1e3 * torch.finfo(before[0].dtype).eps
    keep = [u_.abs() > tiny * b.abs() for u_, b in zip(du, before, strict=False)]
    ratios = torch.cat(
        [
            (s.double().abs() / u_.double().abs())[k].flatten()
            for s, u_, k in zip(ds, du, keep, strict=False)
        ]
    )
    n_all = sum(u_.numel() for u_ in du)
    b2 = opt.param_groups[0]["betas"][1]
    return {
        "t": t,
        "u": u,
        "formula": math.sqrt((1 - b2**t) / (1 - b2**u)),
        "norm_ratio": ns / nu,
        "elem_ratio_max": float(ratios.max()),
        "elem_ratio_median": float(ratios.median()),
        "elem_ratio_min": float(ratios.min()),
        "elem_fraction_used": ratios.numel() / n_all,
    }


def part1(patched: Path, out: Path, steps: int, seed: int) -> dict:
    sys.path.insert(0, str(patched))
    from optimizers.esgd import ESGD as TheirESGD  # the authors' class, unmodified

    import iga.models
    import iga.optim

    hp = dict(lr=0.15, eps=1e-4, betas=(0.9, 0.999))
    report_at = [1, 2, 50, 51, 52, 100, 149, 150, 151, 250, 350, 400]
    report_at = [t for t in report_at if t <= steps]
    probe_at = [51, 100, 149, 150, 151, 200, 249, 250, 300, 349, 350, 400]
    probe_at = [t for t in probe_at if t <= steps]
    # (arch, hidden width, dtype, arch options). SIREN at width 32 takes a huge first step
    # (ESGD's lr * g / (|Hv| + eps) on near-zero-curvature weights; the same in both codes)
    # and recovers slowly; width 64 trains smoothly, so both are shown.
    cases = [
        ("siren", 32, torch.float32, {}),
        ("siren", 32, torch.float64, {}),
        ("siren", 64, torch.float32, {}),
        ("siren", 64, torch.float64, {}),
        ("pe", 32, torch.float32, {"pe_levels": 6}),
        ("pe", 32, torch.float64, {"pe_levels": 6}),
    ]
    results = {}
    orig_randint_like, orig_randint = torch.randint_like, torch.randint
    for arch, width, dtype, kw in cases:
        name = f"{arch}_w{width}_{str(dtype).split('.')[-1]}"
        x, y = small_data(32, dtype)
        base = iga.models.build(
            arch, 2, 3, hidden_features=width, hidden_layers=3, seed=0, dtype=dtype, **kw
        )
        m_theirs, m_iga, m_upd, m_probe = (copy.deepcopy(base) for _ in range(4))
        drawn: dict[str, list[torch.Tensor]] = {"theirs": [], "iga": []}
        recording = {"who": None}

        def randint_like(*a, **k):
            out_ = orig_randint_like(*a, **k)
            drawn["theirs"].append(out_.detach().clone())  # noqa: B023
            return out_

        def randint(*a, **k):
            out_ = orig_randint(*a, **k)
            if recording["who"] == "iga":  # noqa: B023
                drawn["iga"].append(out_.detach().clone())  # noqa: B023
            return out_

        torch.randint_like, torch.randint = randint_like, randint
        try:
            torch.manual_seed(seed)  # the global stream the authors' randint_like draws from
            o_theirs = TheirESGD(m_theirs.parameters(), update_d_every=100, d_warmup=50, **hp)
            o_iga = iga.optim.ESGD(
                m_iga.parameters(), update_every=100, d_warmup=50, seed=seed, **hp
            )
            o_upd = iga.optim.ESGD(
                m_upd.parameters(),
                update_every=100,
                d_warmup=50,
                seed=seed,
                bias_correction="updates",
                **hp,
            )
            o_probe = iga.optim.ESGD(
                m_probe.parameters(), update_every=100, d_warmup=50, seed=seed, **hp
            )
            rec = {
                k: []
                for k in (
                    "loss_theirs",
                    "loss_iga",
                    "loss_updates",
                    "dtheta",
                    "dtheta_updates",
                    "dgrad",
                    "curv_theirs",
                    "curv_iga",
                )
            }
            probes = []
            for t in range(1, steps + 1):
                # --- theirs: their exact protocol
                o_theirs.zero_grad(set_to_none=True)
                loss_a = F.mse_loss(m_theirs(x), y)
                curv_a = o_theirs.should_create_graph()
                loss_a.backward(create_graph=curv_a)
                g_a = [p.grad.detach().clone() for p in m_theirs.parameters()]
                o_theirs.step()
                # --- iga: iga's protocol (as in iga.train.fit)
                o_iga.zero_grad(set_to_none=True)
                loss_b = F.mse_loss(m_iga(x), y)
                curv_b = o_iga.wants_curvature()
                if curv_b:
                    recording["who"] = "iga"
                    o_iga.update_curvature(loss_b)
                    recording["who"] = None
                loss_b.backward()
                g_b = [p.grad.detach().clone() for p in m_iga.parameters()]
                o_iga.step()
                # --- iga, bias_correction="updates"
                o_upd.zero_grad(set_to_none=True)
                loss_c = F.mse_loss(m_upd(x), y)
                if o_upd.wants_curvature():
                    o_upd.update_curvature(loss_c)
                loss_c.backward()
                o_upd.step()
                # --- iga "steps" copy used for the same-state probe
                o_probe.zero_grad(set_to_none=True)
                loss_d = F.mse_loss(m_probe(x), y)
                if o_probe.wants_curvature():
                    o_probe.update_curvature(loss_d)
                loss_d.backward()
                if t in probe_at:
                    probes.append(probe_bias_correction(o_probe, m_probe))
                else:
                    o_probe.step()

                rec["loss_theirs"].append(float(loss_a.detach()))
                rec["loss_iga"].append(float(loss_b.detach()))
                rec["loss_updates"].append(float(loss_c.detach()))
                rec["dtheta"].append(maxdiff(m_theirs, m_iga))
                rec["dtheta_updates"].append(maxdiff(m_theirs, m_upd))
                rec["dgrad"].append(
                    max(float((a - b).abs().max()) for a, b in zip(g_a, g_b, strict=True))
                )
                rec["curv_theirs"].append(curv_a)
                rec["curv_iga"].append(curv_b)
        finally:
            torch.randint_like, torch.randint = orig_randint_like, orig_randint

        n_theirs, n_iga = len(drawn["theirs"]), len(drawn["iga"])
        # theirs records randint_like(p.grad, 2) in {0,1}; iga randint(0, 2) in {0,1}
        vec_equal = n_theirs == n_iga and all(
            torch.equal(a, b.to(a.dtype))
            for a, b in zip(drawn["theirs"], drawn["iga"], strict=False)
        )
        curv_steps = [t + 1 for t, c in enumerate(rec["curv_theirs"]) if c]
        res = {
            "case": name,
            "n_params": sum(p.numel() for p in base.parameters()),
            "n_points": x.shape[0],
            "param_max_abs_final": max(
                float(p.detach().abs().max()) for p in m_theirs.parameters()
            ),
            "vectors_drawn_theirs": n_theirs,
            "vectors_drawn_iga": n_iga,
            "vectors_identical": bool(vec_equal),
            "curvature_flags_identical": rec["curv_theirs"] == rec["curv_iga"],
            "curvature_steps": curv_steps,
            "dtheta_at": {t: rec["dtheta"][t - 1] for t in report_at},
            "dtheta_max_all": max(rec["dtheta"]),
            "dgrad_max_all": max(rec["dgrad"]),
            "dtheta_updates_at": {t: rec["dtheta_updates"][t - 1] for t in report_at},
            "first_step_updates_differs": next(
                (t + 1 for t, d in enumerate(rec["dtheta_updates"]) if d > 0), None
            ),
            "loss_at": {
                t: (rec["loss_theirs"][t - 1], rec["loss_iga"][t - 1], rec["loss_updates"][t - 1])
                for t in report_at
            },
            "final_loss": {
                "theirs": rec["loss_theirs"][-1],
                "iga": rec["loss_iga"][-1],
                "iga_updates": rec["loss_updates"][-1],
            },
            "probe_matches_steps_run": maxdiff(m_probe, m_iga),
            "probes": probes,
        }
        results[name] = res
        with open(out / f"part1_{name}_curves.csv", "w") as f:
            f.write(
                "step,loss_theirs,loss_iga,loss_iga_updates,max_abs_dtheta_iga,"
                "max_abs_dtheta_updates,max_abs_dgrad,curvature_step\n"
            )
            for i in range(steps):
                f.write(
                    f"{i + 1},{rec['loss_theirs'][i]!r},{rec['loss_iga'][i]!r},"
                    f"{rec['loss_updates'][i]!r},{rec['dtheta'][i]!r},"
                    f"{rec['dtheta_updates'][i]!r},{rec['dgrad'][i]!r},"
                    f"{int(rec['curv_theirs'][i])}\n"
                )
        print(json.dumps({k: v for k, v in res.items() if k != "probes"}, indent=1), flush=True)
        for p in probes:
            print("  probe", p, flush=True)
    (out / "part1.json").write_text(json.dumps(results, indent=1))
    plot_part1(out, list(results))
    return results


def plot_part1(out: Path, names: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(names), figsize=(3.2 * len(names), 6), squeeze=False)
    for j, name in enumerate(names):
        d = np.genfromtxt(out / f"part1_{name}_curves.csv", delimiter=",", names=True)
        ax = axes[0, j]
        ax.semilogy(d["step"], d["loss_theirs"], lw=3, alpha=0.5, label="authors' ESGD")
        ax.semilogy(d["step"], d["loss_iga"], "k--", lw=1, label='iga ESGD ("steps")')
        ax.semilogy(d["step"], d["loss_iga_updates"], "r:", lw=1, label='iga ESGD ("updates")')
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
        if j == 0:
            ax.set_ylabel("full-batch MSE (before the step)")
            ax.legend(fontsize=7)
        ax = axes[1, j]
        ax.semilogy(
            d["step"], d["max_abs_dtheta_updates"] + 1e-20, "r:", label='"updates" vs authors'
        )
        ax.semilogy(
            d["step"],
            d["max_abs_dtheta_iga"] + 1e-20,
            "k--",
            label='"steps" vs authors (0 -> 1e-20)',
        )
        ax.set_xlabel("step")
        if j == 0:
            ax.set_ylabel("max |dtheta|")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "part1_curves.png", dpi=110)


# --------------------------------------------------------------------------------------------
# part 2a: the authors' train.py, their ESGD vs iga's ESGD swapped in
# --------------------------------------------------------------------------------------------

RUNNER = r"""
# Runs the authors' train.py on CPU with stubs for optional imports (ipdb, visdom,
# torchvision, tensorboard); with --iga-esgd, iga.optim.ESGD replaces their ESGD.
import sys, types, torch
torch.set_num_threads(1)
for name in ["ipdb", "visdom"]:
    m = types.ModuleType(name); m.set_trace = lambda *a, **k: None; m.Visdom = object
    sys.modules[name] = m
tv = types.ModuleType("torchvision"); tvt = types.ModuleType("torchvision.transforms")
tvtf = types.ModuleType("torchvision.transforms.functional")
tvu = types.ModuleType("torchvision.utils"); tvu.make_grid = lambda x, nrow=8, pad_value=0: x[0]
tv.transforms = tvt; tvt.functional = tvtf; tv.utils = tvu
sys.modules.update({"torchvision": tv, "torchvision.transforms": tvt,
                    "torchvision.transforms.functional": tvtf, "torchvision.utils": tvu})
tb = types.ModuleType("torch.utils.tensorboard")
class SW:
    def __init__(self, *a, **k): pass
    def add_scalar(self, tag, v, step):
        if "PSNR" in tag or "loss" in tag:
            print(f"[tb] {tag} step={step} {float(v)!r}", flush=True)
    def add_image(self, *a, **k): pass
    def flush(self): pass
    def close(self): pass
tb.SummaryWriter = SW; sys.modules["torch.utils.tensorboard"] = tb; torch.utils.tensorboard = tb

swap = "--iga-esgd" in sys.argv
own_generator = "--iga-own-generator" in sys.argv
gen_seed = [int(a.split("=")[1]) for a in sys.argv if a.startswith("--iga-gen-seed=")]
args = [a for a in sys.argv[1:]
        if a not in ("--iga-esgd", "--iga-own-generator") and not a.startswith("--iga-gen-seed=")]
sys.argv = ["train.py"] + args
import train
if swap:
    import time
    import util
    import model.img_siren_stochastic as M
    import iga.optim

    def setup_optimizer(self, opt):
        o = opt.optim.ESGD
        self.optim = iga.optim.ESGD(self.graph.neural_image.parameters(), lr=o.lr,
                                    update_every=o.update, d_warmup=o.d_warmup, eps=o.damping,
                                    seed=gen_seed[0] if gen_seed else opt.seed)
        if not own_generator:
            # share the global stream, as the authors' torch.randint_like does
            self.optim.generator = torch.default_generator
        print("[swap] iga.optim.ESGD", self.optim, flush=True)

    def train_iteration_esgd(self, opt, var, loader, trainloader):
        # their train_iteration_esgd, with iga's calling protocol for the optimiser
        self.timer.it_start = time.time()
        self.train_per_epoch = 0
        for i, (input, gt) in enumerate(trainloader):
            var.input = input
            var.label = gt
            var = util.move_to_device(var, opt.device)
            time_start = time.time()
            self.optim.zero_grad(set_to_none=True)
            self.graph.forward(opt, var, mode="train")
            loss = self.graph.compute_loss(opt, var, mode="train")
            loss = self.summarize_loss(opt, var, loss)
            if self.optim.wants_curvature():
                self.optim.update_curvature(loss.all)
            loss.all.backward()
            self.hvp_vis = self.optim.step()
            train_per_iter = time.time() - time_start
            self.training_time += train_per_iter
            self.train_per_epoch += train_per_iter
            self.iter += 1
        if (self.it + 1) % opt.freq.scalar == 0:
            self.log_scalars(opt, loss, var, step=self.it + 1, split="train")
        self.it += 1
        loader.set_postfix(it=self.it, loss="{:.6f}".format(loss.all),
                           train_per_iteration="{:.4f}".format(train_per_iter))
        self.timer.it_end = time.time()
        util.update_timer(opt, self.timer, self.ep, len(loader))
        return loss

    M.Model.setup_optimizer = setup_optimizer
    M.Model.train_iteration_esgd = train_iteration_esgd
train.main()
"""


def parse_psnr(text: str) -> dict[int, float]:
    out = {}
    for m in re.finditer(r"\[tb\] evaluate/PSNR step=(\d+) (\S+)", text):
        out[int(m.group(1))] = float(m.group(2))
    return out


def final_weights(patched: Path, name: str) -> dict[str, torch.Tensor] | None:
    path = patched / "output" / "sbs" / name / "model.ckpt"  # their latest checkpoint
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)["graph"]


def part2a(patched: Path, out: Path, epochs: int, pydeps: str) -> dict:
    runner = out.parent / "patched" / "run_ref.py"
    runner.write_text(RUNNER)
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([pydeps, str(patched)])
    logs = {}
    runs = (
        ("theirs_esgd", []),
        ("iga_esgd_in_their_loop", ["--iga-esgd"]),
        # iga's ESGD as shipped: its own generator (seed 0), so other Rademacher vectors than
        # the authors' (their global stream is also consumed by the DataLoader's shuffles)
        ("iga_esgd_own_generator", ["--iga-esgd", "--iga-own-generator"]),
    )
    for tag, extra in runs:
        cmd = [
            sys.executable,
            str(runner),
            "--model=img_siren_stochastic",
            "--yaml=img",
            "--optim.algo=ESGD",
            f"--max_iter={epochs}",
            "--freq.val=1",
            "--freq.scalar=1",
            "--group=sbs",
            f"--name={tag}",
            "--seed=0",
            "--cpu",
            *extra,
        ]
        print("running", " ".join(cmd), flush=True)
        p = subprocess.run(cmd, cwd=patched, env=env, capture_output=True, text=True)
        (out / f"part2a_{tag}.log").write_text(p.stdout + "\n--- stderr ---\n" + p.stderr)
        if p.returncode != 0:
            print(p.stderr[-3000:])
            raise SystemExit(f"{tag} failed")
        logs[tag] = {"cmd": " ".join(cmd), "psnr": parse_psnr(p.stdout)}
    w = {tag: final_weights(patched, tag) for tag in logs}
    res = {"runs": logs}
    a = w["theirs_esgd"]
    for tag in ("iga_esgd_in_their_loop", "iga_esgd_own_generator"):
        b = w[tag]
        if a is not None and b is not None:
            res[f"final_weights_max_abs_diff_{tag}"] = max(
                float((a[k].float() - b[k].float()).abs().max()) for k in a if torch.is_tensor(a[k])
            )
    (out / "part2a.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    return res


def part2c(patched: Path, out: Path, epochs: int, seeds: list[int], pydeps: str) -> dict:
    """Seed spread: the authors' ESGD and iga's ESGD with its own generator, other seeds."""
    runner = out.parent / "patched" / "run_ref.py"
    runner.write_text(RUNNER)
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([pydeps, str(patched)])
    res: dict = {"epochs": epochs, "runs": {}}
    for seed in seeds:
        for tag, extra in (
            ("theirs_esgd", []),
            ("iga_esgd_own_generator", ["--iga-esgd", "--iga-own-generator"]),
        ):
            cmd = [
                sys.executable,
                str(runner),
                "--model=img_siren_stochastic",
                "--yaml=img",
                "--optim.algo=ESGD",
                f"--max_iter={epochs}",
                "--freq.val=1",
                "--freq.scalar=1",
                "--group=sbs_seeds",
                f"--name={tag}",
                f"--seed={seed}",
                "--cpu",
                *extra,
            ]
            print("running", " ".join(cmd), flush=True)
            p = subprocess.run(cmd, cwd=patched, env=env, capture_output=True, text=True)
            (out / f"part2c_{tag}_seed{seed}.log").write_text(
                p.stdout + "\n--- stderr ---\n" + p.stderr
            )
            if p.returncode != 0:
                print(p.stderr[-3000:])
                raise SystemExit(f"{tag} seed {seed} failed")
            res["runs"][f"{tag}_seed{seed}"] = {"cmd": " ".join(cmd), "psnr": parse_psnr(p.stdout)}
    (out / "part2c.json").write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v["psnr"] for k, v in res["runs"].items()}, indent=1))
    return res


# --------------------------------------------------------------------------------------------
# part 2b: iga's own full-batch pipeline on the same target
# --------------------------------------------------------------------------------------------


def their_target_png(out: Path) -> Path:
    """Their preprocessing: crop/255 -> float32 -> bilinear interpolate 512 -> 256 (as in
    data/image.py), saved as an 8-bit PNG (rounded) for iga fit image."""
    from PIL import Image

    raw = torch.from_numpy(kodim_crop512() / 255.0).float().permute(2, 0, 1)
    img = F.interpolate(raw[None], size=(256, 256), mode="bilinear")[0]
    arr = (img.permute(1, 2, 0).clamp(0, 1).numpy() * 255.0).round().astype(np.uint8)
    path = out / "kodim03_crop512_bilinear256.png"
    Image.fromarray(arr).save(path)
    err = (torch.from_numpy(arr).float() / 255.0 - img.permute(1, 2, 0)).abs().max()
    print(f"target PNG {path} (max 8-bit rounding error {float(err):.2e})")
    return path


def part2b(out: Path, steps: int) -> dict:
    png = their_target_png(out)
    run_dir = out / "part2b_iga_fit"
    iga_bin = Path(sys.executable).parent / "iga"
    cmd = [
        str(iga_bin),
        "fit",
        "image",
        str(png),
        "--arch",
        "siren",
        "--width",
        "256",
        "--hidden-layers",
        "4",
        "--method",
        "vanilla",
        "--optimizer",
        "esgd",
        "--lr",
        "0.15",
        "--decay",
        "1.0",
        "--steps",
        str(steps),
        "--seed",
        "0",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--spectrum-every",
        "1000000",
        "--checkpoint-every",
        "0",
        "--out",
        str(run_dir),
        "--overwrite",
        "--quiet",
    ]
    print("running", " ".join(cmd), flush=True)
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    (out / "part2b_iga_fit.log").write_text(p.stdout + "\n--- stderr ---\n" + p.stderr)
    if p.returncode != 0:
        print(p.stderr[-3000:])
        raise SystemExit("iga fit failed")
    return summarize_2b(out, " ".join(cmd))


def summarize_2b(out: Path, cmd: str | None = None) -> dict:
    run_dir = out / "part2b_iga_fit"
    d = np.genfromtxt(run_dir / "metrics.csv", delimiter=",", names=True)
    summary = json.loads((run_dir / "summary.json").read_text())
    res = {
        "cmd": cmd if cmd is not None else json.loads((out / "part2b.json").read_text())["cmd"],
        "run_dir": str(run_dir),
        "psnr_at_step": {
            int(s): float(p)
            for s, p in zip(d["step"], d["psnr"], strict=False)
            if int(s) in (0, 1, 10, 20, 30, 40, 50, 60, 70, 80, 90) or int(s) == int(d["step"][-1])
        },
        "psnr_final": summary["psnr_final"],
        "diverged_at_step": summary["diverged_at_step"],
    }
    (out / "part2b.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "ref", type=Path, help="unmodified checkout of sfchng/preconditioner_neural_fields"
    )
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--part", default="all", choices=["1", "2a", "2b", "2b-summary", "2c", "all"])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--iga-steps", type=int, default=100)
    ap.add_argument("--seed-epochs", type=int, default=3, help="part 2c: epochs a run")
    ap.add_argument("--seeds", default="1,2", help="part 2c: seeds")
    ap.add_argument(
        "--pydeps",
        default="",
        help="folder with easydict, pyyaml, termcolor (their train.py imports)",
    )
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    work = a.out.parent / "patched"
    work.mkdir(parents=True, exist_ok=True)
    patched = prepare(a.ref.resolve(), work)
    print(f"patched copy: {patched}; applied diff: {work / 'applied_patch.diff'}", flush=True)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}", flush=True)
    if a.part in ("1", "all"):
        part1(patched, a.out, a.steps, a.seed)
    if a.part in ("2a", "all"):
        part2a(patched, a.out, a.epochs, a.pydeps)
    if a.part in ("2c", "all"):
        part2c(patched, a.out, a.seed_epochs, [int(x) for x in a.seeds.split(",")], a.pydeps)
    if a.part in ("2b", "all"):
        part2b(a.out, a.iga_steps)
    if a.part == "2b-summary":  # re-read an existing part 2b run
        cmd = (
            f"{Path(sys.executable).parent / 'iga'} fit image "
            f"{a.out / 'kodim03_crop512_bilinear256.png'} --arch siren --width 256 "
            "--hidden-layers 4 --method vanilla --optimizer esgd --lr 0.15 --decay 1.0 "
            f"--steps {a.iga_steps} --seed 0 --device cpu --threads 1 --spectrum-every 1000000 "
            f"--checkpoint-every 0 --out {a.out / 'part2b_iga_fit'} --overwrite --quiet"
        )
        summarize_2b(a.out, cmd)


if __name__ == "__main__":
    main()

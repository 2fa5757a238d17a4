#!/usr/bin/env python
# ruff: noqa: E501, B023
"""Side by side: iga's ``--optimizer muon`` vs the Muon-INRs reference (``fit_image.py`` with
Keller Jordan's ``SingleDeviceMuonWithAuxAdam``), on the CPU, one torch thread, one run at a time.

Usage (run with iga's venv python; the reference runs under --ref-python):

    python probes/muon_authors_side_by_side.py REF_DIR --muon-dir KELLER_DIR [--out OUT] [--parts optim,train,report]
                           [--configs relu-muon,relu-adam,siren-muon] [--seeds 0 1 2]

REF_DIR: a work tree of jqmcginnis/muon-inrs (fit_image.py, models.py); KELLER_DIR: a work tree
of KellerJordan/Muon (muon.py). The reference's own files are NOT edited: the script copies
fit_image.py, models.py and Keller's muon.py into OUT/ref_work/ next to two stand-in modules,
``wandb.py`` (offline recorder) and ``lpips.py`` (returns NaN), which the script directory
puts first on sys.path. That is the whole CPU/offline patch.

Parts
  optim   optimizer-level: one iga model, two deep copies, iga.optim.build_optimizer("muon")
          vs Keller's SingleDeviceMuonWithAuxAdam on the same full-batch MSE, 200 steps, float32
          (both do Newton-Schulz in bf16); plus the same in float64 with NS forced to float64
          (isolates bf16 rounding), Keller bf16 vs Keller fp32-NS (the size of bf16 noise), and the
          cosine schedules (iga LambdaLR vs CosineAnnealingLR).  -> OUT/optim.json, OUT/optim.log
  train   the image runs (kodim01 at iga's 192x128 cpu tier, saved as OUT/target.png), theirs
          and ours, per config and seed, sequentially; finished runs are skipped.
          -> OUT/runs/<config>/<side>/seed<S>/
  report  tables (mean +- std over seeds) -> OUT/tables.md, OUT/tables.json (--report-name)
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
KODIM = str(
    HERE.parents[1] / "shared" / "data" / "kodak" / "kodim01.png"
)  # ../shared beside the repo
STEPS = 2000
LOG_AT = (1, 501, 1001, 1501, 2000)  # number of optimizer updates; theirs logs "epoch e" after e+1

CONFIGS = {
    # name: (their args, our args)
    "relu-muon": (
        ["--model", "relu_mlp", "--optimizer", "muon", "--muon_lr", "0.1", "--lr", "1e-3"],
        ["--arch", "relu", "--optimizer", "muon", "--lr", "0.1"],
    ),
    "relu-adam": (
        ["--model", "relu_mlp", "--optimizer", "adam", "--lr", "1e-3"],
        ["--arch", "relu", "--optimizer", "adam", "--lr", "1e-3"],
    ),
    "siren-muon": (
        ["--model", "siren_mlp", "--optimizer", "muon", "--muon_lr", "0.01", "--lr", "1e-3"],
        ["--arch", "siren", "--optimizer", "muon", "--lr", "0.01"],
    ),
}
THEIR_COMMON = [
    "--num_layers",
    "4",
    "--hidden_dim",
    "64",
    "--epochs",
    str(STEPS),
    "--T_max",
    str(STEPS),
    "--scheduler",
    "cosine",
    "--log_n_epochs",
    "500",
    "--log_image_evolution",
    "--siren_omega",
    "30",
    "--finer_omega",
    "30",
]
OUR_COMMON = [
    "--width",
    "64",
    "--hidden-layers",
    "3",
    "--method",
    "vanilla",
    "--schedule",
    "cosine",
    "--steps",
    str(STEPS),
    "--quiet",
    "--threads",
    "1",
]


def one_thread_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MPLBACKEND": "Agg",
            "PYTHONHASHSEED": "0",
        }
    )
    env.update(extra or {})
    return env


# ------------------------------------------------------------------------------------------------
# the CPU/offline patch


def prepare_ref(ref_dir: Path, muon_dir: Path, out: Path) -> Path:
    work = out / "ref_work"
    work.mkdir(parents=True, exist_ok=True)
    for name in ("fit_image.py", "models.py"):
        shutil.copy2(ref_dir / name, work / name)
    shutil.copy2(muon_dir / "muon.py", work / "muon.py")
    for name in ("wandb.py", "lpips.py"):  # the only patch: two stand-in modules
        shutil.copy2(HERE / "authors_stubs" / name, work / name)
    return work


# ------------------------------------------------------------------------------------------------
# part 1: optimizer level


def load_keller(muon_dir: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("keller_muon", muon_dir / "muon.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def keller_groups(model, muon_lr: float):
    from iga.optim import muon_split

    muon, other = muon_split(model)
    return [
        dict(params=muon, use_muon=True, lr=muon_lr, momentum=0.95, weight_decay=0.0),
        dict(
            params=other, use_muon=False, lr=1e-3, betas=(0.9, 0.999), eps=1e-10, weight_decay=0.0
        ),
    ]


def flat(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])


def optim_level(muon_dir: Path, out: Path, steps: int = 200, lr: float = 0.05) -> dict:
    import iga.models
    from iga.optim import build_optimizer, build_schedule, muon_split

    km = load_keller(muon_dir)
    torch.set_num_threads(1)

    def make_data(seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.rand(2048, 2, generator=g) * 2 - 1
        ph = torch.rand(3, generator=g) * 2 * math.pi
        y = torch.stack(
            [
                torch.sin(3 * x[:, 0] + ph[0]) * torch.cos(2 * x[:, 1]),
                0.5 * torch.cos(4 * x[:, 0] + x[:, 1] + ph[1]),
                torch.tanh(2 * x[:, 0] * x[:, 1] + ph[2]),
            ],
            dim=1,
        )
        return x, y

    x32, y32 = make_data(123)
    lines, res = [], {}

    def say(s: str) -> None:
        print(s, flush=True)
        lines.append(s)

    def run_pair(arch, dtype, make_a, make_b, ns_override=None, seed=0, data=None):
        base = iga.models.build(arch, 2, 3, hidden_features=64, hidden_layers=3, seed=seed).to(
            dtype
        )
        ma, mb = copy.deepcopy(base), copy.deepcopy(base)
        oa, ob = make_a(ma), make_b(mb)
        xd, yd = data if data is not None else (x32, y32)
        x, y = xd.to(dtype), yd.to(dtype)
        la, lb, diffs = [], [], {}
        orig = torch.Tensor.bfloat16
        if ns_override is not None:
            torch.Tensor.bfloat16 = ns_override
        try:
            for s in range(1, steps + 1):
                for m, o, L in ((ma, oa, la), (mb, ob, lb)):
                    o.zero_grad(set_to_none=True)
                    loss = torch.nn.functional.mse_loss(m(x), y)
                    loss.backward()
                    o.step()
                    L.append(float(loss.detach()))
                if s in (1, 10, 50, 100, 200):
                    diffs[s] = float((flat(ma) - flat(mb)).abs().max())
        finally:
            torch.Tensor.bfloat16 = orig
        with torch.no_grad():
            fa = float(torch.nn.functional.mse_loss(ma(x), y))
            fb = float(torch.nn.functional.mse_loss(mb(x), y))
        la_, lb_ = np.array(la + [fa]), np.array(lb + [fb])
        rel = np.abs(la_ - lb_) / lb_
        onset = lambda t: int(np.argmax(rel > t)) if (rel > t).any() else None  # noqa: E731
        return {
            "max_abs_dtheta": diffs,
            "loss_a": la_.tolist(),
            "loss_b": lb_.tolist(),
            "final_loss_a": fa,
            "final_loss_b": fb,
            "max_rel_loss_diff": float(rel.max()),
            "mean_rel_loss_diff": float(rel.mean()),
            "onset_1e-3": onset(1e-3),
            "onset_1e-2": onset(1e-2),
            "max_abs_psnr_diff_db": float(np.abs(10 * np.log10(la_ / lb_)).max()),
            "theta_scale": float(flat(base).abs().max()),
        }

    lr_now = [lr]
    iga_opt = lambda m: build_optimizer(m, "muon", lr_now[0], {})  # noqa: E731
    kel_opt = lambda m: km.SingleDeviceMuonWithAuxAdam(keller_groups(m, lr_now[0]))  # noqa: E731
    # loss_a[i], loss_b[i]: the loss after i updates (index 0 = initial, 200 = final)

    def keller_variant(ns_dtype=None, clamp_eps=False):
        """A fresh copy of Keller's module; NS input cast to ns_dtype instead of bf16 and/or its
        1e-7 added to the norm as torch does it (norm.clamp(min=1e-7)) -- diagnostics only."""
        k = load_keller(muon_dir)
        if clamp_eps:
            import inspect
            import textwrap

            src = textwrap.dedent(inspect.getsource(k.zeropower_via_newtonschulz5))
            old = "X.norm(dim=(-2, -1), keepdim=True) + 1e-7"
            assert old in src
            exec(src.replace(old, "X.norm(dim=(-2, -1), keepdim=True).clamp(min=1e-7)"), k.__dict__)
        if ns_dtype is not None:
            orig_zp = k.zeropower_via_newtonschulz5

            def zp(G, steps, _orig=orig_zp):
                saved = torch.Tensor.bfloat16
                torch.Tensor.bfloat16 = lambda t: t.to(ns_dtype)
                try:
                    return _orig(G, steps)
                finally:
                    torch.Tensor.bfloat16 = saved

            k.zeropower_via_newtonschulz5 = zp
        return lambda m: k.SingleDeviceMuonWithAuxAdam(keller_groups(m, lr_now[0]))

    no_bf16 = lambda t: t.clone()  # noqa: E731  (NS runs in the tensor's own dtype)
    variants = {
        # (dtype, optimizer a, optimizer b, Tensor.bfloat16 override for both)
        "fp32 iga vs Keller (as shipped, NS in bf16)": (torch.float32, iga_opt, kel_opt, None),
        "fp32 iga vs Keller, NS in fp32 on both": (torch.float32, iga_opt, kel_opt, no_bf16),
        "fp64 iga vs Keller, NS in fp64 on both": (torch.float64, iga_opt, kel_opt, no_bf16),
        "fp64 ditto + Keller eps as torch's (clamp)": (
            torch.float64,
            iga_opt,
            keller_variant(clamp_eps=True),
            no_bf16,
        ),
        "fp32 Keller bf16-NS vs Keller fp32-NS": (
            torch.float32,
            kel_opt,
            keller_variant(ns_dtype=torch.float32),
            None,
        ),
    }
    for arch, alr in (("pe", lr), ("siren", lr), ("siren", 0.01)):
        lr_now[0] = alr
        base = iga.models.build(arch, 2, 3, hidden_features=64, hidden_layers=3, seed=0)
        mu, ot = muon_split(base)
        say(
            f"== {arch}, Muon lr {alr}: Muon gets {[tuple(p.shape) for p in mu]}, Adam gets "
            f"{[tuple(p.shape) for p in ot]}"
        )
        r = {}
        for key, (dt, fa, fb, ov) in variants.items():
            r[key] = v = run_pair(arch, dt, fa, fb, ns_override=ov)
            d = v["max_abs_dtheta"]
            say(
                f"  {key:44s} max|dθ| after 1/10/50/100/200 steps: "
                + " / ".join(f"{d[s]:.1e}" for s in (1, 10, 50, 100, 200))
                + f" | final loss {v['final_loss_a']:.3e} vs {v['final_loss_b']:.3e}"
                + f" | loss rel diff max {v['max_rel_loss_diff']:.1e} ({v['max_abs_psnr_diff_db']:.2f} dB)"
                + f", >1e-3 from step {v['onset_1e-3']}, >1e-2 from step {v['onset_1e-2']}"
            )
        # no systematic difference? 8 independent draws (model seed and data), fp32 as shipped:
        # log10 ratio of the mean loss over updates 151..200, iga / Keller
        ratios = []
        for d in range(8):
            v = run_pair(arch, torch.float32, iga_opt, kel_opt, seed=d, data=make_data(1000 + d))
            ratios.append(float(np.log10(np.mean(v["loss_a"][151:]) / np.mean(v["loss_b"][151:]))))
        ratios = np.array(ratios)
        r["paired_8_draws_log10_ratio"] = ratios.tolist()
        say(
            f"  8 draws (model seed, data), fp32 as shipped: log10(mean loss_iga / mean loss_Keller)"
            f" over updates 151-200 = {ratios.mean():+.3f} ± {ratios.std(ddof=1):.3f} (sd), "
            f"±{ratios.std(ddof=1) / np.sqrt(len(ratios)):.3f} (se); per draw "
            + " ".join(f"{q:+.2f}" for q in ratios)
        )
        res[f"{arch}@{alr}"] = r

    # Newton-Schulz in bf16, one call, same input: Keller vs torch
    from torch.optim import _muon as tm

    gg = torch.Generator().manual_seed(7)
    ns = []
    for _ in range(20):
        G = torch.randn(64, 64, generator=gg)
        a = km.zeropower_via_newtonschulz5(G.clone(), 5).float()
        b = tm._zeropower_via_newtonschulz(G.clone(), (3.4445, -4.7750, 2.0315), 5, 1e-7).float()
        ns.append(
            (float((a - b).abs().max()), float((a - b).norm() / b.norm()), float(b.abs().max()))
        )
        # torch's two addmm's written as Keller's separate bf16 ops:
        X = G.clone().bfloat16()
        X = X / X.norm().clamp(min=1e-7)
        for _ in range(5):
            A = X @ X.T
            B = -4.7750 * A + 2.0315 * A @ A
            X = 3.4445 * X + B @ X
        ns_unfused_equal = bool(torch.equal(X.float(), a))
        ns[-1] = ns[-1] + (float(ns_unfused_equal),)
    ns = np.array(ns)
    res["ns_bf16_one_call"] = {
        "max_abs": float(ns[:, 0].max()),
        "rel_fro_mean": float(ns[:, 1].mean()),
        "entry_scale": float(ns[:, 2].mean()),
    }
    say(
        f"== NS (bf16) one call on the same 64x64 input, Keller vs torch (20 draws): "
        f"max|d| {ns[:, 0].max():.3e} (entries up to {ns[:, 2].mean():.3f}), "
        f"relative Frobenius diff {ns[:, 1].mean():.2e}; torch's NS with its addmm's unfused "
        f"into Keller's separate bf16 ops equals Keller bitwise in {int(ns[:, 3].sum())}/20 draws"
    )
    res["ns_bf16_one_call"]["unfused_equal_keller"] = int(ns[:, 3].sum())

    # cosine schedules: iga LambdaLR vs CosineAnnealingLR(T_max=2000, eta_min=1e-6), per group
    m1 = iga.models.build("relu", 2, 3, hidden_features=64, hidden_layers=3, seed=0)
    m2 = copy.deepcopy(m1)
    o1 = build_optimizer(m1, "muon", 0.1, {})
    s1 = build_schedule(o1, "cosine", STEPS, 0.1, 0.3)
    o2 = km.SingleDeviceMuonWithAuxAdam(keller_groups(m2, 0.1))
    s2 = torch.optim.lr_scheduler.CosineAnnealingLR(o2, T_max=STEPS, eta_min=1e-6)
    import warnings

    warnings.filterwarnings("ignore", message="Detected call of")
    worst = [0.0, 0.0]
    for _ in range(STEPS):
        for i in range(2):
            a, b = o1.param_groups[i]["lr"], o2.param_groups[i]["lr"]
            worst[i] = max(worst[i], abs(a - b) / b)
        s1.step()
        s2.step()
    res["cosine_max_rel_lr_diff"] = worst
    say(
        f"== cosine schedule, 2000 steps: max relative lr difference iga vs CosineAnnealingLR: "
        f"Muon group {worst[0]:.2e}, Adam group {worst[1]:.2e}; final lrs "
        f"{o1.param_groups[0]['lr']:.3e}/{o2.param_groups[0]['lr']:.3e}"
    )
    (out / "optim.json").write_text(json.dumps(res, indent=1))
    (out / "optim.log").write_text("\n".join(lines) + "\n")
    return res


# ------------------------------------------------------------------------------------------------
# part 2: image runs


def make_target(out: Path) -> Path:
    """kodim01 resized exactly as ``iga fit image --size 192x128`` does, as an 8-bit PNG; and
    target_T.png, the same pixels transposed (W and H swapped) for the paired "-T" configs."""
    from iga.io import save_png
    from iga.tasks.image.data import ImageData

    path = out / "target.png"
    if not path.exists():
        d = ImageData.from_file(KODIM, size=(192, 128))
        save_png(path, d.image.numpy())
    path_t = out / "target_T.png"
    if not path_t.exists():
        img = ImageData.from_file(path).image
        save_png(path_t, img.transpose(0, 1).contiguous().numpy())
    return path


def run_theirs(work: Path, ref_python: str, cfg: str, seed: int, target: Path, run: Path) -> None:
    if (run / "done").exists():
        return
    if run.exists():
        shutil.rmtree(run)
    run.mkdir(parents=True)
    image = target.with_name("target_T.png") if cfg.endswith("-T") else target
    cmd = [
        ref_python,
        str(work / "fit_image.py"),
        "--image",
        str(image),
        *THEIR_COMMON,
        *CONFIGS[cfg.removesuffix("-T")][0],
        "--seed",
        str(seed),
    ]
    if cfg.endswith("-T"):  # paired runs: log every 10 epochs for the trajectory comparison
        cmd += ["--log_n_epochs", "10"]
    (run / "cmd.txt").write_text(" ".join(cmd) + "\n")
    t = time.time()
    with open(run / "stdout.log", "w") as f:
        subprocess.run(
            cmd,
            cwd=run,
            env=one_thread_env({"WANDB_STUB_DIR": str(run)}),
            stdout=f,
            stderr=subprocess.STDOUT,
            check=True,
        )
    (run / "done").write_text(f"{time.time() - t:.0f}s (loaded machine, not a result)\n")


def run_ours(iga_bin: str, cfg: str, seed: int, target: Path, run: Path) -> None:
    if cfg.endswith("-T"):  # ours is the same run as the plain config's: link to it
        plain = run.parents[2] / cfg.removesuffix("-T") / "ours" / run.name
        run_ours(iga_bin, cfg.removesuffix("-T"), seed, target, plain)
        if not run.exists():
            run.parent.mkdir(parents=True, exist_ok=True)
            run.symlink_to(plain.resolve())
        return
    if (run / "summary.json").exists():
        return
    run.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        iga_bin,
        "fit",
        "image",
        str(target),
        *OUR_COMMON,
        *CONFIGS[cfg][1],
        "--seed",
        str(seed),
        "--out",
        str(run),
        "--overwrite",
    ]
    (run.parent / f"{run.name}.cmd.txt").write_text(" ".join(cmd) + "\n")
    with open(run.parent / f"{run.name}.stdout.log", "w") as f:
        subprocess.run(cmd, env=one_thread_env(), stdout=f, stderr=subprocess.STDOUT, check=True)


def psnr_db(mse: float) -> float:
    return -10.0 * math.log10(mse)


def read_theirs(run: Path, target: np.ndarray) -> dict:
    rows = [json.loads(l) for l in (run / "log.jsonl").read_text().splitlines()]
    unc, clamped = {}, {}

    def fit(rec: np.ndarray) -> np.ndarray:  # a "-T" run reconstructs the transposed image
        rec = rec.astype(np.float64)
        return rec.transpose(1, 0, 2) if rec.shape != target.shape else rec

    for r in rows:
        if "full_psnr" in r and "epoch" in r:
            k = int(r["epoch"]) + 1  # logged after the update of epoch e: e+1 updates
            unc[k] = float(r["full_psnr"])
            rec = run / f"recon_epoch{r['epoch']}.npy"
            if rec.exists():
                clamped[k] = psnr_db(float(np.mean((fit(np.load(rec)) - target) ** 2)))
        if "final_full_psnr" in r:
            unc[STEPS] = float(r["final_full_psnr"])
    rec = run / "recon_final.npy"
    if rec.exists():
        clamped[STEPS] = psnr_db(float(np.mean((fit(np.load(rec)) - target) ** 2)))
    return {"unclamped": unc, "clamped": clamped}


def read_ours(run: Path, cfg: str, target_path: Path) -> dict:
    import iga.models
    from iga.io import read_csv
    from iga.tasks.image.data import ImageData

    rows = {int(r["step"]): r for r in read_csv(run / "metrics.csv")}
    unc = {k: psnr_db(float(rows[k]["mse"])) for k in rows}
    clamped = {k: float(rows[k]["psnr"]) for k in rows}
    summary = json.loads((run / "summary.json").read_text())
    clamped[STEPS] = float(summary["psnr_final"])
    arch = CONFIGS[cfg.removesuffix("-T")][1][1]
    model = iga.models.build(arch, 2, 3, hidden_features=64, hidden_layers=3)
    model.load_state_dict(torch.load(run / "final.pt", map_location="cpu"))
    d = ImageData.from_file(target_path)
    with torch.no_grad():
        pred = model(d.coords).double()
    unc[STEPS] = psnr_db(float(((pred - d.target.double()) ** 2).mean()))
    return {
        "unclamped": unc,
        "clamped": clamped,
        "psnr_best": float(summary["psnr_best"]),
        "best_step": int(summary["best_step"]),
    }


def report(out: Path, configs: list[str], seeds: list[int], name: str = "tables") -> dict:
    from iga.tasks.image.data import ImageData

    target_path = out / "target.png"
    target = ImageData.from_file(target_path).image.numpy().astype(np.float64)
    allres: dict = {}
    md = [
        f"PSNR (dB) on kodim01 192x128 (target.png), mean ± std over seeds (n per cell in "
        f"brackets when < {len(seeds)}). 'k updates' = parameters after k optimizer steps; "
        f"their 'epoch e' log = e+1 updates.\n"
    ]
    for cfg in configs:
        per = {"theirs": {}, "ours": {}}
        for seed in seeds:
            rt = out / "runs" / cfg / "theirs" / f"seed{seed}"
            ro = out / "runs" / cfg / "ours" / f"seed{seed}"
            if (rt / "done").exists():
                per["theirs"][seed] = read_theirs(rt, target)
            if (ro / "summary.json").exists():
                per["ours"][seed] = read_ours(ro, cfg, target_path)
        allres[cfg] = per
        if not per["theirs"] and not per["ours"]:
            continue
        md.append(f"\n### {cfg}\n")
        md.append(
            "| updates | theirs unclamped | ours unclamped | Δ (ours−theirs) | theirs clamped "
            "| ours clamped | Δ (ours−theirs) |"
        )
        md.append("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

        def cell(side, kind, k):
            v = [per[side][s][kind][k] for s in per[side] if k in per[side][s][kind]]
            if not v:
                return "–", None
            n = f" [{len(v)}]" if len(v) < len(seeds) else ""
            sd = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
            return f"{np.mean(v):.2f} ± {sd:.2f}{n}", float(np.mean(v))

        for k in LOG_AT:
            row = [f"{k}{' (final)' if k == STEPS else ''}"]
            for kind in ("unclamped", "clamped"):
                (ct, mt), (co, mo) = cell("theirs", kind, k), cell("ours", kind, k)
                row += [ct, co, f"{mo - mt:+.2f}" if mt is not None and mo is not None else "–"]
            md.append("| " + " | ".join(row) + " |")
        if per["ours"]:
            jit = []
            for k in LOG_AT[1:-1]:
                v = [
                    np.std([per["ours"][sd]["unclamped"][j] for j in range(k - 10, k + 11)])
                    for sd in per["ours"]
                ]
                jit.append(f"{k}: {np.mean(v):.2f}")
            md.append(
                "\nStep-to-step jitter of ours (unclamped PSNR, std over the 21 updates "
                "k−10..k+10, mean over seeds), dB — " + ", ".join(jit)
            )
        if cfg.endswith("-T"):
            md.append(
                "\nPaired (same init, same (coordinate, colour) pairs), unclamped PSNR per "
                "seed, theirs / ours / Δ, after k updates:\n"
            )
            ks = [1, 2, 3, 6, 11, 21, 51, 101, 201, 501, 1001, 1501, STEPS]
            md.append("| seed | " + " | ".join(str(k) for k in ks) + " |")
            md.append("| ---: | " + " | ".join("---:" for _ in ks) + " |")
            for sd in seeds:
                t, o = per["theirs"].get(sd), per["ours"].get(sd)
                if not (t and o):
                    continue
                cells = []
                for k in ks:
                    a, b = t["unclamped"].get(k), o["unclamped"].get(k)
                    cells.append(
                        "–" if a is None or b is None else f"{a:.3f} / {b:.3f} / {b - a:+.3f}"
                    )
                md.append(f"| {sd} | " + " | ".join(cells) + " |")
        md.append("\nPer seed, final (2000 updates), unclamped / clamped:\n")
        md.append("| seed | theirs | ours |")
        md.append("| ---: | ---: | ---: |")
        for s in seeds:
            t = per["theirs"].get(s)
            o = per["ours"].get(s)
            ft = (
                (
                    f"{t['unclamped'].get(STEPS, float('nan')):.3f} / "
                    f"{t['clamped'].get(STEPS, float('nan')):.3f}"
                )
                if t
                else "–"
            )
            fo = f"{o['unclamped'][STEPS]:.3f} / {o['clamped'][STEPS]:.3f}" if o else "–"
            md.append(f"| {s} | {ft} | {fo} |")
    (out / f"{name}.md").write_text("\n".join(md) + "\n")
    (out / f"{name}.json").write_text(json.dumps(allres, indent=1, default=str))
    print("\n".join(md))
    return allres


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("ref_dir", type=Path, help="work tree of jqmcginnis/muon-inrs")
    ap.add_argument("--muon-dir", type=Path, required=True, help="work tree of KellerJordan/Muon")
    ap.add_argument("--out", type=Path, default=Path("muon_side_by_side"))
    ap.add_argument("--parts", default="optim,train,report")
    ap.add_argument(
        "--configs",
        default="relu-muon,relu-adam,siren-muon",
        help="of " + ", ".join(CONFIGS) + "; a '-T' suffix (e.g. relu-adam-T) feeds "
        "theirs the transposed image, so that their (x, y) inputs equal our (y, x) ones "
        "pixel by pixel (ReLU inits are bitwise equal per seed: a paired comparison)",
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument(
        "--ref-python",
        default=sys.executable,
        help="python with torch, numpy, PIL, scikit-image, matplotlib, pandas, seaborn",
    )
    ap.add_argument("--iga", default=str(Path(sys.executable).with_name("iga")))
    ap.add_argument("--report-name", default="tables", help="report -> OUT/NAME.md, OUT/NAME.json")
    a = ap.parse_args()
    torch.set_num_threads(1)
    parts = a.parts.split(",")
    configs = a.configs.split(",")
    a.out.mkdir(parents=True, exist_ok=True)
    if "optim" in parts:
        optim_level(a.muon_dir, a.out)
    if "train" in parts:
        work = prepare_ref(a.ref_dir, a.muon_dir, a.out)
        target = make_target(a.out)
        for cfg in configs:
            for seed in a.seeds:
                for side in ("theirs", "ours"):
                    run = a.out / "runs" / cfg / side / f"seed{seed}"
                    print(f"[{time.strftime('%H:%M:%S')}] {cfg} {side} seed {seed}", flush=True)
                    if side == "theirs":
                        run_theirs(work, a.ref_python, cfg, seed, target, run)
                    else:
                        run_ours(a.iga, cfg, seed, target, run)
    if "report" in parts:
        report(a.out, configs, a.seeds, a.report_name)


if __name__ == "__main__":
    main()

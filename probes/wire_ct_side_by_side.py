#!/usr/bin/env python
# ruff: noqa: E501
"""Side by side: WIRE's own CT script (``wire_ct.py``, vishwa91/wire @ bf95232: the INR sampled on
the pixel grid, projected by ``modules/lin_inverse.radon`` = kornia rotation + column sums,
full-batch Adam with its exponential decay to 0.1x, the reported image picked by the loss against
the truth) against ``iga fit ct`` (the INR averaged along each ray at continuous points, 1,024-ray
mini-batches, our step schedule, weights picked by the sinogram fit), on the same slice, angles,
arch, width, depth and learning rate, on the CPU, one run at a time. Also a projector check:
WIRE's ``radon`` of the slice against our measurement model (scikit-image ``radon`` / M) at
WIRE's angles.

    python probes/wire_ct_side_by_side.py REF_DIR [--out /tmp/wire_ct_sbs] [--steps 1000]
        [--angles 50] [--size 64] [--arch siren] [--threads 1] [--ref-python /tmp/wirevenv/bin/python]

REF_DIR: a work tree of vishwa91/wire (``git -C MIRROR archive HEAD | tar -x -C REF_DIR``). Its
``modules/`` is copied unchanged into OUT/wire_<run>/ (a scratch folder outside the repository)
beside a patched copy of ``wire_ct.py``; the patches are string replacements, each asserted to
match exactly once (so a changed upstream file fails loudly):
  * ``.cuda()`` removed (CPU);
  * the settings lines: ``nonlin`` (ours -> theirs: siren, relu, pe -> posenc, gauss),
    ``niters`` = --steps, ``nmeas`` = --angles, ``learning_rate`` = our CT default for the arch,
    ``hidden_features``/``hidden_layers`` = our cpu tier's width and depth (WIRE's
    ``hidden_layers`` counts the sine layers after the first: ours - 1, both 4 linear layers);
    for SIREN a second run with ``omega0 = 30.0`` (ours) besides WIRE's 10 (which its script
    passes to every model, first and hidden layers);
  * the image load line reads OUT's ``slice.npy`` (iga's ``load_slice`` of chest.png at --size)
    and ``utils.normalize(img, True)`` is dropped: it min-max rescales the slice (ours spans
    about [0.003, 0.52] at 64², WIRE would fit [0, 1]), so both fit the identical truth;
  * ``mdict`` also saves the last step's image (``final``), so the final step is scored too;
  * ``ssim_func(...)`` gets ``data_range=2.0``, the float default of the scikit-image WIRE used
    (current versions raise without it; SSIM is not in the table).
``io.savemat`` writes into the run folder; ``cv2.imshow`` runs only on win32. The script runs
under --ref-python (needs torch, kornia, cv2, scipy, scikit-image, matplotlib, tqdm; e.g. a venv
with iga's site-packages on a .pth line plus ``pip install kornia opencv-python-headless``),
with cwd the run folder, ``torch.manual_seed(0)`` before it (WIRE seeds nothing). PSNRs in the
table are ours for both (clamped to [0, 1], peak 1); WIRE's printed line (its ``utils.psnr`` is
10 log10(max(x) / MSE), unclamped) is listed below the table. WIRE's oracle is its best step
by the loss against the truth (every step); ours is the best of the slice scores every
--eval-every steps. Seconds: WIRE's whole script (its imports included), ours summary.json's.
Results land in OUT/side_by_side.md.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import scipy.io

from iga.metrics import psnr
from iga.models.config import ModelConfig
from iga.tasks.ct.data import load_slice, padded_size, sinogram
from iga.tasks.ct.task import CTFitConfig

CHEST = Path(__file__).resolve().parents[1].parent / "shared/data/ct/chest.png"
ARCHS = {
    "siren": "siren",
    "relu": "relu",
    "pe": "posenc",
    "gauss": "gauss",
}  # their wire is complex
RADON = """import numpy as np, torch
from modules import lin_inverse
th = torch.tensor(np.linspace(0, 180, {a}, dtype=np.float32))  # wire_ct.py's angles
for name in ('slice', 'disc'):
    img = torch.tensor(np.load(name + '.npy').astype(np.float32))[None, None]
    np.save(name + '_wire_sino.npy', lin_inverse.radon(img, th).numpy())
"""
WRAP = "import runpy, time, torch; torch.manual_seed(0); t = time.perf_counter(); runpy.run_path('{f}', run_name='__main__'); print('SECONDS %.3f' % (time.perf_counter() - t))"


def patch(src: str, cfg: CTFitConfig, args: argparse.Namespace, omega0: float | None) -> str:
    subs = [
        ("nonlin = 'wire2d'", f"nonlin = '{ARCHS[args.arch]}'"),
        ("niters = 5000", f"niters = {args.steps}"),
        ("learning_rate = 5e-3", f"learning_rate = {cfg.lr!r}"),
        ("nmeas = 100", f"nmeas = {args.angles}"),
        ("hidden_layers = 2 ", f"hidden_layers = {cfg.model.hidden_layers - 1} "),
        ("hidden_features = 300", f"hidden_features = {cfg.model.width}"),
        (
            "cv2.imread('data/chest.png').astype(np.float32)[..., 1]",
            "np.load('slice.npy').astype(np.float32)",
        ),
        ("img = utils.normalize(img, True)", "img = img  # iga probe: identical truth"),
        (  # scikit-image >= 0.19 requires data_range for floats; 2 was its old default
            "ssim_func(img, img_estim_cpu)",
            "ssim_func(img, img_estim_cpu, data_range=2.0)",
        ),
        (
            "mdict = {'rec': img_estim_cpu,",
            "mdict = {'rec': img_estim_cpu, 'final': img_estim.detach().cpu().squeeze().numpy(),",
        ),
    ]
    if omega0 is not None:
        subs.append(("omega0 = 10.0", f"omega0 = {omega0}"))
    for old, new in subs:
        assert src.count(old) == 1, f"wire_ct.py changed: {old!r} found {src.count(old)} times"
        src = src.replace(old, new)
    assert src.count(".cuda()") == 6, "wire_ct.py changed: expected six .cuda() calls"
    return src.replace(".cuda()", "")


def run_wire(tag: str, src: str, args: argparse.Namespace, env: dict, truth: np.ndarray) -> dict:
    d = args.out / f"wire_{tag}"
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(args.ref / "modules", d / "modules")
    shutil.copy(args.out / "slice.npy", d / "slice.npy")
    (d / "wire_ct.py").write_text(src)
    p = subprocess.run(
        [str(args.ref_python), "-c", WRAP.format(f="wire_ct.py")],
        cwd=d, env=env, capture_output=True, text=True,
    )  # fmt: skip
    (d / "log.txt").write_text(p.stdout + p.stderr)
    if p.returncode:
        sys.exit(f"WIRE run {tag} failed ({p.returncode}); see {d / 'log.txt'}")
    line = next(x for x in p.stdout.splitlines() if x.startswith("PSNR:"))
    secs = float(next(x for x in p.stdout.splitlines() if x.startswith("SECONDS")).split()[1])
    (mat,) = (d / "results/ct").glob("*.mat")
    m = scipy.io.loadmat(mat)
    gap = float(np.abs(m["gt"] - truth.astype(np.float32)).max())
    assert gap == 0.0, f"WIRE's truth differs from the slice by {gap}"
    losses = m["loss_array"].ravel()
    return {
        "oracle": psnr(m["rec"], truth),
        "oracle_step": int(np.argmin(losses)) + 1,
        "final": psnr(m["final"], truth),
        "printed": line.strip(),
        "seconds": secs,
    }


def projector_check(args: argparse.Namespace, env: dict, truth: np.ndarray) -> str:
    d = args.out / f"wire_{args.arch}"
    n, m = args.size, padded_size(args.size)
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    disc = truth * (yy**2 + xx**2 <= (n / 2 - 1) ** 2)  # the slice inside a disc: no corners
    np.save(d / "disc.npy", disc)
    (d / "wire_radon.py").write_text(RADON.format(a=args.angles))
    subprocess.run([str(args.ref_python), "wire_radon.py"], cwd=d, env=env, check=True)
    w = np.load(d / "slice_wire_sino.npy")  # [angles, N]: column sums of the rotated N x N slice
    th = np.linspace(0, 180, args.angles, dtype=np.float32).astype(np.float64)
    ours = sinogram(truth, -th).T  # kornia's +θ rotates the other way from skimage's θ
    cells = slice(m // 2 - n // 2, m // 2 - n // 2 + n)  # our cells that coincide at 0°
    o = ours[:, cells]
    k = float((w * o).sum() / (w * w).sum())

    def rel(scale: float, w: np.ndarray = w, o: np.ndarray = o) -> str:
        r = np.linalg.norm(scale * w - o, axis=1) / np.linalg.norm(o, axis=1)
        return f"median {np.median(r):.4f}, max {r.max():.4f} (at {th[r.argmax()]:.1f}°), at 0° {r[0]:.1e}"

    wd, od = np.load(d / "disc_wire_sino.npy"), sinogram(disc, -th).T[:, cells]

    outside = float(np.abs(np.delete(ours, np.r_[cells], axis=1)).sum() / np.abs(ours).sum())
    return (
        f"Projector check ({n}², WIRE's {args.angles} angles linspace(0, 180) incl. 180°; ours "
        f"at -θ, kornia's rotation direction): relative difference per angle on the {n} shared "
        f"detector cells, WIRE's sums / M against ours: {rel(1 / m)}; with the least-squares "
        f"scale (x M = {k * m:.4f}): {rel(k)}. {outside:.2%} of our sinogram's mass is in the "
        f"{m - n} cells WIRE's N-wide detector lacks (it crops the rotated slice to N x N); "
        f"WIRE rotates about (N-1)/2, skimage about N//2 (half a pixel apart for even N). The "
        f"slice inside a disc (nothing to crop), WIRE's / M: {rel(1 / m, wd, od)}."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="WIRE's wire_ct.py against iga fit ct")
    ap.add_argument("ref", type=Path, help="a work tree of vishwa91/wire")
    ap.add_argument("--out", type=Path, default=Path("/tmp/wire_ct_sbs"))
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--angles", type=int, default=50)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--arch", default="siren", choices=sorted(ARCHS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=50, help="ours: slice scored every k")
    ap.add_argument("--ref-python", type=Path, default=Path("/tmp/wirevenv/bin/python"))
    args = ap.parse_args()
    args.ref, args.out = args.ref.resolve(), args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    th = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": th, "MKL_NUM_THREADS": th, "MPLBACKEND": "Agg"}
    env["TQDM_DISABLE"] = "1"
    cfg = CTFitConfig(model=ModelConfig(arch=args.arch))
    truth, _ = load_slice(CHEST, args.size)  # what `iga fit ct chest.png --size S` fits
    np.save(args.out / "slice.npy", truth)
    src = (args.ref / "wire_ct.py").read_text()
    n, a, rays = args.size, args.angles, cfg.batch_groups * cfg.bundle
    wire_proj, our_proj = "kornia rotate + column sums", "mean along ray (= skimage radon / M)"
    wire_batch = f"full: {n}² px, {a} angles"
    rows = []
    omegas = [None, 30.0] if args.arch == "siren" else [None]
    for om in omegas:
        tag = args.arch + ("" if om is None else f"_w{om:g}")
        r = run_wire(tag, patch(src, cfg, args, om), args, env, truth)
        name = f"WIRE wire_ct.py, {args.arch}" + (
            f", ω0 {om or 10:g}" if om or len(omegas) > 1 else ""
        )
        rows.append((name, wire_proj, wire_batch, r["oracle"], r["final"], None, r["seconds"]))
        rows[-1] += (f"{tag}: oracle step {r['oracle_step']}; WIRE printed `{r['printed']}`",)
    run = args.out / "iga_run"
    cmd = [str(Path(sys.executable).with_name("iga")), "fit", "ct", str(CHEST)]
    cmd += ["--size", str(n), "--angles", str(a), "--arch", args.arch, "--method", "vanilla"]
    cmd += ["--steps", str(args.steps), "--threads", th, "--eval-every", str(args.eval_every)]
    cmd += ["--out", str(run), "--overwrite", "--quiet"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    (args.out / "iga_run.log").write_text(p.stdout + p.stderr)
    if p.returncode:
        sys.exit(f"iga fit ct failed ({p.returncode}); see {args.out / 'iga_run.log'}")
    s = json.loads((run / "summary.json").read_text())
    name = f"iga fit ct, {args.arch}" + (", ω0 30" if args.arch == "siren" else "")
    our_batch = f"{rays} rays of {a}·{padded_size(n)}"
    rows.append(
        (name, our_proj, our_batch, s["psnr_oracle"], s["psnr_final"], s["psnr"], s["seconds"])
    )
    rows[-1] += (
        f"ours: oracle step {s['oracle_step']} (scored every {args.eval_every}), picked step {s['best_step']}",
    )
    fbp = ("FBP (iradon, ramp) of our sinogram", "-", "-", *[s["fbp_psnr"]] * 3, None, "")
    rows.append(fbp)
    head = (
        f"chest.png {n}², {a} angles, {args.arch}, width {cfg.model.width}, {cfg.model.hidden_layers + 1} "
        f"linear layers, Adam lr {cfg.lr:g}, {args.steps} steps, {args.threads} thread(s); PSNR dB.\n\n"
        "| pipeline | projector | batch | PSNR oracle | PSNR final | PSNR picked by sinogram | seconds |\n"
        "| --- | --- | --- | ---: | ---: | ---: | ---: |\n"
    )

    def cell(v: float | None, f: str = ".2f") -> str:
        return "-" if v is None else format(v, f)

    body = "".join(
        f"| {r[0]} | {r[1]} | {r[2]} | {cell(r[3])} | {cell(r[4])} | {cell(r[5])} | {cell(r[6], '.1f')} |\n"
        for r in rows
    )
    notes = "\n".join(f"- {r[7]}" for r in rows if r[7])
    text = f"{head}{body}\n{notes}\n- {projector_check(args, env, truth)}\n"
    print(text)
    (args.out / "side_by_side.md").write_text(text)


if __name__ == "__main__":
    main()

"""The ``iga`` command line. Options are generated from the dataclass configs, so the
defaults live in one place (the configs) and ``--help`` always shows them.

    iga fit image PATH [--arch pe --method iga --end 20 --patch 8 --size 192x128 ...]
    iga demo [--steps 2000 --out runs/demo]
    iga bench overhead [--json --width 256 --archs relu,pe,siren]
    iga bench image [--tier cpu --protocol paper|fair]
    iga fit occupancy MESH [--arch relu --method iga --resolution 96 --groups blocks ...]
    iga fit nerf SCENE_DIR [--method iga --kernel sample|ray --size 100 --steps 3000 ...]
    iga fit function ... / iga experiment function1d-exp1|function1d-exp2 [--tier cpu|paper]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from iga import configcli
from iga.io import atomic_write_text

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``iga: error: argument --width: must be >= 1; got 0``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Values such as "-10,20" or "-1,1" (--freqs, --domain) are values, not options: no
        # option starts with "-<digit>". (argparse's own pattern takes plain numbers only.)
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str) -> NoReturn:
        root = self.prog.split()[0]
        hint = f" (see {self.prog} --help)" if "required" in message else ""
        if message.endswith("expected one argument"):
            flag = message.removeprefix("argument ").partition(":")[0].split("/")[0]
            hint = f" (a value that starts with '-' goes as {flag}=VALUE)"
        self.exit(2, f"{root}: error: {_one_line(message)}{hint}\n")


def _one_line(text: object) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


# Choices and bounds the image configs' metadata does not declare (yet), so that argparse
# rejects bad values while parsing, with the flag in the message (configcli overrides).
def _image_overrides() -> dict[str, dict[str, Any]]:
    from iga.core import SAMPLING
    from iga.models import ARCH_OPTIONS
    from iga.tasks.image.data import parse_size
    from iga.train import METHODS, OPTIMIZERS, SCHEDULES

    return {
        "arch": {"choices": tuple(ARCH_OPTIONS)},
        "schedule": {"choices": SCHEDULES},
        "width": {"min": 1},
        "hidden_layers": {"min": 1},
        "options": {"flag": "--opt"},
        "method": {"choices": METHODS},
        "ref": {"choices": ("end", "start")},
        "sampling": {"choices": SAMPLING},
        "every": {"min": 1},
        "patch": {"min": 1},
        "size": {"check": parse_size},
        "scale": {"check": _positive},
        "optimizer": {"choices": OPTIMIZERS},
    }


def _positive(value: float) -> None:
    if not value > 0:
        raise ValueError(f"must be > 0; got {value}")


# build()'s own parameters, which --opt must not pass a second time.
_BUILD_ARGS = {
    "seed": "--seed",
    "hidden_features": "--width",
    "width": "--width",
    "hidden_layers": "--hidden-layers",
    "method": "--method",
    "device": "--device",
}


def _check_model_options(options: dict[str, Any], arch: str, method: str) -> None:
    """``--opt`` keys in the user's terms, before anything is built."""
    from iga.models import ARCH_OPTIONS, COMMON_OPTIONS
    from iga.models.reparam import BN_OPTIONS, FR_OPTIONS

    accepted = {**ARCH_OPTIONS[arch], **COMMON_OPTIONS}
    for key in options:
        if key in accepted:
            continue
        for name, opts in (("fr", FR_OPTIONS), ("bn", BN_OPTIONS)):
            if key in opts and method != name:
                raise ValueError(
                    f"--opt {key} is an option of --method {name}; it needs --method {name} "
                    f"(got --method {method})"
                )
        if key in FR_OPTIONS or key in BN_OPTIONS:
            continue
        if key in _BUILD_ARGS:
            raise ValueError(f"--opt {key}: set it with {_BUILD_ARGS[key]}, not --opt")
        if key in ("in_features", "out_features", "name", "dtype"):
            raise ValueError(f"--opt {key}: fixed by the task; drop it")
        names = ", ".join(accepted) or "none"
        raise ValueError(
            f"--opt {key}: unknown option for --arch {arch} (it accepts: {names}; "
            "with --method fr/bn also fr_*/bn_* options)"
        )


def _check_output_file(path: str, flag: str) -> None:
    """Fail before the work, not after it, when ``path`` cannot be written as a file."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{flag} {path} is a directory; name a file, e.g. {p / 'result.json'}")
    parent = p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: {parent} is a file, not a directory; choose another")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: {parent} is not writable; choose another path")


def _cmd_fit_image(ns: argparse.Namespace) -> int:
    from iga.tasks.image.task import ImageFitConfig, fit_image

    cfg = configcli.build(ImageFitConfig, ns, path=ns.path)
    _check_model_options(cfg.model.options, cfg.model.arch, cfg.method.method)
    s = fit_image(cfg, progress=not ns.quiet, resume=ns.resume)
    print(
        f"{cfg.model.arch}/{cfg.method.method}: best PSNR {s['psnr_best']:.2f} dB "
        f"(step {s['best_step']}), final {s['psnr_final']:.2f} dB, SSIM {s['ssim']:.4f}, "
        f"{1000 * s['seconds_per_step']:.1f} ms/step -> {cfg.out}"
    )
    return 0


def _cmd_fit_occupancy(ns: argparse.Namespace) -> int:
    from iga.tasks.occupancy.task import OccupancyFitConfig, fit_occupancy

    cfg = configcli.build(OccupancyFitConfig(), ns, path=ns.path)
    _check_model_options(cfg.model.options, cfg.model.arch, cfg.method.method)
    s = fit_occupancy(cfg, progress=not ns.quiet, resume=ns.resume)
    print(
        f"{cfg.model.arch}/{cfg.method.method}: IoU {s['iou']:.4f} (grid, best weights; final "
        f"{s['iou_final']:.4f}), fresh points {s['iou_eval']:.4f}, near the surface "
        f"{s['iou_near']:.4f}, Chamfer {s['chamfer']:.5f} (grid floor {s['chamfer_floor']:.5f}), "
        f"{1000 * s['seconds_per_step']:.1f} ms/step -> {cfg.out}"
    )
    return 0


def _cmd_fit_nerf(ns: argparse.Namespace) -> int:
    from iga.tasks.nerf.task import NeRFFitConfig, fit_nerf

    cfg = configcli.build(NeRFFitConfig(), ns, scene=ns.scene)
    s = fit_nerf(cfg, progress=not ns.quiet, resume=ns.resume)
    lp = f", LPIPS {s['lpips_test']:.4f}" if s.get("lpips_test") is not None else ""
    kernel = f" ({s['kernel']} kernel)" if s.get("kernel") else ""
    print(
        f"{s['scene']} {cfg.method.method}{kernel}: test PSNR {s['psnr_test']:.2f} dB, SSIM "
        f"{s['ssim_test']:.4f}{lp} on {s['test_views']} test views, "
        f"{1000 * s['seconds_per_step']:.1f} ms/step -> {cfg.out}"
    )
    return 0


def _nerf_overrides() -> dict[str, dict[str, Any]]:
    from iga.models.nerf import FR_LAYERS
    from iga.tasks.nerf.task import BATCHING, KERNELS
    from iga.train import OPTIMIZERS, SCHEDULES

    return {
        "method": {
            "choices": ("vanilla", "fr", "bn", "iga"),
            "help": "vanilla (MSE of both renders), fr (Fourier-reparameterised feature "
            "layer), bn (batch norm in the trunk) or iga (IGA on the fine render)",
        },
        "fr_layers": {"choices": FR_LAYERS},
        "sampling": {
            "help": "IGA: not used by NeRF (a ray's representative is its max-weight sample)"
        },
        "kernel": {"choices": KERNELS},
        "batching": {"choices": BATCHING},
        "steps": {"help": "training steps (one batch of rays each)"},
        "lr": {"help": "learning rate (nerf-pytorch: 5e-4)"},
        "schedule": {"choices": SCHEDULES},
        "optimizer": {"choices": OPTIMIZERS},
        "ref": {"choices": ("end", "start")},
        "every": {"min": 1},
    }


def _occupancy_overrides() -> dict[str, dict[str, Any]]:
    from iga.tasks.occupancy.task import GROUP_SHAPES

    return {**_image_overrides(), "groups": {"choices": GROUP_SHAPES}}


def _cmd_demo(ns: argparse.Namespace) -> int:
    from iga.tasks.image.task import ImageFitConfig, ModelConfig, compare, format_table
    from iga.train import MethodConfig, TrainConfig

    out = Path(ns.out)
    configs = {
        method: ImageFitConfig(
            size="192x128",
            patch=8,
            model=ModelConfig(arch="pe", width=64),
            method=MethodConfig(method=method, end=20),
            train=TrainConfig(steps=ns.steps, seed=ns.seed, device=ns.device),
            out=str(out / method),
            overwrite=True,
        )
        for method in ("vanilla", "iga")
    }
    print(
        "Fitting Kodak image 3 at 192x128 with a 4-layer width-64 PE network "
        f"(8x8 patches = 384 groups), {ns.steps} steps: vanilla (lr 1e-3) vs IGA (end 20, lr 5e-3)"
    )
    t = time.perf_counter()
    summaries = compare(configs, out, progress=not ns.quiet)
    table = format_table(summaries)
    atomic_write_text(out / "table.md", table + "\n")
    print(table)
    took = time.perf_counter() - t
    print(f"wrote comparison.png, spectra.png, psnr.png and table.md to {out} ({took:.0f} s)")
    return 0


def _cmd_bench_overhead(ns: argparse.Namespace) -> int:
    from iga.overhead import OverheadConfig, format_overhead, overhead

    cfg = configcli.build(OverheadConfig, ns)
    if ns.save:
        _check_output_file(ns.save, "--save")
    res = overhead(cfg, progress=None if ns.json else (lambda m: print(m, file=sys.stderr)))
    text = json.dumps(res, indent=2) if ns.json else format_overhead(res)
    print(text)
    if ns.save:
        atomic_write_text(ns.save, json.dumps(res, indent=2) + "\n")
    return 0


def _cmd_analyze_spectrum(ns: argparse.Namespace) -> int:
    from iga.analysis.spectrum import SpectrumOptions, analyze_spectrum

    # --run is repeatable and each value may list several directories.
    runs = [r.strip() for value in ns.run for r in value.split(",") if r.strip()]
    opts = configcli.build(SpectrumOptions, ns, runs=runs)
    analyze_spectrum(opts, log=print)
    figures = "spectra_runs.png" if runs else "spectra_archs.png, spectra_iga.png"
    print(f"wrote {figures} and spectra.json to {opts.out}")
    return 0


_ANALYSES = {
    # subcommand: (module, options class, function, what it writes)
    "bands": ("bands", "BandsOptions", "analyze_bands", "bands.png and bands.json"),
    "training": (
        "training",
        "TrainingOptions",
        "analyze_training",
        "spectra_training.png, bands.png, band_ratio.png and training.json",
    ),
    "regions": ("regions", "RegionsOptions", "analyze_regions", "regions.png and regions.json"),
}


def _cmd_analyze(ns: argparse.Namespace) -> int:
    import importlib

    module, options, function, files = _ANALYSES[ns.analysis]
    mod = importlib.import_module(f".analysis.{module}", __package__)
    opts = configcli.build(getattr(mod, options), ns)
    getattr(mod, function)(opts, log=print)
    print(f"wrote {files} to {opts.out}")
    return 0


def _fit_overrides() -> dict[str, dict[str, Any]]:
    """configcli overrides: TrainConfig's help texts are written for the image task (these
    read right for 1D fits), and the choices and bounds the 1D configs check in
    ``__post_init__``, so that argparse rejects bad values with the flag in the message."""
    from iga.core import SAMPLING
    from iga.tasks.function1d.task import ADJUST_METHODS, COORDS, NET_ARCHS
    from iga.train import OPTIMIZERS

    return {
        "lr": {"help": "learning rate of the optimizer"},
        "spectrum_every": {"help": "log the eNTK spectrum (condition numbers) every k steps"},
        "coords": {"choices": COORDS},
        "points": {"min": 8},
        "arch": {"choices": NET_ARCHS},
        "width": {"min": 1},
        "hidden_layers": {"min": 1},
        "method": {"choices": ADJUST_METHODS},
        "ref": {"choices": ("end", "start")},
        "group": {"min": 1},
        "every": {"min": 1},
        "sampling": {"choices": SAMPLING},
        "optimizer": {"choices": OPTIMIZERS},
        "eval_every": {"min": 1},
    }


def _cmd_fit_function(ns: argparse.Namespace) -> int:
    # The instance's values are the defaults: this task's (e.g. Adam lr 5e-5, no decay), not
    # TrainConfig's class defaults.
    from iga.tasks.function1d.task import FunctionFitConfig, fit_function

    cfg = configcli.build(FunctionFitConfig(), ns)
    if cfg.adjust.method in ("entk", "iga"):  # in this task's flags, before anything runs
        from iga.tasks.base import check_groups
        from iga.train import resolve_device

        iga = cfg.adjust.method == "iga"
        check_groups(
            -(-cfg.signal.points // cfg.adjust.group_size),
            resolve_device(cfg.train.device),
            "--group" if iga else "--group with --method iga (entk has one group per point)",
            cfg.adjust.end,
        )
    s = fit_function(cfg, progress=not ns.quiet, resume=ns.resume)
    deltas = ", ".join(f"Δ@{k} {v:.3f}" for k, v in s["delta_final"].items())
    print(
        f"{cfg.net.arch}/{cfg.adjust.method}: final MSE {s['mse_final']:.4g}; {deltas}; "
        f"{1000 * s['seconds_per_step']:.1f} ms/step -> {cfg.out}"
    )
    return 0


def _cmd_harness(module: str, name: str, ns: argparse.Namespace) -> int:
    """``iga bench NAME`` / ``iga experiment NAME``: a declared benchmark through the harness."""
    import importlib

    from iga.harness import RunOptions, execute

    mod = importlib.import_module(module)
    ro = configcli.build(RunOptions, ns)
    setup = mod.setup(name, configcli.build(mod.Options, ns), ro)
    if "print" in setup:
        print(setup["print"])
        return 0
    if ro.threads:
        import torch

        torch.set_num_threads(ro.threads)
    report = execute(setup, ro)
    if report.failures:
        name, error = report.failures[0]
        first = error.strip().splitlines()[-1] if error.strip() else "see its failure.json"
        raise ValueError(
            f"{len(report.failures)} run(s) failed (first: {name}: {first}); the others are "
            "kept, and the same command retries the failed ones"
        )
    return 0


def _add_benchmarks(sub: Any, group: str) -> None:
    """One subcommand per declared benchmark of ``group`` (see :mod:`iga.benchmarks`)."""
    import importlib

    from iga.benchmarks import BENCHMARKS
    from iga.harness import RunOptions

    for module in BENCHMARKS[group]:
        mod = importlib.import_module(module)
        for name, help_ in mod.HELP.items():
            p = sub.add_parser(
                name, help=help_, description=(mod.__doc__ or help_).split("\n\n")[0]
            )
            configcli.add_options(p, mod.Options)
            configcli.add_options(p, RunOptions)
            p.set_defaults(func=lambda ns, m=module, n=name: _cmd_harness(m, n, ns))


def _parser() -> argparse.ArgumentParser:
    from iga.analysis.bands import BandsOptions
    from iga.analysis.regions import RegionsOptions
    from iga.analysis.spectrum import SpectrumOptions
    from iga.analysis.training import TrainingOptions
    from iga.overhead import OverheadConfig
    from iga.tasks.function1d.task import FunctionFitConfig
    from iga.tasks.image.task import ImageFitConfig
    from iga.tasks.nerf.task import NeRFFitConfig
    from iga.tasks.occupancy.task import OccupancyFitConfig

    p = _Parser(
        prog="iga", description="Inductive Gradient Adjustment for implicit neural representations"
    )
    sub = p.add_subparsers(dest="command", required=True)

    fit = sub.add_parser("fit", help="fit a signal with an INR")
    fit_sub = fit.add_subparsers(dest="task", required=True)
    img = fit_sub.add_parser(
        "image",
        help="fit an image (PNG/JPEG)",
        description="Fit an image with an INR, vanilla or with IGA, into a run directory "
        "(config.json, metrics.csv, summary.json, reconstruction.png, psnr.png, best.pt).",
    )
    img.add_argument("path", help="image file (PNG/JPEG; grayscale and RGBA are handled)")
    configcli.add_options(img, ImageFitConfig, skip=("path",), overrides=_image_overrides())
    occ = fit_sub.add_parser(
        "occupancy",
        help="fit a mesh's occupancy field (OBJ/PLY/STL/OFF)",
        description="Fit the occupancy field of a triangle mesh with an INR, vanilla or with "
        "IGA, into a run directory (config.json, metrics.csv, summary.json with iou, iou_eval, "
        "iou_near and chamfer, surface.ply, surface.png, error_slices.png, iou.png). "
        "Defaults: the cpu tier of `iga bench occupancy`.",
    )
    occ.add_argument("path", help="mesh file (OBJ, PLY, STL, OFF; read by trimesh)")
    configcli.add_options(
        occ, OccupancyFitConfig(), skip=("path",), overrides=_occupancy_overrides()
    )
    nerf = fit_sub.add_parser(
        "nerf",
        help="fit a neural radiance field to a Blender scene (transforms_*.json + PNGs)",
        description="Fit NeRF (coarse + fine networks) to a Blender-layout scene, vanilla or "
        "with IGA on the fine network, into a run directory (config.json, metrics.csv, "
        "summary.json with psnr_test and ssim_test on held-out test views, test/*.png, "
        "test_views.png, turntable.gif, psnr.png). Defaults: the cpu tier.",
    )
    nerf.add_argument("scene", help="scene folder (transforms_train/val/test.json and images)")
    configcli.add_options(nerf, NeRFFitConfig(), skip=("scene",), overrides=_nerf_overrides())
    fn = fit_sub.add_parser(
        "function",
        help="fit a 1D sum of sines (MSE and per-frequency relative errors Δ_k)",
        description="Fit Σ sin(c·π·t) on N points, vanilla or with an NTK/eNTK/IGA gradient "
        "adjustment, into a run directory (config.json, metrics.csv with Δ_k per frequency, "
        "summary.json, mse.png, delta.png, fit.png). Defaults: the paper's Exp. 2 ReLU setting.",
    )
    # The instance's values are the defaults: this task's (e.g. Adam lr 5e-5, no decay).
    configcli.add_options(fn, FunctionFitConfig(), overrides=_fit_overrides())
    for task, func in (
        (img, _cmd_fit_image),
        (occ, _cmd_fit_occupancy),
        (nerf, _cmd_fit_nerf),
        (fn, _cmd_fit_function),
    ):
        task.add_argument("--quiet", action="store_true", help="no progress bar")
        task.add_argument(
            "--threads",
            type=int,
            default=0,
            help="torch CPU threads (0: torch's default, all cores); with several runs at "
            "once give each cores/runs threads: oversubscribed cores slow every step 5-8x",
        )
        task.add_argument(
            "--resume",
            action="store_true",
            help="continue the interrupted run in --out from its checkpoint (same options)",
        )
        task.set_defaults(func=func)

    demo = sub.add_parser(
        "demo", help="vanilla vs IGA on the bundled Kodak image (a few minutes on a CPU)"
    )
    demo.add_argument("--steps", type=int, default=2000, help="training steps (default: 2000)")
    demo.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    demo.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    demo.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(func=_cmd_demo)

    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    ovh = bench_sub.add_parser(
        "overhead",
        help="time an IGA step against a vanilla step",
        description="Times vanilla and IGA training steps interleaved in one process (median "
        "of repeats) and breaks the IGA step down into its phases.",
    )
    configcli.add_options(ovh, OverheadConfig)
    ovh.add_argument("--json", action="store_true", help="print JSON {arch: {...}}")
    ovh.add_argument("--save", default="", help="also write the JSON to this file")
    ovh.set_defaults(func=_cmd_bench_overhead)
    _add_benchmarks(bench_sub, "bench")

    analyze = sub.add_parser(
        "analyze", help="diagnostics: eNTK spectra, frequency-band errors, activation regions"
    )
    analyze_sub = analyze.add_subparsers(dest="analysis", required=True)
    spec = analyze_sub.add_parser(
        "spectrum",
        help="eNTK spectra of archs at initialisation (K and IGA's K·S) or of trained runs",
        description="eNTK eigenvalues on one point per patch (the patch centre), with their "
        "condition number, normalised variance Var/mean² and effective rank: of several archs "
        "at initialisation (over seeds) and, for the first arch, K against IGA's K·S "
        "(spectra_archs.png, spectra_iga.png, spectra.json); or, with --run, of the saved "
        "weights of `iga fit image` runs (spectra_runs.png, spectra.json). See docs/analyze.md.",
    )
    configcli.add_options(spec, SpectrumOptions, skip=("runs",))
    spec.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="RUN_DIR",
        help="run directory of `iga fit image` (repeatable or comma-separated); its weights' "
        "spectrum replaces the arch comparison",
    )
    spec.set_defaults(func=_cmd_analyze_spectrum)
    bands = analyze_sub.add_parser(
        "bands",
        help="per-frequency-band relative errors of image fits along training",
        description="Fit an image with each method (the image task's defaults for lr and "
        "schedule), logging the relative error of the residual in each radial frequency band "
        "every --every steps (metrics.csv of out/<method>), then write bands.png (band x step "
        "heatmaps and the final errors) and bands.json. See docs/analyze.md.",
    )
    configcli.add_options(bands, BandsOptions)
    bands.set_defaults(func=_cmd_analyze)
    training = analyze_sub.add_parser(
        "training",
        help="eNTK spectra and band errors along training, per method and seed",
        description="Fit an image with each method and seed, probing every --every steps the "
        "eNTK on the patch centres (condition number, Var/mean², effective rank; of K and of "
        "IGA's K·S for --end) and the per-band errors; then write spectra_training.png, "
        "bands.png, band_ratio.png and training.json. See docs/analyze.md.",
    )
    configcli.add_options(training, TrainingOptions, skip=("seed",))
    training.set_defaults(func=_cmd_analyze)
    regions = analyze_sub.add_parser(
        "regions",
        help="activation (linear) regions of ReLU INRs along training",
        description="Fit an image with each ReLU arch (relu, pe) and method, counting every "
        "--every steps the connected regions of constant activation pattern on the pixel "
        "grid; write regions.png (counts, boundary maps, errors) and regions.json with the "
        "correlation of the local region density with the target's detail and with the "
        "error drop. See docs/analyze.md.",
    )
    configcli.add_options(regions, RegionsOptions)
    regions.set_defaults(func=_cmd_analyze)

    exp = sub.add_parser("experiment", help="reproduce an experiment of the paper")
    _add_benchmarks(exp.add_subparsers(dest="experiment", required=True), "experiment")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``iga`` console script; returns the exit status.

    Every failure ends in one line on stderr, ``iga: error: ...`` (argparse's own: status 2;
    bad input found later: 1); ``IGA_DEBUG=1`` re-raises instead, for the full traceback.
    """
    try:  # Ctrl-C while the modules load (torch: a second or more) is an interrupt too
        from iga.tasks.base import TrainingDiverged, TrainingInterrupted

        args = _parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a bad option (2, message already printed)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except KeyboardInterrupt:
        print("iga: interrupted", file=sys.stderr)
        return 130
    debug = bool(os.environ.get("IGA_DEBUG"))
    try:
        threads = getattr(args, "threads", 0)
        if isinstance(threads, int) and threads != 0:
            if threads < 0:
                raise ValueError(f"--threads must be >= 0; got {threads}")
            import torch

            torch.set_num_threads(threads)
        return int(args.func(args))
    except TrainingInterrupted as e:
        print(f"iga: {e}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("iga: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, MemoryError, TrainingDiverged) as e:
        if debug:
            raise
        print(f"iga: error: {_one_line(e) or type(e).__name__}", file=sys.stderr)
        return 1
    except Exception as e:  # a bug: still one line, with how to get the traceback
        if debug:
            raise
        print(
            f"iga: error: unexpected {type(e).__name__}: {_one_line(e)} "
            "(run again with IGA_DEBUG=1 for the traceback and report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())

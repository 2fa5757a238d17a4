"""The ``iga`` command line. Options are generated from the dataclass configs, so the
defaults live in one place (the configs) and ``--help`` always shows them.

    iga fit image PATH [--arch pe --method iga --end 20 --patch 8 --size 192x128 ...]
    iga demo [--steps 2000 --out runs/demo]
    iga bench overhead [--json --width 256 --archs relu,pe,siren]
    iga bench image [--tier cpu --protocol paper|fair]
    iga fit function ... / iga experiment function1d-exp1|function1d-exp2 [--tier cpu|paper]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from .io import atomic_write_text

__all__ = ["main"]

_TYPES = {"int": int, "float": float, "str": str}


def _with_default(help_: str, default: Any) -> str:
    """``help_`` plus ``(default: X)``, unless the text already states its default.

    A help text with its own ``default: ...`` (e.g. ``--lr``, whose default depends on the
    method and arch) is left alone, and so is an unset default (None or ""), whose meaning the
    help text explains. ``%(default)s`` keeps ``ArgumentDefaultsHelpFormatter`` from adding it
    a second time, should a parser use that formatter.
    """
    if "default:" in help_.lower() or default is None or default == "":
        return help_
    return f"{help_} (default: %(default)s)"


def _add_fields(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = ()) -> None:
    """One ``--option`` per leaf field of dataclass ``cls`` (nested dataclasses flattened).

    The help text is the field's ``metadata["help"]``; each option shows its default once.
    """
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            _add_fields(parser, type(default), skip)
            continue
        flag = "--" + f.name.replace("_", "-")
        help_ = f.metadata.get("help", "")
        if f.type == "bool":
            parser.add_argument(flag, action="store_true", help=help_)
        elif isinstance(default, dict):
            parser.add_argument(
                "--opt",
                dest=f.name,
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help=f"{help_} (repeatable; default: the arch's own)",
            )
        else:
            base = str(f.type).replace(" | None", "")
            parser.add_argument(
                flag, type=_TYPES[base], default=default, help=_with_default(help_, default)
            )


def _parse_value(text: str) -> Any:
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return None if text == "None" else text


def _build(cls: type, ns: argparse.Namespace, **given: Any) -> Any:
    """Instantiate dataclass ``cls`` from parsed options (validation runs in __post_init__)."""
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in given:
            kw[f.name] = given[f.name]
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if dataclasses.is_dataclass(default):
            kw[f.name] = _build(type(default), ns)
        elif isinstance(default, dict):
            opts = {}
            for item in getattr(ns, f.name):
                key, sep, value = item.partition("=")
                if not sep or not key:
                    raise ValueError(f"--opt expects KEY=VALUE; got {item!r}")
                opts[key] = _parse_value(value)
            kw[f.name] = opts
        elif hasattr(ns, f.name):
            kw[f.name] = getattr(ns, f.name)
    return cls(**kw)


def _cmd_fit_image(ns: argparse.Namespace) -> int:
    from .tasks.image import ImageFitConfig, fit_image

    cfg = _build(ImageFitConfig, ns, path=ns.path)
    s = fit_image(cfg, progress=not ns.quiet, resume=ns.resume)
    print(
        f"{cfg.model.arch}/{cfg.method.method}: best PSNR {s['psnr_best']:.2f} dB "
        f"(step {s['best_step']}), final {s['psnr_final']:.2f} dB, SSIM {s['ssim']:.4f}, "
        f"{1000 * s['seconds_per_step']:.1f} ms/step -> {cfg.out}"
    )
    return 0


def _cmd_demo(ns: argparse.Namespace) -> int:
    from .tasks.image import ImageFitConfig, ModelConfig, compare, format_table
    from .train import MethodConfig, TrainConfig

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
    from .bench import OverheadConfig, format_overhead, overhead

    cfg = _build(OverheadConfig, ns)
    res = overhead(cfg, progress=None if ns.json else (lambda m: print(m, file=sys.stderr)))
    text = json.dumps(res, indent=2) if ns.json else format_overhead(res)
    print(text)
    if ns.save:
        atomic_write_text(ns.save, json.dumps(res, indent=2) + "\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    from . import bench_image
    from .bench import OverheadConfig
    from .experiments import function1d
    from .tasks.image import ImageFitConfig

    p = argparse.ArgumentParser(
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
    _add_fields(img, ImageFitConfig, skip=("path",))
    img.add_argument("--quiet", action="store_true", help="no progress bar")
    img.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run in --out from its checkpoint (same options)",
    )
    img.set_defaults(func=_cmd_fit_image)

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
    _add_fields(ovh, OverheadConfig)
    ovh.add_argument("--json", action="store_true", help="print JSON {arch: {...}}")
    ovh.add_argument("--save", default="", help="also write the JSON to this file")
    ovh.set_defaults(func=_cmd_bench_overhead)

    # Task modules add their own subcommands (iga fit function, iga experiment, iga bench image).
    function1d.register_cli(fit_sub, sub)
    bench_image.register_cli(bench_sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``iga`` console script."""
    from .tasks.base import TrainingDiverged, TrainingInterrupted

    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except TrainingInterrupted as e:
        print(f"iga: {e}", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, TrainingDiverged) as e:
        if os.environ.get("IGA_DEBUG"):  # the full traceback, for bug reports
            raise
        print(f"iga: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("iga: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

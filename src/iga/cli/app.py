"""The ``iga`` parser, generated from the registries, and :func:`main`, its entry point."""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any, NoReturn

import iga.cli.commands as commands
import iga.cli.configcli as configcli

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


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (0: torch's default, all cores); with several runs at "
        "once give each cores/runs threads: oversubscribed cores slow every step 5-8x",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run in --out from its checkpoint (same options)",
    )


def _add_benchmarks(sub: Any, modules: list[str]) -> None:
    """One subcommand per command the declaration modules name (their ``HELP``)."""
    import importlib

    from iga.harness import RunOptions

    for module in modules:
        mod = importlib.import_module(module)
        for name, help_ in mod.HELP.items():
            p = sub.add_parser(
                name, help=help_, description=(mod.__doc__ or help_).split("\n\n")[0]
            )
            configcli.add_options(p, mod.Options)
            configcli.add_options(p, RunOptions, overrides=_tier_help(mod))
            p.set_defaults(func=lambda ns, m=module, n=name: commands.harness(m, n, ns))


def _tier_help(mod: Any) -> dict[str, dict[str, str]] | None:
    """``--tier``'s help naming the module's own tiers (its ``TIERS``), where it declares them."""
    from iga.harness.entry import TIER_HELP

    tiers = getattr(mod, "TIERS", None)
    if not isinstance(tiers, dict) or not tiers:
        return None
    return {"tier": {"help": TIER_HELP.format(tiers=", ".join(tiers))}}


def _add_fit(sub: Any, specs: list[Any]) -> None:
    fit = sub.add_parser("fit", help="fit a signal with an INR")
    fit_sub = fit.add_subparsers(dest="task", required=True)
    for spec in specs:
        p = fit_sub.add_parser(spec.name, help=spec.help, description=spec.description or spec.help)
        skip: tuple[str, ...] = ()
        if spec.argument:
            p.add_argument(spec.argument, help=spec.argument_help or spec.argument)
            skip = (spec.argument,)
        overrides = spec.overrides() if spec.overrides else None
        configcli.add_options(p, spec.config(), skip=skip, overrides=overrides)
        _add_run_flags(p)
        p.set_defaults(func=lambda ns, s=spec: commands.fit(s, ns))


def _add_demo(sub: Any, specs: list[Any]) -> None:
    with_demo = [s for s in specs if s.demo is not None]
    if not with_demo:
        return
    first = with_demo[0]
    demo = sub.add_parser(
        "demo", help=f"vanilla vs IGA on bundled data ({first.name}; a few minutes on a CPU)"
    )
    demo.add_argument(
        "--task",
        default=first.name,
        choices=[s.name for s in with_demo],
        help=f"the task whose demo runs (default: {first.name})",
    )
    demo.add_argument("--steps", type=int, default=2000, help="training steps (default: 2000)")
    demo.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    demo.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    demo.add_argument("--out", default="runs/demo", help="output directory (default: runs/demo)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    by_name = {s.name: s for s in with_demo}
    demo.set_defaults(func=lambda ns: commands.demo(by_name[ns.task], ns))


def _add_analyze(sub: Any) -> None:
    from iga.analysis.commands import ANALYSES

    analyze = sub.add_parser(
        "analyze", help="diagnostics: eNTK spectra, frequency-band errors, activation regions"
    )
    analyze_sub = analyze.add_subparsers(dest="analysis", required=True)
    for spec in ANALYSES.values():
        p = analyze_sub.add_parser(spec.name, help=spec.help, description=spec.description)
        options, _ = spec.load()
        configcli.add_options(p, options, skip=spec.skip)
        if spec.add_arguments is not None:
            spec.add_arguments(p)
        p.set_defaults(func=lambda ns, s=spec: commands.analyze(s, ns))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; got {value}")
    return value


def _add_render_export(sub: Any) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("run", help="a finished run directory (the --out of iga fit)")
        p.add_argument("--weights", default="best", choices=("best", "final"), help="default: best")
        p.add_argument(
            "--data",
            default="",
            help="the run's mesh, when its recorded path no longer resolves (only occupancy/"
            "SDF runs written before iga recorded the normalisation need it)",
        )
        p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")

    render = sub.add_parser(
        "render",
        help="render a fitted field: an image at any size, a mesh, NeRF views, a signal",
        description="Query a finished run's fitted field and write files: an image run at "
        "--size (PNG; larger than trained is the INR's own super-resolution); an occupancy "
        "or SDF run's surface at --resolution (marching cubes; PLY/OBJ/STL/OFF by the --out "
        "suffix, in the mesh file's units, plus a shaded PNG); a NeRF run's turntable "
        "(--frames PNG views and an animated GIF, at --size); an audio run at --rate (WAV); "
        "a 1D run at --samples (CSV). Default --out: RUN/renders/.",
    )
    common(render)
    render.add_argument("--size", default=None, help="image/NeRF: WIDTHxHEIGHT, e.g. 768x512")
    render.add_argument(
        "--resolution", type=_positive_int, default=None, help="occupancy/SDF: grid (default 128)"
    )
    render.add_argument(
        "--frames", type=_positive_int, default=None, help="NeRF: turntable views (default 40)"
    )
    render.add_argument("--rate", type=_positive_int, default=None, help="audio: sample rate in Hz")
    render.add_argument("--samples", type=_positive_int, default=None, help="1D: points")
    render.add_argument("--out", default="", help="a file (by its suffix) or a folder")
    render.add_argument("--quiet", action="store_true", help="no progress bars")
    render.set_defaults(func=commands.render)

    export = sub.add_parser(
        "export",
        help="export a fitted field as TorchScript, torch.export and safetensors",
        description="Write a finished run's field as programs that run without iga "
        "(TorchScript field.pt, torch.export field.pt2) and its weights (field.safetensors), "
        "with field.json: what the inputs and outputs mean and the normalisation baked in. "
        "Each program is reloaded and checked against the field before it is kept.",
    )
    common(export)
    export.add_argument(
        "--format",
        default="all",
        help="comma-separated: torchscript, export, safetensors, or all (default: all)",
    )
    export.add_argument("--out", default="", help="folder (default: RUN/export)")
    export.add_argument("--overwrite", action="store_true", help="replace an export in --out")
    export.set_defaults(func=commands.export)


def _parser() -> argparse.ArgumentParser:
    from iga.overhead import OverheadConfig
    from iga.tasks.registry import tasks

    specs = list(tasks().values())
    p = _Parser(
        prog="iga", description="Inductive Gradient Adjustment for implicit neural representations"
    )
    sub = p.add_subparsers(dest="command", required=True)
    _add_fit(sub, specs)
    _add_demo(sub, specs)

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
    ovh.set_defaults(func=commands.bench_overhead)
    _add_benchmarks(bench_sub, [m for s in specs for m in s.benches])

    _add_analyze(sub)
    _add_render_export(sub)

    exp = sub.add_parser("experiment", help="reproduce an experiment of the paper")
    experiments = [m for s in specs for m in s.experiments]
    _add_benchmarks(exp.add_subparsers(dest="experiment", required=True), experiments)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``iga`` console script; returns the exit status.

    Every failure ends in one line on stderr, ``iga: error: ...`` (argparse's own: status 2;
    bad input found later: 1); ``IGA_DEBUG=1`` re-raises instead, for the full traceback.
    """
    debug = bool(os.environ.get("IGA_DEBUG"))
    try:  # Ctrl-C while the modules load (torch: a second or more) is an interrupt too
        from iga.tasks.base import TrainingDiverged, TrainingInterrupted

        args = _parser().parse_args(argv)
    except SystemExit as e:  # --help (0) or a bad option (2, message already printed)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except KeyboardInterrupt:
        print("iga: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError) as e:  # a plugin that cannot load or clashes
        if debug:
            raise
        print(f"iga: error: {_one_line(e)}", file=sys.stderr)
        return 1
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

"""The paper's 1D experiments (Sec. 5, Appendix C) as resumable plans of 1D fits.

``function1d-exp1``: the two-layer ReLU network of Arora et al. on the unit circle; identity
vs S (exact NTK, once) vs S̃ (full eNTK) vs S̃_e (IGA, groups of 8), SGD, per width.
``function1d-exp2``: ReLU and SIREN MLPs (1 → 256 × 4 hidden layers → 1) on six sines, Adam;
IGA with group sizes 1, 4, 8 and several ``end``.

A plan is a set of named runs (:class:`~iga.tasks.function1d.FunctionFitConfig`) plus panels
(the figure groups). ``run_plan`` writes each run into ``OUT/<name>/`` and skips runs whose
``summary.json`` exists with the same config (resume), then writes ``table.md``,
``table.csv``, ``mse.png``, ``delta_<panel>.png``, ``focus_<panel>.png`` and
``experiment.json`` (command, wall times) into ``OUT``. The plans of the built-in tiers are
also stored as JSON under ``benchmarks/function1d/`` (``--print-plan`` regenerates them,
``--plan FILE`` runs an edited copy).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..io import atomic_write_text, config_key, read_csv, to_jsonable, write_json
from ..tasks.function1d import (
    AdjustConfig,
    FunctionFitConfig,
    NetConfig,
    SignalConfig,
    config_from_dict,
    delta_columns,
    delta_heatmaps,
    dft_bins,
    fit_function,
    mse_curves,
)
from ..train import TrainConfig

__all__ = [
    "EXPERIMENTS",
    "Plan",
    "exp1_plan",
    "exp2_plan",
    "format_table",
    "load_plan",
    "plan_to_dict",
    "register_cli",
    "run_plan",
]

TIERS = ("cpu", "paper")


@dataclass
class Plan:
    """Named runs and how to group them in figures."""

    experiment: str
    tier: str
    notes: str
    runs: dict[str, FunctionFitConfig]
    labels: dict[str, str]
    """Short legend label per run."""
    panels: dict[str, list[str]]
    """Figure panel title -> run names (a run may appear in several panels)."""
    focus: dict[str, list[int]] = field(default_factory=dict)
    """Panel -> DFT bins whose Δ_k curves get their own figure (the paper's Fig. 3)."""

    def __post_init__(self) -> None:
        for panel, names in self.panels.items():
            missing = [n for n in names if n not in self.runs]
            if missing:
                raise ValueError(f"panel {panel!r} names unknown runs {missing}; fix the plan")
        if set(self.labels) != set(self.runs):
            raise ValueError("the plan needs exactly one label per run")


# --- the built-in tiers -----------------------------------------------------------------------


def exp1_plan(tier: str = "cpu") -> Plan:
    """Experiment 1: identity vs S vs S̃ vs S̃_e for the Arora network (paper Fig. 1, 6, 7)."""
    _check_tier(tier)
    signal = SignalConfig(freqs="0.4,0.8,1.6,3.2", domain="0,2pi", points=1024, coords="circle")
    if tier == "paper":
        widths, ends, lr, steps = [1024, 2048, 4096, 8192], [11, 13, 15], 0.1, 20000
        notes = "paper settings: SGD lr 0.1, 20000 steps, S̃ recomputed every step"
    else:
        widths, ends, lr, steps = [1024, 4096], [15], 1.0, 2000
        notes = (
            "cpu tier: widths 1024 and 4096 (the paper's Fig. 1), end 15; SGD lr 1.0 for 2000 "
            "steps instead of lr 0.1 for 20000 (same ηT = 2000, i.e. the same gradient-flow "
            "time; lr·2λ_max/N = 0.35 keeps every mode stable); S̃ (the full 1024-point eNTK, "
            "0.2-0.6 s per refresh on this busy CPU) recomputed every 5 steps, S̃_e every step. "
            "Check of the ηT swap: identity and S at width 1024 also with the "
            "paper's lr 0.1 × 20000 steps"
        )
    every = 10 if tier == "cpu" else 50
    runs: dict[str, FunctionFitConfig] = {}
    labels: dict[str, str] = {}
    panels: dict[str, list[str]] = {}

    def add(name: str, label: str, width: int, adjust: AdjustConfig, lr_: float, n: int) -> str:
        runs[name] = FunctionFitConfig(
            signal=signal,
            net=NetConfig(arch="arora", width=width),
            adjust=adjust,
            train=TrainConfig(
                steps=n, lr=lr_, decay_at=1.0, optimizer="sgd", spectrum_every=max(n // 20, 1)
            ),
            eval_every=every * n // steps,
        )
        labels[name] = label
        return name

    for w in widths:
        for end in ends:
            panel = f"width {w}" + (f", end {end}" if len(ends) > 1 else f" (end {end})")
            names = [add(f"w{w}-identity", "I", w, AdjustConfig(method="vanilla"), lr, steps)]
            for method, sym in (("ntk", "S"), ("entk", "S̃"), ("iga", "S̃_e")):
                k = 5 if method == "entk" and tier == "cpu" else 1
                adj = AdjustConfig(method=method, end=end, ref="start", group=8, every=k)
                names.append(add(f"w{w}-{method}-{end}", sym, w, adj, lr, steps))
            panels[panel] = names
    if tier == "cpu":
        n = 20000
        check = [
            add("w1024-identity-lr0.1", "I (lr 0.1)", 1024, AdjustConfig(method="vanilla"), 0.1, n),
            add(
                "w1024-ntk-15-lr0.1",
                "S (lr 0.1)",
                1024,
                AdjustConfig(method="ntk", end=15, ref="start"),
                0.1,
                n,
            ),
        ]
        panels["width 1024, lr 0.1 × 20000 (paper schedule)"] = check
    return Plan("function1d-exp1", tier, notes, runs, labels, panels)


def exp2_plan(tier: str = "cpu") -> Plan:
    """Experiment 2: dialing ``end`` and the group size for ReLU and SIREN (Fig. 2, 3, 7-9)."""
    _check_tier(tier)
    siren = SignalConfig(freqs="20,40,60,80,100,120", domain="-1,1", points=2048)
    relu = SignalConfig(freqs="10,20,30,40,50,60", domain="-1,1", points=2048)
    if tier == "paper":
        lr, steps, every1 = 5e-5, 10000, 1
        ends = {8: list(range(2, 9)), 4: list(range(2, 9)), 1: list(range(2, 9))}
        siren_ends = {8: list(range(2, 9)), 4: list(range(2, 9)), 1: list(range(2, 9))}
        notes = "paper settings: Adam lr 5e-5, 10000 steps, end 2..8, group sizes 1, 4, 8"
    else:
        lr, steps, every1 = 2.5e-4, 2000, 25
        ends = {8: [2, 8], 4: [8], 1: [8]}
        siren_ends = {8: [2, 8]}
        notes = (
            "cpu tier: Adam lr 2.5e-4 for 2000 steps instead of 5e-5 for 10000 (same lr·T = "
            "0.5); ReLU: group size 8 with end 2 and 8 and group sizes 4 and 1 at end 8; "
            "SIREN: group size 8 with end 2 and 8; group size 1 (the full 2048-point eNTK, "
            "~0.85 s per refresh on an idle core, 1-3.5 s under load) refreshes S every 25 "
            "steps, groups 4 and 8 every step"
        )
    runs: dict[str, FunctionFitConfig] = {}
    labels: dict[str, str] = {}
    panels: dict[str, list[str]] = {}
    focus: dict[str, list[int]] = {}
    for arch, sig, arch_ends in (("relu", relu, ends), ("siren", siren, siren_ends)):
        net = NetConfig(arch=arch, width=256, hidden_layers=4, omega0=5.0)
        train = TrainConfig(steps=steps, lr=lr, decay_at=1.0, optimizer="adam", spectrum_every=500)
        base = f"{arch}-vanilla"
        runs[base] = FunctionFitConfig(
            signal=sig, net=net, train=train, eval_every=10, adjust=AdjustConfig(method="vanilla")
        )
        labels[base] = "ReLU" if arch == "relu" else "SIREN"
        by_group: dict[int, list[str]] = {}
        for group, end_list in arch_ends.items():
            for end in end_list:
                name = f"{arch}-g{group}-end{end}"
                adj = AdjustConfig(
                    method="iga" if group > 1 else "entk",
                    end=end,
                    ref="end",
                    group=group,
                    every=every1 if group == 1 else 1,
                )
                runs[name] = FunctionFitConfig(
                    signal=sig, net=net, train=train, eval_every=10, adjust=adj
                )
                labels[name] = f"IGA-{group} end {end}"
                by_group.setdefault(group, []).append(name)
        if 8 in by_group:
            panels[f"{arch}, group size 8"] = [base, *by_group[8]]
        if len(by_group) > 1:
            panel = f"{arch}, group sizes {', '.join(str(g) for g in sorted(by_group))}"
            panels[panel] = [base, *[n for g in sorted(by_group) for n in by_group[g]]]
            bins = dft_bins(sig)
            focus[panel] = [bins[3]] if len(bins) > 3 else bins[-1:]
    return Plan("function1d-exp2", tier, notes, runs, labels, panels, focus)


EXPERIMENTS: dict[str, Callable[[str], Plan]] = {
    "function1d-exp1": exp1_plan,
    "function1d-exp2": exp2_plan,
}


def _check_tier(tier: str) -> None:
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")


# --- plans as JSON ----------------------------------------------------------------------------


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """JSON-ready form of ``plan`` (run configs without ``out``/``overwrite``)."""
    runs = {}
    for name, cfg in plan.runs.items():
        d = to_jsonable(asdict(cfg))
        d.pop("out")
        d.pop("overwrite")
        runs[name] = d
    return {
        "experiment": plan.experiment,
        "tier": plan.tier,
        "notes": plan.notes,
        "labels": plan.labels,
        "panels": plan.panels,
        "focus": plan.focus,
        "runs": runs,
    }


def load_plan(path: str | Path) -> Plan:
    """Read a plan written by :func:`plan_to_dict` (e.g. an edited tier file)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"plan file {p} does not exist; write one with --print-plan")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"plan file {p} is not valid JSON ({e}); fix it") from None
    need = {"experiment", "tier", "runs", "labels", "panels"}
    if not isinstance(data, dict) or not need <= set(data):
        raise ValueError(f"plan file {p} must be an object with keys {sorted(need)}")
    runs = {name: config_from_dict(cfg) for name, cfg in data["runs"].items()}
    focus = {k: [int(b) for b in v] for k, v in data.get("focus", {}).items()}
    return Plan(
        str(data["experiment"]),
        str(data["tier"]),
        str(data.get("notes", "")),
        runs,
        dict(data["labels"]),
        {k: list(v) for k, v in data["panels"].items()},
        focus,
    )


# --- running ----------------------------------------------------------------------------------


def _same_config(run_dir: Path, cfg: FunctionFitConfig) -> bool:
    try:
        saved = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return config_key(saved) == config_key(to_jsonable(asdict(cfg)), {})


def run_plan(
    plan: Plan,
    out: str | Path,
    resume: bool = False,
    progress: bool = True,
    command: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Run every run of ``plan`` into ``out/<name>`` and write the tables and figures.

    A run whose ``summary.json`` exists is skipped when ``resume`` is set (it must have been
    made with the same config); without ``resume`` a directory holding finished runs is
    refused. Unfinished runs (no summary) are always redone. Returns ``{name: summary}``.
    """
    out = Path(out)
    done = [n for n in plan.runs if (out / n / "summary.json").is_file()]
    if done and not resume:
        raise FileExistsError(
            f"{out} already holds {len(done)} finished runs of this experiment; pass --resume "
            "to skip them or choose another --out"
        )
    for name in done:
        if not _same_config(out / name, plan.runs[name]):
            raise ValueError(
                f"run {name!r} in {out} was made with a different config; "
                "choose another --out for a changed plan"
            )
    t0 = time.perf_counter()
    summaries: dict[str, dict[str, Any]] = {}
    ran: list[str] = []
    bar = tqdm(plan.runs.items(), desc=plan.experiment, disable=not progress, leave=True)
    for name, cfg in bar:
        run_dir = out / name
        if name in done:
            summaries[name] = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
            continue
        bar.set_postfix_str(name)
        run_cfg = dataclasses.replace(cfg, out=str(run_dir), overwrite=True)
        summaries[name] = fit_function(run_cfg, progress=progress, desc=name, plots=False)
        ran.append(name)
    wall = time.perf_counter() - t0
    write_report(plan, out, summaries)
    previous: dict[str, Any] = {}
    meta_path = out / "experiment.json"
    if meta_path.is_file():
        previous = json.loads(meta_path.read_text(encoding="utf-8"))
    invocations = list(previous.get("invocations", []))
    invocations.append(
        {
            "command": command or "",
            "wall_seconds": wall,
            "runs_executed": ran,
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
    )
    write_json(
        meta_path,
        {
            "experiment": plan.experiment,
            "tier": plan.tier,
            "notes": plan.notes,
            "run_seconds_total": sum(float(s["seconds"]) for s in summaries.values()),
            "run_seconds": {n: s["seconds"] for n, s in summaries.items()},
            "invocations": invocations,
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "plan": plan_to_dict(plan),
        },
    )
    return summaries


def _fmt(v: float) -> str:
    return f"{v:.3g}" if abs(v) >= 1e-3 else f"{v:.2e}"


def format_table(plan: Plan, summaries: dict[str, dict[str, Any]]) -> str:
    """Markdown: per run the final MSE and Δ_k per frequency, one table per bin set."""
    by_bins: dict[tuple[int, ...], list[str]] = {}
    for name in plan.runs:
        if name in summaries:
            by_bins.setdefault(tuple(summaries[name]["bins"]), []).append(name)
    blocks = []
    for bins, names in by_bins.items():
        head = (
            "| run | method | width | group | end | steps | lr | final MSE | "
            + " | ".join(f"Δ@{b}" for b in bins)
            + " | s/step |"
        )
        sep = (
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | "
            + " | ".join("---:" for _ in bins)
            + " | ---: |"
        )
        lines = [head, sep]
        for n in names:
            s = summaries[n]
            d = " | ".join(f"{s['delta_final'][str(b)]:.3f}" for b in bins)
            group = "" if s.get("group") is None else str(s["group"])
            lines.append(
                f"| {n} | {plan.labels[n]} | {s['width']} | {group} | {s['end']} | "
                f"{s['steps']} | {s['lr']:g} | {_fmt(s['mse_final'])} | {d} | "
                f"{s['seconds_per_step']:.4f} |"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _curves(run_dir: Path) -> dict[str, Any]:
    rows = read_csv(run_dir / "metrics.csv")
    cols = [c for c in rows[0] if c.startswith("delta_")]
    steps = [int(r["step"]) for r in rows]
    return {
        "steps": steps,
        "mse": [float(r["mse"]) for r in rows],
        "bins": [int(c.removeprefix("delta_")) for c in cols],
        "delta": np.array([[float(r[c]) for c in cols] for r in rows]),
    }


def _safe(text: str) -> str:
    keep = [ch if ch.isalnum() else "_" for ch in text.lower()]
    return "_".join(filter(None, "".join(keep).split("_")))


def write_report(plan: Plan, out: Path, summaries: dict[str, dict[str, Any]]) -> None:
    """Tables (Markdown, CSV) and figures of the finished runs of ``plan`` into ``out``."""
    table = format_table(plan, summaries)
    atomic_write_text(
        out / "table.md", f"{plan.experiment} ({plan.tier}): {plan.notes}\n\n" + table + "\n"
    )
    all_bins = sorted({b for s in summaries.values() for b in s["bins"]})
    header = [
        "run",
        "label",
        "arch",
        "width",
        "method",
        "group",
        "end",
        "steps",
        "lr",
        "mse_final",
        *delta_columns(all_bins),
        "seconds",
        "seconds_per_step",
    ]
    lines = [",".join(header)]
    for n in plan.runs:
        if n not in summaries:
            continue
        s = summaries[n]
        vals = [
            n,
            plan.labels[n],
            s["arch"],
            s["width"],
            s["method"],
            s["group"],
            s["end"],
            s["steps"],
            s["lr"],
            s["mse_final"],
        ]
        vals += [s["delta_final"].get(str(b), "") for b in all_bins]
        vals += [s["seconds"], s["seconds_per_step"]]
        lines.append(",".join("" if v is None else str(v).replace(",", ";") for v in vals))
    atomic_write_text(out / "table.csv", "\n".join(lines) + "\n")

    curves = {n: _curves(out / n) for n in plan.runs if n in summaries}
    mse_panels = {
        panel: {
            plan.labels[n]: (curves[n]["steps"], curves[n]["mse"]) for n in names if n in curves
        }
        for panel, names in plan.panels.items()
    }
    mse_curves(mse_panels, out / "mse.png", title=f"{plan.experiment} ({plan.tier}): MSE")
    for panel, names in plan.panels.items():
        cells = [
            (plan.labels[n], curves[n]["steps"], curves[n]["delta"]) for n in names if n in curves
        ]
        if not cells:
            continue
        per_row = 4
        grid = [cells[i : i + per_row] for i in range(0, len(cells), per_row)]
        delta_heatmaps(
            grid, curves[names[0]]["bins"], out / f"delta_{_safe(panel)}.png", title=f"Δ_k, {panel}"
        )
    for panel, bins in plan.focus.items():
        _focus_plot(plan, panel, bins, curves, out / f"focus_{_safe(panel)}.png")


def _focus_plot(
    plan: Plan, panel: str, bins: list[int], curves: dict[str, Any], path: Path
) -> None:
    from matplotlib.figure import Figure

    from ..io import save_figure

    names = [n for n in plan.panels[panel] if n in curves]
    fig = Figure(figsize=(4.5 * len(bins), 3.4), dpi=110, layout="constrained")
    axes = fig.subplots(1, len(bins), squeeze=False)[0]
    for ax, b in zip(axes, bins, strict=True):
        for n in names:
            c = curves[n]
            if b in c["bins"]:
                ax.plot(
                    c["steps"],
                    c["delta"][:, c["bins"].index(b)],
                    label=plan.labels[n],
                    linewidth=1.1,
                )
        ax.set_xlabel("step")
        ax.set_ylabel(f"Δ at bin {b}")
        ax.set_ylim(0, 1.2)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
        ax.set_title(f"{panel}: relative error at bin {b}", fontsize=9)
    save_figure(fig, path)


# --- command line -----------------------------------------------------------------------------


_TYPES = {"int": int, "float": float, "str": str}
# TrainConfig's help texts are written for the image task; these read right for 1D fits.
_HELP = {
    "lr": "learning rate of the optimizer",
    "spectrum_every": "log the eNTK spectrum (condition numbers) every k steps",
}


def _add_options(parser: argparse.ArgumentParser, obj: Any, skip: tuple[str, ...] = ()) -> None:
    """One ``--option`` per leaf field of the dataclass *instance* ``obj``.

    Unlike ``iga.cli._add_fields`` the defaults come from the instance, so nested configs
    show this task's defaults (e.g. Adam lr 5e-5, no decay) rather than the class defaults.
    """
    for f in dataclasses.fields(obj):
        if f.name in skip:
            continue
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            _add_options(parser, value, skip)
            continue
        flag = "--" + f.name.replace("_", "-")
        help_ = _HELP.get(f.name, f.metadata.get("help", ""))
        if f.type == "bool":
            parser.add_argument(flag, action="store_true", help=help_)
            continue
        base = str(f.type).replace(" | None", "")
        parser.add_argument(
            flag, type=_TYPES[base], default=value, help=f"{help_} (default: {value})"
        )


def _build_from(obj: Any, ns: argparse.Namespace) -> Any:
    kw = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            kw[f.name] = _build_from(value, ns)
        elif hasattr(ns, f.name):
            kw[f.name] = getattr(ns, f.name)
    return type(obj)(**kw)


def _cmd_fit(ns: argparse.Namespace) -> int:
    cfg = _build_from(FunctionFitConfig(), ns)
    s = fit_function(cfg, progress=not ns.quiet)
    deltas = ", ".join(f"Δ@{k} {v:.3f}" for k, v in s["delta_final"].items())
    print(
        f"{cfg.net.arch}/{cfg.adjust.method}: final MSE {s['mse_final']:.4g}; {deltas}; "
        f"{1000 * s['seconds_per_step']:.1f} ms/step -> {cfg.out}"
    )
    return 0


def _cmd_experiment(ns: argparse.Namespace) -> int:
    plan = load_plan(ns.plan) if ns.plan else EXPERIMENTS[ns.experiment](ns.tier)
    if ns.plan and plan.experiment != ns.experiment:
        raise ValueError(
            f"plan file {ns.plan} is for {plan.experiment}, not {ns.experiment}; "
            f"run `iga experiment {plan.experiment} --plan {ns.plan}`"
        )
    if ns.print_plan:
        print(json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False))
        return 0
    if ns.threads:
        torch.set_num_threads(ns.threads)
    out = ns.out or f"runs/{ns.experiment}-{plan.tier}"
    command = "iga " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv else ""
    summaries = run_plan(plan, out, resume=ns.resume, progress=not ns.quiet, command=command)
    print(format_table(plan, summaries))
    print(f"wrote {out}/table.md, table.csv, mse.png, delta_*.png, experiment.json")
    return 0


def register_cli(fit_sub: Any, root_sub: Any) -> None:
    """Add ``iga fit function`` to ``fit_sub`` and ``iga experiment …`` to ``root_sub``.

    Both are ``argparse`` sub-parser collections (``add_subparsers()`` results); every parser
    added sets ``func(ns) -> int``.
    """
    fn = fit_sub.add_parser(
        "function",
        help="fit a 1D sum of sines (MSE and per-frequency relative errors Δ_k)",
        description="Fit Σ sin(c·π·t) on N points, vanilla or with an NTK/eNTK/IGA gradient "
        "adjustment, into a run directory (config.json, metrics.csv with Δ_k per frequency, "
        "summary.json, mse.png, delta.png, fit.png). Defaults: the paper's Exp. 2 ReLU setting.",
    )
    _add_options(fn, FunctionFitConfig())
    fn.add_argument("--quiet", action="store_true", help="no progress bar")
    fn.set_defaults(func=_cmd_fit)

    exp = root_sub.add_parser("experiment", help="reproduce an experiment of the paper")
    exp_sub = exp.add_subparsers(dest="experiment", required=True)
    helps = {
        "function1d-exp1": "Sec. 5 Exp. 1: identity vs S (NTK) vs S̃ (eNTK) vs S̃_e (IGA)",
        "function1d-exp2": "Sec. 5 Exp. 2: IGA end 2..8 and group sizes 1/4/8, ReLU and SIREN",
    }
    for name in EXPERIMENTS:
        p = exp_sub.add_parser(name, help=helps[name], description=helps[name])
        p.add_argument(
            "--tier",
            choices=TIERS,
            default="cpu",
            help="cpu (fits a 2-core CPU, < 40 min) or paper (full settings)",
        )
        p.add_argument("--out", default="", help="output directory (default: runs/NAME-TIER)")
        p.add_argument(
            "--resume",
            action="store_true",
            help="skip runs already finished in --out (otherwise such --out is refused)",
        )
        p.add_argument("--plan", default="", help="run this plan JSON instead of a tier")
        p.add_argument("--print-plan", action="store_true", help="print the plan JSON and exit")
        p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.set_defaults(func=_cmd_experiment)

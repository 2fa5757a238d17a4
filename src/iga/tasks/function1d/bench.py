"""``iga experiment function1d-exp1|exp2``: the paper's 1D experiments (Sec. 5), declared;
``function1d-rivals|fresh``: IGA's rivals on Exp. 2's fits.

Each experiment is a *plan*: named 1D fits (:class:`~iga.tasks.function1d.task.FunctionFitConfig`)
with legend labels and figure panels; the tier (``cpu`` or ``paper``) decides the plan. On
:mod:`iga.harness` a plan is one axis, ``run``, over its names; the reports keep the
experiment's own layout (``table.md``/``table.csv`` per run, MSE curves, Δ_k heatmaps and the
paper's Fig. 3 focus plots). Runs go to ``OUT/<name>/`` and resume like any sweep.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from iga.harness import Bench, Context, Metric, Report, RunOptions
from iga.io import read_csv, to_jsonable
from iga.runs import config_key
from iga.sweep import RunSpec
from iga.tasks.base import TrainingDiverged
from iga.tasks.function1d.figures import delta_heatmaps, mse_curves
from iga.tasks.function1d.plans import EXPERIMENTS, TIERS, Plan, load_plan, plan_to_dict
from iga.tasks.function1d.task import config_from_dict, delta_columns, fit_function

# --- the declaration --------------------------------------------------------------------------


def make_run(ctx: Context, cell: dict[str, Any]) -> RunSpec:
    """The plan's run ``cell["run"]``, in ``OUT/<name>/``."""
    plan: Plan = ctx.config
    name = cell["run"]
    out = Path(ctx.options["dir"]) / name
    cfg = replace(plan.runs[name], out=str(out), overwrite=True)
    config = {"fit": to_jsonable(asdict(cfg)), "threads": ctx.options.get("threads")}
    return RunSpec(name, str(out), config, key=config_key(to_jsonable(asdict(cfg)), {}))


def run_function(config: dict[str, Any]) -> dict[str, Any]:
    """Sweep worker: one 1D fit (Ray-importable); a diverged run counts as finished."""
    import torch

    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    fit = dict(config["fit"])
    out, overwrite = fit.pop("out"), fit.pop("overwrite")
    cfg = replace(config_from_dict(fit), out=out, overwrite=overwrite)
    try:
        return fit_function(cfg, progress=False, plots=False, resume="auto")
    except TrainingDiverged:
        return json.loads((Path(cfg.out) / "summary.json").read_text())


def _reports(report: Report) -> dict[str, str]:
    plan: Plan = report.plan.context.config
    summaries = {r["run"]: r["summary"] for r in report.records}
    table = format_table(plan, summaries)
    return {
        "table.md": f"{plan.experiment} ({plan.tier}): {plan.notes}\n\n" + table,
        "table.csv": _table_csv(plan, summaries),
    }


def _figures(report: Report, out: Path) -> None:
    plan: Plan = report.plan.context.config
    summaries = {r["run"]: r["summary"] for r in report.records}
    if summaries:
        _write_figures(plan, out, summaries)


def bench(experiment: str) -> Bench:
    """The declaration of ``function1d-exp1``, ``-exp2``, ``-rivals`` or ``-fresh``."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {experiment!r}; choose {', '.join(EXPERIMENTS)}")
    return Bench(
        name=experiment,
        title=experiment,
        tiers={t: (lambda t=t: EXPERIMENTS[experiment](t)) for t in TIERS},
        axes={"run": lambda plan: list(plan.runs)},
        make_run=make_run,
        worker=run_function,
        metrics=(Metric("mse_final", "final MSE", ".3g", higher_is_better=False),),
        rows=("run",),
        record_keys=("summary",),
        derive=lambda s: {"summary": s},
        reports=_reports,
        figures=_figures,
        describe=lambda plan: plan.notes,
    )


@dataclass
class Options:
    """Options of ``iga experiment function1d-*`` besides the harness' own."""

    print_plan: bool = field(
        default=False, metadata={"help": "print the plan JSON (edit it, run it with --tier FILE)"}
    )


HELP = {
    "function1d-exp1": "Sec. 5 Exp. 1: identity vs S (NTK) vs S̃ (eNTK) vs S̃_e (IGA)",
    "function1d-exp2": "Sec. 5 Exp. 2: IGA end 2..8 and group sizes 1/4/8, ReLU and SIREN",
    "function1d-rivals": "Exp. 2's ReLU fit with Adam, Muon and ESGD, each alone and with IGA",
    "function1d-fresh": "Exp. 2's SIREN fit, SIREN and PE, with FreSh's frequency, alone and "
    "with IGA",
}
"""The commands this module declares (``iga experiment NAME``) and their help lines."""


def setup(name: str, opts: Options, ro: RunOptions) -> dict[str, Any]:
    """The :func:`iga.harness.plan` arguments: ``--tier`` is cpu, paper or a plan file; the
    runs and reports go to ``--out`` (default ``runs/NAME-TIER``)."""
    b = bench(name)
    if ro.tier in TIERS:
        plan = EXPERIMENTS[name](ro.tier)
    elif Path(ro.tier).is_file():
        plan = load_plan(ro.tier)
        if plan.experiment != name:
            raise ValueError(
                f"plan file {ro.tier} is for {plan.experiment}, not {name}; "
                f"run `iga experiment {plan.experiment} --tier {ro.tier}`"
            )
    else:
        raise ValueError(f"--tier {ro.tier!r} is neither {' nor '.join(TIERS)} nor a plan file")
    if opts.print_plan:
        return {"print": json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False)}
    folder = Path(ro.out or f"runs/{name}-{plan.tier}")
    return {
        "bench": b,
        "tier": plan.tier,
        "tier_config": plan,
        "options": {"dir": str(folder)},
        "report_dir": folder,
    }


def _fmt(v: float | None) -> str:
    if v is None or not np.isfinite(v):
        return "—"
    return f"{v:.3g}" if abs(v) >= 1e-3 else f"{v:.2e}"


def _fmt_delta(v: float | None) -> str:
    return f"{v:.3f}" if v is not None and np.isfinite(v) and abs(v) < 1e3 else _fmt(v)


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
            d = " | ".join(_fmt_delta(s["delta_final"].get(str(b))) for b in bins)
            group = "" if s.get("group") is None else str(s["group"])
            label = plan.labels[n]
            if s.get("diverged_at_step") is not None:
                label += f" (diverged at step {s['diverged_at_step']})"
            lines.append(
                f"| {n} | {label} | {s['width']} | {group} | {s['end']} | "
                f"{s['steps']} | {s['lr']:g} | {_fmt(s['mse_final'])} | {d} | "
                f"{s['seconds_per_step']:.4f} |"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _table_csv(plan: Plan, summaries: dict[str, dict[str, Any]]) -> str:
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
    return "\n".join(lines)


def _write_figures(plan: Plan, out: Path, summaries: dict[str, dict[str, Any]]) -> None:
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


def _focus_plot(
    plan: Plan, panel: str, bins: list[int], curves: dict[str, Any], path: Path
) -> None:
    from matplotlib.figure import Figure

    from iga.io import save_figure

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

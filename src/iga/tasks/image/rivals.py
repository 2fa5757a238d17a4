"""``iga bench rivals``: IGA against the optimisers a user would pick instead, and combined.

The image task at the tiers of ``iga bench image`` (Kodak, ReLU/PE/SIREN). Each *method* is a
training recipe: an optimiser (:mod:`iga.optim`), its schedule, and whether IGA adjusts the
gradient (IGA changes the gradient, the optimiser consumes it, so every optimiser combines
with IGA). Fair protocol: every method × arch gets the best lr of :data:`GRIDS` (a grid
around its own recipe) on the first image and seed; the recipe's own lr is one of the grid's
points, so ``selection.md`` also shows each rival at its authors' recipe.

Methods (:data:`RIVALS`):

``adam``       Adam, the paper's step schedule (constant, ×0.1 after 30%): vanilla training.
``adam-cos``   Adam with Muon-INRs' cosine schedule: separates the schedule from Muon.
``iga``        IGA with Adam and the paper's schedule (``iga bench image``'s ``iga``).
``muon``       Muon-INRs (arXiv 2512.14366): Muon on the hidden matrices + Adam 1e-3, cosine.
``muon+iga``   the same optimiser fed IGA's adjusted gradient.
``esgd``       ESGD (CVPR 2025 preconditioners): constant lr, as the authors' image runs.
``esgd+iga``   ESGD with IGA's gradient (its curvature still from the MSE: :mod:`iga.optim`).
``ws``         weight scaling (Yeom et al., ICLR 2025): Adam, every weight but the last ×2
               at init; SIREN only (a method for sinusoidal fields).
``ws+iga``     the same model trained with IGA.
``fresh``      FreSh (Kania et al., ICLR 2025): Adam, the embedding frequency chosen before
               training (SIREN's first ω₀, PE's levels) by :mod:`iga.models.fresh`.
``fresh+iga``  the same model trained with IGA.
"""

from __future__ import annotations

import csv
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from iga.harness import Bench, Context, Metric, Report, RunOptions, Selection, cell_path
from iga.harness import options as _options
from iga.io import to_jsonable
from iga.models import ARCHS
from iga.models.fresh import FRESH_PARAMS
from iga.sweep import RunSpec
from iga.tasks.image.bench import (
    END,
    KODAK,
    TIERS,
    _describe,
    _image_size,
    _images,
    run_image,
    tier_config,
)
from iga.tasks.image.task import ImageFitConfig, run_key
from iga.train import MethodConfig

FRESH_ARCHS = tuple(a for a in ("relu", "pe", "siren") if a in FRESH_PARAMS)


@dataclass(frozen=True)
class Rival:
    """One training recipe of the comparison."""

    label: str
    method: str
    """``vanilla`` or ``iga``."""
    optimizer: str
    schedule: str
    grid: str
    """Key of :data:`GRIDS`: the lrs the fair protocol tries."""
    decay: float = 0.1
    """The step schedule's multiplier (1: a constant lr)."""
    options: tuple[tuple[str, Any], ...] = ()
    """Model options the recipe adds (``--opt``), e.g. weight scaling's."""
    fresh: str = ""
    """``--fresh`` (FreSh's candidates; empty: off)."""
    archs: tuple[str, ...] | None = None
    """The archs the recipe applies to (None: every arch)."""


GRIDS: dict[str, tuple[float, ...]] = {
    "adam": (5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2),
    "muon": (0.005, 0.01, 0.02, 0.05, 0.1, 0.2),
    "esgd": (0.01, 0.03, 0.05, 0.1, 0.15, 0.3),
    "esgd+iga": (0.1, 0.3, 0.5, 1.0, 3.0, 10.0),
}
"""Learning rates tried per optimiser, around each recipe: Adam 1e-3 (the paper's vanilla)
and 5e-3 (the paper's IGA with ReLU/PE), Muon-INRs' 0.1 for images, ESGD's 0.1 (ReLU+PE) and
0.15 (sine, Gaussian, wavelet). Selected on the first image and seed by best PSNR.

ESGD + IGA gets its own, higher grid: ESGD's step is not normalised by the gradient's size
(Adam's and Muon's are), and IGA with ``ref="end"`` shrinks the gradient along the top eNTK
directions by λ_end/λ_i, so at ESGD's own lrs the combination barely moves (measured on
kodim01 at 96×64, PE, 300 steps: 8.3 dB at lr 0.01, 27.6 at 0.1, 33.3 at 1, 34.7 at 3,
12.5 at 10; ESGD alone: 28.6 dB at 0.1, 23.0 at 0.3)."""
RANKS = tuple(range(6))
"""The selection's candidates: a position in the method's grid (grids have equal length). The
top of each grid is one step above the lr that first looked best (IGA's 1e-2 and Muon's 0.1
on ReLU), so that no method's choice sits at the edge of what was tried."""
assert all(len(g) == len(RANKS) for g in GRIDS.values())

RIVALS: dict[str, Rival] = {
    "adam": Rival("Adam", "vanilla", "adam", "step", "adam"),
    "adam-cos": Rival("Adam (cosine)", "vanilla", "adam", "cosine", "adam"),
    "iga": Rival("IGA (Adam)", "iga", "adam", "step", "adam"),
    "muon": Rival("Muon", "vanilla", "muon", "cosine", "muon"),
    "muon+iga": Rival("Muon + IGA", "iga", "muon", "cosine", "muon"),
    "esgd": Rival("ESGD", "vanilla", "esgd", "step", "esgd", decay=1.0),
    "esgd+iga": Rival("ESGD + IGA", "iga", "esgd", "step", "esgd+iga", decay=1.0),
    "ws": Rival(
        "Weight scaling",
        "vanilla",
        "adam",
        "step",
        "adam",
        options=(("weight_scale", 2.0),),
        archs=("siren",),
    ),
    "ws+iga": Rival(
        "Weight scaling + IGA",
        "iga",
        "adam",
        "step",
        "adam",
        options=(("weight_scale", 2.0),),
        archs=("siren",),
    ),
    "fresh": Rival("FreSh", "vanilla", "adam", "step", "adam", fresh="auto", archs=FRESH_ARCHS),
    "fresh+iga": Rival(
        "FreSh + IGA", "iga", "adam", "step", "adam", fresh="auto", archs=FRESH_ARCHS
    ),
}
"""Weight scaling's α = 2: the best of α ∈ {1, 2, 3} at width 256 in
``probes/weight_scale_probe.py`` (at the tier's width 64 every α > 1 was worse)."""
LABELS = {
    "arch": {"relu": "ReLU", "pe": "PE", "siren": "SIREN"},
    "method": {k: r.label for k, r in RIVALS.items()},
}
METRICS = (
    Metric("psnr_best", "PSNR best (dB)"),
    Metric("psnr_final", "PSNR final (dB)"),
    Metric("ssim", "SSIM", ".4f"),
)
"""No timing column: these runs share the machine; time to quality is measured apart, alone
(``probes/time_to_quality.py``)."""


def applies(method: str, arch: str) -> bool:
    """Whether recipe ``method`` is run with ``arch`` (the inits are arch-specific)."""
    archs = RIVALS[method].archs
    return archs is None or arch in archs


def rival_lr(method: str, rank: int) -> float:
    """The lr at position ``rank`` of ``method``'s grid."""
    return GRIDS[RIVALS[method].grid][rank]


def make_run(ctx: Context, cell: dict[str, Any]) -> RunSpec:
    """One fit of ``cell`` (image, arch, method, rank, seed) at the tier ``ctx.config``."""
    tier: ImageFitConfig = ctx.config
    arch, method, seed = cell["arch"], cell["method"], cell["seed"]
    rival = RIVALS[method]
    lr = rival_lr(method, cell["rank"])
    path = Path(ctx.options["files"][cell["image"]])
    name = cell_path(
        {**cell, "lr": lr},
        ("image", "arch", "method", "lr", "seed"),
        {"lr": "lr{:g}", "seed": "seed{}"},
    )
    out = ctx.root / "runs" / name
    cfg = replace(
        tier,
        path=str(path),
        size=_image_size(path, tier.size),
        model=replace(
            tier.model,
            arch=arch,
            options={**tier.model.options, **dict(rival.options)},
            fresh=rival.fresh,
        ),
        method=MethodConfig(method=rival.method, end=END.get(arch, 20)),
        train=replace(
            tier.train,
            lr=lr,
            seed=seed,
            optimizer=rival.optimizer,
            schedule=rival.schedule,
            decay=rival.decay,
        ),
        out=str(out),
        overwrite=True,
    )
    config = {
        "fit": to_jsonable(asdict(cfg)),
        **{k: ctx.options.get(k) for k in ("threads", "keep_checkpoints")},
    }
    return RunSpec(name, str(out), config, key=run_key(cfg))


CURVE_EVERY = 10
"""Steps between the points of the thinned curves kept in ``curves.csv`` (git keeps no run's
``metrics.csv``; the figures are rebuilt from ``curves.csv`` where those are absent)."""


def _curves(report: Report, out: Path) -> dict[tuple[str, str, str], list[tuple[int, float]]]:
    """Best-so-far PSNR against step of every main run of the first seed, thinned; read from
    each run's ``metrics.csv`` when present, else from ``out/curves.csv``."""
    from iga.io import read_csv

    seed0 = report.plan.axes["seed"][0]
    kept = out / "curves.csv"
    old: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    if kept.is_file():
        for r in read_csv(kept):
            key = (r["image"], r["arch"], r["method"])
            old.setdefault(key, []).append((int(r["step"]), float(r["psnr_best_so_far"])))
    curves: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    for rec in report.records:
        if rec["seed"] != seed0:
            continue
        key = (rec["image"], rec["arch"], rec["method"])
        metrics = out / rec["run_dir"] / "metrics.csv"
        if metrics.is_file():
            best, points = -math.inf, []
            for r in read_csv(metrics):
                best = max(best, float(r["psnr"]))
                if int(r["step"]) % CURVE_EVERY == 0:
                    points.append((int(r["step"]), best))
            curves[key] = points
        elif key in old:
            curves[key] = old[key]
    rows = [
        {"image": k[0], "arch": k[1], "method": k[2], "step": st, "psnr_best_so_far": f"{v:.4f}"}
        for k, pts in curves.items()
        for st, v in pts
    ]
    if rows:
        with open(kept, "w", newline="") as f:
            w = csv.DictWriter(f, list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return curves


def figures(report: Report, out: Path) -> None:
    """``figures/<image>_<arch>_psnr.png``: best-so-far PSNR against step, one line per method
    (the first seed, each method at its chosen lr)."""
    from iga.figures import plots

    curves = _curves(report, out)
    for image in report.plan.axes["image"]:
        for arch in report.plan.axes["arch"]:
            lines = {
                f"{RIVALS[m].label} (lr {_lr_of(report, image, arch, m):g})": (
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                )
                for (i, a, m), pts in curves.items()
                if (i, a) == (image, arch)
            }
            if lines:
                plots.psnr_curves(
                    lines,
                    out / "figures" / f"{image}_{arch}_psnr.png",
                    title=f"{image}, {LABELS['arch'].get(arch, arch)}: best PSNR so far",
                    ylabel="best PSNR so far (dB)",
                )


def _lr_of(report: Report, image: str, arch: str, method: str) -> float:
    for rec in report.records:
        if (rec["image"], rec["arch"], rec["method"]) == (image, arch, method):
            return float(rec["lr"])
    return math.nan


def grid_report(report: Report) -> dict[str, str]:
    """``grid.md``: every lr tried per arch × method with its best PSNR (the chosen one in
    bold, a choice at either end of the grid flagged), as ``selection.md`` with lrs for ranks."""
    p = report.plan
    axes = [a for a in p.axes if a not in ("seed", "image")]
    lines = [
        f"Best PSNR (dB) on {p.axes['image'][0]}, seed {p.axes['seed'][0]}, of every lr tried "
        "(bold: chosen; *edge*: the best lr is an end of the grid, so a wider grid might do "
        "better; a run that diverged keeps the best PSNR before it).",
        "",
        "| " + " | ".join(axes) + " | lr: best PSNR | chosen lr |",
        "| " + " | ".join("---" for _ in axes) + " | --- | ---: |",
    ]
    for g, scores in p.scores.items():
        cell = dict(zip(axes, g, strict=True))
        method = cell["method"]
        shown = []
        for rank in RANKS:
            v = scores.get(rank)
            text = f"{rival_lr(method, rank):g}: " + ("—" if v is None else f"{v:.2f}")
            shown.append(f"**{text}**" if p.chosen.get(g) == rank else text)
        chosen = p.chosen.get(g)
        if chosen is None:
            what = "pending"
        else:
            what = f"{rival_lr(method, chosen):g}" + (
                " *edge*" if chosen in (RANKS[0], RANKS[-1]) else ""
            )
        labels = [LABELS.get(a, {}).get(cell[a], str(cell[a])) for a in axes]
        lines.append("| " + " | ".join(labels) + " | " + ", ".join(shown) + f" | {what} |")
    return {"grid.md": "\n".join(lines) + "\n"}


def bench() -> Bench:
    """The rivals benchmark (fair protocol: best lr of each method's grid on the first image)."""
    return Bench(
        name="rivals",
        title="IGA among its rivals (Kodak, fair protocol: each method at its best lr)",
        tiers=TIERS,
        axes={
            "seed": [0],
            "image": KODAK,
            "arch": ["relu", "pe", "siren"],
            "method": list(RIVALS),
        },
        make_run=make_run,
        worker=run_image,
        metrics=METRICS,
        rows=("arch",),
        columns=("method",),
        average_over=("image",),
        spread_over=("seed",),
        selection=Selection("rank", RANKS, ("seed", "image"), "psnr_best"),
        record_keys=("best_step", "steps", "diverged_at_step", "lr"),
        labels=LABELS,
        figures=figures,
        reports=grid_report,
        describe=_describe,
    )


@dataclass
class Options:
    """Options of ``iga bench rivals`` (the harness adds --out, --executor, --report, ...)."""

    data: str = field(
        default="../shared/data/kodak", metadata={"help": "folder holding the images"}
    )
    images: str = field(
        default="1-3",
        metadata={"help": "Kodak numbers/ranges (1-3,5) or image file names in --data"},
    )
    archs: str = field(default="relu,pe,siren", metadata={"help": "comma-separated archs"})
    methods: str = field(
        default=",".join(RIVALS),
        metadata={"help": f"comma-separated methods: {', '.join(RIVALS)}"},
    )
    seeds: str = field(
        default="0",
        metadata={"help": "seeds; the first on every image, the others on --multi-seed-images"},
    )
    multi_seed_images: str = field(
        default="1-3", metadata={"help": "images that also get the seeds after the first"}
    )
    keep_checkpoints: bool = field(
        default=False, metadata={"help": "keep best.pt/final.pt in run dirs"}
    )


HELP = {
    "rivals": "IGA vs Muon, ESGD, Adam with a cosine schedule, weight scaling and FreSh, and "
    "IGA combined with each (images; each method at its best lr; resumable)"
}


def setup(name: str, opts: Options, ro: RunOptions) -> dict[str, Any]:
    """The :func:`iga.harness.plan` arguments for ``opts``."""
    tier, cfg = tier_config(ro.tier)
    files = _images(opts.images, Path(opts.data))
    methods = _options.choices("--methods", opts.methods, tuple(RIVALS))
    archs = _options.choices("--archs", opts.archs, ARCHS)
    seeds = _options.seeds(opts.seeds)
    multi = set(_images(opts.multi_seed_images, Path(opts.data), must_exist=False))
    return {
        "bench": bench(),
        "tier": tier,
        "tier_config": cfg,
        "axes": {"seed": seeds, "image": list(files), "arch": archs, "method": methods},
        "where": lambda c: (
            (c["seed"] == seeds[0] or c["image"] in multi) and applies(c["method"], c["arch"])
        ),
        "options": {
            "files": {k: str(v) for k, v in files.items()},
            "keep_checkpoints": opts.keep_checkpoints,
        },
        "report": "fair",
    }


__all__ = [
    "GRIDS",
    "HELP",
    "RIVALS",
    "Options",
    "Rival",
    "applies",
    "bench",
    "make_run",
    "rival_lr",
    "setup",
]

"""``iga bench occupancy``: the IGA paper's 3D shape table (Table 2, per shape Table 9), declared.

Meshes × archs × methods (vanilla, FR, BN, IGA) × seeds, one :func:`fit_occupancy` run each,
through :mod:`iga.harness`. The paper's learning rates and ``end`` per arch (App. E); the
extra seeds go to vanilla and IGA only (the claim under test). Tiers are
:class:`~iga.tasks.occupancy.task.OccupancyFitConfig` instances, the only source of their defaults.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from iga.harness import Bench, Context, Metric, Reference, Report, RunOptions, cell_path
from iga.harness import options as _options
from iga.harness.worker import fit_run
from iga.io import to_jsonable
from iga.models import ARCHS
from iga.models.config import ModelConfig
from iga.paper import TABLE9_IOU
from iga.sweep import RunSpec
from iga.tasks.occupancy.task import OccupancyFitConfig, default_lr, run_key
from iga.train import METHODS, MethodConfig, TrainConfig

TIERS: dict[str, OccupancyFitConfig] = {
    # Chosen by measurement (docs/occupancy.md): 128³ grid, width 64, the paper's runs scaled
    # (64 points = half a grid line, as 256 at 512³), 256 groups (16k points) per step,
    # 3000 steps; the 54-run table (36 + a second seed of vanilla and IGA) in about 1.5 hours
    # on 2 cores (two 1-thread streams).
    "cpu": OccupancyFitConfig(),
    # The paper's App. E setting (needs a GPU): 512³, width 256, runs of 256 points, 512 groups
    # per step, 200 epochs = 204,800 steps.
    "paper": OccupancyFitConfig(
        resolution=512,
        groups="runs",
        group_size=256,
        batch_groups=512,
        validate_every=1024,
        eval_points=2_000_000,
        model=ModelConfig(arch="relu", width=256, hidden_layers=3),
        train=TrainConfig(steps=204_800, schedule="exp", decay=0.1, checkpoint_every=2048),
    ),
}
END: dict[str, int] = {"relu": 7, "pe": 7, "siren": 14}
"""IGA's ``end`` per arch (App. E: 7 for ReLU and PE, 14 for SIREN)."""
SHAPES = ("bunny", "armadillo", "dragon")
"""The bundled meshes (``../shared/data/meshes``); the paper's Thai statue and Lucy are not
available here."""
LABELS = {
    "arch": {"relu": "ReLU", "pe": "PE", "siren": "SIREN"},
    "method": {"vanilla": "Vanilla", "fr": "+FR", "bn": "+BN", "iga": "+IGA"},
}
METRICS = (
    Metric("iou", "IoU grid, best", ".4f"),
    Metric("iou_final", "IoU grid, final", ".4f"),
    Metric("iou_eval", "IoU fresh points", ".4f"),
    Metric("iou_near", "IoU near surface", ".4f"),
    Metric("chamfer_e3", "Chamfer-L1 ×1e3", ".3f", higher_is_better=False),
)


def _derive(summary: dict[str, Any]) -> dict[str, Any]:
    c = summary.get("chamfer")
    return {"chamfer_e3": None if c is None else 1e3 * float(c)}


def make_run(ctx: Context, cell: dict[str, Any]) -> RunSpec:
    """One fit of ``cell`` (shape, arch, method, seed) at the tier ``ctx.config``."""
    tier: OccupancyFitConfig = ctx.config
    arch, method, seed = cell["arch"], cell["method"], cell["seed"]
    name = cell_path(cell, ("shape", "arch", "method", "seed"), {"seed": "seed{}"})
    out = ctx.root / "runs" / name
    cfg = replace(
        tier,
        path=str(ctx.options["files"][cell["shape"]]),
        model=replace(tier.model, arch=arch),
        method=MethodConfig(
            method=method,
            end=ctx.options.get("end") or END.get(arch, 7),
            sampling=ctx.options.get("sampling") or tier.method.sampling,
        ),
        train=replace(tier.train, seed=seed),
        out=str(out),
        overwrite=True,  # only unfinished runs are launched; they resume from a checkpoint
    )
    config = {"fit": to_jsonable(asdict(cfg)), "threads": ctx.options.get("threads")}
    return RunSpec(name, str(out), config, key=run_key(cfg))


def run_occupancy(config: dict[str, Any]) -> dict[str, Any]:
    """Sweep worker: one fit from ``make_run``'s config (Ray-importable)."""
    from iga.tasks.occupancy.task import fit_occupancy

    return fit_run(config, OccupancyFitConfig.from_dict, fit_occupancy)


def figures(report: Report, out: Path) -> None:
    """One Figure-5-like PNG per (shape, arch): the reference surface and every method's, whole
    and zoomed where vanilla and IGA differ most (first seed)."""
    import numpy as np
    import trimesh

    from iga.figures import plots3d
    from iga.meshes import load_mesh, normalize, upright

    p = report.plan
    up = p.context.config.up
    seed0 = p.axes["seed"][0]

    @functools.cache
    def reference(shape: str) -> tuple[Any, Any]:
        # Read and normalised once per shape, for all its archs.
        mesh, _ = normalize(load_mesh(p.context.options["files"][shape]), p.context.config.margin)
        return upright(np.asarray(mesh.vertices), up), np.asarray(mesh.faces)

    for shape in p.axes["shape"]:
        for arch in p.axes["arch"]:
            surfaces: dict[str, Any] = {}
            extra: dict[str, str] = {}
            records = [
                r
                for r in report.records
                if (r["shape"], r["arch"], r["seed"]) == (shape, arch, seed0)
            ]
            for r in records:
                ply = out / r["run_dir"] / "surface.ply"
                if not ply.is_file():
                    continue
                m = trimesh.load(ply, process=False)
                label = LABELS["arch"].get(arch, arch) + (
                    "" if r["method"] == "vanilla" else LABELS["method"][r["method"]]
                )
                surfaces[label] = (upright(np.asarray(m.vertices), up), np.asarray(m.faces))
                extra[label] = f"IoU {r['iou']:.4f}"
            target_png = out / "figures" / f"{shape}_{arch}.png"
            if not surfaces or (len(surfaces) < len(records) and target_png.exists()):
                # Surfaces are not kept in git: keep a complete figure rather than a partial one.
                continue
            labels = list(surfaces)
            crop = None
            if len(labels) >= 2:
                # Where the first and last method (vanilla, IGA) differ: sample both surfaces
                # and keep the points far from the other one.
                crop = plots3d.choose_crop(_disagreement(surfaces[labels[0]], surfaces[labels[-1]]))
            plots3d.compare_surfaces(
                {"reference": reference(shape), **surfaces},
                target_png,
                crop=crop,
                titles_extra=extra,
            )


def _disagreement(a: tuple[Any, Any], b: tuple[Any, Any], n: int = 20000) -> Any:
    """Points of surface ``a`` farther than the 95th percentile from surface ``b``."""
    import numpy as np
    import trimesh
    from scipy.spatial import cKDTree

    pa, _ = trimesh.sample.sample_surface(trimesh.Trimesh(*a, process=False), n, seed=0)
    pb, _ = trimesh.sample.sample_surface(trimesh.Trimesh(*b, process=False), n, seed=1)
    d = cKDTree(pb).query(pa)[0]
    return np.asarray(pa)[d >= np.quantile(d, 0.95)]


def _describe(cfg: OccupancyFitConfig) -> str:
    return (
        f"{cfg.resolution}³ grid, width {cfg.model.width}, hidden_layers "
        f"{cfg.model.hidden_layers}, groups {cfg.groups} of {cfg.points_per_group}, "
        f"{cfg.batch_groups} groups/step, steps {cfg.train.steps} ({cfg.train.schedule} decay "
        f"to ×{cfg.train.decay:g})"
    )


def _table9() -> dict[tuple[str, str, str], float]:
    return {
        (arch, method, shape): v
        for shape, archs in TABLE9_IOU.items()
        for arch, methods in archs.items()
        for method, v in methods.items()
    }


def bench() -> Bench:
    """The occupancy benchmark (paper's lrs and ``end`` per arch)."""
    return Bench(
        name="occupancy",
        title="3D occupancy table (IoU at 0.5, Chamfer-L1)",
        tiers=TIERS,
        axes={
            "seed": [0],
            "shape": list(SHAPES),
            "arch": ["relu", "pe", "siren"],
            "method": list(METHODS),
        },
        make_run=make_run,
        worker=run_occupancy,
        metrics=METRICS,
        rows=("arch",),
        columns=("method",),
        average_over=("shape",),
        spread_over=("seed",),
        metric_rows=True,
        params={"lr": lambda ctx, c: default_lr(c["method"], c["arch"])},
        record_keys=("best_step", "steps", "diverged_at_step", "epochs", "chamfer_floor"),
        derive=_derive,
        references=(
            Reference(
                "iou",
                ("arch", "method", "shape"),
                _table9(),
                "paper (Table 9)",
                {"method": "vanilla"},
                fmt=".4f",
            ),
        ),
        figures=figures,
        labels=LABELS,
        describe=_describe,
    )


@dataclass
class Options:
    """Options of ``iga bench occupancy`` (the harness adds --out, --executor, --report, ...)."""

    data: str = field(
        default="../shared/data/meshes", metadata={"help": "folder holding the meshes"}
    )
    shapes: str = field(
        default="bunny,armadillo,dragon",
        metadata={"help": "comma-separated mesh names in --data (any suffix) or mesh files"},
    )
    archs: str = field(default="relu,pe,siren", metadata={"help": "comma-separated archs"})
    methods: str = field(default="vanilla,fr,bn,iga", metadata={"help": "comma-separated methods"})
    seeds: str = field(
        default="0,1",
        metadata={"help": "seeds; the first for every method, the others for vanilla and iga"},
    )
    steps: int = field(default=0, metadata={"help": "override the tier's steps (0: tier's)"})
    resolution: int = field(default=0, metadata={"help": "override the tier's grid (0: tier's)"})
    groups: str = field(default="", metadata={"help": "override the tier's group shape"})
    end: int = field(default=0, metadata={"help": "override IGA's per-arch end (0: paper's)"})
    sampling: str = field(default="", metadata={"help": "override IGA's representative choice"})
    optimizer: str = field(
        default="",
        metadata={"help": "override the optimiser (iga.optim: adam, sgd, muon, esgd; rivals)"},
    )
    schedule: str = field(
        default="", metadata={"help": "override the lr schedule (step, exp, cosine)"}
    )
    decay: float = field(
        default=0.0, metadata={"help": "override the schedule's factor (0: tier's)"}
    )
    lr: float = field(
        default=0.0, metadata={"help": "one lr for every run (0: the paper's per arch)"}
    )
    fresh: str = field(
        default="",
        metadata={"help": "FreSh's candidates for every run (auto or a list; pe/siren only)"},
    )


MESH_SUFFIXES = (".obj", ".ply", ".stl", ".off")


def _shapes(text: str, data: Path) -> dict[str, Path]:
    """Mesh names (found in ``data`` with any mesh suffix) or paths -> {name: path}."""
    files: dict[str, Path] = {}
    for token in _options.split(text):
        p = Path(token)
        if not p.is_file():
            hits = [data / (token + s) for s in MESH_SUFFIXES if (data / (token + s)).is_file()]
            p = hits[0] if hits else data / token
        if not p.is_file():
            raise FileNotFoundError(
                f"mesh {token!r} not found in {data}; check --data and --shapes"
            )
        files[p.stem] = p
    if not files:
        raise ValueError("--shapes selects no mesh; pass e.g. bunny,armadillo,dragon")
    return files


def _check_before_running(cfg: OccupancyFitConfig, files: dict[str, Path], sampling: str) -> None:
    """What every run would fail on, found once before any starts (one line each): the groups
    a step draws against the grid's, the sampling rule, each mesh file."""
    from iga.core.sampling import SAMPLING
    from iga.meshes import load_mesh
    from iga.tasks.occupancy.task import make_groups

    n_groups = int(make_groups(cfg).shape[0])
    if cfg.batch_groups > n_groups:
        raise ValueError(
            f"the tier's {cfg.batch_groups} groups per step exceed the {n_groups} groups of a "
            f"{cfg.resolution}³ grid; raise --resolution"
        )
    if sampling and sampling not in SAMPLING:
        raise ValueError(f"--sampling {sampling!r}: choose one of {', '.join(SAMPLING)}")
    for path in files.values():
        load_mesh(path)  # one line naming the file if it is not a usable mesh


HELP = {
    "occupancy": "the paper's 3D occupancy table: vanilla/FR/BN/IGA × relu/pe/siren (resumable)"
}
"""The commands this module declares (``iga bench occupancy``) and their help lines."""


def setup(name: str, opts: Options, ro: RunOptions) -> dict[str, Any]:
    """The :func:`iga.harness.plan` arguments for ``opts`` (overrides get their own tier name)."""
    if ro.tier not in TIERS:
        raise ValueError(
            f"unknown --tier {ro.tier!r}; choose one of {', '.join(TIERS)} (this benchmark "
            "takes no tier file: change the tier with --steps, --resolution, --groups)"
        )
    cfg = TIERS[ro.tier]
    tags = [
        f"{tag}{v}"
        for tag, v in (
            ("steps", opts.steps),
            ("r", opts.resolution),
            ("", opts.groups),
            ("end", opts.end),
            ("", opts.sampling),
            ("", opts.optimizer),
            ("", opts.schedule),
            ("decay", opts.decay),
            ("lr", opts.lr),
        )
        if v
    ]
    if opts.fresh:  # cpu_fresh for auto, cpu_fresh2-6 for a list
        tags.append("fresh" + ("" if opts.fresh == "auto" else opts.fresh.replace(",", "-")))
    train = replace(
        cfg.train,
        steps=opts.steps or cfg.train.steps,
        optimizer=opts.optimizer or cfg.train.optimizer,
        schedule=opts.schedule or cfg.train.schedule,
        decay=opts.decay or cfg.train.decay,
        lr=opts.lr or cfg.train.lr,
    )
    cfg = replace(
        cfg,
        resolution=opts.resolution or cfg.resolution,
        groups=opts.groups or cfg.groups,
        train=train,
        model=replace(cfg.model, fresh=opts.fresh),
    )
    archs = _options.choices("--archs", opts.archs, ARCHS)
    if opts.fresh:
        from iga.models.fresh import parse_values

        for arch in archs:
            parse_values(arch, opts.fresh)  # one line for relu or a bad list, before any run
    methods = _options.choices("--methods", opts.methods, METHODS)
    seeds = _options.seeds(opts.seeds)
    files = _shapes(opts.shapes, Path(opts.data))
    if not ro.aggregate_only:  # reports only: no run starts, no mesh needs reading
        _check_before_running(cfg, files, opts.sampling)
    return {
        "bench": bench(),
        "tier": "_".join([ro.tier, *tags]),
        "tier_config": cfg,
        "axes": {
            "seed": seeds,
            "shape": list(files),
            "arch": archs,
            "method": methods,
        },
        "where": lambda c: c["seed"] == seeds[0] or c["method"] in ("vanilla", "iga"),
        "options": {
            "files": {k: str(v) for k, v in files.items()},
            "end": opts.end,
            "sampling": opts.sampling,
        },
        "report": "table",
    }


__all__ = [
    "END",
    "HELP",
    "SHAPES",
    "TIERS",
    "Options",
    "bench",
    "make_run",
    "run_occupancy",
    "setup",
]

"""``iga bench sdf``: the three bundled meshes × archs × methods, signed distance regression,
declared on :mod:`iga.harness`.

The cpu tier: 100k samples (70 % near the surface), Morton blocks of 64 samples as groups, 256
groups (16k samples) per step for 2000 steps, width 64, the sign's IoU on a 64³ grid picks the
best weights (every 200 steps); IGA's ``end`` per arch as in the occupancy table (7 for ReLU
and PE, 14 for SIREN: the paper's App. E for batches of 256 groups). A method is vanilla, FR,
BN, IGA or a rival recipe (``muon``, ``muon+iga``: Muon on the hidden matrices, cosine
schedule; ``esgd``, ``esgd+iga``: ESGD at a constant lr; as in ``iga bench rivals``,
:data:`iga.harness.options.METHOD_RECIPES`). Tiers are
:class:`~iga.tasks.sdf.task.SDFFitConfig` instances, the only source of their defaults.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from iga.harness import Bench, Context, Metric, RunOptions, cell_path
from iga.harness import options as _options
from iga.harness.worker import fit_run
from iga.io import to_jsonable
from iga.models.config import ModelConfig
from iga.sweep import RunSpec
from iga.tasks.sdf.task import SDFFitConfig, run_key
from iga.train import MethodConfig, TrainConfig

__all__ = ["END", "HELP", "METHODS", "TIERS", "Options", "bench", "make_run", "run_sdf", "setup"]

TIERS: dict[str, SDFFitConfig] = {
    "cpu": SDFFitConfig(
        points=100_000,
        group_size=64,
        batch_groups=256,
        resolution=64,
        eval_every=200,
        model=ModelConfig(arch="relu", width=64, hidden_layers=3),
        method=MethodConfig(end=7),
        train=TrainConfig(steps=2000, checkpoint_every=200),
    ),
}
END: dict[str, int] = {"relu": 7, "pe": 7, "siren": 14}
"""IGA's ``end`` per arch (as the occupancy table: App. E's for 256-group batches)."""
METHODS = _options.METHOD_RECIPES
"""Benchmark method -> (``--method``, ``--optimizer``, ``--schedule``)."""
SHAPES = ("bunny", "armadillo", "dragon")
METRICS = (
    Metric("iou", "IoU (sign, grid)", ".4f"),
    Metric("chamfer_e3", "Chamfer-L1 ×1e3", ".3f", higher_is_better=False),
    Metric("normal_consistency", "normal consistency", ".4f"),
    Metric("mae_near_e3", "MAE near ×1e3", ".3f", higher_is_better=False),
)
LABELS = {
    "arch": {"relu": "ReLU", "pe": "PE", "siren": "SIREN"},
    "method": _options.METHOD_LABELS,
}


def make_run(ctx: Context, cell: dict[str, Any]) -> RunSpec:
    """One fit of ``cell`` (shape, arch, method, seed) at the tier ``ctx.config``."""
    tier: SDFFitConfig = ctx.config
    method, train = _options.recipe_train(cell["method"], tier.train, cell["seed"])
    name = cell_path(cell, ("shape", "arch", "method", "seed"), {"seed": "seed{}"})
    out = ctx.root / "runs" / name
    cfg = replace(
        tier,
        path=str(ctx.options["shapes"][cell["shape"]]),
        model=_options.recipe_model(cell["method"], replace(tier.model, arch=cell["arch"])),
        method=replace(tier.method, method=method, end=END.get(cell["arch"], 7)),
        train=train,
        out=str(out),
        overwrite=True,  # only unfinished runs are launched; they resume from a checkpoint
    )
    config = {"fit": to_jsonable(asdict(cfg)), "threads": ctx.options.get("threads")}
    return RunSpec(name, str(out), config, key=run_key(cfg))


def run_sdf(config: dict[str, Any]) -> dict[str, Any]:
    """Sweep worker: one fit from ``make_run``'s config (Ray-importable)."""
    from iga.tasks.sdf.task import fit_sdf

    return fit_run(config, SDFFitConfig.from_dict, fit_sdf)


def _derive(summary: Any) -> dict[str, Any]:
    out = {}
    for key in ("chamfer", "mae_near"):
        value = summary.get(key)
        out[f"{key}_e3"] = None if value is None else 1000 * value
    return out


def bench() -> Bench:
    """The SDF benchmark."""
    return Bench(
        name="sdf",
        title="Signed distance fields of the bundled meshes",
        tiers=TIERS,
        axes={
            "seed": [0],
            "shape": list(SHAPES),
            "arch": ["relu", "pe", "siren"],
            "method": ["vanilla", "fr", "bn", "iga"],
        },
        make_run=make_run,
        worker=run_sdf,
        metrics=METRICS,
        rows=("arch",),
        columns=("method",),
        average_over=("shape",),
        spread_over=("seed",),
        record_keys=("best_step", "steps", "diverged_at_step", "chamfer_floor", "note"),
        derive=_derive,
        labels=LABELS,
        describe=lambda c: (
            f"{c.points} samples, groups of {c.group_size}, {c.batch_groups} groups/step, "
            f"{c.train.steps} steps, width {c.model.width}, grid {c.resolution}³"
        ),
    )


@dataclass
class Options:
    """Options of ``iga bench sdf`` (the harness adds --out, --executor, --report, ...)."""

    data: str = field(default="../shared/data/meshes", metadata={"help": "folder of meshes"})
    shapes: str = field(
        default="bunny,armadillo,dragon",
        metadata={"help": "comma-separated mesh names in --data (any extension), or paths"},
    )
    archs: str = field(default="relu,pe,siren", metadata={"help": "comma-separated archs"})
    methods: str = field(
        default="vanilla,fr,bn,iga",
        metadata={"help": "comma-separated: " + ", ".join(METHODS) + _options.AT_LR_HELP},
    )
    seeds: str = field(default="0", metadata={"help": "seeds, for every method"})
    steps: int = field(default=0, metadata={"help": "override the tier's steps (0: tier's)"})


def _shapes(text: str, data: Path) -> dict[str, Path]:
    shapes: dict[str, Path] = {}
    for token in _options.split(text):
        p = Path(token)
        if not p.is_file():
            found = sorted(data.glob(f"{token}.*"))
            p = found[0] if found else p
        if not p.is_file():
            raise FileNotFoundError(f"mesh {token!r} not found in {data}; check --data, --shapes")
        shapes[p.stem] = p
    if not shapes:
        raise ValueError("--shapes selects no mesh; pass e.g. bunny")
    return shapes


HELP = {"sdf": "signed distance fields of the bundled meshes × archs × methods (resumable)"}
"""The commands this module declares (``iga bench sdf``) and their help lines."""


def setup(name: str, opts: Options, ro: RunOptions) -> dict[str, Any]:
    """The :func:`iga.harness.plan` arguments for ``opts``."""
    tier, cfg = _options.tier_with_steps(TIERS, ro.tier, opts.steps)
    from iga.models import ARCH_OPTIONS

    shapes = _shapes(opts.shapes, Path(opts.data))
    archs = _options.choices("--archs", opts.archs, tuple(ARCH_OPTIONS))
    methods = _options.recipes(opts.methods)
    _options.fresh_archs(methods, archs)
    return {
        "bench": bench(),
        "tier": tier,
        "tier_config": cfg,
        "axes": {
            "seed": _options.seeds(opts.seeds),
            "shape": list(shapes),
            "arch": archs,
            "method": methods,
        },
        "options": {"shapes": {k: str(v) for k, v in shapes.items()}},
        "report": "table",
    }

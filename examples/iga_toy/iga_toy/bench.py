"""``iga bench toy``: vanilla against IGA on the toy task, over seeds (a benchmark declared
from outside iga: the harness plans, runs, resumes and tabulates it like a built-in)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from iga.harness import Bench, Context, Metric, RunOptions, cell_path
from iga.harness.options import choices, seeds
from iga.harness.worker import fit_run
from iga.io import to_jsonable
from iga.sweep import RunSpec
from iga.tasks.base import config_from_dict
from iga_toy import SPEC, ToyConfig

TIERS = {"cpu": ToyConfig()}


def make_run(ctx: Context, cell: dict[str, Any]) -> RunSpec:
    tier: ToyConfig = ctx.config
    name = cell_path(cell, ("method", "seed"), {"seed": "seed{}"})
    out = ctx.root / "runs" / name
    cfg = replace(
        tier,
        method=replace(tier.method, method=cell["method"]),
        train=replace(tier.train, seed=cell["seed"]),
        out=str(out),
        overwrite=True,
    )
    config = {"fit": to_jsonable(asdict(cfg)), "threads": ctx.options.get("threads")}
    return RunSpec(name, str(out), config, key=SPEC.run_key(cfg))


def run_toy(config: dict[str, Any]) -> dict[str, Any]:
    return fit_run(config, lambda d: config_from_dict(ToyConfig, d), SPEC.fit)


def bench() -> Bench:
    return Bench(
        name="toy",
        title="The toy task: vanilla vs IGA",
        tiers=TIERS,
        axes={"seed": [0], "method": ["vanilla", "iga"]},
        make_run=make_run,
        worker=run_toy,
        metrics=(Metric("mse_final", "final MSE", ".3g", higher_is_better=False),),
        columns=("method",),
        spread_over=("seed",),
    )


@dataclass
class Options:
    methods: str = field(default="vanilla,iga", metadata={"help": "vanilla, iga"})
    seeds: str = field(default="0,1", metadata={"help": "comma-separated seeds"})
    steps: int = field(default=0, metadata={"help": "override the tier's steps (0: tier's)"})


HELP = {"toy": "vanilla vs IGA on the toy task (an example plugin)"}


def setup(name: str, opts: Options, ro: RunOptions) -> dict[str, Any]:
    cfg = TIERS["cpu"]
    if opts.steps:
        cfg = replace(cfg, train=replace(cfg.train, steps=opts.steps))
    return {
        "bench": bench(),
        "tier": "cpu" + (f"_steps{opts.steps}" if opts.steps else ""),
        "tier_config": cfg,
        "axes": {
            "seed": seeds(opts.seeds),
            "method": choices("--methods", opts.methods, ("vanilla", "iga")),
        },
    }

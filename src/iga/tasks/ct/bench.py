"""``iga bench ct``: sparse-view CT, slices × numbers of angles × archs × methods (vanilla,
FR, BN, IGA and the rival optimisers), declared on :mod:`iga.harness`.

The cpu tier reconstructs 64×64 slices (WIRE's chest CT slice, centre-cropped; the Shepp–Logan
phantom) from 20, 50 or 100 noiseless parallel-beam projections, with a 4-layer width-64 MLP
for ``steps`` steps of 256 bundles of 4 neighbouring rays (1024 rays a step); ``end`` 20. Tiers
are :class:`~iga.tasks.ct.task.CTFitConfig` instances, the only source of their defaults; a
method is ``--method`` (vanilla, fr, bn, iga) or a rival recipe (``muon``, ``muon+iga``: Muon
on the hidden matrices, cosine schedule; ``esgd``, ``esgd+iga``: ESGD at a constant lr; as in
``iga bench rivals``, :data:`iga.harness.options.METHOD_RECIPES`). Every run also scores
filtered back-projection of the same sinogram (the FBP column).
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
from iga.tasks.ct.data import PHANTOM
from iga.tasks.ct.task import CTFitConfig, run_key
from iga.train import MethodConfig, TrainConfig

__all__ = ["HELP", "METHODS", "TIERS", "Options", "bench", "make_run", "run_ct", "setup"]

TIERS: dict[str, CTFitConfig] = {
    "cpu": CTFitConfig(
        size=64,
        bundle=4,
        batch_groups=256,
        eval_every=50,
        model=ModelConfig(arch="siren", width=64, hidden_layers=3),
        method=MethodConfig(end=20),
        train=TrainConfig(steps=1000, checkpoint_every=100),
    ),
    "paper": CTFitConfig(
        size=256,
        bundle=4,
        batch_groups=512,
        eval_every=100,
        model=ModelConfig(arch="siren", width=256, hidden_layers=3),
        method=MethodConfig(end=20),
        train=TrainConfig(steps=5000, checkpoint_every=250),
    ),
}
METHODS = _options.METHOD_RECIPES
"""Benchmark method -> (``--method``, ``--optimizer``, ``--schedule``)."""
SLICES = {"chest": "chest.png", "phantom": PHANTOM}
METRICS = (
    Metric("psnr", "PSNR (dB), weights picked by the sinogram fit", ".2f"),
    Metric("psnr_final", "PSNR (dB), last step", ".2f"),
    Metric(
        "psnr_oracle", "PSNR (dB), best along training (an early stop that knows the truth)", ".2f"
    ),
    Metric("ssim", "SSIM, weights picked by the sinogram fit", ".4f"),
    Metric("fbp_psnr", "FBP PSNR (dB), the classical baseline", ".2f"),
)
LABELS = {
    "arch": {"relu": "ReLU", "pe": "PE", "siren": "SIREN"},
    "method": _options.METHOD_LABELS,
}


def make_run(ctx: Context, cell: dict[str, Any]) -> RunSpec:
    """One fit of ``cell`` (slice, angles, arch, method, seed) at the tier ``ctx.config``."""
    tier: CTFitConfig = ctx.config
    method, train = _options.recipe_train(cell["method"], tier.train, cell["seed"])
    name = cell_path(
        cell, ("slice", "angles", "arch", "method", "seed"), {"angles": "a{}", "seed": "seed{}"}
    )
    out = ctx.root / "runs" / name
    cfg = replace(
        tier,
        path=str(ctx.options["slices"][cell["slice"]]),
        angles=int(cell["angles"]),
        model=_options.recipe_model(cell["method"], replace(tier.model, arch=cell["arch"])),
        method=replace(tier.method, method=method),
        train=train,
        out=str(out),
        overwrite=True,  # only unfinished runs are launched; they resume from a checkpoint
    )
    config = {"fit": to_jsonable(asdict(cfg)), "threads": ctx.options.get("threads")}
    return RunSpec(name, str(out), config, key=run_key(cfg))


def run_ct(config: dict[str, Any]) -> dict[str, Any]:
    """Sweep worker: one fit from ``make_run``'s config (Ray-importable)."""
    from iga.tasks.ct.task import fit_ct

    return fit_run(config, CTFitConfig.from_dict, fit_ct)


def _describe(cfg: CTFitConfig) -> str:
    val = f"{cfg.val_angles} projections set aside to pick the weights, " if cfg.val_angles else ""
    return (
        f"{cfg.size}×{cfg.size} slices, noise {cfg.noise:g}, {val}width {cfg.model.width}, "
        f"{cfg.model.hidden_layers} hidden layers, {cfg.batch_groups} bundles of {cfg.bundle} "
        f"rays/step, {cfg.train.steps} steps, end {cfg.method.end}"
    )


def bench() -> Bench:
    """The CT benchmark."""
    return Bench(
        name="ct",
        title="Sparse-view CT: PSNR of the slice, which training never sees",
        tiers=TIERS,
        axes={
            "seed": [0],
            "slice": list(SLICES),
            "angles": [20, 50, 100],
            "arch": ["relu", "pe", "siren"],
            "method": ["vanilla", "fr", "bn", "iga"],
        },
        make_run=make_run,
        worker=run_ct,
        metrics=METRICS,
        rows=("arch", "angles"),
        columns=("method",),
        average_over=("slice",),
        spread_over=("seed",),
        record_keys=("best_step", "oracle_step", "steps", "diverged_at_step", "fbp_ssim"),
        labels=LABELS,
        describe=_describe,
    )


@dataclass
class Options:
    """Options of ``iga bench ct`` (the harness adds --out, --executor, --report, ...)."""

    data: str = field(default="../shared/data/ct", metadata={"help": "folder of the slices"})
    slices: str = field(
        default="chest,phantom",
        metadata={"help": "comma-separated: chest, phantom, or image files (paths or in --data)"},
    )
    angles: str = field(default="20,50,100", metadata={"help": "comma-separated angle counts"})
    archs: str = field(default="relu,pe,siren", metadata={"help": "comma-separated archs"})
    methods: str = field(
        default="vanilla,fr,bn,iga",
        metadata={"help": "comma-separated: " + ", ".join(METHODS) + _options.AT_LR_HELP},
    )
    seeds: str = field(default="0", metadata={"help": "seeds, for every method"})
    steps: int = field(default=0, metadata={"help": "override the tier's steps (0: tier's)"})
    val_angles: int = field(
        default=0,
        metadata={
            "help": "set aside this many projections of every run to pick its weights "
            "(iga fit ct --val-angles; tier tagged _valK)"
        },
    )
    end: int = field(
        default=0,
        metadata={
            "help": "IGA: balance this many top eNTK eigenvalues instead of the tier's end "
            "(0: tier's; tier tagged _endK), e.g. to trade fitting speed for overfitting"
        },
    )


def _slices(text: str, data: Path) -> dict[str, str]:
    slices: dict[str, str] = {}
    for token in _options.split(text):
        if token == PHANTOM:
            slices[token] = PHANTOM
            continue
        p = data / SLICES[token] if token in SLICES else Path(token)
        if not p.is_file() and (data / token).is_file():
            p = data / token
        if not p.is_file():
            raise FileNotFoundError(
                f"slice {token!r} not found (neither chest in {data}, phantom, nor a file); "
                "check --data and --slices"
            )
        slices[token if token in SLICES else p.stem] = str(p)
    if not slices:
        raise ValueError("--slices selects no slice; pass e.g. phantom")
    return slices


def _angles(text: str) -> list[int]:
    out = []
    for token in _options.split(text):
        if not token.isdigit() or int(token) < 1:
            raise ValueError(f"--angles takes counts >= 1, e.g. 20,50,100; got {token!r}")
        out.append(int(token))
    if not out:
        raise ValueError("--angles selects nothing; pass e.g. 50")
    return out


HELP = {"ct": "sparse-view CT: slices × angles × archs × methods (FBP baseline; resumable)"}
"""The commands this module declares (``iga bench ct``) and their help lines."""


def setup(name: str, opts: Options, ro: RunOptions) -> dict[str, Any]:
    """The :func:`iga.harness.plan` arguments for ``opts``."""
    tier, cfg = _options.tier_with_steps(TIERS, ro.tier, opts.steps)
    angles = _angles(opts.angles)
    if opts.val_angles < 0 or opts.val_angles >= min(angles):
        raise ValueError(
            f"--val-angles must be in [0, {min(angles)}) for --angles {opts.angles} (it sets "
            f"that many projections aside); got {opts.val_angles}"
        )
    if opts.val_angles:
        tier, cfg = f"{tier}_val{opts.val_angles}", replace(cfg, val_angles=opts.val_angles)
    if opts.end < 0 or opts.end >= cfg.batch_groups:
        raise ValueError(
            f"--end must be in [0, {cfg.batch_groups}) at tier {ro.tier} (it balances that many "
            f"of the {cfg.batch_groups} bundles' eigenvalues; 0: the tier's "
            f"{cfg.method.end}); got {opts.end}"
        )
    if opts.end and opts.end != cfg.method.end:
        tier, cfg = f"{tier}_end{opts.end}", replace(cfg, method=replace(cfg.method, end=opts.end))
    from iga.models import ARCH_OPTIONS

    archs = _options.choices("--archs", opts.archs, tuple(ARCH_OPTIONS))
    methods = _options.recipes(opts.methods)
    _options.fresh_archs(methods, archs)
    slices = _slices(opts.slices, Path(opts.data))
    return {
        "bench": bench(),
        "tier": tier,
        "tier_config": cfg,
        "axes": {
            "seed": _options.seeds(opts.seeds),
            "slice": list(slices),
            "angles": angles,
            "arch": archs,
            "method": methods,
        },
        "options": {"slices": slices},
        "report": "table",
    }

"""``iga bench audio``: SIREN's two clips × archs × methods (vanilla, FR, BN, IGA and the
rival optimisers), declared on :mod:`iga.harness`.

The cpu tier fits one second of each clip (from 1.0 s: the Bach excerpt is silent before 0.7 s)
at 44.1 kHz, 44,100 samples, full batch, with a 4-layer width-128 MLP for 1000 steps; IGA's
groups are windows of 128 samples (345 groups), ``end`` 20. Each run takes about 4 min on one
core here (`docs/audio.md`). The paper tier is the whole clip at SIREN's width 256. Tiers are
:class:`~iga.tasks.audio.task.AudioFitConfig` instances, the only source of their defaults; a
method is ``--method`` (vanilla, fr, bn, iga) or a rival recipe (``muon``, ``muon+iga``: Muon
on the hidden matrices, cosine schedule; ``esgd``, ``esgd+iga``: ESGD at a constant lr; as in
``iga bench rivals``, :data:`iga.harness.options.METHOD_RECIPES`).
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
from iga.tasks.audio.task import AudioFitConfig, run_key
from iga.train import MethodConfig, TrainConfig

__all__ = ["HELP", "METHODS", "TIERS", "Options", "bench", "make_run", "run_audio", "setup"]

TIERS: dict[str, AudioFitConfig] = {
    "cpu": AudioFitConfig(
        offset=1.0,
        duration=1.0,
        window=128,
        model=ModelConfig(arch="siren", width=128, hidden_layers=3),
        method=MethodConfig(end=20),
        train=TrainConfig(steps=1000, checkpoint_every=100),
    ),
    "paper": AudioFitConfig(
        offset=0.0,
        duration=0.0,
        window=512,
        batch_windows=64,
        model=ModelConfig(arch="siren", width=256, hidden_layers=3),
        method=MethodConfig(end=20),
        train=TrainConfig(steps=10_000, checkpoint_every=500),
    ),
}
METHODS = _options.METHOD_RECIPES
"""Benchmark method -> (``--method``, ``--optimizer``, ``--schedule``)."""
CLIPS = {"bach": "gt_bach.wav", "counting": "gt_counting.wav"}
METRICS = (
    Metric("psnr", "PSNR (dB)", ".2f"),
    Metric("snr_db", "SNR (dB)", ".2f"),
    Metric("mse", "MSE", ".3g", higher_is_better=False),
)
LABELS = {
    "arch": {"relu": "ReLU", "pe": "PE", "siren": "SIREN"},
    "method": _options.METHOD_LABELS,
}


def make_run(ctx: Context, cell: dict[str, Any]) -> RunSpec:
    """One fit of ``cell`` (clip, arch, method, seed) at the tier ``ctx.config``."""
    tier: AudioFitConfig = ctx.config
    method, train = _options.recipe_train(cell["method"], tier.train, cell["seed"])
    name = cell_path(cell, ("clip", "arch", "method", "seed"), {"seed": "seed{}"})
    out = ctx.root / "runs" / name
    cfg = replace(
        tier,
        path=str(ctx.options["clips"][cell["clip"]]),
        model=_options.recipe_model(cell["method"], replace(tier.model, arch=cell["arch"])),
        method=replace(tier.method, method=method),
        train=train,
        out=str(out),
        overwrite=True,  # only unfinished runs are launched; they resume from a checkpoint
    )
    config = {"fit": to_jsonable(asdict(cfg)), "threads": ctx.options.get("threads")}
    return RunSpec(name, str(out), config, key=run_key(cfg))


def run_audio(config: dict[str, Any]) -> dict[str, Any]:
    """Sweep worker: one fit from ``make_run``'s config (Ray-importable)."""
    from iga.tasks.audio.task import fit_audio

    return fit_run(config, AudioFitConfig.from_dict, fit_audio)


def _describe(cfg: AudioFitConfig) -> str:
    return (
        f"{cfg.duration or 'whole'} s from {cfg.offset} s, width {cfg.model.width}, "
        f"{cfg.model.hidden_layers} hidden layers, window {cfg.window}, "
        f"{cfg.batch_windows or 'all'} windows/step, {cfg.train.steps} steps, "
        f"end {cfg.method.end}"
    )


def bench() -> Bench:
    """The audio benchmark."""
    return Bench(
        name="audio",
        title="Audio: SIREN's clips (PSNR with peak 1, SNR as Muon-INRs)",
        tiers=TIERS,
        axes={
            "seed": [0],
            "clip": list(CLIPS),
            "arch": ["relu", "pe", "siren"],
            "method": ["vanilla", "fr", "bn", "iga"],
        },
        make_run=make_run,
        worker=run_audio,
        metrics=METRICS,
        rows=("arch",),
        columns=("method",),
        average_over=("clip",),
        spread_over=("seed",),
        record_keys=("best_step", "steps", "diverged_at_step", "bands"),
        labels=LABELS,
        describe=_describe,
    )


@dataclass
class Options:
    """Options of ``iga bench audio`` (the harness adds --out, --executor, --report, ...)."""

    data: str = field(default="../shared/data/audio", metadata={"help": "folder of the clips"})
    clips: str = field(
        default="bach,counting",
        metadata={"help": "comma-separated: bach, counting, or WAV files (paths or in --data)"},
    )
    archs: str = field(default="relu,pe,siren", metadata={"help": "comma-separated archs"})
    methods: str = field(
        default="vanilla,fr,bn,iga",
        metadata={"help": "comma-separated: " + ", ".join(METHODS) + _options.AT_LR_HELP},
    )
    seeds: str = field(default="0", metadata={"help": "seeds, for every method"})
    steps: int = field(default=0, metadata={"help": "override the tier's steps (0: tier's)"})


def _clips(text: str, data: Path) -> dict[str, Path]:
    clips: dict[str, Path] = {}
    for token in _options.split(text):
        p = data / CLIPS[token] if token in CLIPS else Path(token)
        if not p.is_file() and (data / token).is_file():
            p = data / token
        if not p.is_file():
            raise FileNotFoundError(
                f"clip {token!r} not found (neither {', '.join(CLIPS)} in {data} nor a file); "
                "check --data and --clips"
            )
        clips[token if token in CLIPS else p.stem] = p
    if not clips:
        raise ValueError("--clips selects no clip; pass e.g. bach")
    return clips


HELP = {"audio": "SIREN's audio clips × archs × methods (vanilla, FR, BN, IGA, Muon; resumable)"}
"""The commands this module declares (``iga bench audio``) and their help lines."""


def setup(name: str, opts: Options, ro: RunOptions) -> dict[str, Any]:
    """The :func:`iga.harness.plan` arguments for ``opts``."""
    tier, cfg = _options.tier_with_steps(TIERS, ro.tier, opts.steps)
    from iga.models import ARCH_OPTIONS

    archs = _options.choices("--archs", opts.archs, tuple(ARCH_OPTIONS))
    methods = _options.recipes(opts.methods)
    _options.fresh_archs(methods, archs)
    clips = _clips(opts.clips, Path(opts.data))
    return {
        "bench": bench(),
        "tier": tier,
        "tier_config": cfg,
        "axes": {
            "seed": _options.seeds(opts.seeds),
            "clip": list(clips),
            "arch": archs,
            "method": methods,
        },
        "options": {"clips": {k: str(v) for k, v in clips.items()}},
        "report": "table",
    }

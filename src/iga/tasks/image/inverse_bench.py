"""``iga bench inpainting`` and ``iga bench superres``: the image task's inverse problems
(:mod:`iga.tasks.image.inverse`) on Kodak images × keep ratios or reduction factors × archs ×
methods (vanilla, FR, BN, IGA and the rival optimisers) × seeds, declared on :mod:`iga.harness`.

Inpainting trains on a seeded random fraction ``keep`` of the pixels (the same pixels for every
method at a seed) and is scored on the held-out pixels; super-resolution trains on the image
reduced ``factor``× by block means and is scored on the full-resolution image, beside bicubic
upsampling (the classical baseline). The reported weights are those of the best *training*
PSNR, the only choice a user without ground truth can make; ``heldout_best`` (the held-out
score at its best along training, logged every ``heldout_every`` steps) is an early stop that
knows the truth, the most a perfect stopping rule could gain.

The cpu tier is ``iga bench image``'s: Kodak reduced to 192×128 (128×192 for portrait images),
a 4-layer width-64 MLP, 8×8 patches, 2000 steps with the paper's step schedule, and the
held-out PSNR every 50 steps; the paper tier is the paper's 768×512, width 256, 32×32 patches,
10,000 steps. A patch is in full-resolution pixels: at factor ``k`` IGA's groups are
``patch/k``-wide patches of the reduced image (:func:`run_patch`), so they cover the same part
of the image and number the same (384) at every factor. Tiers are
:class:`~iga.tasks.image.task.ImageFitConfig` instances, the only source of their defaults;
learning rates are the image task's own per method and arch (the paper's for Adam, the recipe's
for Muon and ESGD); IGA's ``end`` is the paper's per arch (``iga bench image``). A method is
``--method`` (vanilla, fr, bn, iga) or a rival recipe (``muon``, ``muon+iga``: Muon on the
hidden matrices, cosine schedule; ``esgd``, ``esgd+iga``: ESGD at a constant lr; as in ``iga
bench rivals``, :data:`iga.harness.options.METHOD_RECIPES`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from iga.harness import Bench, Context, Metric, RunOptions, cell_path
from iga.harness import options as _options
from iga.io import to_jsonable
from iga.models.config import ModelConfig
from iga.sweep import RunSpec
from iga.tasks.image.bench import END, _image_size, _images, run_image
from iga.tasks.image.inverse import KEEP_NO_FRESH
from iga.tasks.image.task import ImageFitConfig, run_key
from iga.train import MethodConfig, TrainConfig

__all__ = [
    "HELP",
    "METHODS",
    "PROBLEMS",
    "TIERS",
    "Options",
    "bench",
    "make_run",
    "run_patch",
    "setup",
]

TIERS: dict[str, ImageFitConfig] = {
    # iga bench image's cpu tier (Kodak reduced 4x, width 64, 8x8 patches), held-out PSNR
    # every 50 steps
    "cpu": ImageFitConfig(
        path="",  # each run's image comes from its cell
        size="192x128",
        patch=8,
        heldout_every=50,
        model=ModelConfig(width=64, hidden_layers=3),
        train=TrainConfig(steps=2000, decay_at=0.3),
    ),
    # the paper's Sec. 6.1 setting (needs a GPU)
    "paper": ImageFitConfig(
        path="",
        size="768x512",
        patch=32,
        heldout_every=100,
        model=ModelConfig(width=256, hidden_layers=3),
        train=TrainConfig(steps=10_000, decay_at=0.3),
    ),
}
METHODS = _options.METHOD_RECIPES
"""Benchmark method -> (``--method``, ``--optimizer``, ``--schedule``)."""
PROBLEMS: dict[str, str] = {"inpainting": "keep", "superres": "factor"}
"""Command -> the axis of its problem (keep ratio, reduction factor)."""
DEFAULTS: dict[str, str] = {"keep": "0.1,0.3", "factor": "2,4"}
"""The problem axes' default values (``--keeps``, ``--factors``)."""
PICKED = "weights picked by the training PSNR (what a user without ground truth can pick)"
ORACLE = "best along training (an early stop that knows the truth; no user can pick it)"
METRICS: dict[str, tuple[Metric, ...]] = {
    "inpainting": (
        Metric("psnr_heldout", f"Held-out PSNR (dB), {PICKED}"),
        Metric("heldout_best", f"Held-out PSNR (dB), {ORACLE}"),
        Metric("heldout_last", "Held-out PSNR (dB) at the last logged step"),
        Metric("psnr_full", f"Whole-image PSNR (dB), {PICKED}"),
        Metric("ssim", "Whole-image SSIM, weights picked by the training PSNR", ".4f"),
    ),
    "superres": (
        Metric("psnr_full", f"Full-resolution PSNR (dB), {PICKED}"),
        Metric("heldout_best", f"Full-resolution PSNR (dB), {ORACLE}"),
        Metric("psnr_bicubic", "Bicubic upsampling PSNR (dB), the classical baseline"),
        Metric("ssim", "Full-resolution SSIM, weights picked by the training PSNR", ".4f"),
        Metric("ssim_bicubic", "Bicubic upsampling SSIM, the classical baseline", ".4f"),
    ),
}
TITLES = {
    "inpainting": "Inpainting: Kodak images fitted on a random fraction of their pixels, "
    "scored on the pixels training never sees",
    "superres": "Super-resolution: Kodak images fitted on a reduced copy, scored on the "
    "full-resolution image (which training never sees) against bicubic upsampling",
}
RECORD_KEYS = ("best_step", "heldout_best_step", "steps", "diverged_at_step", "psnr_full_final")
METHOD_LABELS = _options.METHOD_LABELS
ARCH_LABELS = {"relu": "ReLU", "pe": "PE", "siren": "SIREN", "finer": "FINER"}


def run_patch(patch: int, factor: int) -> int:
    """The ``--patch`` of a run: the tier's ``patch`` is in full-resolution pixels, so at
    factor ``k`` a group is ``patch // k`` low-resolution pixels wide (at least 1) and covers
    the same part of the image, and IGA has as many groups at every factor."""
    return max(1, patch // factor)


def make_run(ctx: Context, cell: dict[str, Any]) -> RunSpec:
    """One fit of ``cell`` (image, keep or factor, arch, method, seed) at the tier
    ``ctx.config``; the lr is the image task's default for the method and arch."""
    tier: ImageFitConfig = ctx.config
    arch, seed = cell["arch"], cell["seed"]
    method, train = _options.recipe_train(cell["method"], tier.train, seed)
    path = Path(ctx.options["files"][cell["image"]])
    axis = "keep" if "keep" in cell else "factor"
    name = cell_path(
        cell,
        ("image", axis, "arch", "method", "seed"),
        {"keep": "keep{:g}", "factor": "x{}", "seed": "seed{}"},
    )
    out = ctx.root / "runs" / name
    cfg = replace(
        tier,
        path=str(path),
        size=_image_size(path, tier.size),
        patch=run_patch(tier.patch, int(cell.get("factor", 1))),
        keep=float(cell.get("keep", 1.0)),
        val_fraction=float(ctx.options.get("val_fraction", 0.0)) if "keep" in cell else 0.0,
        downsample=int(cell.get("factor", 1)),
        model=_options.recipe_model(cell["method"], replace(tier.model, arch=arch)),
        method=MethodConfig(method=method, end=ctx.options.get("end") or END.get(arch, 20)),
        train=train,
        out=str(out),
        overwrite=True,  # only unfinished runs are launched; they resume from a checkpoint
    )
    config = {"fit": to_jsonable(asdict(cfg)), "threads": ctx.options.get("threads")}
    return RunSpec(name, str(out), config, key=run_key(cfg))


def _describe(cfg: ImageFitConfig) -> str:
    return (
        f"size {cfg.size}, width {cfg.model.width}, hidden_layers {cfg.model.hidden_layers}, "
        f"patch {cfg.patch}, steps {cfg.train.steps}, decay_at {cfg.train.decay_at}, "
        f"held-out PSNR every {cfg.heldout_every} steps"
    )


def _label(axis: str, value: Any) -> str:
    return f"keep {100 * value:g} %" if axis == "keep" else f"×{value}"


def bench(name: str, values: list[Any] | None = None) -> Bench:
    """The benchmark ``name`` (``inpainting`` or ``superres``); ``values``: its problem axis
    (keep ratios or factors; default :data:`DEFAULTS`), labelled in the tables."""
    if name not in PROBLEMS:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(PROBLEMS)}")
    axis = PROBLEMS[name]
    if values is None:
        values = (_keeps if axis == "keep" else _factors)(DEFAULTS[axis])
    return Bench(
        name=name,
        title=TITLES[name],
        tiers=TIERS,
        axes={
            "seed": [0],
            "image": [f"kodim{i:02d}" for i in range(1, 9)],
            axis: list(values),
            "arch": ["relu", "pe", "siren"],
            "method": ["vanilla", "fr", "bn", "iga"],
        },
        make_run=make_run,
        worker=run_image,
        metrics=METRICS[name],
        rows=("arch", axis),
        columns=("method",),
        average_over=("image",),
        spread_over=("seed",),
        record_keys=RECORD_KEYS + (("heldout_last",) if name == "superres" else ()),
        labels={
            "arch": ARCH_LABELS,
            "method": METHOD_LABELS,
            axis: {v: _label(axis, v) for v in values},
        },
        describe=_describe,
    )


@dataclass
class Options:
    """Options of ``iga bench inpainting`` / ``superres`` (the harness adds --out, --tier...)."""

    data: str = field(
        default="../shared/data/kodak", metadata={"help": "folder holding the images"}
    )
    images: str = field(
        default="1-8",
        metadata={"help": "Kodak numbers/ranges (1-3,5) or image file names in --data"},
    )
    keeps: str = field(
        default="",
        metadata={
            "help": "inpainting: comma-separated fractions of the pixels kept, in (0, 1) "
            f"(default {DEFAULTS['keep']})"
        },
    )
    factors: str = field(
        default="",
        metadata={
            "help": "superres: comma-separated reduction factors >= 2 that divide both "
            f"sides of the tier's size (default {DEFAULTS['factor']})"
        },
    )
    archs: str = field(default="relu,pe,siren", metadata={"help": "comma-separated archs"})
    methods: str = field(
        default="vanilla,fr,bn,iga",
        metadata={"help": "comma-separated: " + ", ".join(METHODS) + _options.AT_LR_HELP},
    )
    seeds: str = field(
        default="0", metadata={"help": "seeds, for every method (inpainting: each its own pixels)"}
    )
    steps: int = field(default=0, metadata={"help": "override the tier's steps (0: tier's)"})
    size: str = field(default="", metadata={"help": "override the tier's WIDTHxHEIGHT"})
    patch: int = field(default=0, metadata={"help": "override the tier's patch size (0: tier's)"})
    val_fraction: float = field(
        default=0.0,
        metadata={
            "help": "inpainting: pick each run's weights on this fraction of its kept pixels, "
            "set aside from training (0: the best training PSNR's; tier tagged _val<q>)"
        },
    )
    end: int = field(
        default=0,
        metadata={
            "help": "IGA: balance this many top eNTK eigenvalues for every arch instead of "
            "the paper's (25 ReLU, 20 others; 0: those; tier tagged _endK)"
        },
    )


def _once(flag: str, values: list[Any]) -> None:
    if len(set(values)) != len(values):
        raise ValueError(f"{flag} lists a value more than once; give each value once")


def _keeps(text: str) -> list[float]:
    out = []
    for token in _options.split(text):
        try:
            value = float(token)
        except ValueError:
            value = float("nan")
        if not 0 < value < 1:
            raise ValueError(f"--keeps takes fractions in (0, 1), e.g. 0.1,0.3; got {token!r}")
        out.append(value)
    if not out:
        raise ValueError("--keeps selects nothing; pass e.g. 0.1,0.3")
    _once("--keeps", out)
    return out


def _factors(text: str) -> list[int]:
    out = []
    for token in _options.split(text):
        if not token.isdigit() or int(token) < 2:
            raise ValueError(f"--factors takes whole numbers >= 2, e.g. 2,4; got {token!r}")
        out.append(int(token))
    if not out:
        raise ValueError("--factors selects nothing; pass e.g. 2,4")
    _once("--factors", out)
    return out


def _check_sizes(
    axis: str,
    values: list[Any],
    cfg: ImageFitConfig,
    archs: list[str],
    methods: list[str],
    end: int = 0,
) -> None:
    """Before any run, one line for what would fail every run of a cell: a factor that does
    not divide both sides of the tier's size, a training image smaller than a patch, IGA with
    no more groups than its ``end`` (inpainting: counting every patch, as at keep 1)."""
    import math

    from iga.tasks.image.data import parse_size

    w, h, patch = *parse_size(cfg.size or ""), cfg.patch
    uses_iga = any(_options.recipe(m)[0] == "iga" for m in methods)
    ends = {a: end or END.get(a, 20) for a in archs} if uses_iga else {}
    for k in values if axis == "factor" else [1]:
        what = f"--factors {k}" if k > 1 else f"--patch {patch}"
        fix = "a smaller --patch or a larger --size"
        if w % k or h % k:
            raise ValueError(
                f"--factors {k} does not divide the {w}x{h} size; choose factors that divide "
                "both sides (e.g. 2,4) or another --size"
            )
        lw, lh, lp = w // k, h // k, run_patch(patch, k)
        if min(lw, lh) < lp:
            raise ValueError(
                f"{what}: the {lw}x{lh} training image is smaller than a {lp}x{lp} patch; "
                f"choose {fix}"
            )
        groups = math.ceil(lw / lp) * math.ceil(lh / lp)
        for arch, arch_end in ends.items():
            if groups <= arch_end:
                raise ValueError(
                    f"{what}: the {lw}x{lh} training image has {groups} IGA groups of "
                    f"{lp}x{lp} pixels, no more than IGA's end {arch_end} for {arch}; "
                    f"choose {fix}" + (" or a smaller --end" if end else "")
                )


HELP = {
    "inpainting": "Kodak images from a random fraction of their pixels: keep ratios × archs × "
    "methods (vanilla, FR, BN, IGA, Muon); held-out PSNR (resumable)",
    "superres": "Kodak images from 2×/4× reduced copies: factors × archs × methods (vanilla, "
    "FR, BN, IGA, Muon) vs bicubic (resumable)",
}
"""The commands this module declares (``iga bench inpainting``, ``superres``) and their help."""


def setup(name: str, opts: Options, ro: RunOptions) -> dict[str, Any]:
    """The :func:`iga.harness.plan` arguments for ``opts`` (overrides get their own tier name)."""
    if name not in PROBLEMS:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(PROBLEMS)}")
    if ro.tier not in TIERS:
        raise ValueError(
            f"unknown --tier {ro.tier!r}; choose one of {', '.join(TIERS)} (change the tier "
            "with --steps, --size and --patch)"
        )
    axis = PROBLEMS[name]
    other, flag = ("factors", "--factors") if axis == "keep" else ("keeps", "--keeps")
    if getattr(opts, other):
        right = "superres" if axis == "keep" else "inpainting"
        raise ValueError(f"{flag} is an option of `iga bench {right}`, not of `iga bench {name}`")
    cfg = TIERS[ro.tier]
    if opts.size:
        from iga.tasks.image.data import parse_size

        parse_size(opts.size)  # one line naming the flag if it is no WIDTHxHEIGHT
    if opts.patch < 0:
        raise ValueError(f"--patch must be >= 1 (0: the tier's); got {opts.patch}")
    if opts.val_fraction and axis != "keep":
        raise ValueError("--val-fraction is an option of `iga bench inpainting` only")
    if not 0 <= opts.val_fraction < 1:
        raise ValueError(f"--val-fraction must be in [0, 1); got {opts.val_fraction}")
    overrides = (("steps", opts.steps), ("size", opts.size), ("patch", opts.patch))
    tags = [f"{tag}{v}" for tag, v in overrides if v]
    tags += [f"val{opts.val_fraction:g}"] if opts.val_fraction else []
    if opts.end < 0:
        raise ValueError(f"--end must be >= 1 (0: the paper's per arch); got {opts.end}")
    tags += [f"end{opts.end}"] if opts.end else []
    cfg = replace(
        cfg,
        size=opts.size or cfg.size,
        patch=opts.patch or cfg.patch,
        train=replace(cfg.train, steps=opts.steps or cfg.train.steps),
    )
    if axis == "keep":
        values: list[Any] = _keeps(opts.keeps or DEFAULTS["keep"])
    else:
        values = _factors(opts.factors or DEFAULTS["factor"])
    from iga.models import ARCHS

    archs = _options.choices("--archs", opts.archs, ARCHS)
    methods = _options.recipes(opts.methods)
    if axis == "keep":
        _options.no_fresh(methods, KEEP_NO_FRESH)
    _options.fresh_archs(methods, archs)
    _check_sizes(axis, values, cfg, archs, methods, opts.end)
    seeds = _options.seeds(opts.seeds)
    files = _images(opts.images, Path(opts.data))
    return {
        "bench": bench(name, values),
        "tier": "_".join([ro.tier, *tags]),
        "tier_config": cfg,
        "axes": {
            "seed": seeds,
            "image": list(files),
            axis: values,
            "arch": archs,
            "method": methods,
        },
        "options": {
            "files": {k: str(v) for k, v in files.items()},
            "val_fraction": opts.val_fraction,
            "end": opts.end,
        },
        "report": "table",
    }

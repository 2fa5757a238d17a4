"""``iga bench image``: the IGA paper's image table (Table 1, Appendix D), declared.

Kodak images × archs × methods (vanilla, FR, BN, IGA) × seeds, one :func:`fit_image` run
each, through :mod:`iga.harness`. Protocols: ``paper`` (the paper's lrs) and ``fair`` (each
arch × method gets the best of :data:`FAIR_LRS` on the first image and seed). Tiers are
:class:`~iga.tasks.image.task.ImageFitConfig` instances, the only source of their defaults.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from iga.harness import (
    Bench,
    Context,
    Metric,
    Reference,
    Report,
    RunOptions,
    Selection,
    cell_path,
)
from iga.harness import options as _options
from iga.harness.worker import fit_run
from iga.io import to_jsonable
from iga.models import ARCHS, FR_ALPHA
from iga.models.config import ModelConfig
from iga.paper import TABLE4_PSNR, TABLE6_PSNR, table6_by_image
from iga.sweep import EXECUTORS, RunSpec
from iga.tasks.image.task import ImageFitConfig, default_lr, run_key
from iga.train import METHODS, MethodConfig, TrainConfig

# The paper's Sec. 6.1 setting (needs a GPU).
_PAPER = ImageFitConfig(
    path="",
    size="768x512",
    patch=32,
    model=ModelConfig(width=256, hidden_layers=3),
    train=TrainConfig(steps=10000, decay_at=0.3),
)
TIERS: dict[str, ImageFitConfig] = {
    # Kodak downscaled 4x, width 64: the paper's pixel-to-parameter ratio at CPU scale; 8x8
    # patches = 384 groups as 32x32 at full size.
    "cpu": ImageFitConfig(
        path="",  # each run's image comes from its cell
        size="192x128",
        patch=8,
        model=ModelConfig(width=64, hidden_layers=3),
        train=TrainConfig(steps=2000, decay_at=0.3),
    ),
    # The paper's image size, patches and width with a tenth of its steps: what 2 CPU cores
    # fit in a night (about 4 s a step at width 256, so ~70 min a run; 3 images x vanilla and
    # IGA ~7 h). IGA's 384 groups cost ~1.0x a vanilla step here (docs/speed.md).
    "full": replace(_PAPER, train=replace(_PAPER.train, steps=1000)),
    "paper": _PAPER,
}
END: dict[str, int] = {"relu": 25, "pe": 20, "siren": 20, "finer": 20, "wire": 20, "gauss": 20}
"""IGA's ``end`` per arch (paper Sec. 6.1: 25 for ReLU, 20 for PE and SIREN)."""
FAIR_LRS: tuple[float, ...] = (1e-3, 2e-3, 5e-3)
PROTOCOLS = ("paper", "fair")
IGA_VARIANTS: dict[str, dict[str, Any]] = {
    "iga-ri": {"sampling": "random"},
    "iga-rsi": {"sampling": "random_once"},
    "iga-sub": {"solver": "subspace"},
    "iga-sub3": {"solver": "subspace", "solver_iters": 3},
    "iga-sub3-e4": {"solver": "subspace", "solver_iters": 3, "every": 4},
    "iga-sub-e2": {"solver": "subspace", "every": 2},
    "iga-e2": {"every": 2},
    "iga-e4": {"every": 4},
}
"""IGA with one setting changed, same lr and ``end`` as ``iga``. The paper's Table 4
(representative per patch): ``iga`` takes the largest residual each step (SLR), ``iga-ri`` a
random pixel each step (RI), ``iga-rsi`` a random pixel drawn once at the start (RSI). Speed
(docs/speed.md): ``iga-sub`` the warm-started subspace eigensolver (``iga-sub3`` with 3
iterations instead of 2), ``iga-e2``/``iga-e4`` S
refreshed every 2/4 steps, ``iga-sub-e2`` and ``iga-sub3-e4`` both."""
SAMPLING_VARIANTS = ("iga-ri", "iga-rsi")
BENCH_METHODS: tuple[str, ...] = (*METHODS, *IGA_VARIANTS)
LABELS = {
    "arch": {"relu": "ReLU", "pe": "PE", "siren": "SIREN", "finer": "FINER"},
    "method": {
        "vanilla": "Vanilla",
        "fr": "+FR",
        "bn": "+BN",
        "iga": "+IGA",
        "iga-ri": "+IGA (RI)",
        "iga-rsi": "+IGA (RSI)",
        "iga-sub": "+IGA (subspace)",
        "iga-sub3": "+IGA (subspace, 3 iterations)",
        "iga-sub3-e4": "+IGA (subspace, 3 iterations, every 4)",
        "iga-sub-e2": "+IGA (subspace, every 2)",
        "iga-e2": "+IGA (every 2)",
        "iga-e4": "+IGA (every 4)",
    },
}


def method_config(method: str, end: int) -> MethodConfig:
    """The training method of a benchmark ``method`` (one of :data:`BENCH_METHODS`)."""
    if method in IGA_VARIANTS:
        return MethodConfig(method="iga", end=end, **IGA_VARIANTS[method])
    return MethodConfig(method=method, end=end)


def bench_lr(method: str, arch: str) -> float:
    """The paper's lr of a benchmark method (a sampling variant takes IGA's)."""
    return default_lr("iga" if method in IGA_VARIANTS else method, arch)


METRICS = (
    Metric("psnr_best", "PSNR best (dB)"),
    Metric("psnr_final", "PSNR final (dB)"),
    Metric("ssim", "SSIM", ".4f"),
    Metric("lpips", "LPIPS", ".4f", higher_is_better=False),
)
KODAK = [f"kodim{i:02d}" for i in range(1, 9)]


def _image_size(path: Path, size: str | None) -> str | None:
    """The tier size for this image, swapped for portrait images (kodim04 etc.)."""
    from PIL import Image

    if not size:
        return size
    with Image.open(path) as im:
        w, h = im.size
    tw, _, th = size.partition("x")
    return f"{th}x{tw}" if (h > w) != (int(th) > int(tw)) else size


def make_run(ctx: Context, cell: dict[str, Any]) -> RunSpec:
    """One fit of ``cell`` (image, arch, method, lr, seed) at the tier ``ctx.config``."""
    tier: ImageFitConfig = ctx.config
    arch, method, lr, seed = cell["arch"], cell["method"], cell["lr"], cell["seed"]
    path = Path(ctx.options["files"][cell["image"]])
    name = cell_path(
        cell, ("image", "arch", "method", "lr", "seed"), {"lr": "lr{:g}", "seed": "seed{}"}
    )
    out = ctx.root / "runs" / name
    options = dict(tier.model.options)
    if method == "fr" and ctx.options.get("fr_alpha_scale", 1.0) != 1.0:
        options["fr_alpha"] = FR_ALPHA.get(arch, 4e-3) * ctx.options["fr_alpha_scale"]
    cfg = replace(
        tier,
        path=str(path),
        size=_image_size(path, tier.size),
        model=replace(tier.model, arch=arch, options=options),
        method=method_config(method, ctx.options.get("end") or END.get(arch, 20)),
        train=replace(tier.train, lr=lr, seed=seed),
        out=str(out),
        overwrite=True,  # only unfinished runs are launched; they resume from a checkpoint
    )
    config = {
        "fit": to_jsonable(asdict(cfg)),
        **{k: ctx.options.get(k) for k in ("threads", "keep_checkpoints")},
    }
    return RunSpec(name, str(out), config, key=run_key(cfg))


def run_image(config: dict[str, Any]) -> dict[str, Any]:
    """Sweep worker: one fit from ``make_run``'s config (Ray-importable); checkpoints are
    deleted unless ``keep_checkpoints`` (FR's are megabytes and the tables need none)."""
    from iga.tasks.image.task import fit_image

    return fit_run(config, ImageFitConfig.from_dict, fit_image)


def figures(report: Report, out: Path) -> None:
    """``gains.png`` and one Figure-4-like PNG per (image, arch) with every method (first seed)."""
    from iga.figures import plots
    from iga.tasks.image.data import ImageData, parse_size

    p = report.plan
    gains: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for c in report.comparisons.get("paper (Table 6)", []):
        if c.d_ours:
            arch, method = (
                LABELS[a].get(v, v) for a, v in zip(("arch", "method"), c.cell, strict=True)
            )
            gains.setdefault(arch, {})[method.lstrip("+")] = (list(c.d_ours), list(c.d_reference))
    if gains:
        n = max(len(d[0]) for g in gains.values() for d in g.values())
        plots.gain_bars(
            gains,
            out / "gains.png",
            reference_label="paper (Table 6)",
            title=f"Best-PSNR gain over vanilla, tier {p.tier}, {out.name}\nbars: ours, mean ± std "
            f"over up to {n} images; dots: images; diamonds: the paper on the same images",
        )
    seed0 = p.axes["seed"][0]
    for image in p.axes["image"]:
        for arch in p.axes["arch"]:
            recons, extra, size = {}, {}, None
            for r in report.records:
                if (r["image"], r["arch"], r["seed"]) != (image, arch, seed0):
                    continue
                run = out / r["run_dir"]
                if not (run / "reconstruction.png").is_file():
                    continue
                size = json.loads((run / "config.json").read_text())["size"]
                label = LABELS["arch"].get(arch, arch) + (
                    "" if r["method"] == "vanilla" else LABELS["method"][r["method"]]
                )
                recons[label] = ImageData.from_file(run / "reconstruction.png").image
                extra[label] = f"{r['psnr_best']:.2f} dB"
            planned = sum(
                1
                for r in report.records
                if (r["image"], r["arch"], r["seed"]) == (image, arch, seed0)
            )
            target_png = out / "figures" / f"{image}_{arch}.png"
            if recons and len(recons) < planned and target_png.exists():
                # Some reconstructions are not on disk (git keeps only each run's config and
                # summary): keep the complete figure rather than replace it with a partial one.
                continue
            if recons:
                path = p.context.options["files"][image]
                target = ImageData.from_file(path, size=parse_size(size) if size else None).image
                plots.method_comparison(
                    target,
                    recons,
                    out / "figures" / f"{image}_{arch}.png",
                    titles_extra=extra,
                    title=f"{image}, {LABELS['arch'].get(arch, arch)}, tier {p.tier} (best PSNR)",
                )


def _describe(cfg: ImageFitConfig) -> str:
    return (
        f"size {cfg.size}, width {cfg.model.width}, hidden_layers {cfg.model.hidden_layers}, "
        f"patch {cfg.patch}, steps {cfg.train.steps}, decay_at {cfg.train.decay_at}"
    )


TABLE4_IMAGES = ("kodim01", "kodim02", "kodim03")
"""The images the paper's ablations average over."""


def bench(protocol: str = "paper", table4: bool = False) -> Bench:
    """The image benchmark under ``protocol`` (``paper`` or ``fair``); ``table4`` adds the
    paper's sampling ablation (means over :data:`TABLE4_IMAGES`) as a reference."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown --protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    paper = protocol == "paper"
    return Bench(
        name="image",
        title=f"Kodak image table, protocol `{protocol}`",
        tiers=TIERS,
        axes={
            "seed": [0],
            "image": KODAK,
            "arch": ["relu", "pe", "siren"],
            "method": list(METHODS),
        },
        make_run=make_run,
        worker=run_image,
        metrics=METRICS,
        rows=("arch",),
        columns=("method",),
        average_over=("image",),
        spread_over=("seed",),
        metric_rows=True,
        params={"lr": lambda ctx, c: bench_lr(c["method"], c["arch"])} if paper else {},
        selection=None if paper else Selection("lr", FAIR_LRS, ("seed", "image"), "psnr_best"),
        record_keys=("best_step", "steps", "diverged_at_step"),
        references=(
            Reference(
                "psnr_best",
                ("arch", "method", "image"),
                table6_by_image(),
                "paper (Table 6)",
                {"method": "vanilla"},
            ),
        )
        + (
            (
                Reference(
                    "psnr_best",
                    ("arch", "method"),
                    {(a, m): v for a, ms in TABLE4_PSNR.items() for m, v in ms.items()},
                    "paper (Table 4, mean of kodim01-03)",
                    {"method": "vanilla"},
                ),
            )
            if table4
            else ()
        ),
        figures=figures,
        labels=LABELS,
        describe=_describe,
    )


@dataclass
class Options:
    """Options of ``iga bench image`` (the harness adds --out, --executor, --report, ...)."""

    protocol: str = field(
        default="paper",
        metadata={"help": "paper (paper's lrs) or fair (best of 1e-3/2e-3/5e-3 on image 1)"},
    )
    data: str = field(
        default="../shared/data/kodak", metadata={"help": "folder holding the images"}
    )
    images: str = field(
        default="1-8",
        metadata={"help": "Kodak numbers/ranges (1-3,5) or image file names in --data"},
    )
    archs: str = field(default="relu,pe,siren", metadata={"help": "comma-separated archs"})
    methods: str = field(
        default="vanilla,fr,bn,iga",
        metadata={
            "help": "comma-separated methods: vanilla, fr, bn, iga, and IGA variants: iga-ri "
            "(random each step), iga-rsi (random once) of the paper's Table 4; iga-sub "
            "(subspace eigensolver), iga-e2/iga-e4 (S every 2/4 steps), iga-sub-e2"
        },
    )
    seeds: str = field(
        default="0",
        metadata={"help": "seeds; the first on every image, the others on --multi-seed-images"},
    )
    multi_seed_images: str = field(
        default="1-3", metadata={"help": "images that also get the seeds after the first"}
    )
    steps: int = field(default=0, metadata={"help": "override the tier's steps (0: tier's)"})
    size: str = field(default="", metadata={"help": "override the tier's WIDTHxHEIGHT"})
    width: int = field(default=0, metadata={"help": "override the tier's MLP width (0: tier's)"})
    patch: int = field(default=0, metadata={"help": "override the tier's patch size (0: tier's)"})
    end: int = field(default=0, metadata={"help": "override IGA's per-arch end (0: paper's)"})
    fr_alpha_scale: float = field(
        default=1.0, metadata={"help": "FR: multiply the per-arch alpha by this"}
    )
    keep_checkpoints: bool = field(
        default=False, metadata={"help": "keep best.pt/final.pt in run dirs"}
    )


def _images(text: str, data: Path, must_exist: bool = True) -> dict[str, Path]:
    """``1-3,5`` -> kodim01..03, kodim05 under ``data``; other tokens are file names."""
    files: dict[str, Path] = {}
    for token in _options.split(text):
        lo, sep, hi = token.partition("-")
        if lo.isdigit() and (not sep or hi.isdigit()):
            a, b = int(lo), int(hi) if sep else int(lo)
            if a < 1 or b < a:
                raise ValueError(f"bad image range {token!r} in --images; use e.g. 1-8")
            files.update({f"kodim{i:02d}": data / f"kodim{i:02d}.png" for i in range(a, b + 1)})
        else:
            p = Path(token)
            p = p if p.is_absolute() or p.exists() else data / token
            files[p.stem] = p
    missing = [str(p) for p in files.values() if not p.is_file()]
    if must_exist and missing:
        raise FileNotFoundError(
            f"image(s) not found: {', '.join(missing[:4])}; check --data and --images"
        )
    if not files:
        raise ValueError("--images selects no image; pass e.g. 1-8")
    return files


HELP = {"image": "the paper's Kodak table: vanilla/FR/BN/IGA × relu/pe/siren (resumable)"}
"""The commands this module declares (``iga bench image``) and their help lines."""


TIER_FILE_KEYS: dict[str, type] = {
    "size": str,
    "patch": int,
    "width": int,
    "hidden_layers": int,
    "steps": int,
    "decay_at": float,
}
"""The keys of an image ``--tier FILE`` and their types."""


def tier_config(tier: str) -> tuple[str, ImageFitConfig]:
    """``(name, config)`` of a built-in tier or of a tier JSON file (keys: size, patch, width,
    hidden_layers, steps, decay_at; the rest from the cpu tier)."""
    if tier in TIERS:
        name, cfg = tier, TIERS[tier]
    elif Path(tier).is_file():
        t = _options.tier_file(tier, TIER_FILE_KEYS)
        if "size" in t:
            from iga.tasks.image.data import parse_size

            try:
                parse_size(t["size"])
            except ValueError:
                raise ValueError(
                    f"--tier {tier}: size must be WIDTHxHEIGHT such as 192x128; got {t['size']!r}"
                ) from None
        base = TIERS["cpu"]
        cfg = replace(
            base,
            size=t.get("size", base.size),
            patch=t.get("patch", base.patch),
            model=replace(
                base.model,
                width=t.get("width", base.model.width),
                hidden_layers=t.get("hidden_layers", base.model.hidden_layers),
            ),
            train=replace(
                base.train,
                steps=t.get("steps", base.train.steps),
                decay_at=t.get("decay_at", base.train.decay_at),
            ),
        )
        name = Path(tier).stem
    else:
        raise FileNotFoundError(f"--tier {tier!r} is neither {' nor '.join(TIERS)} nor a JSON file")
    return name, cfg


def setup(name: str, opts: Options, ro: RunOptions) -> dict[str, Any]:
    """The :func:`iga.harness.plan` arguments for ``opts`` (tier overrides get their own name)."""
    tier = ro.tier
    files = _images(opts.images, Path(opts.data))
    methods = _options.choices("--methods", opts.methods, BENCH_METHODS)
    # Table 4 is a mean over kodim01-03: compared only when exactly those images are run.
    table4 = set(files) == set(TABLE4_IMAGES) and any(m in SAMPLING_VARIANTS for m in methods)
    b = bench(opts.protocol, table4=table4)
    name, cfg = tier_config(tier)
    tags = []
    for key, tag in (
        ("steps", "steps"),
        ("size", "size"),
        ("width", "w"),
        ("patch", "patch"),
        ("end", "end"),
    ):
        value = getattr(opts, key)
        if value:
            tags.append(f"{tag}{value}")
    cfg = replace(
        cfg,
        size=opts.size or cfg.size,
        patch=opts.patch or cfg.patch,
        model=replace(cfg.model, width=opts.width or cfg.model.width),
        train=replace(cfg.train, steps=opts.steps or cfg.train.steps),
    )
    if opts.fr_alpha_scale != 1.0:
        if not (opts.fr_alpha_scale > 0 and math.isfinite(opts.fr_alpha_scale)):
            raise ValueError(f"--fr-alpha-scale must be > 0; got {opts.fr_alpha_scale}")
        tags.append(f"fralpha{opts.fr_alpha_scale:g}")
    archs = _options.choices("--archs", opts.archs, ARCHS)
    seeds = _options.seeds(opts.seeds)
    multi = set(_images(opts.multi_seed_images, Path(opts.data), must_exist=False))
    return {
        "bench": b,
        "tier": "_".join([name, *tags]),
        "tier_config": cfg,
        "axes": {
            "seed": seeds,
            "image": list(files),
            "arch": archs,
            "method": methods,
        },
        "where": lambda c: c["seed"] == seeds[0] or c["image"] in multi,
        "options": {
            "files": {k: str(v) for k, v in files.items()},
            "end": opts.end,
            "fr_alpha_scale": opts.fr_alpha_scale,
            "keep_checkpoints": opts.keep_checkpoints,
        },
        "report": opts.protocol,
    }


__all__ = [
    "BENCH_METHODS",
    "END",
    "HELP",
    "EXECUTORS",
    "FAIR_LRS",
    "PROTOCOLS",
    "IGA_VARIANTS",
    "SAMPLING_VARIANTS",
    "TABLE6_PSNR",
    "TIERS",
    "Options",
    "bench",
    "bench_lr",
    "make_run",
    "method_config",
    "run_image",
    "setup",
    "tier_config",
]

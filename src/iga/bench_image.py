"""The IGA paper's image table (Table 1, Appendix D) as a resumable benchmark: ``iga bench image``.

Kodak images × architectures × methods (vanilla, FR, BN, IGA) × seeds, each one
:func:`iga.tasks.image.fit_image` run, executed by :func:`iga.sweep.run_sweep`. Layout under
``--out`` (default ``benchmarks/results/image``)::

    <tier>/runs/<image>/<arch>/<method>/lr<lr>/seed<k>/   one run directory each (shared by
                                                        both protocols: same lr, same run)
    <tier>/<protocol>/table.md, table.csv               averages in the paper's layout
    <tier>/<protocol>/per_image.md, runs.csv            per-image tables, every run's numbers
    <tier>/<protocol>/timing.md                          wall time per run and per step
    <tier>/<protocol>/missing.md                         cells without a finished run
    <tier>/<protocol>/figures/<image>_<arch>.png         crops + FFT residuals (Figure 4)

Protocols: ``paper`` uses the paper's learning rates (:func:`iga.tasks.image.default_lr`);
``fair`` first fits the first image with every lr in :data:`FAIR_LRS` for every (arch, method),
fixes the best one per (arch, method), then runs the rest with it.

Tiers (:data:`TIERS`, also ``benchmarks/image/<tier>.json``): ``cpu`` (192×128, width 64, 8×8
patches, 2000 steps) keeps the paper's pixel-to-parameter ratio at a size a CPU can run;
``paper`` is the paper's setting (768×512, width 256, 32×32 patches, 10000 steps).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .io import atomic_write_text, write_json
from .sweep import EXECUTORS, RunSpec, collect, make_executor, run_sweep

__all__ = [
    "END",
    "FAIR_LRS",
    "PAPER_TABLE1",
    "PAPER_TABLE6_PSNR",
    "PROTOCOLS",
    "TIERS",
    "BenchImageConfig",
    "aggregate",
    "plan",
    "register_cli",
    "run_bench",
    "run_image",
]

TIERS: dict[str, dict[str, Any]] = {
    "cpu": {
        "size": "192x128",
        "width": 64,
        "hidden_layers": 3,
        "patch": 8,
        "steps": 2000,
        "decay_at": 0.3,
        "note": "Kodak downscaled 4x (portrait 128x192), width 64: the paper's pixel-to-parameter "
        "ratio at CPU scale; 8x8 patches = 384 groups as 32x32 at full size",
    },
    "paper": {
        "size": "768x512",
        "width": 256,
        "hidden_layers": 3,
        "patch": 32,
        "steps": 10000,
        "decay_at": 0.3,
        "note": "the paper's Sec. 6.1 setting (needs a GPU)",
    },
}
"""Built-in protocol tiers; ``benchmarks/image/<name>.json`` hold the same values."""

END: dict[str, int] = {"relu": 25, "pe": 20, "siren": 20, "finer": 20, "wire": 20, "gauss": 20}
"""IGA's ``end`` per arch (paper Sec. 6.1: 25 for ReLU, 20 for PE and SIREN)."""

FAIR_LRS: tuple[float, ...] = (1e-3, 2e-3, 5e-3)
PROTOCOLS = ("paper", "fair")
METHOD_LABEL = {"vanilla": "Vanilla", "fr": "+FR", "bn": "+BN", "iga": "+IGA"}
ARCH_LABEL = {"relu": "ReLU", "pe": "PE", "siren": "SIREN", "finer": "FINER"}

PAPER_TABLE1: dict[str, dict[str, dict[str, float]]] = {
    "psnr": {
        "relu": {"vanilla": 21.78, "fr": 22.14, "bn": 22.55, "iga": 23.00},
        "pe": {"vanilla": 28.64, "fr": 29.74, "bn": 31.65, "iga": 32.46},
        "siren": {"vanilla": 32.65, "fr": 32.61, "bn": 32.35, "iga": 33.48},
    },
    "ssim": {
        "relu": {"vanilla": 0.483, "fr": 0.492, "bn": 0.505, "iga": 0.513},
        "pe": {"vanilla": 0.783, "fr": 0.817, "bn": 0.870, "iga": 0.882},
        "siren": {"vanilla": 0.898, "fr": 0.899, "bn": 0.894, "iga": 0.912},
    },
    "lpips": {
        "relu": {"vanilla": 0.630, "fr": 0.631, "bn": 0.595, "iga": 0.555},
        "pe": {"vanilla": 0.222, "fr": 0.187, "bn": 0.114, "iga": 0.090},
        "siren": {"vanilla": 0.081, "fr": 0.081, "bn": 0.102, "iga": 0.067},
    },
}
"""The paper's Table 1 (averages over Kodak 1-8 at 768×512, width 256, 10000 steps)."""

PAPER_TABLE6_PSNR: dict[str, dict[str, list[float]]] = {
    "relu": {
        "vanilla": [19.78, 26.62, 25.88, 24.70, 17.70, 21.98, 21.52, 16.07],
        "fr": [19.96, 26.63, 26.53, 25.31, 18.05, 22.03, 22.13, 16.52],
        "bn": [20.21, 27.24, 27.24, 25.52, 18.55, 22.26, 22.66, 16.75],
        "iga": [20.42, 27.71, 28.20, 26.17, 18.81, 22.69, 22.96, 16.99],
    },
    "pe": {
        "vanilla": [26.07, 32.51, 32.80, 31.37, 24.60, 27.28, 31.74, 22.79],
        "fr": [26.95, 32.23, 33.92, 32.14, 26.63, 28.49, 32.71, 24.85],
        "bn": [29.22, 35.03, 35.67, 33.96, 27.42, 30.03, 35.54, 26.36],
        "iga": [29.17, 35.18, 37.91, 35.07, 28.06, 31.27, 36.60, 26.41],
    },
    "siren": {
        "vanilla": [29.61, 35.19, 36.31, 35.10, 29.74, 31.01, 36.73, 27.50],
        "fr": [30.00, 34.73, 36.95, 34.87, 29.72, 30.79, 36.31, 27.52],
        "bn": [29.11, 34.75, 36.86, 34.74, 29.33, 30.41, 36.53, 27.08],
        "iga": [30.10, 35.85, 38.60, 35.80, 30.13, 31.94, 37.68, 27.73],
    },
}
"""The paper's per-image best PSNR (Appendix D, Table 6), Kodak 1-8, for same-image comparisons."""


@dataclass
class BenchImageConfig:
    """Options of ``iga bench image``."""

    tier: str = field(default="cpu", metadata={"help": "cpu|paper, or a tier JSON file"})
    protocol: str = field(
        default="paper",
        metadata={"help": "paper (paper's lrs) or fair (best of 1e-3/2e-3/5e-3 on image 1)"},
    )
    data: str = field(
        default="../shared/data/kodak", metadata={"help": "folder holding kodimNN.png"}
    )
    images: str = field(
        default="1-8",
        metadata={"help": "Kodak numbers/ranges (1-3,5) or image file names in --data"},
    )
    archs: str = field(default="relu,pe,siren", metadata={"help": "comma-separated archs"})
    methods: str = field(default="vanilla,fr,bn,iga", metadata={"help": "comma-separated"})
    seeds: str = field(
        default="0", metadata={"help": "seeds; the first on every image, others see below"}
    )
    multi_seed_images: str = field(
        default="1-3", metadata={"help": "images that also get the seeds after the first"}
    )
    out: str = field(default="benchmarks/results/image", metadata={"help": "results folder"})
    executor: str = field(default="inprocess", metadata={"help": "inprocess or ray"})
    ray_address: str = field(default="", metadata={"help": "Ray cluster address (empty: local)"})
    cpus_per_run: float = field(default=1.0, metadata={"help": "Ray: CPUs reserved per run"})
    threads: int = field(default=0, metadata={"help": "torch threads per run (0: torch default)"})
    max_runs: int = field(default=0, metadata={"help": "launch at most this many runs (0: all)"})
    steps: int = field(default=0, metadata={"help": "override the tier's steps (0: tier's)"})
    size: str = field(default="", metadata={"help": "override the tier's WIDTHxHEIGHT"})
    width: int = field(default=0, metadata={"help": "override the tier's MLP width (0: tier's)"})
    patch: int = field(default=0, metadata={"help": "override the tier's patch size (0: tier's)"})
    end: int = field(default=0, metadata={"help": "override IGA's per-arch end (0: paper's)"})
    fr_alpha_scale: float = field(
        default=1.0, metadata={"help": "FR: multiply the per-arch default alpha by this"}
    )
    aggregate_only: bool = field(
        default=False, metadata={"help": "only rebuild tables/figures from finished runs"}
    )
    keep_checkpoints: bool = field(
        default=False, metadata={"help": "keep best.pt/final.pt in run dirs (large for FR)"}
    )
    no_figures: bool = field(default=False, metadata={"help": "skip the comparison figures"})
    report: str = field(
        default="",
        metadata={
            "help": "subfolder of <out>/<tier> for tables and figures (default: the protocol), "
            "so a subset (e.g. --images 1-3 --seeds 0,1,2) does not overwrite the main table"
        },
    )
    quiet: bool = field(default=False, metadata={"help": "no progress bars"})

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(
                f"unknown protocol {self.protocol!r}; choose one of {', '.join(PROTOCOLS)}"
            )
        if self.executor not in EXECUTORS:
            raise ValueError(
                f"unknown executor {self.executor!r}; choose one of {', '.join(EXECUTORS)}"
            )
        from .models import ARCHS
        from .train import METHODS

        for a in _split(self.archs):
            if a not in ARCHS:
                raise ValueError(f"unknown arch {a!r} in --archs; choose from {', '.join(ARCHS)}")
        for m in _split(self.methods):
            if m not in METHODS:
                raise ValueError(
                    f"unknown method {m!r} in --methods; choose from {', '.join(METHODS)}"
                )
        if self.report and (
            self.report in (".", "..", "runs") or not re.fullmatch(r"[\w.\-]+", self.report)
        ):
            raise ValueError(
                f"--report must be a plain folder name other than 'runs'; got {self.report!r}"
            )
        if not _split(self.archs) or not _split(self.methods):
            raise ValueError("--archs and --methods must name at least one each")
        _ = self.seed_list  # parses and validates --seeds
        if min(self.max_runs, self.steps, self.width, self.threads, self.patch, self.end) < 0:
            raise ValueError("--max-runs, --steps, --width, --patch, --end, --threads must be >= 0")

    @property
    def seed_list(self) -> list[int]:
        try:
            seeds = [int(s) for s in _split(self.seeds)]
        except ValueError:
            raise ValueError(
                f"--seeds must be comma-separated integers; got {self.seeds!r}"
            ) from None
        if not seeds or any(s < 0 for s in seeds):
            raise ValueError(f"--seeds needs at least one integer >= 0; got {self.seeds!r}")
        return seeds


def _split(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _expand_images(text: str, data: Path) -> list[Path]:
    """``1-3,5`` -> kodim01..03, kodim05 under ``data``; other tokens are file names."""
    paths: list[Path] = []
    for token in _split(text):
        lo, sep, hi = token.partition("-")
        if lo.isdigit() and (not sep or hi.isdigit()):
            a, b = int(lo), int(hi) if sep else int(lo)
            if a < 1 or b < a:
                raise ValueError(f"bad image range {token!r}; use e.g. 1-8")
            paths += [data / f"kodim{i:02d}.png" for i in range(a, b + 1)]
        else:
            p = Path(token)
            paths.append(p if p.is_absolute() or p.exists() else data / token)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"image(s) not found: {', '.join(missing[:4])}; check --data and --images"
        )
    if not paths:
        raise ValueError("--images selects no image; pass e.g. 1-8")
    return paths


def _image_stems(text: str) -> set[str]:
    """Image names (file stems) of an --images-like list, without requiring the files."""
    stems: set[str] = set()
    for token in _split(text):
        lo, sep, hi = token.partition("-")
        if lo.isdigit() and (not sep or hi.isdigit()):
            stems.update(f"kodim{i:02d}" for i in range(int(lo), int(hi if sep else lo) + 1))
        else:
            stems.add(Path(token).stem)
    return stems


def load_tier(cfg: BenchImageConfig) -> tuple[str, dict[str, Any]]:
    """The resolved tier (name, settings) with the command-line overrides applied."""
    if cfg.tier in TIERS:
        name, tier = cfg.tier, dict(TIERS[cfg.tier])
    else:
        path = Path(cfg.tier)
        if not path.is_file():
            raise FileNotFoundError(
                f"tier {cfg.tier!r} is neither {' nor '.join(TIERS)} nor a JSON file"
            )
        tier = {**TIERS["cpu"], **json.loads(path.read_text())}
        name = path.stem
    overrides = []
    for key, tag in (
        ("steps", "steps"),
        ("size", "size"),
        ("width", "w"),
        ("patch", "patch"),
        ("end", "end"),
    ):
        value = getattr(cfg, key)
        if value:
            tier[key] = value
            overrides.append(f"{tag}{value}")
    if cfg.fr_alpha_scale != 1.0:
        if not (cfg.fr_alpha_scale > 0 and math.isfinite(cfg.fr_alpha_scale)):
            raise ValueError(f"--fr-alpha-scale must be > 0; got {cfg.fr_alpha_scale}")
        tier["fr_alpha_scale"] = cfg.fr_alpha_scale
        overrides.append(f"fralpha{cfg.fr_alpha_scale:g}")
    # Overridden settings get their own folder: finished runs are matched by directory only.
    return "_".join([name, *overrides]), tier


def _image_size(path: Path, size: str) -> str:
    """The tier size for this image, swapped for portrait images (kodim04 etc.)."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
    tw, _, th = size.partition("x")
    if (h > w) != (int(th) > int(tw)):
        return f"{th}x{tw}"
    return size


def _run_dir(root: Path, image: str, arch: str, method: str, lr: float, seed: int) -> Path:
    return root / "runs" / image / arch / method / f"lr{lr:g}" / f"seed{seed}"


def _spec(
    cfg: BenchImageConfig,
    root: Path,
    tier: dict[str, Any],
    image: Path,
    arch: str,
    method: str,
    lr: float,
    seed: int,
) -> RunSpec:
    out = _run_dir(root, image.stem, arch, method, lr, seed)
    fit = {
        "path": str(image),
        "size": _image_size(image, tier["size"]),
        "patch": tier["patch"],
        "model": {
            "arch": arch,
            "width": tier["width"],
            "hidden_layers": tier["hidden_layers"],
            "options": _method_options(arch, method, tier),
        },
        "method": {"method": method, "end": tier.get("end") or END.get(arch, 20)},
        "train": {"steps": tier["steps"], "lr": lr, "decay_at": tier["decay_at"], "seed": seed},
        "out": str(out),
        # Only unfinished runs are launched; one interrupted half-way left files behind.
        "overwrite": True,
    }
    return RunSpec(
        name=f"{image.stem}/{arch}/{method}/lr{lr:g}/seed{seed}",
        out=str(out),
        key=_key(fit),
        config={
            "fit": fit,
            "threads": cfg.threads,
            "keep_checkpoints": cfg.keep_checkpoints,
            "meta": {"image": image.stem, "arch": arch, "method": method, "lr": lr, "seed": seed},
        },
    )


def _key(fit: dict[str, Any]) -> str:
    from .tasks.image import run_key

    return run_key(_fit_config(fit))


def _fit_config(f: dict[str, Any]) -> Any:
    from .tasks.image import ImageFitConfig, ModelConfig
    from .train import MethodConfig, TrainConfig

    return ImageFitConfig(
        **{k: v for k, v in f.items() if k not in ("model", "method", "train")},
        model=ModelConfig(**f["model"]),
        method=MethodConfig(**f["method"]),
        train=TrainConfig(**f["train"]),
    )


def _method_options(arch: str, method: str, tier: dict[str, Any]) -> dict[str, Any]:
    """Model options of a method: FR's alpha when the tier scales the per-arch default."""
    from .models import FR_ALPHA

    scale = tier.get("fr_alpha_scale", 1.0)
    if method == "fr" and scale != 1.0:
        return {"fr_alpha": FR_ALPHA.get(arch, 4e-3) * scale}
    return {}


def run_image(config: dict[str, Any]) -> dict[str, Any]:
    """Sweep worker: one :func:`~iga.tasks.image.fit_image` run from a JSON-able config.

    A diverged run still counts as finished (its summary records the step); checkpoints are
    deleted unless ``keep_checkpoints`` (FR's are megabytes each and the tables need none).
    """
    import torch

    from .tasks.image import TrainingDiverged, fit_image

    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    cfg = _fit_config(dict(config["fit"]))
    try:
        # An interrupted run of the same config continues from its checkpoint.
        summary = fit_image(cfg, progress=False, resume="auto")
    except TrainingDiverged:
        summary = json.loads((Path(cfg.out) / "summary.json").read_text())
    if not config.get("keep_checkpoints"):
        for name in ("best.pt", "final.pt"):
            (Path(cfg.out) / name).unlink(missing_ok=True)
    return summary


# --------------------------------------------------------------------------------------------
# Planning


@dataclass
class Plan:
    """The runs of a benchmark; ``pending_selection`` when the fair lrs are not chosen yet."""

    tier_name: str
    tier: dict[str, Any]
    root: Path
    images: list[Path]
    archs: list[str]
    methods: list[str]
    seeds: list[int]
    specs: list[RunSpec]
    lrs: dict[tuple[str, str], float]
    selection: list[RunSpec]
    pending_selection: bool


def _lr_choice(
    selection: Sequence[RunSpec],
) -> tuple[dict[tuple[str, str], float], bool]:
    """Best lr per (arch, method) by best PSNR on the selection runs; complete flag."""
    summaries = collect(selection)
    best: dict[tuple[str, str], tuple[float, float]] = {}
    complete = True
    for spec in selection:
        s = summaries[spec.name]
        meta = spec.config["meta"]
        if s is None:
            complete = False
            continue
        key = (meta["arch"], meta["method"])
        score = s.get("psnr_best") or -math.inf
        if key not in best or score > best[key][1]:
            best[key] = (meta["lr"], score)
    return {k: v[0] for k, v in best.items()}, complete


def plan(cfg: BenchImageConfig) -> Plan:
    """Every run of the benchmark for ``cfg``, in launch order (see :func:`run_bench`).

    Order: seed 0 on the images one after the other (all archs × methods of an image before
    the next image, so complete blocks finish first), then the extra seeds on
    ``multi_seed_images``. For ``fair``, the lr-selection runs on the first image come first;
    until they are finished ``specs`` holds only them (``pending_selection``).
    """
    from .tasks.image import default_lr

    tier_name, tier = load_tier(cfg)
    root = Path(cfg.out) / tier_name
    data = Path(cfg.data)
    images = _expand_images(cfg.images, data)
    multi = _image_stems(cfg.multi_seed_images)
    archs, methods, seeds = _split(cfg.archs), _split(cfg.methods), cfg.seed_list

    selection: list[RunSpec] = []
    if cfg.protocol == "paper":
        lrs = {(a, m): default_lr(m, a) for a in archs for m in methods}
        pending = False
    else:
        first = images[0]
        selection = [
            _spec(cfg, root, tier, first, a, m, lr, seeds[0])
            for a in archs
            for m in methods
            for lr in FAIR_LRS
        ]
        lrs, complete = _lr_choice(selection)
        pending = not complete
    specs: list[RunSpec] = list(selection)
    if not pending:
        seen = {s.name for s in specs}
        order = [(seeds[0], img) for img in images] + [
            (s, img) for s in seeds[1:] for img in images if img.stem in multi
        ]
        for seed, img in order:
            for a in archs:
                for m in methods:
                    spec = _spec(cfg, root, tier, img, a, m, lrs[(a, m)], seed)
                    if spec.name not in seen:
                        specs.append(spec)
                        seen.add(spec.name)
    return Plan(
        tier_name, tier, root, images, archs, methods, seeds, specs, lrs, selection, pending
    )


# --------------------------------------------------------------------------------------------
# Aggregation


def _fmt(values: Sequence[float], digits: int) -> str:
    if not values:
        return "—"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


METRICS = (
    ("psnr_best", "PSNR best (dB) ↑", 2),
    ("psnr_final", "PSNR final (dB) ↑", 2),
    ("ssim", "SSIM ↑", 4),
    ("lpips", "LPIPS ↓", 4),
)


def _main_specs(p: Plan) -> list[RunSpec]:
    """The table's runs: for fair, the selection runs at the chosen lr only."""
    chosen = []
    for s in p.specs:
        meta = s.config["meta"]
        if p.lrs.get((meta["arch"], meta["method"])) == meta["lr"]:
            chosen.append(s)
    return chosen


def aggregate(cfg: BenchImageConfig, figures: bool = True) -> dict[str, Any]:
    """Rebuild tables, timing, missing-cell list and figures from the finished runs.

    Missing runs are listed, never fatal: a cell averages the images it has and says how many.
    Returns ``{"table": markdown, "missing": [...], "finished": n, "expected": n, "dir": path}``.
    """
    p = plan(cfg)
    outdir = p.root / (cfg.report or cfg.protocol)
    specs = _main_specs(p)
    summaries = collect(specs)
    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    for spec in specs:
        s = summaries[spec.name]
        if s is None:
            missing.append(spec.name)
            continue
        meta = spec.config["meta"]
        rows.append(
            {
                **meta,
                "psnr_best": s["psnr_best"],
                "psnr_final": s["psnr_final"],
                "best_step": s["best_step"],
                "ssim": s["ssim"],
                "lpips": s.get("lpips"),
                "seconds": s["seconds"],
                "ms_per_step": 1000 * s["seconds_per_step"],
                "steps": s["steps"],
                "diverged_at_step": s.get("diverged_at_step"),
                "run_dir": os.path.relpath(spec.out, outdir),
            }
        )
    if p.pending_selection:
        # The main runs cannot be named before the lrs are chosen: report the selection runs.
        missing = [name for name, s in collect(p.selection).items() if s is None]
    n_images = len(p.images)
    # cell -> image -> list over seeds
    cells: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for r in rows:
        cells.setdefault((r["arch"], r["method"]), {}).setdefault(r["image"], []).append(r)

    def image_means(arch: str, method: str, key: str) -> dict[str, list[float]]:
        per = cells.get((arch, method), {})
        out: dict[str, list[float]] = {}
        for img, rs in per.items():
            vals = [r[key] for r in rs if r[key] is not None]
            if vals:
                out[img] = vals
        return out

    # Averages over the same images in every cell: the images whose whole block (every arch ×
    # method at the first seed) has finished. Mixing a 4-image cell with a 3-image one would
    # compare different images; partial images still appear in the per-image tables.
    complete = [
        img.stem
        for img in p.images
        if all(
            any(r["seed"] == p.seeds[0] for r in cells.get((a, m), {}).get(img.stem, []))
            for a in p.archs
            for m in p.methods
        )
    ]
    avg_images = set(complete) if complete else {i.stem for i in p.images}
    avg_note = (
        f"Averages over the {len(complete)} complete image(s) ({', '.join(complete)}); "
        "images with unfinished runs are left out of the averages."
        if complete and len(complete) < n_images
        else (
            "No image has all its runs finished: cells average the images they have (n/N)."
            if not complete
            else f"Averages over all {n_images} images."
        )
    )

    def avg_means(arch: str, method: str, key: str) -> dict[str, list[float]]:
        return {k: v for k, v in image_means(arch, method, key).items() if k in avg_images}

    # Averages table in the paper's layout.
    header = ["Metric"] + [
        f"{ARCH_LABEL.get(a, a)} {METHOD_LABEL.get(m, m)}" for a in p.archs for m in p.methods
    ]
    md = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]
    csv_rows = [header]
    for key, label, digits in METRICS:
        cells_md, cells_csv = [], []
        for a in p.archs:
            for m in p.methods:
                per = avg_means(a, m, key)
                if not per:
                    cells_md.append("n/a" if key == "lpips" else "—")
                    cells_csv.append("")
                    continue
                mean = statistics.fmean(statistics.fmean(v) for v in per.values())
                txt = f"{mean:.{digits}f}"
                if len(per) < len(avg_images):
                    txt += f" ({len(per)}/{len(avg_images)})"
                cells_md.append(txt)
                cells_csv.append(f"{mean:.6g}")
        md.append(f"| {label} | " + " | ".join(cells_md) + " |")
        csv_rows.append([key, *cells_csv])
    # Seed spread: mean over images (with >1 seed) of the per-image std of best PSNR.
    spread_md = []
    for a in p.archs:
        for m in p.methods:
            per = {k: v for k, v in image_means(a, m, "psnr_best").items() if len(v) > 1}
            spread = statistics.fmean(statistics.stdev(v) for v in per.values()) if per else None
            spread_md.append(f"{spread:.2f} ({len(per)} img)" if spread is not None else "—")
    md.append("| PSNR seed std (dB) | " + " | ".join(spread_md) + " |")
    table = avg_note + "\n\n" + "\n".join(md)

    # Per-image tables (mean ± std over seeds).
    imgs = [i.stem for i in p.images]
    per_image_md = []
    for key, label, digits in METRICS:
        lines = [f"### {label}", "", "| Method | " + " | ".join(imgs) + " | Average |"]
        lines.append("| --- |" + " ---: |" * (len(imgs) + 1))
        for a in p.archs:
            for m in p.methods:
                per = image_means(a, m, key)
                vals = [_fmt(per.get(i, []), digits) for i in imgs]
                avg = (
                    f"{statistics.fmean(statistics.fmean(v) for v in per.values()):.{digits}f}"
                    if per
                    else "—"
                )
                name = f"{ARCH_LABEL.get(a, a)}{'' if m == 'vanilla' else METHOD_LABEL[m]}"
                lines.append(f"| {name} | " + " | ".join(vals) + f" | {avg} |")
        per_image_md.append("\n".join(lines))

    # Timing.
    t_lines = [
        "| arch | method | lr | runs | s/run (mean) | ms/step (mean) | total s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    total = 0.0
    for a in p.archs:
        for m in p.methods:
            rs = [r for per in cells.get((a, m), {}).values() for r in per]
            secs = [r["seconds"] for r in rs]
            total += sum(secs)
            lr = p.lrs.get((a, m))  # unknown while the fair selection is unfinished
            t_lines.append(
                f"| {a} | {m} | {f'{lr:g}' if lr else '—'} | {len(rs)} | "
                + (f"{statistics.fmean(secs):.1f} | " if rs else "— | ")
                + (f"{statistics.fmean(r['ms_per_step'] for r in rs):.1f} | " if rs else "— | ")
                + f"{sum(secs):.0f} |"
            )
    timing = "\n".join(t_lines) + f"\n\nTotal training time of these runs: {total / 60:.1f} min."

    gains = _gains(p, avg_means)
    comparison = _paper_comparison(gains)

    # Files.
    atomic_write_text(outdir / "comparison.md", comparison + "\n")
    buf = io.StringIO()
    csv.writer(buf).writerows(csv_rows)
    atomic_write_text(outdir / "table.csv", buf.getvalue())
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    atomic_write_text(outdir / "runs.csv", buf.getvalue())
    lr_note = ", ".join(f"{a}/{m} {lr:g}" for (a, m), lr in sorted(p.lrs.items()))
    settings = ", ".join(f"{k} {v}" for k, v in p.tier.items() if k != "note")
    head = (
        f"Tier `{p.tier_name}` ({settings}), protocol `{cfg.protocol}`; "
        f"lr: {lr_note}. {len(rows)} of {len(specs)} runs finished."
    )
    atomic_write_text(outdir / "table.md", head + "\n\n" + table + "\n")
    atomic_write_text(outdir / "per_image.md", head + "\n\n" + "\n\n".join(per_image_md) + "\n")
    atomic_write_text(outdir / "timing.md", head + "\n\n" + timing + "\n")
    miss_text = "\n".join(f"- {m}" for m in missing) if missing else "None: every run is finished."
    if p.pending_selection:
        miss_text = "Unfinished lr-selection runs:\n\n" + miss_text
    if p.pending_selection:
        miss_text = (
            "The fair protocol's lr selection on the first image is not finished yet; the "
            "main runs are not planned yet.\n\n" + miss_text
        )
    atomic_write_text(outdir / "missing.md", f"# Missing runs ({len(missing)})\n\n{miss_text}\n")
    write_json(
        outdir / "aggregate.json",
        {
            "tier": p.tier_name,
            "settings": p.tier,
            "protocol": cfg.protocol,
            "lrs": {f"{a}/{m}": lr for (a, m), lr in p.lrs.items()},
            "finished": len(rows),
            "expected": len(specs),
            "complete_images": complete,
            "missing": missing,
            "training_seconds": total,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}",
        },
    )
    if figures:
        _figures(p, cells, outdir / "figures")
        _gain_figure(p, gains, outdir / "gains.png", cfg.protocol)
    return {
        "table": table,
        "complete_images": complete,
        "missing": missing,
        "finished": len(rows),
        "expected": len(specs),
        "dir": str(outdir),
    }


@dataclass
class _Gain:
    """One (arch, method) cell of the comparison with the paper, on the same Kodak images."""

    arch: str
    method: str
    images: list[str]
    ours: float  # mean best PSNR over images (each image: mean over seeds)
    paper: float  # the paper's Table 6 mean over the same images
    d_ours: list[float]  # per-image gain over vanilla (images that have a vanilla run)
    d_paper: list[float]  # the paper's per-image gain on those images


def _gains(p: Plan, image_means: Callable[[str, str, str], dict[str, list[float]]]) -> list[_Gain]:
    """Our best PSNR and gains over vanilla beside the paper's (Table 6), cell by cell."""
    out = []
    for a in p.archs:
        if a not in PAPER_TABLE6_PSNR:
            continue
        base = image_means(a, "vanilla", "psnr_best")
        pv = PAPER_TABLE6_PSNR[a]["vanilla"]
        for m in p.methods:
            ours = image_means(a, m, "psnr_best")
            imgs = [
                i for i in ours if i.startswith("kodim") and i[5:].isdigit() and int(i[5:]) <= 8
            ]
            if not imgs:
                continue
            paper = PAPER_TABLE6_PSNR[a][m]
            mean = {i: statistics.fmean(ours[i]) for i in imgs}  # over seeds
            k = {i: int(i[5:]) - 1 for i in imgs}  # index into the paper's Kodak 1-8 lists
            paired = [i for i in imgs if i in base] if m != "vanilla" else []
            out.append(
                _Gain(
                    a,
                    m,
                    imgs,
                    statistics.fmean(mean.values()),
                    statistics.fmean(paper[k[i]] for i in imgs),
                    [mean[i] - statistics.fmean(base[i]) for i in paired],
                    [paper[k[i]] - pv[k[i]] for i in paired],
                )
            )
    return out


def _paper_comparison(gains: Sequence[_Gain]) -> str:
    """Markdown: our best PSNR beside the paper's on the *same* images, and the gains."""
    lines = [
        "Best PSNR (dB), ours (this tier) vs the paper's Table 6 on the same images; "
        "gain = method − vanilla of the same arch (± std over images).",
        "",
        "| arch | method | images | ours | paper | ours gain | paper gain |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for g in gains:
        gain = gain_p = "—"
        if g.d_ours:
            gain = f"{statistics.fmean(g.d_ours):+.2f}"
            if len(g.d_ours) > 1:
                gain += f" ± {statistics.stdev(g.d_ours):.2f}"
            gain_p = f"{statistics.fmean(g.d_paper):+.2f}"
        lines.append(
            f"| {ARCH_LABEL.get(g.arch, g.arch)} | {METHOD_LABEL.get(g.method, g.method)} | "
            f"{len(g.images)} | {g.ours:.2f} | {g.paper:.2f} | {gain} | {gain_p} |"
        )
    return "\n".join(lines)


def _gain_figure(p: Plan, gains: Sequence[_Gain], path: Path, protocol: str) -> None:
    """``gains.png``: per-image gains over vanilla as bars, the paper's as diamonds."""
    from . import plots

    data: dict[str, dict[str, tuple[list[float], list[float]]]] = {}
    for g in gains:
        if g.d_ours:
            label = METHOD_LABEL.get(g.method, g.method).lstrip("+")
            data.setdefault(ARCH_LABEL.get(g.arch, g.arch), {})[label] = (g.d_ours, g.d_paper)
    if data:
        n = max(len(g.d_ours) for g in gains)
        plots.gain_bars(
            data,
            path,
            title=f"Best-PSNR gain over vanilla, tier {p.tier_name}, protocol {protocol}\n"
            f"bars: ours, mean ± std over up to {n} images; dots: images; "
            "diamonds: the paper on the same images",
            reference_label="paper (Table 6)",
        )


def _figures(p: Plan, cells: dict[tuple[str, str], dict[str, list[dict[str, Any]]]], out: Path):
    """One Figure-4-like PNG per (image, arch) with every finished method (first seed)."""
    from . import plots
    from .tasks.image_data import ImageData, parse_size

    for img in p.images:
        for a in p.archs:
            recons: dict[str, Any] = {}
            extra: dict[str, str] = {}
            size = None
            for m in p.methods:
                rs = [r for r in cells.get((a, m), {}).get(img.stem, []) if r["seed"] == p.seeds[0]]
                if not rs:
                    continue
                run = _run_dir(p.root, img.stem, a, m, rs[0]["lr"], rs[0]["seed"])
                recon = run / "reconstruction.png"
                if not recon.is_file():
                    continue
                cfg = json.loads((run / "config.json").read_text())
                size = cfg["size"]
                label = f"{ARCH_LABEL.get(a, a)}{'' if m == 'vanilla' else METHOD_LABEL[m]}"
                recons[label] = ImageData.from_file(recon).image
                extra[label] = f"{rs[0]['psnr_best']:.2f} dB"
            if not recons:
                continue
            target = ImageData.from_file(img, size=parse_size(size) if size else None).image
            plots.method_comparison(
                target,
                recons,
                out / f"{img.stem}_{a}.png",
                titles_extra=extra,
                title=f"{img.stem}, {ARCH_LABEL.get(a, a)}, tier {p.tier_name} (best PSNR)",
            )


# --------------------------------------------------------------------------------------------
# Running


def run_bench(cfg: BenchImageConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (resume) the benchmark, then aggregate. Returns :func:`aggregate`'s result."""
    if not cfg.aggregate_only:
        kw: dict[str, Any] = {}
        if cfg.executor == "ray":
            kw = {"address": cfg.ray_address or None, "num_cpus": cfg.cpus_per_run}
        executor = make_executor(cfg.executor, **kw)
        budget = cfg.max_runs
        t0 = time.perf_counter()
        for _ in range(2):  # fair: selection first, then the runs it decides
            p = plan(cfg)
            log(
                f"tier {p.tier_name}, protocol {cfg.protocol}: {len(p.specs)} runs planned"
                + (" (lr selection first)" if p.pending_selection else "")
            )
            report = run_sweep(
                p.specs, run_image, executor, progress=not cfg.quiet, max_runs=budget, log=log
            )
            log(report.summary())
            launched = len(report.by_status("done")) + len(report.by_status("failed"))
            if cfg.max_runs:
                budget = max(cfg.max_runs - launched, 0)
                if budget == 0 and launched:
                    break
            if not p.pending_selection:
                break
        log(f"sweep wall time {time.perf_counter() - t0:.0f} s")
    res = aggregate(cfg, figures=not cfg.no_figures)
    log(res["table"])
    log(
        f"{res['finished']}/{res['expected']} runs finished; tables in {res['dir']}"
        + (f"; {len(res['missing'])} missing (see missing.md)" if res["missing"] else "")
    )
    return res


def _cmd(ns: argparse.Namespace) -> int:
    from .cli import _build

    cfg = _build(BenchImageConfig, ns)
    try:
        run_bench(cfg)
    except ImportError as e:  # e.g. --executor ray without Ray: a one-line error, not a trace
        raise ValueError(str(e)) from None
    return 0


def register_cli(bench_sub: Any) -> None:
    """Add ``image`` to the ``iga bench`` subparsers (options from :class:`BenchImageConfig`)."""
    from .cli import _add_fields

    p = bench_sub.add_parser(
        "image",
        help="the paper's Kodak table: vanilla/FR/BN/IGA × relu/pe/siren (resumable)",
        description="Runs Kodak images × archs × methods × seeds (finished runs are skipped, "
        "failures recorded), then writes the paper-layout table, per-image tables, timing and "
        "Figure-4-like comparison figures.",
    )
    _add_fields(p, BenchImageConfig)
    p.set_defaults(func=_cmd)


if __name__ == "__main__":  # python -m iga.bench_image [options]: same as `iga bench image`
    import sys

    parser = argparse.ArgumentParser(prog="python -m iga.bench_image")
    sub = parser.add_subparsers(dest="bench", required=True)
    register_cli(sub)
    args = parser.parse_args(["image", *sys.argv[1:]])
    try:
        sys.exit(args.func(args))
    except (ValueError, TypeError, FileNotFoundError, ImportError) as e:
        print(f"iga bench image: error: {e}", file=sys.stderr)
        sys.exit(1)

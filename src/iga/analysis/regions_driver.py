"""The ``iga analyze regions`` driver: its options (:class:`RegionsOptions`), the figures, and
:func:`analyze_regions`, which trains each arch × method with a region probe
(:mod:`iga.analysis.regions_tasks`) and writes ``regions.png`` and ``regions.json``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from iga.analysis.inputs import analysis_image, image_label
from iga.analysis.regions_count import REGION_ARCHS, local_relations
from iga.analysis.regions_tasks import RegionFunctionTask, RegionImageTask
from iga.io import read_csv, save_figure, write_json
from iga.models.config import ModelConfig
from iga.tasks.base import fit
from iga.tasks.function1d.signal import SignalConfig, make_signal
from iga.tasks.function1d.task import AdjustConfig, FunctionFitConfig, NetConfig, delta_columns
from iga.tasks.image.data import parse_size
from iga.tasks.image.task import BUNDLED_IMAGE, ImageFitConfig
from iga.train import MethodConfig, TrainConfig

__all__ = ["RegionsOptions", "analyze_regions", "regions_figure"]


@dataclass
class RegionsOptions:
    """The options of ``iga analyze regions`` (each field is a flag)."""

    out: str = field(metadata={"help": "output directory (regions.png, regions.json, runs)"})
    dim: int = field(
        default=2,
        metadata={
            "help": "2: an image (regions on a fine pixel grid); 1: the 1D sum of sines of "
            "`iga fit function` (exact pieces along the line)",
            "choices": (1, 2),
        },
    )
    freqs: str = field(
        default="10,20,30,40,50,60",
        metadata={"help": "dim 1: frequencies c_j of the target Σ sin(c_j π t) on [-1, 1]"},
    )
    lr: float = field(default=1e-3, metadata={"help": "dim 1: Adam learning rate"})
    image: str | None = field(
        default=None, metadata={"help": "image to fit (default: the bundled Kodak image)"}
    )
    archs: list[str] = field(
        default_factory=lambda: list(REGION_ARCHS),
        metadata={"help": "ReLU archs to analyse (relu, pe)", "choices": REGION_ARCHS},
    )
    methods: list[str] = field(
        default_factory=lambda: ["vanilla", "iga"],
        metadata={"help": "methods to train (vanilla, iga)", "choices": ("vanilla", "iga")},
    )
    steps: int = field(default=1000, metadata={"help": "training steps per run", "min": 1})
    every: int = field(default=100, metadata={"help": "count the regions every k steps", "min": 1})
    size: str | None = field(
        default="96x64", metadata={"help": "resize to WIDTHxHEIGHT", "check": parse_size}
    )
    patch: int = field(default=4, metadata={"help": "IGA group = patch x patch pixels", "min": 1})
    end: int = field(default=20, metadata={"help": "IGA: top eigenvalues balanced", "min": 0})
    width: int = field(default=64, metadata={"help": "hidden features per layer", "min": 1})
    hidden_layers: int = field(default=3, metadata={"help": "hidden activations", "min": 1})
    window: int = field(
        default=8, metadata={"help": "box side (pixels) of the local densities", "min": 1}
    )
    oversample: int = field(
        default=4,
        metadata={
            "help": "count regions on a grid this many times finer than the pixels",
            "min": 1,
        },
    )
    seed: int = field(default=0, metadata={"help": "seed of the initial weights"})
    device: str = field(default="auto", metadata={"help": "auto (CUDA when present), cpu, cuda"})
    quiet: bool = field(default=False, metadata={"help": "no progress bars"})

    def __post_init__(self) -> None:
        from iga.train import _check_device

        if not str(self.out).strip():
            raise ValueError("--out is empty; name an output directory")
        if self.dim not in (1, 2):
            raise ValueError(f"--dim must be 1 or 2; got {self.dim}")
        if not self.lr > 0:
            raise ValueError(f"--lr must be > 0; got {self.lr}")
        if self.dim == 1:
            try:
                SignalConfig(freqs=self.freqs)  # names a bad frequency list
            except ValueError as e:
                if "Nyquist" not in str(e):
                    raise
                n = SignalConfig().points
                raise ValueError(
                    f"--freqs {self.freqs}: analyze regions fits {n} points on [-1, 1], so "
                    f"every frequency must be below {n // 2}; lower --freqs"
                ) from None
        for flag, values, allowed in (
            ("--archs", self.archs, REGION_ARCHS),
            ("--methods", self.methods, ("vanilla", "iga")),
        ):
            if not values:
                raise ValueError(f"{flag} is empty; name at least one of {', '.join(allowed)}")
            for v in values:
                if v not in allowed:
                    raise ValueError(
                        f"{flag}: {v!r} has no activation regions here; choose from "
                        f"{', '.join(allowed)}"
                    )
        if self.size is not None:
            parse_size(self.size)
        for flag, value, low in (
            ("--steps", self.steps, 1),
            ("--every", self.every, 1),
            ("--patch", self.patch, 1),
            ("--end", self.end, 0),
            ("--width", self.width, 1),
            ("--hidden-layers", self.hidden_layers, 1),
            ("--window", self.window, 1),
            ("--oversample", self.oversample, 1),
        ):
            if value < low:
                raise ValueError(f"{flag} must be >= {low}; got {value}")
        _check_device(self.device)

    def config_1d(self, arch: str, method: str) -> FunctionFitConfig:
        """The 1D run of one arch and method, into ``out/<arch>_<method>``."""
        return FunctionFitConfig(
            signal=SignalConfig(freqs=self.freqs),
            net=NetConfig(arch=arch, width=self.width, hidden_layers=self.hidden_layers),
            adjust=AdjustConfig(method=method, end=self.end, group=8),
            train=TrainConfig(
                steps=self.steps, lr=self.lr, decay_at=1.0, seed=self.seed, device=self.device
            ),
            eval_every=self.every,
            out=str(Path(self.out) / f"{arch}_{method}"),
            overwrite=True,
        )

    def config(self, arch: str, method: str) -> ImageFitConfig:
        """The run of one arch and method, into ``out/<arch>_<method>``."""
        return ImageFitConfig(
            path=self.image or BUNDLED_IMAGE,
            size=self.size,
            patch=self.patch,
            model=ModelConfig(arch=arch, width=self.width, hidden_layers=self.hidden_layers),
            method=MethodConfig(method=method, end=self.end),
            train=TrainConfig(steps=self.steps, seed=self.seed, device=self.device),
            out=str(Path(self.out) / f"{arch}_{method}"),
            overwrite=True,
        )


def regions_figure(
    runs: dict[str, dict[str, Any]], target: np.ndarray, path: Path, title: str
) -> Path:
    """Region counts against step (left), and per run the boundary maps at the first,
    middle and last probe and the last absolute error."""
    n = len(runs)
    fig = Figure(figsize=(14, 2.6 * n + 2.8), dpi=110, layout="constrained")
    grid = fig.add_gridspec(n + 1, 5)
    ax = fig.add_subplot(grid[0, :3])
    for label, r in runs.items():
        ax.plot(r["steps"], r["regions"], marker="o", markersize=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("connected linear regions")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8)
    tax = fig.add_subplot(grid[0, 3])
    tax.imshow(np.clip(target, 0, 1))
    tax.set_title("target", fontsize=9)
    tax.axis("off")
    for row, (label, r) in enumerate(runs.items(), start=1):
        k = len(r["steps"])
        for col, i in enumerate(sorted({0, k // 2, k - 1})):
            a = fig.add_subplot(grid[row, col])
            a.imshow(r["boundary"][i], cmap="gray_r", interpolation="nearest")
            a.set_title(f"{label}, step {r['steps'][i]}: {r['regions'][i]} regions", fontsize=8)
            a.axis("off")
        e = fig.add_subplot(grid[row, 3])
        e.imshow(r["abs_error"][-1], cmap="magma")
        e.set_title(f"|error| at step {r['steps'][-1]}", fontsize=8)
        e.axis("off")
        t = fig.add_subplot(grid[row, 4])
        t.axis("off")
        rel = r["relations"]
        t.text(
            0,
            0.5,
            f"density vs target detail: ρ = {rel['vs_target_detail']:.2f}\n"
            f"density vs error drop: ρ = {rel['vs_error_drop']:.2f}\n"
            f"best PSNR {r['psnr_best']:.2f} dB",
            fontsize=9,
            va="center",
        )
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def _analyze_1d(opts: RegionsOptions, say: Callable[[str], None]) -> dict[str, Any]:
    signal = make_signal(SignalConfig(freqs=opts.freqs))
    cols = delta_columns(signal.bins)
    coeffs = SignalConfig(freqs=opts.freqs).coefficients
    periods = max(coeffs)  # sin(c π t) on [-1, 1] has c periods
    task = RegionFunctionTask(opts.every)
    runs: dict[str, dict[str, Any]] = {}
    for arch in opts.archs:
        for method in opts.methods:
            cfg = opts.config_1d(arch, method)
            fit(task, cfg, progress=not opts.quiet, desc=f"{arch}/{method}")
            rows = [r for r in read_csv(Path(cfg.out) / "metrics.csv") if r.get("regions")]
            saved = np.load(Path(cfg.out) / "regions.npz")
            last = [r for r in read_csv(Path(cfg.out) / "metrics.csv") if r.get(cols[0])][-1]
            label = f"{arch}/{method}"
            off = saved["offsets"]
            runs[label] = {
                "steps": [int(r["step"]) for r in rows],
                "regions": [int(r["regions"]) for r in rows],
                "final_positions": saved["positions"][off[-2] : off[-1]],
                "delta_final": {c: float(last[c]) for c in cols},
                "pieces_per_period": int(rows[-1]["regions"]) / periods,
            }
            r = runs[label]
            say(
                f"{label}: {r['regions'][0]} -> {r['regions'][-1]} pieces "
                f"({r['pieces_per_period']:.1f} per period of the highest frequency); final "
                "Δ_k " + " ".join(f"{v:.2g}" for v in r["delta_final"].values())
            )
    out = Path(opts.out)
    fig = Figure(figsize=(12, 2.4 * len(runs) + 3), dpi=110, layout="constrained")
    grid = fig.add_gridspec(len(runs) + 1, 1)
    ax = fig.add_subplot(grid[0])
    for label, r in runs.items():
        ax.plot(r["steps"], r["regions"], marker="o", markersize=3, label=label)
    ax.axhline(4 * periods, color="k", linewidth=0.8, linestyle="--")
    ax.text(0, 4 * periods, " 4 pieces per period of the highest frequency", fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("linear pieces on [-1, 1]")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.25)
    t = signal.t.numpy()
    for i, (label, r) in enumerate(runs.items(), start=1):
        a = fig.add_subplot(grid[i])
        hist, edges = np.histogram(r["final_positions"], bins=64, range=(-1, 1))
        a.bar(edges[:-1], hist, width=edges[1] - edges[0], align="edge", alpha=0.4, color="C1")
        a.set_ylabel("breakpoints per bin", color="C1", fontsize=8)
        b = a.twinx()
        b.plot(t, signal.target.numpy().ravel(), color="0.6", linewidth=0.6)
        b.set_yticks([])
        a.set_title(
            f"{label}: {r['regions'][-1]} pieces at step {r['steps'][-1]} (breakpoint density; "
            "target in grey)",
            fontsize=9,
        )
    fig.suptitle(f"Linear pieces of ReLU networks along training: Σ sin(c π t), c = {opts.freqs}")
    save_figure(fig, out / "regions.png")
    record = {
        "options": asdict(opts),
        "runs": {
            k: {**{key: v[key] for key in v if key != "final_positions"}} for k, v in runs.items()
        },
    }
    write_json(out / "regions.json", record)
    return record


def analyze_regions(
    opts: RegionsOptions, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run ``iga analyze regions``: each arch × method with :class:`RegionImageTask` (or, with
    ``dim=1``, :class:`RegionFunctionTask`), then ``regions.png`` and ``regions.json`` in
    ``opts.out``; returns what the JSON holds."""
    say = log or (lambda _: None)
    if opts.dim == 1:
        return _analyze_1d(opts, say)
    image, data = analysis_image(opts.image, opts.size, opts.patch)
    n_groups = math.ceil(data.height / opts.patch) * math.ceil(data.width / opts.patch)
    if "iga" in opts.methods and opts.end >= n_groups:
        raise ValueError(
            f"--end {opts.end} must be smaller than the number of IGA groups ({n_groups}); "
            "lower --end or use a smaller --patch"
        )
    if opts.window * 2 > min(data.height, data.width):
        raise ValueError(
            f"--window {opts.window} smooths the {data.width}x{data.height} maps almost flat "
            "(the correlations would be undefined); use a --window of at most "
            f"{max(1, min(data.height, data.width) // 2)}"
        )
    target = data.image.detach().cpu().numpy()
    runs: dict[str, dict[str, Any]] = {}
    task = RegionImageTask(opts.every, opts.oversample)
    for arch in opts.archs:
        for method in opts.methods:
            cfg = opts.config(arch, method)
            summary = fit(task, cfg, progress=not opts.quiet, desc=f"{arch}/{method}")
            saved = np.load(Path(cfg.out) / "regions.npz")
            rows = [r for r in read_csv(Path(cfg.out) / "metrics.csv") if r.get("regions")]
            label = f"{arch}/{method}"
            runs[label] = {
                "steps": saved["steps"].tolist(),
                "regions": [int(r["regions"]) for r in rows],
                "patterns": [int(r["patterns"]) for r in rows],
                "boundary": saved["boundary"],
                "abs_error": saved["abs_error"],
                "psnr_best": summary["psnr_best"],
                "relations": local_relations(
                    saved["boundary"][-1],
                    target,
                    saved["abs_error"][0],
                    saved["abs_error"][-1],
                    opts.window,
                ),
            }
            r = runs[label]
            say(
                f"{label}: {r['regions'][0]} -> {r['regions'][-1]} regions "
                f"({r['patterns'][-1]} patterns); density vs detail ρ = "
                f"{r['relations']['vs_target_detail']:.2f}, vs error drop ρ = "
                f"{r['relations']['vs_error_drop']:.2f}; best PSNR {r['psnr_best']:.2f} dB"
            )
    out = Path(opts.out)
    regions_figure(
        runs,
        target,
        out / "regions.png",
        f"Activation regions, {Path(image).name} {data.width}x{data.height} (counted on a "
        f"{opts.oversample}x finer grid), width {opts.width}, {opts.hidden_layers} hidden layers",
    )
    record = {
        "options": asdict(opts),
        "image": image_label(image),
        "image_size": [data.width, data.height],
        "runs": {
            k: {key: v[key] for key in ("steps", "regions", "patterns", "psnr_best", "relations")}
            for k, v in runs.items()
        },
    }
    write_json(out / "regions.json", record)
    return record

"""Activation regions of ReLU INRs: where the network is one affine map, and how that changes.

A ReLU network is piecewise affine in its input: each on/off *activation pattern* of its
hidden units selects one affine map, and the set of inputs sharing a pattern is a linear
region. Lazzari & Liu ("Understanding the Spectral Bias of Coordinate Based MLPs Via Training
Dynamics", summarised in the project's reference notes, document 004) tie the spectral bias
of coordinate MLPs in low dimensions to these regions: a function with few regions in an
area cannot bend there, and positional encoding changes how many there are and where.

What is counted here, for an :class:`~iga.models.INR` of arch ``relu`` or ``pe`` (plain
``nn.ReLU`` activations only):

* **pattern** (:func:`activation_patterns`): one bit per hidden unit, ``z > 0``, at an input
  point. For ``pe`` the network sees ``γ(x)``, so a region is a set of *inputs* x with one
  pattern, on which the network is affine in ``γ(x)`` (not in x).
* **1D** (:func:`regions_1d`): the pieces of a segment: the patterns on a dense grid, a
  boundary wherever two neighbouring samples differ (located by bisection between them), and
  ``pieces = boundaries + 1``. Resolution limit: two boundaries inside one grid step whose
  patterns cancel are missed, and several boundaries in one step count once; bisection
  refines positions, it does not find missed pairs. The default grid (20001 points) is far
  finer than the regions of the networks studied here.
* **2D** (:func:`regions_2d`): patterns on a pixel grid; the number of distinct patterns,
  the number of connected regions (4-neighbour components of equal pattern, by
  ``scipy.sparse.csgraph.connected_components``), and the boundary map (pixels whose right
  or lower neighbour has another pattern). Regions smaller than a pixel are not resolved.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from scipy import ndimage, sparse, stats
from scipy.sparse.csgraph import connected_components
from torch import nn

from iga.io import atomic_open, read_csv, save_figure, write_json
from iga.models import INR
from iga.tasks.base import Fit, fit
from iga.tasks.function1d.task import (
    AdjustConfig,
    FunctionFitConfig,
    FunctionTask,
    NetConfig,
    SignalConfig,
    delta_columns,
    make_signal,
)
from iga.tasks.image.task import BUNDLED_IMAGE, ImageFitConfig, ImageTask, ModelConfig
from iga.tasks.image.data import image_coords, parse_size
from iga.train import MethodConfig, TrainConfig
from iga.analysis.spectrum import analysis_image, image_label

__all__ = [
    "REGION_ARCHS",
    "RegionCount",
    "RegionFunctionTask",
    "RegionImageTask",
    "RegionsOptions",
    "activation_patterns",
    "analyze_regions",
    "pattern_ids",
    "regions_1d",
    "regions_2d",
]

REGION_ARCHS = ("relu", "pe")


def _relu_parts(model: nn.Module) -> tuple[nn.Module, list[nn.Module]]:
    if not isinstance(model, INR):
        raise ValueError(
            f"activation regions need a plain ReLU INR (arch relu or pe); got a "
            f"{type(model).__name__} (FR/BN variants are not analysed)"
        )
    acts = [m for m in model.net if not isinstance(m, nn.Linear)]
    if not acts or not all(type(m) is nn.ReLU for m in acts):
        kinds = sorted({type(m).__name__ for m in acts})
        raise ValueError(
            f"activation regions need ReLU activations only (arch relu or pe); arch "
            f"{model.arch!r} has {', '.join(kinds) or 'none'}"
        )
    return model.encoding, list(model.net)


@torch.no_grad()
def activation_patterns(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The on/off pattern ``z > 0`` of every hidden ReLU unit at each row of ``x``:
    bool [N, total hidden units], layers in forward order.

    Raises:
        ValueError: the model is not a plain INR with ReLU activations only.
    """
    encoding, modules = _relu_parts(model)
    h = encoding(x)
    bits = []
    for m in modules:
        if isinstance(m, nn.ReLU):
            bits.append(h > 0)
        h = m(h)
    return torch.cat(bits, dim=1)


def pattern_ids(patterns: torch.Tensor) -> np.ndarray:
    """An integer id per row of a bool pattern matrix (equal rows, equal ids)."""
    packed = np.packbits(patterns.cpu().numpy(), axis=1)
    _, ids = np.unique(packed, axis=0, return_inverse=True)
    return ids.reshape(-1)


@dataclass
class RegionCount:
    """Regions of one network on one domain."""

    count: int
    """1D: pieces of the segment; 2D: connected regions on the pixel grid."""
    patterns: int
    """Distinct activation patterns seen."""
    boundaries: np.ndarray
    """1D: boundary positions (ascending); 2D: the bool boundary map [H, W]."""


def regions_1d(
    model: nn.Module, lo: float, hi: float, n: int = 20001, bisect: int = 30
) -> RegionCount:
    """Linear pieces of a 1D-input ReLU INR on ``[lo, hi]`` (see the module docstring)."""
    if not hi > lo or n < 2:
        raise ValueError(f"need lo < hi and n >= 2; got [{lo}, {hi}], n={n}")
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    x = torch.linspace(lo, hi, n, dtype=dtype, device=device)[:, None]
    pat = activation_patterns(model, x)
    change = (pat[1:] != pat[:-1]).any(dim=1).nonzero().squeeze(1)
    a, b = x[change, 0].clone(), x[change + 1, 0].clone()
    left = pat[change]
    for _ in range(bisect):
        mid = (a + b) / 2
        same = (activation_patterns(model, mid[:, None]) == left).all(dim=1)
        a = torch.where(same, mid, a)
        b = torch.where(same, b, mid)
    positions = ((a + b) / 2).cpu().double().numpy()
    return RegionCount(int(change.numel()) + 1, int(np.unique(pattern_ids(pat)).size), positions)


def regions_2d(model: nn.Module, coords: torch.Tensor, height: int, width: int) -> RegionCount:
    """Regions of a 2D-input ReLU INR on a ``height × width`` grid whose points are the
    row-major ``coords`` [H·W, 2] (e.g. an image's pixel centres)."""
    if coords.shape[0] != height * width:
        raise ValueError(f"coords has {coords.shape[0]} rows for a {width}x{height} grid")
    ids = pattern_ids(activation_patterns(model, coords)).reshape(height, width)
    right = ids[:, 1:] == ids[:, :-1]
    down = ids[1:, :] == ids[:-1, :]
    index = np.arange(height * width).reshape(height, width)
    rows = np.concatenate([index[:, :-1][right], index[:-1, :][down]])
    cols = np.concatenate([index[:, 1:][right], index[1:, :][down]])
    graph = sparse.coo_matrix(
        (np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(height * width,) * 2
    )
    n_regions, _ = connected_components(graph, directed=False)
    boundary = np.zeros((height, width), dtype=bool)
    boundary[:, :-1] |= ~right
    boundary[:-1, :] |= ~down
    return RegionCount(int(n_regions), int(np.unique(ids).size), boundary)


# --- along training ---------------------------------------------------------------------------


class RegionImageTask(ImageTask):
    """The image task with the activation regions of the current network logged every
    ``every`` steps, on a grid ``oversample`` times finer than the pixels along each axis
    (same [-1, 1]² domain): columns ``regions``, ``patterns`` and ``boundary_frac`` (share of
    boundary points) in metrics.csv, and every boundary map in ``regions.npz`` (arrays
    ``steps``, ``boundary`` [k, s·H, s·W] and ``abs_error`` [k, H, W], the mean absolute
    residual over channels), rewritten atomically at each probe."""

    def __init__(self, every: int, oversample: int = 4) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1; got {every!r}")
        if isinstance(oversample, bool) or not isinstance(oversample, int) or oversample < 1:
            raise ValueError(f"oversample must be an integer >= 1; got {oversample!r}")
        self.every = every
        self.oversample = oversample

    def setup(self, cfg: ImageFitConfig, device: torch.device) -> Fit:
        job = super().setup(cfg, device)
        _relu_parts(job.model)  # fail before training, not at the first probe
        data = self.data
        kept: dict[str, list[Any]] = {"steps": [], "boundary": [], "abs_error": []}
        out = Path(cfg.out)
        fh, fw = data.height * self.oversample, data.width * self.oversample
        fine = image_coords(fh, fw, device=data.coords.device, dtype=data.coords.dtype)

        def extra(step: int, pred: torch.Tensor) -> dict[str, Any]:
            res = regions_2d(job.model, fine, fh, fw)
            err = (pred - data.target).abs().mean(dim=1).reshape(data.height, data.width)
            kept["steps"].append(step)
            kept["boundary"].append(res.boundaries)
            kept["abs_error"].append(err.cpu().numpy().astype(np.float32))
            with atomic_open(out / "regions.npz") as f:
                np.savez_compressed(f, **{k: np.asarray(v) for k, v in kept.items()})
            return {
                "regions": res.count,
                "patterns": res.patterns,
                "boundary_frac": float(res.boundaries.mean()),
            }

        job.extra = extra
        job.extra_every = self.every
        job.resolved["regions_probe"] = {"every": self.every, "oversample": self.oversample}
        return job


class RegionFunctionTask(FunctionTask):
    """The 1D task (``iga fit function``, line coordinates) with the linear pieces of the
    current network over the sampled interval logged every ``every`` steps (column
    ``regions``) and the boundary positions in ``regions.npz`` (``steps``, ``positions``
    concatenated, ``offsets`` [k + 1]), rewritten atomically at each probe."""

    def __init__(self, every: int) -> None:
        super().__init__(plots=False)
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1; got {every!r}")
        self.every = every

    def setup(self, cfg: FunctionFitConfig, device: torch.device) -> Fit:
        if cfg.signal.coords != "line":
            raise ValueError("regions are counted along the line: use --coords line")
        job = super().setup(cfg, device)
        _relu_parts(job.model)
        lo, hi = cfg.signal.bounds
        deltas = job.extra
        assert deltas is not None
        kept: dict[str, list[Any]] = {"steps": [], "positions": []}
        out = Path(cfg.out)

        def extra(step: int, pred: torch.Tensor) -> dict[str, Any]:
            row = deltas(step, pred) if step % cfg.eval_every == 0 else {}
            if step % self.every:
                return row
            res = regions_1d(job.model, lo, hi)
            kept["steps"].append(step)
            kept["positions"].append(res.boundaries)
            offsets = np.cumsum([0] + [len(p) for p in kept["positions"]])
            with atomic_open(out / "regions.npz") as f:
                np.savez(
                    f,
                    steps=np.asarray(kept["steps"]),
                    positions=np.concatenate(kept["positions"]),
                    offsets=offsets,
                )
            return {**row, "regions": res.count}

        job.extra = extra
        job.extra_every = math.gcd(self.every, cfg.eval_every)
        job.log_every = job.extra_every
        job.columns = (*job.columns, "regions")
        job.resolved["regions_probe"] = {"every": self.every}
        return job


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(stats.spearmanr(a, b).statistic)


def local_relations(
    boundary: np.ndarray, target: np.ndarray, err0: np.ndarray, err1: np.ndarray, window: int
) -> dict[str, float]:
    """Spearman correlations, over pixels, of the local region density (share of boundary
    points in a ``window × window``-pixel box; a boundary map finer than the pixels is first
    averaged per pixel) with (a) the target's local high-frequency content (the box mean of
    ``|t − gauss(t, σ=1.5)|`` of the grey target) and (b) the local error reduction (box mean
    of ``|r_start| − |r_end|``)."""
    h, w = err0.shape
    sy, sx = boundary.shape[0] // h, boundary.shape[1] // w
    per_pixel = boundary[: h * sy, : w * sx].reshape(h, sy, w, sx).mean(axis=(1, 3))
    density = ndimage.uniform_filter(per_pixel.astype(np.float64), window)
    grey = target.mean(axis=-1) if target.ndim == 3 else target
    detail = ndimage.uniform_filter(np.abs(grey - ndimage.gaussian_filter(grey, 1.5)), window)
    gain = ndimage.uniform_filter(err0 - err1, window)
    return {
        "vs_target_detail": _spearman(density, detail),
        "vs_error_drop": _spearman(density, gain),
    }


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

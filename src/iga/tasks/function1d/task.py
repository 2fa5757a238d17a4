"""Fitting a 1D sum of sines (paper Sec. 5, Appendix C): MSE and per-frequency relative errors.

The target is ``g(t) = Σ_j sin(c_j π t)`` sampled on N points of a domain; the network sees
either ``x = t`` (``coords="line"``, endpoints included) or the unit circle
``x = (cos t, sin t)`` (``coords="circle"``, right endpoint excluded since it would repeat the
first input). Training is full batch. Every ``eval_every`` steps the relative error at each
target frequency is logged,

    Δ_k = |F[g](k) − F[f](k)| / |F[g](k)|,

with F the discrete Fourier transform of the N samples and k the DFT bin nearest to the
frequency (``bin = cycles over the sampled domain``; the paper's "40 Hz" is bin 40).

Gradient adjustments (``AdjustConfig.method``):

``vanilla``  plain MSE gradient (S = I).
``ntk``      S from the *exact* NTK of :class:`TwoLayerReLU` on the circle, computed once.
``entk``     S̃ from the full eNTK of all N points (groups of one point), every ``every`` steps.
``iga``      S̃_e: one representative per group of ``group`` consecutive points (the paper's IGA).

A run directory holds ``config.json``, ``metrics.csv`` (every ``eval_every`` steps: MSE, lr,
time, ``delta_<bin>`` per frequency, eNTK condition numbers when logged), ``summary.json``
(written last) and, unless disabled, ``mse.png``, ``delta.png`` (Δ_k heatmap) and ``fit.png``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from iga.adjusters import FixedAdjustment
from iga.core import IGA, balance, ntk_two_layer_relu
from iga.core import groups as groups_mod
from iga.io import CSVAppender, save_figure
from iga.models import ARCH_OPTIONS, build
from iga.models.relu2 import TwoLayerReLU
from iga.tasks.base import Fit, fit
from iga.tasks.base import config_from_dict as _config_from_dict
from iga.train import TrainConfig, TrainResult, build_iga

__all__ = [
    "ADJUST_METHODS",
    "AdjustConfig",
    "FunctionFitConfig",
    "FunctionTask",
    "NetConfig",
    "Signal",
    "SignalConfig",
    "build_adjuster",
    "build_net",
    "config_from_dict",
    "delta_heatmaps",
    "dft_bins",
    "fit_function",
    "make_signal",
    "mse_curves",
    "relative_errors",
]

ADJUST_METHODS = ("vanilla", "ntk", "entk", "iga")
COORDS = ("line", "circle")
NET_ARCHS = ("arora", *ARCH_OPTIONS)
"""The archs ``--arch`` accepts when this module is loaded (see :func:`net_archs`)."""


def net_archs() -> tuple[str, ...]:
    """``arora`` (Exp. 1's two-layer ReLU net) and every arch of :func:`iga.models.build`,
    including those registered since import."""
    return ("arora", *ARCH_OPTIONS)


STAT_KEYS = ("lambda_max", "lambda_ref", "cond_before", "cond_after")

_DPI = 110


# --- configs ----------------------------------------------------------------------------------


def _parse_number(text: str) -> float:
    """``"2"``, ``"-0.5"``, ``"pi"``, ``"2pi"``, ``"-1.5pi"`` -> float."""
    t = text.strip().lower().replace(" ", "")
    m = re.fullmatch(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)?(\*?pi)?", t)
    if not t or m is None or (m.group(1) is None and m.group(2) is None):
        raise ValueError(f"cannot read {text!r} as a number; write e.g. 0.5, -1 or 2pi")
    value = float(m.group(1)) if m.group(1) not in (None, "+", "-") else 1.0
    return value * math.pi if m.group(2) else value


def _parse_list(text: str, name: str) -> list[float]:
    items = [s for s in text.split(",") if s.strip()]
    if not items:
        raise ValueError(f"{name} is empty; give comma-separated numbers, e.g. 20,40,60")
    try:
        return [_parse_number(s) for s in items]
    except ValueError as e:
        raise ValueError(f"{name} {text}: {e}") from None


@dataclass
class SignalConfig:
    """The target ``Σ_j sin(c_j π t)`` on N samples of a domain."""

    freqs: str = field(
        default="10,20,30,40,50,60",
        metadata={"help": "comma-separated c_j of the target Σ sin(c_j·π·t)"},
    )
    domain: str = field(
        default="-1,1", metadata={"help": "sampled interval of t as 'lo,hi' (e.g. 0,2pi)"}
    )
    points: int = field(default=2048, metadata={"help": "number of samples N"})
    coords: str = field(
        default="line",
        metadata={"help": "network input: line (x = t) or circle (x = (cos t, sin t))"},
    )

    def __post_init__(self) -> None:
        if self.coords not in COORDS:
            raise ValueError(f"unknown --coords {self.coords!r}; choose one of {', '.join(COORDS)}")
        if isinstance(self.points, bool) or not isinstance(self.points, int) or self.points < 8:
            raise ValueError(f"--points must be an int >= 8; got {self.points!r}")
        lo_hi = _parse_list(self.domain, "--domain")
        if len(lo_hi) != 2 or not lo_hi[0] < lo_hi[1]:
            raise ValueError(f"--domain must be 'lo,hi' with lo < hi; got {self.domain!r}")
        dft_bins(self)  # the frequencies: positive, on DFT bins, below Nyquist, distinct

    @property
    def coefficients(self) -> list[float]:
        """The c_j (target term j is sin(c_j π t))."""
        return _parse_list(self.freqs, "--freqs")

    @property
    def bounds(self) -> tuple[float, float]:
        lo, hi = _parse_list(self.domain, "--domain")
        return lo, hi


@dataclass
class NetConfig:
    """The network: an INR from :mod:`iga.models` or the two-layer ``arora`` network."""

    arch: str = field(
        default="relu", metadata={"help": f"{'|'.join(NET_ARCHS)} (arora: Exp. 1 network)"}
    )
    width: int = field(default=256, metadata={"help": "hidden features (arora: neurons m)"})
    hidden_layers: int = field(
        default=4, metadata={"help": "hidden activations (linears = this + 1); ignored by arora"}
    )
    omega0: float = field(default=5.0, metadata={"help": "ω₀ of siren/finer/wire activations"})

    def __post_init__(self) -> None:
        if self.arch not in net_archs():
            raise ValueError(f"unknown arch {self.arch!r}; choose one of {', '.join(net_archs())}")
        if self.width < 1 or self.hidden_layers < 1:
            raise ValueError(
                f"width ({self.width}) and hidden_layers ({self.hidden_layers}) must be >= 1"
            )


@dataclass
class AdjustConfig:
    """How the gradient is adjusted (see the module docstring)."""

    method: str = field(default="iga", metadata={"help": "vanilla|ntk|entk|iga"})
    end: int = field(default=8, metadata={"help": "number of top eigenvalues balanced"})
    start: int = field(default=0, metadata={"help": "first balanced eigenvalue index"})
    ref: str = field(
        default="end",
        metadata={"help": "balance to λ_end ('end', Adam) or λ_start ('start', SGD, Eq. 5)"},
    )
    group: int = field(
        default=8, metadata={"help": "iga: consecutive points per group (entk uses 1)"}
    )
    every: int = field(default=1, metadata={"help": "entk/iga: recompute S every k steps"})
    sampling: str = field(
        default="max_residual", metadata={"help": "iga: representative per group"}
    )

    def __post_init__(self) -> None:
        if self.method not in ADJUST_METHODS:
            raise ValueError(
                f"unknown method {self.method!r}; choose one of {', '.join(ADJUST_METHODS)}"
            )
        if self.group < 1 or self.every < 1:
            raise ValueError(f"group ({self.group}) and every ({self.every}) must be >= 1")

    @property
    def group_size(self) -> int:
        """Points per group actually used (1 for ``entk`` and ``ntk``)."""
        return self.group if self.method == "iga" else 1


def _default_train() -> TrainConfig:
    # The paper's Exp. 2: Adam, constant lr 5e-5, 10000 steps (decay_at=1: never decays).
    return TrainConfig(steps=10000, lr=5e-5, decay_at=1.0, optimizer="adam", spectrum_every=500)


@dataclass
class FunctionFitConfig:
    """Everything that defines one 1D fitting run."""

    signal: SignalConfig = field(default_factory=SignalConfig)
    net: NetConfig = field(default_factory=NetConfig)
    adjust: AdjustConfig = field(default_factory=AdjustConfig)
    train: TrainConfig = field(default_factory=_default_train)
    eval_every: int = field(
        default=10, metadata={"help": "log Δ_k (and a metrics.csv row) every k steps"}
    )
    out: str = field(default="runs/function", metadata={"help": "run directory"})
    overwrite: bool = field(default=False, metadata={"help": "replace a run already in --out"})

    def __post_init__(self) -> None:
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be >= 1; got {self.eval_every}")
        if self.train.lr is None:
            raise ValueError("train.lr must be set for 1D fits (e.g. --lr 5e-5)")
        if self.adjust.method == "ntk" and (
            self.net.arch != "arora" or self.signal.coords != "circle"
        ):
            raise ValueError(
                "method 'ntk' needs the exact NTK: use --arch arora with --coords circle"
            )


def config_from_dict(data: Mapping[str, Any]) -> FunctionFitConfig:
    """Rebuild a :class:`FunctionFitConfig` from its ``asdict`` / JSON form (missing keys keep
    their defaults; unknown keys are refused)."""
    return _config_from_dict(FunctionFitConfig, data)


# --- the signal -------------------------------------------------------------------------------


@dataclass
class Signal:
    """Sampled target and network inputs."""

    t: torch.Tensor
    """[N] sample positions in the domain."""
    inputs: torch.Tensor
    """[N, 1] (line) or [N, 2] (circle) network inputs."""
    target: torch.Tensor
    """[N, 1] target values."""
    bins: list[int]
    """DFT bin of each target frequency, ascending."""


BIN_TOLERANCE = 1e-6
"""How far (in bins) a line signal's cycle count may be from a whole number (round-off)."""


def dft_bins(cfg: SignalConfig) -> list[int]:
    """The DFT bin of each target frequency, in ascending order.

    sin(c π t) has c/2 cycles per unit of t. With sample spacing h the N-point DFT bin k
    sits at k/(N h) cycles per unit, so the bin is ``c/2 · N h`` rounded.

    Frequencies must be positive (sin(−cπt) = −sin(cπt) would be relabelled), below Nyquist
    and in distinct bins. With ``coords="line"`` each must also make a whole number of cycles
    over the domain, ``c·(hi − lo)/2`` (within :data:`BIN_TOLERANCE`), so that Δ_k is read at
    the bin that holds it rather than at a neighbour of an in-between frequency. On the
    circle, frequencies between bins are read at the nearest bin: the paper's Exp. 1 uses
    0.4, 0.8, 1.6, 3.2 on [0, 2π), which are not whole cycles (bins 1, 3, 5, 10).
    """
    lo, hi = cfg.bounds
    n = cfg.points
    coefficients = cfg.coefficients
    negative = [c for c in coefficients if c <= 0]
    if negative:
        raise ValueError(
            f"--freqs {cfg.freqs}: frequencies must be positive; got {negative[0]:g} "
            "(sin(-cπt) = -sin(cπt): drop the sign)"
        )
    if cfg.coords == "line":
        for c in coefficients:
            cycles = c * (hi - lo) / 2
            if abs(cycles - round(cycles)) > BIN_TOLERANCE * max(1.0, cycles):
                k = math.floor(cycles)
                raise ValueError(
                    f"--freqs {cfg.freqs}: {c:g} makes {cycles:.4g} cycles over --domain "
                    f"{cfg.domain}, between DFT bins {k} and {k + 1}; choose frequencies with "
                    f"whole cycles (c·(hi-lo)/2 an integer, e.g. {2 * max(k, 1) / (hi - lo):g})"
                )
    h = (hi - lo) / (n if cfg.coords == "circle" else n - 1)
    bins = [round(c / 2 * n * h) for c in coefficients]
    if any(b < 1 for b in bins):
        raise ValueError(
            f"--freqs {cfg.freqs}: a frequency is below one cycle over the domain; "
            "raise it or widen --domain"
        )
    if any(b >= n // 2 for b in bins):
        raise ValueError(
            f"--freqs {cfg.freqs}: a frequency is at or above Nyquist for {n} points; "
            "use more --points"
        )
    if len(set(bins)) != len(bins):
        raise ValueError(
            f"--freqs {cfg.freqs}: frequencies fall into the same DFT bins {bins}; "
            "separate them more"
        )
    return sorted(bins)


def make_signal(cfg: SignalConfig, dtype: torch.dtype = torch.float32) -> Signal:
    """Sample the target and build the network inputs (see the module docstring)."""
    lo, hi = cfg.bounds
    n = cfg.points
    t64 = (
        lo + (hi - lo) * torch.arange(n, dtype=torch.float64) / n
        if cfg.coords == "circle"
        else torch.linspace(lo, hi, n, dtype=torch.float64)
    )
    y = sum(torch.sin(c * math.pi * t64) for c in cfg.coefficients)
    assert isinstance(y, torch.Tensor)
    if cfg.coords == "circle":
        x = torch.stack([torch.cos(t64), torch.sin(t64)], dim=1)
    else:
        x = t64[:, None]
    return Signal(t64.to(dtype), x.to(dtype), y[:, None].to(dtype), dft_bins(cfg))


def relative_errors(pred: torch.Tensor, target: torch.Tensor, bins: Sequence[int]) -> torch.Tensor:
    """Δ_k = |F[target](k) − F[pred](k)| / |F[target](k)| for each DFT bin k (float64 [K]).

    ``pred`` and ``target`` are [N] or [N, 1] samples; F is the N-point DFT.
    """
    p = pred.detach().reshape(-1).to("cpu", torch.float64)
    g = target.detach().reshape(-1).to("cpu", torch.float64)
    if p.shape != g.shape:
        raise ValueError(
            f"pred has {p.numel()} samples but target {g.numel()}; pass the same N points"
        )
    idx = torch.as_tensor(list(bins), dtype=torch.long)
    if idx.numel() and (idx.min() < 0 or idx.max() > g.numel() // 2):
        raise ValueError(f"bins {list(bins)} must lie in [0, {g.numel() // 2}] for N={g.numel()}")
    G = torch.fft.rfft(g)[idx]
    R = torch.fft.rfft(g - p)[idx]
    if (G.abs() == 0).any():
        raise ValueError("the target has no energy at some requested bin; choose other bins")
    return R.abs() / G.abs()


# --- networks and adjusters -------------------------------------------------------------------


def build_net(cfg: NetConfig, in_features: int, seed: int) -> nn.Module:
    """The network of ``cfg`` for ``in_features`` inputs, initialised from ``seed``."""
    if cfg.arch == "arora":
        gen = torch.Generator().manual_seed(seed)
        return TwoLayerReLU(in_features, cfg.width, gen)
    opts = {"omega0": cfg.omega0} if "omega0" in ARCH_OPTIONS[cfg.arch] else {}
    return build(cfg.arch, in_features, 1, cfg.width, cfg.hidden_layers, seed=seed, **opts)


def build_adjuster(
    cfg: AdjustConfig, model: nn.Module, signal: Signal, seed: int
) -> IGA | FixedAdjustment | None:
    """The adjuster of ``cfg`` (None for vanilla); validates ``end`` against the groups."""
    n_points = signal.inputs.shape[0]
    if cfg.method == "vanilla":
        return None
    groups = groups_mod.grid((n_points,), cfg.group_size)
    if cfg.method == "ntk":
        K = ntk_two_layer_relu(signal.inputs.to(torch.float64))
        if cfg.end >= n_points:
            raise ValueError(f"end={cfg.end} must be smaller than N={n_points}; lower end")
        return FixedAdjustment(balance(K, cfg.end, cfg.start, cfg.ref), groups)
    return build_iga(model, groups, cfg, seed)


# --- figures ----------------------------------------------------------------------------------


def mse_curves(
    panels: Mapping[str, Mapping[str, tuple[Sequence[int], Sequence[float]]]],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """MSE (log scale) against step: one subplot per panel, one line per run label."""
    if not panels:
        raise ValueError("mse_curves needs at least one panel; pass {panel: {label: curve}}")
    n = len(panels)
    fig = Figure(figsize=(4.2 * n, 3.4), dpi=_DPI, layout="constrained")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (name, curves) in zip(axes, panels.items(), strict=True):
        for label, (steps, values) in curves.items():
            y = np.asarray(values, dtype=np.float64)
            ax.plot(np.asarray(steps), np.where(y > 0, y, np.nan), label=label, linewidth=1.3)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("MSE")
        ax.set_title(name, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    return save_figure(fig, path)


def delta_heatmaps(
    grid: Sequence[Sequence[tuple[str, Sequence[int], np.ndarray] | None]],
    bins: Sequence[int],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Δ_k heatmaps (frequency × step), one shared colour scale [0, 1] (darker = worse).

    ``grid[row][col]`` is ``(label, steps, deltas[len(steps), len(bins)])`` or None for an
    empty cell. Values above 1 (early in training) are shown as 1, like the paper's figures.
    """
    rows = len(grid)
    cols = max((len(r) for r in grid), default=0)
    if rows == 0 or cols == 0:
        raise ValueError("delta_heatmaps needs at least one cell")
    fig = Figure(
        figsize=(3.0 * cols + 0.8, 1.0 + 0.25 * len(bins) * rows + 0.35 * rows),
        dpi=_DPI,
        layout="constrained",
    )
    axes = fig.subplots(rows, cols, squeeze=False)
    mappable = None
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            cell = grid[r][c] if c < len(grid[r]) else None
            if cell is None:
                ax.set_axis_off()
                continue
            label, steps, deltas = cell
            d = np.clip(np.asarray(deltas, dtype=np.float64).T, 0.0, 1.0)
            s = np.asarray(steps)
            mappable = ax.imshow(
                d,
                aspect="auto",
                origin="lower",
                cmap="magma_r",
                vmin=0.0,
                vmax=1.0,
                interpolation="nearest",
                extent=(float(s[0]), float(s[-1]), -0.5, len(bins) - 0.5),
            )
            ax.set_yticks(range(len(bins)), [str(b) for b in bins], fontsize=7)
            ax.set_title(label, fontsize=8)
            ax.tick_params(axis="x", labelsize=7)
            if c == 0:
                ax.set_ylabel("DFT bin k", fontsize=8)
            if r == rows - 1:
                ax.set_xlabel("step", fontsize=8)
    if mappable is not None:
        fig.colorbar(mappable, ax=axes.ravel().tolist(), label="Δ_k", shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def _fit_plot(signal: Signal, pred: torch.Tensor, path: Path, title: str) -> Path:
    fig = Figure(figsize=(7.0, 2.8), dpi=_DPI, layout="constrained")
    ax = fig.add_subplot()
    t = signal.t.numpy()
    ax.plot(t, signal.target[:, 0].numpy(), label="target", linewidth=1.0, color="0.3")
    ax.plot(t, pred[:, 0].cpu().numpy(), label="network", linewidth=0.9, color="tab:red")
    ax.set_xlabel("t")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


# --- a run ------------------------------------------------------------------------------------


def delta_columns(bins: Sequence[int]) -> list[str]:
    """metrics.csv column name of each bin's Δ_k."""
    return [f"delta_{b}" for b in bins]


class FunctionTask:
    """1D fitting on the task contract (:mod:`iga.tasks.base`)."""

    name: ClassVar[str] = "function"

    def __init__(self, plots: bool = True) -> None:
        self.plots = plots

    def method(self, cfg: FunctionFitConfig) -> AdjustConfig:
        return cfg.adjust

    def lr(self, cfg: FunctionFitConfig) -> float:
        return float(cfg.train.lr)  # type: ignore[arg-type]

    def setup(self, cfg: FunctionFitConfig, device: torch.device) -> Fit:
        signal = make_signal(cfg.signal)
        model = build_net(cfg.net, signal.inputs.shape[1], cfg.train.seed).to(device)
        # vanilla: None; ntk: a fixed S; entk/iga: IGA on groups of 1 or ``group`` points.
        adjuster = build_adjuster(cfg.adjust, model, signal, cfg.train.seed)
        self.signal = signal
        bins = signal.bins
        cols = delta_columns(bins)
        target = signal.target.to(device)

        def extra(step: int, pred: torch.Tensor) -> dict[str, Any]:
            d = relative_errors(pred, target, bins)
            return dict(zip(cols, d.tolist(), strict=True))

        return Fit(
            model=model,
            inputs=signal.inputs,
            target=signal.target,
            adjuster=adjuster,
            score=lambda p, t: -((p - t) ** 2).mean(),
            score_name="neg_mse",
            extra=extra,
            extra_every=cfg.eval_every,
            log_every=cfg.eval_every,
            columns=("step", "mse", "lr", "time", *cols, *STAT_KEYS),
            groups_flag="--group",
            resolved={
                "bins": bins,
                "n_groups": signal.inputs.shape[0] // cfg.adjust.group_size
                if cfg.adjust.method != "vanilla"
                else None,
                "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
            },
        )

    def evaluate(
        self, cfg: FunctionFitConfig, fit: Fit, result: TrainResult, out: Path
    ) -> dict[str, Any]:
        signal, model = self.signal, fit.model
        bins = signal.bins
        cols = delta_columns(bins)
        device = next(model.parameters()).device
        inputs, target = signal.inputs.to(device), signal.target.to(device)
        with torch.no_grad():
            final_pred = model(inputs).detach()
        mse_final = float(((final_pred - target) ** 2).mean())
        delta_final = relative_errors(final_pred, target, bins).tolist()
        # The state after the last step, as one more metrics.csv row.
        last = {"step": result.steps_done, "mse": mse_final, "lr": "", "time": result.seconds}
        last.update(dict(zip(cols, delta_final, strict=True)))
        with CSVAppender(out / "metrics.csv") as log:
            log.write(last)

        logged = [r for r in result.history if cols[0] in r]
        reach: dict[str, int | None] = {}
        for b, c in zip(bins, cols, strict=True):
            reach[str(b)] = next((r["step"] for r in logged if r[c] < 0.1), None)
        if self.plots:
            label = f"{cfg.net.arch}/{cfg.adjust.method}"
            steps = [r["step"] for r in result.history]
            mse_curves(
                {label: {label: (steps, [r["mse"] for r in result.history])}}, out / "mse.png"
            )
            heat = np.array([[r[c] for c in cols] for r in logged])
            delta_heatmaps([[(label, [r["step"] for r in logged], heat)]], bins, out / "delta.png")
            _fit_plot(signal, final_pred.cpu(), out / "fit.png", f"{label}: MSE {mse_final:.3g}")
        return {
            "arch": cfg.net.arch,
            "width": cfg.net.width,
            "method": cfg.adjust.method,
            "end": cfg.adjust.end if cfg.adjust.method != "vanilla" else 0,
            "group": cfg.adjust.group_size if cfg.adjust.method != "vanilla" else None,
            "bins": bins,
            "mse_final": mse_final,
            "delta_final": dict(zip((str(b) for b in bins), delta_final, strict=True)),
            "reach_0.1": reach,
        }


def fit_function(
    cfg: FunctionFitConfig,
    progress: bool = True,
    desc: str = "",
    plots: bool = True,
    resume: bool | str = False,
) -> dict[str, Any]:
    """Run one 1D fit into ``cfg.out``; returns the summary (also written to summary.json).

    The summary holds ``mse_final``, ``delta_final`` ({bin: Δ_k} after the last step),
    ``reach_0.1`` ({bin: first logged step with Δ_k < 0.1, or None}), timings and the
    frequency bins. ``resume``: see :func:`iga.tasks.base.fit`.

    Raises:
        TrainingDiverged: after writing the outputs of the best step before the divergence.
    """
    return fit(FunctionTask(plots), cfg, progress=progress, desc=desc, resume=resume)

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

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from iga.adjusters import FixedAdjustment
from iga.core import IGA, balance, ntk_two_layer_relu
from iga.core import groups as groups_mod
from iga.io import CSVAppender, save_torch
from iga.models import ARCH_OPTIONS, build
from iga.models.relu2 import TwoLayerReLU
from iga.tasks.base import Fit, fit
from iga.tasks.base import config_from_dict as _config_from_dict
from iga.tasks.common import fresh_facts, fresh_options
from iga.tasks.function1d.figures import _fit_plot, delta_heatmaps, mse_curves
from iga.tasks.function1d.signal import (
    Signal,
    SignalConfig,
    dft_bins,
    make_signal,
    relative_errors,
)
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
    "fresh_choice",
    "make_signal",
    "mse_curves",
    "relative_errors",
]

ADJUST_METHODS = ("vanilla", "ntk", "entk", "iga")
NET_ARCHS = ("arora", *ARCH_OPTIONS)
"""The archs ``--arch`` accepts when this module is loaded (see :func:`net_archs`)."""


def net_archs() -> tuple[str, ...]:
    """``arora`` (Exp. 1's two-layer ReLU net) and every arch of :func:`iga.models.build`,
    including those registered since import."""
    return ("arora", *ARCH_OPTIONS)


STAT_KEYS = ("lambda_max", "lambda_ref", "cond_before", "cond_after")


# --- configs ----------------------------------------------------------------------------------


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
    options: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "arch option, e.g. weight_scale=2 (every arch but arora), pe_levels=6 "
            "(pe), first_omega0=30 (siren/finer: the first layer's ω₀)"
        },
    )
    fresh: str = field(
        default="",
        metadata={
            "help": "FreSh (ICLR 2025): before training, choose siren/finer's first_omega0 or "
            "pe's pe_levels whose untrained output spectrum is closest to the signal's 1-D "
            "spectrum; 'auto' (ω₀ 10…200, L 1…10) or a list such as 10,30,60"
        },
    )

    def __post_init__(self) -> None:
        if self.arch not in net_archs():
            raise ValueError(f"unknown arch {self.arch!r}; choose one of {', '.join(net_archs())}")
        if self.width < 1 or self.hidden_layers < 1:
            raise ValueError(
                f"width ({self.width}) and hidden_layers ({self.hidden_layers}) must be >= 1"
            )
        if self.arch == "arora" and (self.options or self.fresh):
            flag = "--opt" if self.options else "--fresh"
            raise ValueError(f"{flag} needs an INR arch; arora (Exp. 1's network) has no options")
        if self.arch == "arora":
            return
        from iga.models import check_options

        if "omega0" in self.options:
            raise ValueError("--opt omega0: set it with --omega0, not --opt")
        check_options(self.options, self.arch, "vanilla")


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


# --- networks and adjusters -------------------------------------------------------------------


def build_net(
    cfg: NetConfig, in_features: int, seed: int, fresh: Mapping[str, object] | None = None
) -> nn.Module:
    """The network of ``cfg`` for ``in_features`` inputs, initialised from ``seed``, with
    ``--opt`` options and ``fresh``, FreSh's choice (:func:`fresh_choice`, or the one a run
    recorded)."""
    if cfg.arch == "arora":
        gen = torch.Generator().manual_seed(seed)
        return TwoLayerReLU(in_features, cfg.width, gen)
    opts = {"omega0": cfg.omega0} if "omega0" in ARCH_OPTIONS[cfg.arch] else {}
    opts.update({**cfg.options, **(fresh or {})})
    return build(cfg.arch, in_features, 1, cfg.width, cfg.hidden_layers, seed=seed, **opts)


def fresh_choice(cfg: FunctionFitConfig, signal: Signal) -> tuple[dict[str, object], Any]:
    """FreSh's choice for ``cfg``'s network on ``signal``'s N samples (their 1-D spectrum,
    :func:`iga.models.fresh.signal_spectrum`: all bins), ``({param: value}, FreshChoice)``;
    ``({}, None)`` without ``--fresh``."""
    width = int(signal.inputs.shape[1])
    return fresh_options(
        cfg.net,
        cfg.train.seed,
        asdict(cfg.signal),
        lambda: (signal.inputs, signal.target, (int(signal.inputs.shape[0]),)),
        lambda extra, seed: build_net(cfg.net, width, seed, extra),
    )


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
        chosen, self.fresh = fresh_choice(cfg, signal)
        model = build_net(cfg.net, signal.inputs.shape[1], cfg.train.seed, chosen).to(device)
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
                **fresh_facts(self.fresh)[0],
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
        save_torch(out / "best.pt", result.best_state)
        save_torch(out / "final.pt", result.final_state)

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
            **fresh_facts(self.fresh)[1],
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

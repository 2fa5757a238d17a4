"""The eNTK spectrum of a model on a set of points, its summary statistics, and architecture
comparisons at initialisation.

The kernel is :func:`iga.entk` (``K = J Jᵀ`` of ``g = Σ_c f_c / sqrt(C)``) evaluated on one
representative point per group, the same matrix IGA balances during training. Its spectrum
governs how fast each eigen-direction of the residual decays under gradient descent, so a
spread-out spectrum means some directions are learned orders of magnitude more slowly.

Statistics (:func:`eigenvalue_stats`) on the eigenvalues λ_1 ≥ … ≥ λ_n of a kernel:

``condition``
    λ_max / λ_min over the *positive* eigenvalues (IGA's logged ``cond_before`` with the
    default ``rtol=0``).
``variance_normalised``
    Var(λ) / mean(λ)², the squared coefficient of variation of the eigenvalues. Ou & Zhuang
    (2025, "Understanding NTK Variance in Implicit Neural Representations", as summarised in
    the project's reference notes) explain PE, spherical normalisation and Hadamard modulation
    as reductions of NTK eigenvalue variance. The raw variance grows with the kernel's overall
    scale (which an arch's ω₀ or a parameterisation changes freely), so it is divided by the
    squared mean to compare kernels of different scales. Equivalently
    ``n Σλ² / (Σλ)² − 1 = n ‖K‖_F² / tr(K)² − 1``.
``effective_rank``
    exp of the Shannon entropy of p_i = λ_i / Σλ (Roy & Vetterli, 2007): n for a flat
    spectrum, 1 when one eigenvalue holds all the trace.

The points the kernel is taken on (patch centres, trained checkpoints) are chosen in
:mod:`iga.analysis.spectrum_points`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from iga.core import balance, entk
from iga.models import ARCHS, BNINR, build

__all__ = [
    "STAT_KEYS",
    "SpectrumResult",
    "arch_spec",
    "compare_archs",
    "eigenvalue_stats",
    "kernel_spectrum",
]

STAT_KEYS = (
    "lambda_max",
    "lambda_min",
    "condition",
    "variance_normalised",
    "effective_rank",
    "n_positive",
)
"""The keys of :func:`eigenvalue_stats`, in order."""


def _as_float64(eigs: Any) -> np.ndarray:
    if isinstance(eigs, torch.Tensor):
        return eigs.detach().cpu().to(torch.float64).numpy().ravel()
    return np.asarray(eigs, dtype=np.float64).ravel()


def eigenvalue_stats(
    eigs: torch.Tensor | np.ndarray | Sequence[float], rtol: float = 0.0
) -> dict[str, float]:
    """Summary statistics of a kernel's eigenvalues (any order); see the module docstring.

    Args:
        eigs: the eigenvalues of a symmetric positive semi-definite matrix.
        rtol: eigenvalues at most ``rtol · λ_max`` count as zero (not positive). The default 0
            keeps every strictly positive eigenvalue, as IGA's logged condition numbers do; a
            kernel computed in float32 has round-off eigenvalues near ``1e-7 · n · λ_max``.

    Returns:
        ``{"lambda_max", "lambda_min" (smallest positive), "condition" (λ_max / λ_min),
        "variance_normalised" (Var(λ)/mean(λ)², population variance over all n eigenvalues),
        "effective_rank" (exp entropy of λ/Σλ over the positive ones), "n_positive"}``; a value
        with no positive eigenvalue to define it is NaN. Negative eigenvalues (round-off of a
        PSD matrix) count as zero.

    Raises:
        ValueError: no eigenvalues, a non-finite one, or a negative ``rtol``.
    """
    ev = _as_float64(eigs)
    if ev.size == 0:
        raise ValueError("eigenvalue_stats needs at least one eigenvalue")
    if not np.isfinite(ev).all():
        raise ValueError("eigenvalues must be finite (the kernel has NaN/inf entries)")
    if not rtol >= 0:
        raise ValueError(f"rtol must be >= 0; got {rtol}")
    ev = np.clip(ev, 0.0, None)
    lam_max = float(ev.max())
    pos = ev[ev > rtol * lam_max] if lam_max > 0 else ev[:0]
    mean = float(ev.mean())
    nan = float("nan")
    if pos.size:
        p = pos / pos.sum()
        erank = float(np.exp(-(p * np.log(p)).sum()))
        lam_min = float(pos.min())
    else:
        erank = lam_min = nan
    return {
        "lambda_max": lam_max,
        "lambda_min": lam_min,
        "condition": lam_max / lam_min if pos.size else nan,
        "variance_normalised": float(ev.var()) / mean**2 if mean > 0 else nan,
        "effective_rank": erank,
        "n_positive": int(pos.size),
    }


@dataclass
class SpectrumResult:
    """The eNTK spectrum of one model on one set of points, with and without IGA's S."""

    eigenvalues: torch.Tensor
    """All eigenvalues of K, descending, float64 on the CPU."""
    stats: dict[str, float]
    """:func:`eigenvalue_stats` of :attr:`eigenvalues`."""
    adjusted: torch.Tensor | None = None
    """Eigenvalues of K·S for ``end`` (:func:`iga.core.balance`), descending; None without."""
    stats_adjusted: dict[str, float] | None = None
    """:func:`eigenvalue_stats` of :attr:`adjusted`."""
    end: int | None = None
    """The ``end`` S was built with (None: no S)."""
    info: dict[str, Any] = field(default_factory=dict)
    """Where the spectrum came from (arch, seed, run directory, sampling, ...)."""

    def balanced(self) -> SpectrumResult:
        """The K·S spectrum as a result of its own (to plot it beside K's).

        Raises:
            ValueError: the result was computed without ``end``.
        """
        if self.adjusted is None or self.stats_adjusted is None:
            raise ValueError("this spectrum has no K·S eigenvalues; compute it with end=...")
        return SpectrumResult(
            self.adjusted, dict(self.stats_adjusted), info={**self.info, "kernel": "K·S"}
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (eigenvalues as lists)."""
        return {
            "info": self.info,
            "end": self.end,
            "stats": self.stats,
            "stats_adjusted": self.stats_adjusted,
            "eigenvalues": self.eigenvalues.tolist(),
            "adjusted": None if self.adjusted is None else self.adjusted.tolist(),
        }


def _kernel_model(model: nn.Module, grid: torch.Tensor | None) -> nn.Module:
    # A BN model normalises with the statistics of the batch, so one point on its own has no
    # defined output; its function on the training grid is a plain INR once they are folded.
    if isinstance(model, BNINR):
        if grid is None:
            raise ValueError(
                "a batch-norm model's eNTK needs the grid its statistics come from; pass grid="
            )
        return model.merge(grid)
    return model


def kernel_spectrum(
    model: nn.Module,
    x: torch.Tensor,
    end: int | None = None,
    *,
    dtype: torch.dtype | None = torch.float64,
    grid: torch.Tensor | None = None,
    info: Mapping[str, Any] | None = None,
) -> SpectrumResult:
    """The eNTK spectrum of ``model`` on the points ``x`` [n, d], and of K·S with ``end``.

    Args:
        model: any model :func:`iga.entk` accepts (on the CPU or a GPU); a
            :class:`~iga.models.BNINR` is first merged on ``grid`` (its batch statistics).
        x: the points, one per row (e.g. one representative per group).
        end: when given, also the eigenvalues of K·S with S from
            :func:`iga.core.balance` (``ref="end"``: the top ``end`` become λ_end).
        dtype: the kernel is computed on a copy of the model in this dtype. float64 (default)
            resolves eigenvalues far below λ_max, which float32 round-off (about
            ``1e-7 · λ_max``) would swamp; ``None`` keeps the model's dtype (the kernel IGA
            itself computes while training).
        grid: the full input grid, for batch-norm models only.
        info: recorded in :attr:`SpectrumResult.info`.

    Raises:
        ValueError: ``end`` out of range for n points, or a batch-norm model without ``grid``.
    """
    net = _kernel_model(model, grid)
    if dtype is not None:
        net = copy.deepcopy(net).to(dtype)
        x = x.to(dtype)
    K = entk(net, x.to(next(net.parameters()).device))
    if end is not None:
        bal = balance(K, end)
        eigenvalues, adjusted = bal.eigenvalues, bal.adjusted
        # With ref="end" the balanced values stay in order; sorting only guards round-off ties.
        adjusted = adjusted.sort(descending=True).values
    else:
        K64 = K.detach().to("cpu", torch.float64)
        eigenvalues, adjusted = torch.linalg.eigvalsh((K64 + K64.T) / 2).flip(0), None
    return SpectrumResult(
        eigenvalues=eigenvalues,
        stats=eigenvalue_stats(eigenvalues),
        adjusted=adjusted,
        stats_adjusted=None if adjusted is None else eigenvalue_stats(adjusted),
        end=end,
        info=dict(info or {}),
    )


def _parse_scalar(text: str) -> Any:
    """``"3"`` -> 3, ``"0.5"`` -> 0.5, ``"true"``/``"false"`` -> bool, ``"none"`` -> None, else
    the text itself (how an :func:`arch_spec` option's value is read)."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    return None if low == "none" else text


def arch_spec(text: str) -> tuple[str, dict[str, Any]]:
    """``"pe:pe_levels=8:spherical_norm"`` -> ``("pe", {"pe_levels": 8, "spherical_norm": True})``.

    An arch name followed by ``:``-separated model options for :func:`iga.models.build`
    (``key=value``, values read as numbers, true/false or text; a bare ``key`` means true).
    Lets one comparison hold variants of the same arch.

    Raises:
        ValueError: unknown arch or an empty option.
    """
    name, *parts = str(text).strip().split(":")
    if name not in ARCHS:
        raise ValueError(f"unknown arch {name!r} in {text!r}; choose from {', '.join(ARCHS)}")
    options: dict[str, Any] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not key.strip():
            raise ValueError(
                f"empty option in {text!r}; write arch:key=value, e.g. relu:hadamard=all"
            )
        options[key.strip()] = _parse_scalar(value.strip()) if sep else True
    return name, options


def compare_archs(
    archs: Sequence[str],
    x: torch.Tensor,
    *,
    width: int = 64,
    hidden_layers: int = 3,
    seeds: Sequence[int] = (0, 1, 2),
    end: int | None = None,
    in_features: int | None = None,
    out_features: int = 3,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    grid: torch.Tensor | None = None,
    on_arch: Callable[[str, list[SpectrumResult]], None] | None = None,
) -> dict[str, list[SpectrumResult]]:
    """eNTK spectra at initialisation of several archs on the same points, one per seed.

    Args:
        archs: names for :func:`iga.models.build` (relu, pe, siren, finer, wire, gauss), or
            :func:`arch_spec` strings with model options (``relu:spherical_norm``); each is
            also the key of its results.
        x: the points [n, in_features].
        width, hidden_layers, out_features: the networks' shape (as ``iga fit image``).
        seeds: initialisation seeds; each gives one :class:`SpectrumResult`.
        end: also the K·S spectra (see :func:`kernel_spectrum`).
        in_features: default ``x.shape[1]``.
        options: per arch, extra keyword arguments of :func:`~iga.models.build` (arch options
            such as ``pe_levels``, or ``method="fr"``/``"bn"`` for those variants).
        grid: the full input grid, used only by batch-norm variants (default ``x``).
        on_arch: called with each arch's results as soon as they are computed (progress).

    Returns:
        ``{arch: [result per seed]}`` in the order of ``archs``.
    """
    if not archs:
        raise ValueError("compare_archs needs at least one arch")
    if not seeds:
        raise ValueError("compare_archs needs at least one seed")
    d = x.shape[1] if in_features is None else in_features
    opts = options or {}
    out: dict[str, list[SpectrumResult]] = {}
    for label in archs:
        arch, spec_kw = arch_spec(label)
        results = []
        for seed in seeds:
            kw = {**opts.get(label, {}), **spec_kw}
            model = build(
                arch,
                d,
                out_features,
                hidden_features=width,
                hidden_layers=hidden_layers,
                seed=int(seed),
                **kw,
            )
            info = {"arch": arch, "seed": int(seed), "width": width, **kw}
            info["parameters"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
            results.append(
                kernel_spectrum(model, x, end, grid=x if grid is None else grid, info=info)
            )
        out[label] = results
        if on_arch is not None:
            on_arch(label, results)
    return out

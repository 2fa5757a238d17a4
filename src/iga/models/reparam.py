"""Training-time variants of the INR zoo: Fourier reparameterisation (FR) and batch norm (BN).

Both are *baselines* of the IGA paper's Table 1. They change how the network is trained, not
what it computes at inference: an FR model merges into a plain :class:`~iga.models.INR`
(:meth:`FRINR.merge`), and a BN model, whose statistics are those of the full batch, folds
into one as well once the input grid is fixed (:meth:`BNINR.merge`).

Neither satisfies :class:`~iga.models.INR`'s structural contract (FR's trainable Λ sits outside
``nn.Linear``; BN mixes rows through batch statistics), so they are separate classes. The eNTK
code recognises both and uses its generic path; the benchmark never combines them with IGA.

**FR** (Shi, Zhou, Gu, CVPR 2024). Each hidden-to-hidden linear layer's weight is
``W = Λ B`` with ``B`` ``[M, in]`` a fixed matrix of cosine bases and ``Λ`` ``[out, M]``
learned. Row ``k`` of ``B`` is ``α cos(ω_k t + φ_k)`` sampled at ``in`` points
``t = linspace(-T/2, T/2, in)`` (both ends included, spacing ``T/(in - 1)``) with
``T = 2π·low`` the period of the lowest frequency, for ``ω`` in ``low`` frequencies
``1/low, 2/low, ..., 1`` and ``high`` frequencies ``1, 2, ..., high`` and ``phases`` phases
``2πp/phases``; ``M = (low + high) · phases`` (8192 with the FR paper's 128 + 128 and 32).
This is the authors' construction, point for point (their ``init_bases``).

Why the end point matters: an earlier version of this module dropped the repeated end point
(spacing ``T/in``) to make ``B`` full rank. With ``T = 256π`` and ``in = 64`` that spacing is
exactly ``4π``, so every integer frequency is sampled at the same phase and half of the rows of
``B`` were constant vectors (13-53 % for widths 16-512); one direction of ``B`` then dwarfed the
others and FR's first Adam step shifted every weight uniformly. The authors' spacing
``T/(in - 1)`` is aliased only where ``(in - 1)`` divides ``128·k`` (1.6-6 % of the rows, none for
widths 256 and 512). Their ``B`` has rank ``in - 1`` (the two end points coincide modulo ``T``),
so ``W = ΛB`` always gives the first and last input units the same weight; that is FR as
published and as benchmarked. The first layer (it sees coordinates) and the output layer stay
plain, as in the authors' code.

Initialisation of Λ: by default (``fr_init="uniform"``, the authors') column ``k`` of Λ is
drawn from ``U(±sqrt(6/M)/(‖B_k‖ ω₀))`` (ω₀ = 1 for ReLU) and the bias is zeroed, which gives W
a He-like scale rather than the arch's default. ``fr_init="solve"`` instead takes the
minimum-norm Λ₀ with ``Λ₀ B ≈ W₀`` (the plain model's initial weight for the same seed,
projected onto the row space of ``B``: its first and last columns are averaged) and keeps the
plain bias, so FR starts from (nearly) the vanilla model's function. ``α`` cancels at
initialisation either way; it only scales the effective step size on W. The two are compared
side by side in ``docs/image_benchmark.md``.

**BN** (Cai et al., CVPR 2024). ``BatchNorm1d`` at each hidden layer, before the activation
(``bn_position="pre"``) or after it (``"post"``). The default ``"auto"`` places it where the IGA
authors' Kodak code does (:data:`BN_POSITION`): after the activation for plain ReLU (their
``relu+bn``), before it for PE and the sine-type archs (``relu+pe+bn``, ``sin+bn``). By
default the layers keep no running statistics (``track_running_stats=False``): full-batch
training (images) makes the statistics of the full coordinate grid *the* training-mode
statistics, and evaluating the model on that grid (in train or eval mode) reproduces what was
trained. Evaluating such a model on other points (a crop, another resolution, or the grid in
chunks) changes the statistics; use :meth:`BNINR.merge` with the training grid to freeze them
first. Tasks that train on other points than they score (occupancy, SDF and CT always; audio
with ``--batch-windows``) pass ``bn_running_stats=True``: standard BN, whose eval mode uses
the running averages of the training batches' statistics. For sine-type
activations (siren, finer) the normalised pre-activation goes into ``sin(·)`` with unit
frequency, as in the authors' ``sin(BN(ω₀ z))`` (BN removes the ω₀ scale).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from iga.models.inr import COMMON_OPTIONS, INR, count_parameters
from iga.models.layers import Finer, Sine

__all__ = [
    "BN_OPTIONS",
    "BN_POSITION",
    "FR_ALPHA",
    "FR_OPTIONS",
    "MODEL_METHODS",
    "BNINR",
    "FRINR",
    "FRLinear",
    "fourier_bases",
    "from_plain",
    "split_options",
]

MODEL_METHODS: tuple[str, ...] = ("vanilla", "fr", "bn")
"""Training-time parameterisations :func:`iga.models.build` accepts as ``method``."""

FR_ALPHA: Mapping[str, float] = MappingProxyType(
    {"relu": 1e-3, "pe": 5e-2, "siren": 4e-3, "finer": 4e-3, "wire": 4e-3, "gauss": 4e-3}
)
"""Default α per arch: the values in the IGA authors' Kodak scripts (relu 0.001, relu+pe 0.05,
sin 0.004); the other sine-like archs borrow SIREN's."""

FR_OPTIONS: Mapping[str, object] = MappingProxyType(
    {"fr_low": 128, "fr_high": 128, "fr_phases": 32, "fr_alpha": None, "fr_init": "uniform"}
)
"""Options of ``method="fr"`` and their defaults (``fr_alpha=None``: :data:`FR_ALPHA`)."""

BN_OPTIONS: Mapping[str, object] = MappingProxyType(
    {"bn_position": "auto", "bn_running_stats": False}
)
"""Options of ``method="bn"`` and their defaults (``"auto"``: :data:`BN_POSITION`;
``bn_running_stats=True``: keep running statistics, for mini-batch tasks, see module doc)."""

BN_POSITION: Mapping[str, str] = MappingProxyType({"relu": "post"})
"""Where ``bn_position="auto"`` puts BN per arch: after the activation for plain ReLU (the
authors' ``relu+bn``), before it for every other arch (their ``relu+pe+bn`` and ``sin+bn``)."""

FR_INITS = ("solve", "uniform")
BN_POSITIONS = ("auto", "pre", "post")


def fourier_bases(
    in_features: int,
    low: int = 128,
    high: int = 128,
    phases: int = 32,
    alpha: float = 1.0,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """The FR basis matrix ``B`` ``[(low + high) * phases, in_features]`` (see module doc).

    Rows are ordered low frequencies first, then high, phases innermost.
    """
    if low < 0 or high < 0 or low + high == 0 or phases < 1 or in_features < 1:
        raise ValueError(
            f"FR bases need low, high >= 0 with low + high >= 1, phases >= 1 and in_features "
            f">= 1; got low={low}, high={high}, phases={phases}, in_features={in_features}"
        )
    freqs = [(i + 1) / low for i in range(low)] + [float(i + 1) for i in range(high)]
    # The authors' sampling: one period of the lowest frequency *with* both end points. Do not
    # drop the end point: spacing T/in aliases every integer frequency for in | 2·low (module doc).
    period = 2 * math.pi / min(freqs)
    t = torch.linspace(-period / 2, period / 2, in_features, dtype=torch.float64)
    omega = torch.tensor(freqs, dtype=torch.float64)
    phi = 2 * math.pi * torch.arange(phases, dtype=torch.float64) / phases
    # [F, P, in] -> [F*P, in]
    rows = torch.cos(omega[:, None, None] * t[None, None, :] + phi[None, :, None])
    return (alpha * rows.reshape(-1, in_features)).to(dtype)


class FRLinear(nn.Module):
    """A linear layer trained through ``W = Λ B`` (B fixed); same call signature as nn.Linear.

    Args:
        weight: the initial weight ``W₀`` ``[out, in]`` (used by ``init="solve"``).
        bias: the initial bias ``[out]`` (kept by ``"solve"``, zeroed by ``"uniform"``).
        low: the number of low frequencies of the bases (``1/low … 1``), see
            :func:`fourier_bases`.
        high: the number of high frequencies (``1 … high``).
        phases: the number of phases per frequency.
        alpha: the bases' scale factor.
        init: ``"uniform"`` (the authors') or ``"solve"`` (minimum-norm Λ₀ with Λ₀ B ≈ W₀).
        omega0: the sine frequency of the following activation; only used by ``"uniform"``,
            which divides the bound by it like the authors' sine FR layer.
    """

    bases: torch.Tensor

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        *,
        low: int = 128,
        high: int = 128,
        phases: int = 32,
        alpha: float = 0.05,
        init: str = "uniform",
        omega0: float = 1.0,
    ) -> None:
        super().__init__()
        if init not in FR_INITS:
            raise ValueError(f"unknown fr_init {init!r}; choose one of {', '.join(FR_INITS)}")
        if not (alpha > 0 and math.isfinite(alpha)):
            raise ValueError(f"fr_alpha must be a positive number; got {alpha}")
        out_features, in_features = weight.shape
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.low, self.high, self.phases, self.alpha, self.init = low, high, phases, alpha, init
        b64 = fourier_bases(in_features, low, high, phases, alpha)
        if init == "solve":
            # Minimum-norm Λ with Λ B = W₀ P, P the projector onto B's row space (rank in - 1:
            # the end points coincide), so the model starts next to the vanilla one.
            lam = weight.detach().to(torch.float64) @ torch.linalg.pinv(b64)
            b = bias.detach().clone() if bias is not None else torch.zeros(out_features)
        else:
            m = b64.shape[0]
            bound = math.sqrt(6.0 / m) / (b64.norm(dim=1) * omega0)  # per column of Λ
            u = torch.rand(out_features, m, dtype=torch.float64) * 2 - 1
            lam = u * bound[None, :]
            b = torch.zeros(out_features)
        dtype = weight.dtype
        self.register_buffer("bases", b64.to(dtype))
        self.lam = nn.Parameter(lam.to(dtype))
        self.bias = nn.Parameter(b.to(dtype))

    def merged_weight(self) -> torch.Tensor:
        """The effective weight ``Λ B`` ``[out, in]`` (differentiable w.r.t. Λ)."""
        return self.lam @ self.bases

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x Wᵀ + b`` with ``W = Λ B``."""
        return F.linear(x, self.merged_weight(), self.bias)

    def to_linear(self) -> nn.Linear:
        """A plain ``nn.Linear`` holding the merged weight (a copy)."""
        lin = nn.Linear(self.in_features, self.out_features)
        with torch.no_grad():
            lin.weight.copy_(self.merged_weight())
            lin.bias.copy_(self.bias)
        return lin.to(device=self.lam.device, dtype=self.lam.dtype)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bases={self.bases.shape[0]} (low={self.low}, high={self.high}, "
            f"phases={self.phases}), alpha={self.alpha:g}, init={self.init}"
        )


class _Variant(nn.Module):
    """Shared plumbing of FR/BN models: ``net(encoding(x))`` plus describe()."""

    def __init__(self, plain: INR, net: nn.Sequential, method: str, options: dict[str, Any]):
        super().__init__()
        self.arch: str = plain.arch
        self.method: str = method
        self.options: dict[str, object] = {**plain.options, **options}
        self.encoding: nn.Module = plain.encoding
        self.net: nn.Sequential = net
        self.in_features = plain.in_features
        self.encoded_features = plain.encoded_features
        self.out_features = plain.out_features
        self.hidden_features = plain.hidden_features
        self.hidden_layers = plain.hidden_layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map coordinates ``[N, in_features]`` to ``[N, out_features]``."""
        return self.net(self.encoding(x))

    def describe(self) -> str:
        """One line: arch+method, widths, options, trainable parameter count."""
        widths = [self.in_features]
        if not isinstance(self.encoding, nn.Identity):
            widths.append(self.encoded_features)
        widths += [self.hidden_features] * self.hidden_layers + [self.out_features]
        shape = " -> ".join(str(w) for w in widths)
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return (
            f"{self.arch}+{self.method}: {shape} ({opts}); "
            f"{count_parameters(self):,} trainable parameters"
        )


class FRINR(_Variant):
    """An INR whose hidden-to-hidden linear layers are :class:`FRLinear`; see module doc."""

    def merge(self) -> INR:
        """The equivalent plain :class:`INR` (FR layers replaced by their merged nn.Linear)."""
        modules = [m.to_linear() if isinstance(m, FRLinear) else _copy(m) for m in self.net]
        return INR(
            nn.Sequential(*modules), _copy(self.encoding), arch=self.arch, options=self.options
        )


class BNINR(_Variant):
    """An INR with ``BatchNorm1d`` (full-batch statistics) around each hidden activation."""

    @torch.no_grad()
    def merge(self, inputs: torch.Tensor) -> INR:
        """Fold the batch statistics of ``inputs`` (the training grid) into a plain INR.

        The result computes, on any point, what this model computes on that point *as part of*
        ``inputs``; on ``inputs`` itself the two agree to rounding.
        """
        was_training = self.training
        self.train()
        h = self.encoding(inputs)
        modules: list[nn.Module] = []
        pending: tuple[torch.Tensor, torch.Tensor] | None = None  # post-BN affine to fold forward
        for m in self.net:
            if isinstance(m, nn.BatchNorm1d):
                mean = h.mean(0)
                var = h.var(0, unbiased=False)
                scale = m.weight / torch.sqrt(var + m.eps)
                shift = m.bias - mean * scale
                prev = modules[-1] if modules else None
                if isinstance(prev, nn.Linear):  # pre-activation: fold into the previous linear
                    prev.weight.mul_(scale[:, None])
                    prev.bias.mul_(scale).add_(shift)
                else:  # post-activation: fold into the next linear
                    pending = (scale, shift)
                h = m(h)
                continue
            new = _copy(m)
            if isinstance(new, nn.Linear) and pending is not None:
                scale, shift = pending
                new.bias.add_(new.weight @ shift)
                new.weight.mul_(scale[None, :])
                pending = None
            modules.append(new)
            h = m(h)
        self.train(was_training)
        return INR(
            nn.Sequential(*modules), _copy(self.encoding), arch=self.arch, options=self.options
        )


def _copy(module: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(module)


def _resolve(method: str, arch: str, given: Mapping[str, Any]) -> dict[str, Any]:
    accepted = {"fr": FR_OPTIONS, "bn": BN_OPTIONS}.get(method, {})
    unknown = [k for k in given if k not in accepted]
    for key in unknown:
        owner = "fr" if key in FR_OPTIONS else "bn" if key in BN_OPTIONS else None
        if owner is not None:
            raise TypeError(
                f"option {key!r} belongs to method {owner!r}: it needs method={owner!r} "
                f"(--method {owner}); this model is built as {method!r}"
            )
    if unknown:
        choices = ", ".join(accepted) if accepted else "no extra options"
        raise TypeError(
            f"method {method!r} got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"it accepts: {choices}"
        )
    opts = {**accepted, **given}
    if method == "fr":
        if opts["fr_alpha"] is None:
            opts["fr_alpha"] = FR_ALPHA.get(arch, 4e-3)
        for key in ("fr_low", "fr_high", "fr_phases"):
            if isinstance(opts[key], bool) or not isinstance(opts[key], int) or opts[key] < 0:
                raise ValueError(f"{key} must be an integer >= 0; got {opts[key]!r}")
        if isinstance(opts["fr_alpha"], bool) or not isinstance(opts["fr_alpha"], (int, float)):
            raise TypeError(f"fr_alpha must be a number; got {opts['fr_alpha']!r}")
        opts["fr_alpha"] = float(opts["fr_alpha"])
        if opts["fr_init"] not in FR_INITS:
            raise ValueError(
                f"unknown fr_init {opts['fr_init']!r}; choose one of {', '.join(FR_INITS)}"
            )
    if method == "bn":
        if opts["bn_position"] not in BN_POSITIONS:
            raise ValueError(
                f"unknown bn_position {opts['bn_position']!r}; "
                f"choose one of {', '.join(BN_POSITIONS)}"
            )
        if opts["bn_position"] == "auto":
            opts["bn_position"] = BN_POSITION.get(arch, "pre")
        if not isinstance(opts["bn_running_stats"], bool):
            raise TypeError(
                f"bn_running_stats must be True or False; got {opts['bn_running_stats']!r}"
            )
        if not opts["bn_running_stats"]:
            # Left out at its default: the description (part of a run's key) of the full-batch
            # models stays what it was before the option existed.
            del opts["bn_running_stats"]
    return opts


def split_options(kw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword options into (arch options, method options) by their ``fr_``/``bn_`` prefix."""
    method_kw = {k: v for k, v in kw.items() if k.startswith(("fr_", "bn_"))}
    arch_kw = {k: v for k, v in kw.items() if k not in method_kw}
    return arch_kw, method_kw


def from_plain(plain: INR, method: str, **options: Any) -> INR | FRINR | BNINR:
    """Turn a freshly built plain INR into its ``method`` variant (``vanilla``: unchanged).

    The variant reuses the plain model's initial weights, so for one seed vanilla, FR (with
    ``fr_init="solve"``) and BN start from the same linear layers; FR's default
    ``fr_init="uniform"`` draws Λ afresh, as the authors do.
    """
    if method not in MODEL_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(MODEL_METHODS)}")
    opts = _resolve(method, plain.arch, options)
    if method == "vanilla":
        return plain
    used = [k for k in COMMON_OPTIONS if k in plain.options]
    if used:
        raise ValueError(
            f"model option {', '.join(used)} is not combined with method {method!r} (FR and BN "
            "reparameterise the plain MLP); use it with vanilla or iga"
        )
    linears = plain.linears
    if method == "fr":
        sine_w0 = (
            float(plain.options.get("omega0", 1.0)) if plain.arch in ("siren", "finer") else 1.0
        )
        modules: list[nn.Module] = []
        for m in plain.net:
            # Hidden-to-hidden layers only: not the first (fed coordinates) nor the output.
            if isinstance(m, nn.Linear) and m is not linears[0] and m is not linears[-1]:
                modules.append(
                    FRLinear(
                        m.weight,
                        m.bias,
                        low=opts["fr_low"],
                        high=opts["fr_high"],
                        phases=opts["fr_phases"],
                        alpha=opts["fr_alpha"],
                        init=opts["fr_init"],
                        omega0=sine_w0,
                    )
                )
            else:
                modules.append(m)
        return FRINR(plain, nn.Sequential(*modules), "fr", opts)
    # BN
    post = opts["bn_position"] == "post"
    track = bool(opts.get("bn_running_stats", False))
    modules = []
    for m in plain.net:
        if isinstance(m, nn.Linear):
            modules.append(m)
            if m is not linears[-1] and not post:
                modules.append(nn.BatchNorm1d(m.out_features, track_running_stats=track))
            continue
        # Sine-type activations after BN: unit frequency (BN cancels the ω₀ scale anyway).
        act = m
        if not post and isinstance(m, Sine):
            act = Sine(1.0)
        elif not post and isinstance(m, Finer):
            act = Finer(1.0)
        modules.append(act)
        if post:
            modules.append(nn.BatchNorm1d(linears[0].out_features, track_running_stats=track))
    return BNINR(plain, nn.Sequential(*modules), "bn", opts)

"""The INR zoo's model class and its built-in architectures (the factory, :func:`iga.models.build`,
is in :mod:`iga.models.factory`).

Structural contract (relied on by the fast eNTK path, so :class:`INR` enforces it):

* every trainable parameter lives in an ``nn.Linear``;
* the optional ``encoding`` and all activations are parameter-free (constants are Python floats
  or buffers);
* each ``nn.Linear`` is applied exactly once per forward, in ``net`` order;
* rows are processed independently (no batch statistics), so ``model(x)[i] == model(x[i])``.

``hidden_layers = H`` gives ``H + 1`` linear layers with ``H`` activations between them, e.g.
``2 -> 256 -> 256 -> 256 -> 3`` for ``H = 3`` (the IGA paper's "four-layer MLP"). The last
layer is always a plain linear output.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from iga.models.layers import (
    Finer,
    Gaussian,
    Hadamard,
    PositionalEncoding,
    RealGabor,
    Sine,
    SphericalNorm,
)

if TYPE_CHECKING:  # reparam imports this module; the types are for annotations only
    pass

__all__ = [
    "ARCHS",
    "ARCH_BUILDERS",
    "ARCH_OPTIONS",
    "COMMON_OPTIONS",
    "HADAMARD",
    "OPTION_HELP",
    "INR",
    "count_parameters",
]

ARCHS: tuple[str, ...] = ("relu", "pe", "siren", "finer", "wire", "gauss")

# Read-only views so a CLI that lists defaults cannot accidentally change what build() uses.
_ARCH_OPTIONS: dict[str, Mapping[str, object]] = {
    "relu": MappingProxyType({}),
    "pe": MappingProxyType({"pe_levels": 6}),
    "siren": MappingProxyType({"omega0": 30.0, "first_omega0": None}),
    "finer": MappingProxyType({"omega0": 30.0, "first_omega0": None, "first_bias_scale": 1.0}),
    "wire": MappingProxyType({"omega0": 20.0, "scale0": 10.0}),
    "gauss": MappingProxyType({"scale": 10.0}),
}
ARCH_OPTIONS: Mapping[str, Mapping[str, object]] = MappingProxyType(_ARCH_OPTIONS)
"""For each arch (the built-in :data:`ARCHS` and those added by
:func:`iga.models.register_arch`), the extra keyword options :func:`iga.models.build` accepts
and their defaults (besides :data:`COMMON_OPTIONS`)."""
ARCH_BUILDERS: dict[str, Callable[[int, int, int, int, dict[str, Any]], INR]] = {}
"""Constructors of the archs added by :func:`iga.models.register_arch`:
``(in_features, out_features, hidden_features, hidden_layers, options) -> INR``."""

HADAMARD: tuple[str, ...] = ("none", "first", "all")
"""Which hidden layers the ``hadamard`` option modulates."""

COMMON_OPTIONS: Mapping[str, object] = MappingProxyType(
    {"spherical_norm": False, "hadamard": "none", "weight_scale": 1.0}
)
"""Options every arch accepts: ``spherical_norm`` and ``hadamard`` (Ou & Zhuang, 2025:
components that reduce NTK eigenvalue variance) and ``weight_scale`` (Yeom, Lee & Lee, ICLR
2025, "Fast training of sinusoidal neural fields via scaling initialization": every weight
but the last layer's multiplied by a constant after the arch's own init); left out of
:meth:`INR.describe` at these defaults, so existing runs keep their descriptions and keys."""

OPTION_HELP: Mapping[str, str] = MappingProxyType(
    {
        "pe_levels": "number L of positional-encoding frequency levels 2^0..2^(L-1) (pe)",
        "omega0": "frequency factor of the sine / FINER / Gabor activation",
        "first_omega0": "omega0 of the first activation; None means the same as omega0",
        "first_bias_scale": "FINER first-layer bias drawn from U(-k, k) with this k",
        "scale0": "Gaussian window width factor of the real Gabor (wire) activation",
        "scale": "width factor s of the Gaussian activation exp(-(s z)^2)",
        "spherical_norm": "true: project hidden features onto the sphere of radius sqrt(width)",
        "hadamard": "none|first|all: hidden layers whose output is act(z1) * act(z2) of two "
        "halves of a doubled linear layer (Hadamard modulation)",
        "weight_scale": "multiply every weight but the last layer's by this constant after the "
        "arch's init (weight scaling, Yeom et al., ICLR 2025; 1: off)",
    }
)
"""One-line description of every option in :data:`ARCH_OPTIONS`, for ``--help`` texts."""


class INR(nn.Module):
    """An implicit neural representation: ``net(encoding(x))`` with ``net`` a Linear/activation MLP.

    Args:
        net: ``nn.Sequential`` of ``nn.Linear`` layers and parameter-free activations, ending
            with an ``nn.Linear``.
        encoding: optional parameter-free input encoding (identity when ``None``).
        arch: architecture name, informational (one of :data:`ARCHS` for models from
            :func:`build`).
        options: the resolved arch options, kept for :meth:`describe` and reproducibility.

    Raises:
        ValueError: if the structural contract in the module docstring is violated.
    """

    def __init__(
        self,
        net: nn.Sequential,
        encoding: nn.Module | None = None,
        *,
        arch: str = "custom",
        options: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__()
        self.arch: str = arch
        self.options: dict[str, object] = dict(options or {})
        self.encoding: nn.Module = encoding if encoding is not None else nn.Identity()
        self.net: nn.Sequential = net
        self._check_structure()
        linears = self.linears
        self.in_features: int = getattr(self.encoding, "in_features", linears[0].in_features)
        self.encoded_features: int = linears[0].in_features
        self.out_features: int = linears[-1].out_features
        # The second linear's input: the width even when the first is doubled (hadamard).
        self.hidden_features: int = linears[1].in_features if len(linears) > 1 else 0
        self.hidden_layers: int = len(linears) - 1

    def _check_structure(self) -> None:
        # Fail at construction, not deep inside an eNTK computation with a confusing shape error.
        if not isinstance(self.net, nn.Sequential) or len(self.net) == 0:
            raise ValueError("INR.net must be a non-empty nn.Sequential")
        if any(True for _ in self.encoding.parameters()):
            raise ValueError("INR.encoding must be parameter-free (use buffers for constants)")
        if not isinstance(self.net[-1], nn.Linear):
            raise ValueError("the last module of INR.net must be an nn.Linear output layer")
        for idx, module in enumerate(self.net):
            if isinstance(module, nn.Linear):
                continue
            if any(True for _ in module.parameters()):
                raise ValueError(
                    f"INR.net[{idx}] ({type(module).__name__}) has parameters; only nn.Linear "
                    "layers may hold parameters"
                )

    @property
    def linears(self) -> list[nn.Linear]:
        """The ``nn.Linear`` layers of ``net`` in forward order (each applied exactly once)."""
        return [m for m in self.net if isinstance(m, nn.Linear)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map coordinates ``[N, in_features]`` (or ``[in_features]``) to ``[N, out_features]``."""
        return self.net(self.encoding(x))

    def describe(self) -> str:
        """One-line human-readable summary: arch, layer widths, options, parameter count."""
        widths = [self.in_features]
        if not isinstance(self.encoding, nn.Identity):
            widths.append(self.encoded_features)
        widths += [lin.out_features for lin in self.linears]
        shape = " -> ".join(str(w) for w in widths)
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        opts = f" ({opts})" if opts else ""
        return f"{self.arch}: {shape}{opts}; {count_parameters(self):,} parameters"

    def extra_repr(self) -> str:
        return f"arch={self.arch!r}"


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of scalar parameters of ``model`` (only those with ``requires_grad`` by default)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# --------------------------------------------------------------------------------------------
# Validation helpers


def _as_int(name: str, value: object, minimum: int) -> int:
    # bool is an int subclass, but `hidden_layers=True` is always a bug, never a request for 1.
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        out = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if out < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {out}")
    return out


def _as_float(name: str, value: object, *, positive: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    out = float(value)
    if not math.isfinite(out) or out < 0 or (positive and out == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")
    return out


def _resolve_options(arch: str, given: Mapping[str, Any]) -> dict[str, object]:
    accepted = {**ARCH_OPTIONS[arch], **COMMON_OPTIONS}
    unknown = [k for k in given if k not in accepted]
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise TypeError(
            f"arch {arch!r} got unknown option(s) {names}; it accepts: {', '.join(accepted)}"
        )
    opts: dict[str, object] = {**ARCH_OPTIONS[arch], **given}
    if "spherical_norm" in opts:
        value = opts["spherical_norm"]
        if not isinstance(value, bool):
            raise ValueError(f"spherical_norm must be true or false; got {value!r}")
        if not value:
            del opts["spherical_norm"]  # the default: not part of the description
    if "hadamard" in opts:
        value = opts["hadamard"]
        if value not in HADAMARD:
            raise ValueError(f"hadamard must be one of {', '.join(HADAMARD)}; got {value!r}")
        if value == "none":
            del opts["hadamard"]
    if "weight_scale" in opts:
        opts["weight_scale"] = _as_float("weight_scale", opts["weight_scale"], positive=True)
        if opts["weight_scale"] == 1.0:
            del opts["weight_scale"]
    if "pe_levels" in opts:
        opts["pe_levels"] = _as_int("pe_levels", opts["pe_levels"], 0)
    for key in ("omega0", "scale0", "scale"):
        if key in opts:
            opts[key] = _as_float(key, opts[key], positive=True)
    if "first_omega0" in opts:
        first = opts["first_omega0"]
        opts["first_omega0"] = (
            opts["omega0"] if first is None else _as_float("first_omega0", first, positive=True)
        )
    if "first_bias_scale" in opts:
        opts["first_bias_scale"] = _as_float(
            "first_bias_scale", opts["first_bias_scale"], positive=False
        )
    return opts


# --------------------------------------------------------------------------------------------
# Construction


def _mlp_stack(
    in_features: int,
    out_features: int,
    hidden_features: int,
    hidden_layers: int,
    activation: Callable[[int], nn.Module],
    hadamard: str = "none",
    spherical_norm: bool = False,
) -> nn.Sequential:
    """Linear/activation stack; ``activation(i)`` makes the activation after linear ``i``.

    ``hadamard`` ("first"/"all"): those hidden linears output twice the width and their
    activation is :class:`Hadamard`; ``spherical_norm``: :class:`SphericalNorm` after every
    hidden activation.
    """
    dims = [in_features] + [hidden_features] * hidden_layers + [out_features]
    modules: list[nn.Module] = []
    for i in range(hidden_layers + 1):
        if i == hidden_layers:
            modules.append(nn.Linear(dims[i], dims[i + 1]))
            break
        modulated = hadamard == "all" or (hadamard == "first" and i == 0)
        modules.append(nn.Linear(dims[i], dims[i + 1] * (2 if modulated else 1)))
        modules.append(Hadamard(activation(i)) if modulated else activation(i))
        if spherical_norm:
            modules.append(SphericalNorm())
    return nn.Sequential(*modules)


@torch.no_grad()
def _siren_init(linears: list[nn.Linear], omega0: float) -> None:
    """SIREN weight init; biases keep PyTorch's default, as in the reference implementation.

    The first layer sees raw coordinates, so U(-1/in, 1/in) keeps ``first_omega0 * z`` spanning
    a few periods. Later layers use U(-sqrt(6/in)/omega0, +...) so that ``omega0 * z`` has unit
    scale and the sine activations stay (approximately) arcsine-distributed with depth. The
    output layer uses the same bound because it is fed the same sine features.
    """
    first = linears[0]
    bound = 1.0 / first.in_features
    first.weight.uniform_(-bound, bound)
    for lin in linears[1:]:
        bound = math.sqrt(6.0 / lin.in_features) / omega0
        lin.weight.uniform_(-bound, bound)


def _construct(
    arch: str,
    in_features: int,
    out_features: int,
    hidden_features: int,
    hidden_layers: int,
    opts: dict[str, Any],
) -> INR:
    encoding: nn.Module | None = None
    net_in = in_features

    def _mlp(*args: Any) -> nn.Sequential:
        return _mlp_stack(
            *args,
            hadamard=str(opts.get("hadamard", "none")),
            spherical_norm=bool(opts.get("spherical_norm", False)),
        )

    if arch == "relu":
        net = _mlp(net_in, out_features, hidden_features, hidden_layers, lambda i: nn.ReLU())
    elif arch == "pe":
        encoding = PositionalEncoding(in_features, opts["pe_levels"])
        net_in = encoding.out_features
        net = _mlp(net_in, out_features, hidden_features, hidden_layers, lambda i: nn.ReLU())
    elif arch in ("siren", "finer"):
        act_cls = Sine if arch == "siren" else Finer
        first_w0, w0 = opts["first_omega0"], opts["omega0"]
        net = _mlp(
            net_in,
            out_features,
            hidden_features,
            hidden_layers,
            lambda i: act_cls(first_w0 if i == 0 else w0),
        )
        linears = [m for m in net if isinstance(m, nn.Linear)]
        _siren_init(linears, w0)
        if arch == "finer":
            # FINER's key trick: a wide first-layer bias pushes first pre-activations to larger
            # |z|, where sin(w0 (|z|+1) z) oscillates faster, widening the frequency support
            # the network starts with (Liu et al., CVPR 2024, Sec. 3.3).
            k = opts["first_bias_scale"]
            with torch.no_grad():
                linears[0].bias.uniform_(-k, k)
    elif arch == "wire":
        w0, s0 = opts["omega0"], opts["scale0"]
        net = _mlp(
            net_in, out_features, hidden_features, hidden_layers, lambda i: RealGabor(w0, s0)
        )
    elif arch == "gauss":
        s = opts["scale"]
        net = _mlp(net_in, out_features, hidden_features, hidden_layers, lambda i: Gaussian(s))
    else:  # an arch added by iga.models.register_arch
        model = ARCH_BUILDERS[arch](in_features, out_features, hidden_features, hidden_layers, opts)
        if not isinstance(model, INR):
            raise TypeError(f"arch {arch!r} built a {type(model).__name__}; it must build an INR")
        net = model.net
        encoding = model.encoding
    scale = float(opts.get("weight_scale", 1.0))
    if scale != 1.0:
        # Weight scaling: the weights of every linear layer but the output layer, times a
        # constant; biases and the output layer keep the arch's init (Yeom et al., 2025, Sec. 3).
        with torch.no_grad():
            for lin in [m for m in net if isinstance(m, nn.Linear)][:-1]:
                lin.weight.mul_(scale)
    return INR(net, encoding, arch=arch, options=opts)

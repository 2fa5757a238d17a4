"""The zoo's one factory, :func:`build` (every arch, trained plainly or through FR/BN), the
arch registry (:func:`register_arch`: add an architecture from outside iga) and
:func:`check_options` (a model's ``--opt`` keys in the user's terms)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch

from iga.models.inr import (
    _ARCH_OPTIONS,
    ARCH_BUILDERS,
    ARCH_OPTIONS,
    COMMON_OPTIONS,
    INR,
    _as_int,
    _construct,
    _resolve_options,
)
from iga.models.reparam import (
    BN_OPTIONS,
    BNINR,
    FR_OPTIONS,
    FRINR,
    MODEL_METHODS,
    from_plain,
    split_options,
)

__all__ = ["ArchSpec", "build", "check_options", "register_arch"]


@dataclass(frozen=True)
class ArchSpec:
    """An architecture added from outside iga: ``build(name, ...)`` and every task's
    ``--arch`` accept it. ``construct(in_features, out_features, hidden_features,
    hidden_layers, options)`` returns an :class:`~iga.models.INR` (a Linear/activation
    ``nn.Sequential`` and a parameter-free encoding), so FR, BN, weight scaling and the fast
    eNTK path work on it as on the built-ins."""

    name: str
    construct: Callable[[int, int, int, int, dict[str, Any]], INR]
    options: Mapping[str, object] = field(default_factory=dict)
    """Its own ``--opt`` keys and their defaults (besides the common ones)."""


def register_arch(spec: ArchSpec) -> ArchSpec:
    """Add an architecture; a built-in name is refused."""
    if spec.name in ARCH_OPTIONS and spec.name not in ARCH_BUILDERS:
        raise ValueError(f"arch {spec.name!r} is built in; choose another name")
    clash = sorted(set(spec.options) & set(COMMON_OPTIONS))
    if clash:
        raise ValueError(f"arch {spec.name!r}: options {', '.join(clash)} are common to every arch")
    _ARCH_OPTIONS[spec.name] = MappingProxyType(dict(spec.options))
    ARCH_BUILDERS[spec.name] = spec.construct
    return spec


# build()'s own parameters, which --opt must not pass a second time.
_BUILD_ARGS = {
    "seed": "--seed",
    "hidden_features": "--width",
    "width": "--width",
    "hidden_layers": "--hidden-layers",
    "method": "--method",
    "device": "--device",
}


def check_options(options: Mapping[str, Any], arch: str, method: str) -> None:
    """Refuse, in the user's terms (``--opt``, ``--arch``, ``--method``), a model option that
    ``build`` would not accept, before anything is built."""
    accepted = {**ARCH_OPTIONS[arch], **COMMON_OPTIONS}
    for key in options:
        if key in accepted:
            continue
        for name, opts in (("fr", FR_OPTIONS), ("bn", BN_OPTIONS)):
            if key in opts and method != name:
                raise ValueError(
                    f"--opt {key} is an option of --method {name}; it needs --method {name} "
                    f"(got --method {method})"
                )
        if key in FR_OPTIONS or key in BN_OPTIONS:
            continue
        if key in _BUILD_ARGS:
            raise ValueError(f"--opt {key}: set it with {_BUILD_ARGS[key]}, not --opt")
        if key in ("in_features", "out_features", "name", "dtype"):
            raise ValueError(f"--opt {key}: fixed by the task; drop it")
        names = ", ".join(accepted) or "none"
        raise ValueError(
            f"--opt {key}: unknown option for --arch {arch} (it accepts: {names}; "
            "with --method fr/bn also fr_*/bn_* options)"
        )


def build(
    name: str,
    in_features: int,
    out_features: int,
    hidden_features: int = 256,
    hidden_layers: int = 3,
    *,
    seed: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    method: str = "vanilla",
    **kw: Any,
) -> INR | FRINR | BNINR:
    """Build an INR of architecture ``name`` (trained as ``method``: vanilla, fr or bn).

    Args:
        name: one of :data:`ARCHS` (``relu``, ``pe``, ``siren``, ``finer``, ``wire``, ``gauss``).
        in_features: input (coordinate) dimension, >= 1.
        out_features: output dimension, >= 1.
        hidden_features: width of every hidden layer, >= 1.
        hidden_layers: number of hidden activations ``H`` >= 1; the model has ``H + 1`` linear
            layers, e.g. ``H = 3`` gives ``in -> 256 -> 256 -> 256 -> out``.
        seed: if given, initialise from a private CPU RNG seeded with it, so the same seed
            gives identical weights and the global RNG state is left untouched.
        device: optional device to move the model to after (CPU) initialisation, so a seed
            gives the same weights on every device.
        dtype: optional floating dtype to cast the model to after initialisation.
        **kw: arch-specific options; see :data:`ARCH_OPTIONS` for names and defaults:

            * ``pe``: ``pe_levels=6``.
            * ``siren``: ``omega0=30.0``, ``first_omega0=None`` (same as ``omega0``).
            * ``finer``: ``omega0=30.0``, ``first_omega0=None``, ``first_bias_scale=1.0``.
            * ``wire``: ``omega0=20.0``, ``scale0=10.0`` (real Gabor variant).
            * ``gauss``: ``scale=10.0``.

            With ``method="fr"``: ``fr_low=128``, ``fr_high=128``, ``fr_phases=32``,
            ``fr_alpha`` (per-arch default), ``fr_init="uniform"``; with ``method="bn"``:
            ``bn_position="auto"`` (see :mod:`iga.models.reparam`).
        method: ``vanilla`` (default; the plain :class:`INR`), ``fr`` (an
            :class:`~iga.models.reparam.FRINR`) or ``bn`` (a
            :class:`~iga.models.reparam.BNINR`); "iga" is accepted as vanilla, since IGA
            changes the gradient, not the model.

    Raises:
        ValueError: unknown ``name`` or out-of-range numbers.
        TypeError: unknown option for the chosen arch, or a value of the wrong type.
    """
    if not isinstance(name, str) or name not in ARCH_OPTIONS:
        raise ValueError(f"unknown arch {name!r}; choose one of {', '.join(ARCH_OPTIONS)}")
    in_features = _as_int("in_features", in_features, 1)
    out_features = _as_int("out_features", out_features, 1)
    hidden_features = _as_int("hidden_features", hidden_features, 1)
    hidden_layers = _as_int("hidden_layers", hidden_layers, 1)
    method = "vanilla" if method == "iga" else method
    if method not in MODEL_METHODS:
        raise ValueError(
            f"unknown method {method!r}; choose one of {', '.join(MODEL_METHODS)} (or iga)"
        )
    kw, method_kw = split_options(kw)
    opts = _resolve_options(name, kw)

    args = (name, in_features, out_features, hidden_features, hidden_layers, opts)
    if seed is None:
        model = _construct(*args)
    else:
        seed = _as_int("seed", seed, 0)
        # devices=[]: only the CPU generator is forked and restored; construction happens on CPU,
        # and touching CUDA generators would initialise CUDA for no reason.
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(seed)
            model = _construct(*args)
            # Inside the forked RNG: FR's "uniform" init draws random numbers too.
            model = from_plain(model, method, **method_kw)
    if seed is None:
        model = from_plain(model, method, **method_kw)
    if device is not None or dtype is not None:
        model = model.to(device=device, dtype=dtype)
    return model

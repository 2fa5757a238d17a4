"""The method registry: what ``--method`` names. A method says how the model is
parameterised (``iga.models.build(..., method=...)``: vanilla, fr or bn) and whether an
adjuster changes the gradient (IGA's, or any other with ``loss(pred, target, inputs)``).

Add one from outside with :func:`register_method` or the ``iga.methods`` entry-point group
(:func:`iga.tasks.registry.load_plugins`); it then appears in every task's ``--method``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["METHODS", "MethodSpec", "adjusts", "model_method", "register_method"]


@dataclass(frozen=True)
class MethodSpec:
    """One ``--method``."""

    name: str
    help: str
    model: str = "vanilla"
    """The model's parameterisation: ``vanilla``, ``fr`` or ``bn`` (:func:`iga.models.build`)."""
    adjuster: Callable[..., Any] | None = None
    """``adjuster(model, groups, method_config, seed)`` -> an object with ``loss(pred,
    target, inputs)`` (and ``stats``/``state_dict``/``load_state_dict``), or None for the
    plain gradient of the task's loss."""


METHODS: dict[str, MethodSpec] = {}
"""Every method by name (the built-ins below, then plugins)."""


def register_method(spec: MethodSpec) -> MethodSpec:
    """Add a method; a built-in name is refused."""
    if spec.name in _BUILT_IN and spec is not METHODS.get(spec.name):
        raise ValueError(f"method {spec.name!r} is built in; choose another name")
    if spec.model not in ("vanilla", "fr", "bn"):
        raise ValueError(f"method {spec.name!r}: model must be vanilla, fr or bn")
    METHODS[spec.name] = spec
    return spec


def model_method(name: str) -> str:
    """The ``method=`` argument of :func:`iga.models.build` for ``--method name``."""
    spec = METHODS.get(name)
    return spec.model if spec is not None else name


def adjusts(name: str) -> bool:
    """Whether ``--method name`` changes the gradient through an adjuster."""
    spec = METHODS.get(name)
    return spec is not None and spec.adjuster is not None


def _iga(model: Any, groups: Any, cfg: Any, seed: int) -> Any:
    """``--method iga``'s adjuster; warns when the groups are so many that the exact solver
    every step costs many vanilla steps (the fast setting's flags are in the message)."""
    import warnings

    from iga.core.spectrum import LARGE_N
    from iga.train import build_iga

    n = int(groups.shape[0]) if hasattr(groups, "shape") else int(groups.n_groups)
    if n >= LARGE_N and getattr(cfg, "solver", "exact") == "exact" and cfg.every == 1:
        warnings.warn(
            f"IGA has {n:,} groups: the exact solver decomposes a {n:,}×{n:,} eNTK every step "
            "(at 6,144 groups 6-30 vanilla steps' time); --solver subspace --solver-iters 3 "
            "--every 4 costs 1.2-1.25x there (docs/speed.md), or use fewer, larger groups",
            stacklevel=3,
        )
    return build_iga(model, groups, cfg, seed)


_BUILT_IN = ("vanilla", "fr", "bn", "iga")
for _spec in (
    MethodSpec("vanilla", "the plain gradient of the task's loss"),
    MethodSpec("fr", "Fourier reparameterisation of the weights (Shi et al., CVPR 2024)", "fr"),
    MethodSpec("bn", "batch normalisation in the hidden layers (Cai et al., 2024)", "bn"),
    MethodSpec("iga", "Inductive Gradient Adjustment (Shi et al., ICML 2025)", adjuster=_iga),
):
    METHODS[_spec.name] = _spec

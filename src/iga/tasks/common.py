"""What the tasks built on the shared config sections (``ModelConfig``, ``MethodConfig``,
``TrainConfig``) have in common on the command line: the choices and bounds of those
sections' flags, read from the registries when the parser is built (so plugins' archs,
methods and optimisers appear), and the check of ``--opt`` keys."""

from __future__ import annotations

from typing import Any

__all__ = ["check_model", "shared_flags"]


def _positive(value: float) -> None:
    if not value > 0:
        raise ValueError(f"must be > 0; got {value}")


def shared_flags() -> dict[str, dict[str, Any]]:
    """configcli overrides for the model, method and train sections' fields."""
    from iga.core import SAMPLING
    from iga.methods import METHODS
    from iga.models import ARCH_OPTIONS
    from iga.optim import OPTIMIZERS, SCHEDULES

    return {
        "arch": {"choices": tuple(ARCH_OPTIONS)},
        "schedule": {"choices": SCHEDULES},
        "width": {"min": 1},
        "hidden_layers": {"min": 1},
        "options": {"flag": "--opt"},
        "method": {"choices": tuple(METHODS)},
        "ref": {"choices": ("end", "start")},
        "sampling": {"choices": SAMPLING},
        "every": {"min": 1},
        "scale": {"check": _positive},
        "optimizer": {"choices": tuple(OPTIMIZERS)},
    }


def check_model(cfg: Any) -> None:
    """``--opt`` keys in the user's terms, before anything is built."""
    from iga.models import check_options

    check_options(cfg.model.options, cfg.model.arch, cfg.method.method)

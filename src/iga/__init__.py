"""iga: Inductive Gradient Adjustment (Shi et al., ICML 2025) for implicit neural representations.

The public API (see the README for a quickstart)::

    adjuster = iga.IGA(model, groups=iga.groups.grid((H, W), block=8), end=20)
    loss = adjuster.loss(model(coords), target, coords)

``iga.load(run_dir)`` gives back a finished run's fitted field (:mod:`fields`), which
:mod:`export` writes as a standalone program; plus the pieces: :func:`entk`,
:func:`balance_matrix`, :mod:`groups`, :func:`adjusted_loss`, and :func:`image_points` (an
image's ``[-1, 1]`` (y, x) coordinates and colours); optimisers that combine with IGA (Adam,
SGD, Muon, ESGD) are in :mod:`optim`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# The public names and the modules that define them. They load on first use (PEP 562), so
# `import iga` (and the `iga` command's own start) imports neither torch nor any task, and a
# Ctrl-C while they load is the command's one-line interrupt, not a traceback.
_LAZY: dict[str, str] = {
    **dict.fromkeys(
        (
            "IGA",
            "SAMPLING",
            "Balanced",
            "Grouping",
            "Sampler",
            "adjusted_loss",
            "balance",
            "balance_matrix",
            "entk",
            "groups",
            "jacobian",
            "max_residual_points",
            "ntk_two_layer_relu",
        ),
        "iga.core",
    ),
    "image_points": "iga.tasks.image.data",
    "load": "iga.fields",
}
_SUBMODULES = ("export", "fields", "models", "optim")

if TYPE_CHECKING:
    from iga import export, fields, models, optim
    from iga.core import (
        IGA,
        SAMPLING,
        Balanced,
        Grouping,
        Sampler,
        adjusted_loss,
        balance,
        balance_matrix,
        entk,
        groups,
        jacobian,
        max_residual_points,
        ntk_two_layer_relu,
    )
    from iga.fields import load
    from iga.tasks.image.data import image_points


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"iga.{name}")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'iga' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY, *_SUBMODULES])


__all__ = [
    "IGA",
    "SAMPLING",
    "Balanced",
    "Grouping",
    "Sampler",
    "__version__",
    "adjusted_loss",
    "balance",
    "balance_matrix",
    "entk",
    "export",
    "fields",
    "groups",
    "image_points",
    "jacobian",
    "load",
    "max_residual_points",
    "models",
    "ntk_two_layer_relu",
    "optim",
]

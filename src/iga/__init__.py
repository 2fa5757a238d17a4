"""iga: Inductive Gradient Adjustment (Shi et al., ICML 2025) for implicit neural representations.

The public API (see the README for a quickstart)::

    adjuster = iga.IGA(model, groups=iga.groups.grid((H, W), block=8), end=20)
    loss = adjuster.loss(model(coords), target, coords)

plus the pieces: :func:`entk`, :func:`balance_matrix`, :mod:`groups`, :func:`adjusted_loss`,
and :func:`image_points` (an image's ``[-1, 1]`` (y, x) coordinates and colours); optimisers
that combine with IGA (Adam, SGD, Muon, ESGD) are in :mod:`optim`.
"""

from iga import models, optim
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

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # image_points is the image task's helper: loaded on first use, so importing iga loads no task.
    if name == "image_points":
        from iga.tasks.image.data import image_points

        return image_points
    raise AttributeError(f"module 'iga' has no attribute {name!r}")


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
    "groups",
    "image_points",
    "jacobian",
    "max_residual_points",
    "models",
    "ntk_two_layer_relu",
    "optim",
]

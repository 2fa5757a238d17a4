"""The method itself: eNTK, spectrum balancing, groups, sampling, the adjusted loss.

Imports nothing from models or tasks: it works on any ``nn.Module``.
"""

from iga.core import groups
from iga.core.adjust import IGA, adjusted_loss
from iga.core.entk import entk, jacobian, linear_entk_supported
from iga.core.groups import Grouping
from iga.core.sampling import SAMPLING, Sampler, max_residual_points
from iga.core.spectrum import Balanced, balance, balance_matrix, ntk_two_layer_relu

__all__ = [
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
    "linear_entk_supported",
    "max_residual_points",
    "ntk_two_layer_relu",
]

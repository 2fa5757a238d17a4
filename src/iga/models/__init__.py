"""INR model zoo: ``build(name, in_features, out_features, ...)`` for every arch in ``ARCHS``."""

from __future__ import annotations

from iga.models.inr import ARCH_OPTIONS, ARCHS, INR, OPTION_HELP, build, count_parameters
from iga.models.layers import Finer, Gaussian, PositionalEncoding, RealGabor, Sine

__all__ = [
    "ARCHS",
    "ARCH_OPTIONS",
    "OPTION_HELP",
    "INR",
    "Finer",
    "Gaussian",
    "PositionalEncoding",
    "RealGabor",
    "Sine",
    "build",
    "count_parameters",
]

"""INR model zoo: ``build(name, in_features, out_features, ..., method=...)`` for every arch in
``ARCHS``, trained plainly (vanilla/IGA) or through FR or BN (:mod:`iga.models.reparam`)."""

from __future__ import annotations

from iga.models.inr import ARCH_OPTIONS, ARCHS, INR, OPTION_HELP, build, count_parameters
from iga.models.layers import Finer, Gaussian, PositionalEncoding, RealGabor, Sine
from iga.models.reparam import (
    BN_OPTIONS,
    BN_POSITION,
    BNINR,
    FR_ALPHA,
    FR_OPTIONS,
    FRINR,
    MODEL_METHODS,
    FRLinear,
    fourier_bases,
)

__all__ = [
    "ARCHS",
    "ARCH_OPTIONS",
    "BN_OPTIONS",
    "BN_POSITION",
    "BNINR",
    "FR_ALPHA",
    "FR_OPTIONS",
    "FRINR",
    "FRLinear",
    "MODEL_METHODS",
    "OPTION_HELP",
    "INR",
    "Finer",
    "Gaussian",
    "PositionalEncoding",
    "RealGabor",
    "Sine",
    "build",
    "count_parameters",
    "fourier_bases",
]

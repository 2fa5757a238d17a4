"""INR model zoo: ``build(name, in_features, out_features, ..., method=...)`` for every arch in
``ARCHS``, trained plainly (vanilla/IGA) or through FR or BN (:mod:`iga.models.reparam`)."""

from __future__ import annotations

from iga.models.factory import ArchSpec, build, check_options, register_arch
from iga.models.inr import (
    ARCH_OPTIONS,
    ARCHS,
    COMMON_OPTIONS,
    HADAMARD,
    INR,
    OPTION_HELP,
    count_parameters,
)
from iga.models.layers import (
    Finer,
    Gaussian,
    Hadamard,
    PositionalEncoding,
    RealGabor,
    Sine,
    SphericalNorm,
)
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
    "ArchSpec",
    "check_options",
    "register_arch",
    "ARCHS",
    "ARCH_OPTIONS",
    "BN_OPTIONS",
    "BN_POSITION",
    "COMMON_OPTIONS",
    "BNINR",
    "FR_ALPHA",
    "FR_OPTIONS",
    "FRINR",
    "FRLinear",
    "HADAMARD",
    "Hadamard",
    "MODEL_METHODS",
    "OPTION_HELP",
    "INR",
    "Finer",
    "Gaussian",
    "PositionalEncoding",
    "RealGabor",
    "Sine",
    "SphericalNorm",
    "build",
    "count_parameters",
    "fourier_bases",
]

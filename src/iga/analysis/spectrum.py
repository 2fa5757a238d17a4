"""eNTK spectra of INRs: summary statistics, architecture comparisons, trained checkpoints.

This module gathers the public names of the spectrum analysis, which lives in:

:mod:`iga.analysis.spectrum_kernel`
    the kernel spectrum of a model on given points (:func:`kernel_spectrum`), its statistics
    (:func:`eigenvalue_stats`: condition, normalised variance, effective rank) and
    comparisons of archs at initialisation (:func:`compare_archs`, :func:`arch_spec`).
:mod:`iga.analysis.spectrum_points`
    the points the kernel is taken on (:func:`patch_centres`, :func:`representatives`) and
    the spectrum of a trained run's weights (:func:`spectrum_of_checkpoint`).
:mod:`iga.analysis.spectrum_figure`
    the figure of spectra (:func:`spectra_figure`).
:mod:`iga.analysis.spectrum_driver`
    ``iga analyze spectrum`` (:class:`SpectrumOptions`, :func:`analyze_spectrum`).
:mod:`iga.analysis.inputs`
    the image an analysis runs on (:func:`analysis_image`, :func:`image_label`).
"""

from __future__ import annotations

from iga.analysis.inputs import analysis_image, image_label
from iga.analysis.spectrum_driver import SpectrumOptions, analyze_spectrum
from iga.analysis.spectrum_figure import spectra_figure
from iga.analysis.spectrum_kernel import (
    STAT_KEYS,
    SpectrumResult,
    arch_spec,
    compare_archs,
    eigenvalue_stats,
    kernel_spectrum,
)
from iga.analysis.spectrum_points import (
    SAMPLINGS,
    patch_centres,
    representatives,
    spectrum_of_checkpoint,
)

__all__ = [
    "SAMPLINGS",
    "STAT_KEYS",
    "SpectrumOptions",
    "SpectrumResult",
    "analysis_image",
    "analyze_spectrum",
    "arch_spec",
    "compare_archs",
    "eigenvalue_stats",
    "image_label",
    "kernel_spectrum",
    "patch_centres",
    "representatives",
    "spectra_figure",
    "spectrum_of_checkpoint",
]

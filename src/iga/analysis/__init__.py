"""Diagnostics of why a method trains the way it does (``iga analyze``).

:mod:`iga.analysis.spectrum`: eNTK spectra (condition, normalised variance, effective rank)
of archs at initialisation, with and without IGA's S, and of trained checkpoints.
:mod:`iga.analysis.bands`: per-frequency-band relative errors of image fits along training.
:mod:`iga.analysis.training`: both along training, per method and seed (``iga analyze training``).
:mod:`iga.analysis.regions`: activation regions of ReLU INRs along training
(``iga analyze regions``).
"""

from iga.analysis.bands import (
    BandImageTask,
    BandsOptions,
    analyze_bands,
    band_columns,
    band_curves,
    band_edges,
    band_energies,
    band_index,
    bands_figure,
    radial_band_errors,
    read_band_curves,
)
from iga.analysis.regions import (
    RegionCount,
    RegionFunctionTask,
    RegionImageTask,
    RegionsOptions,
    activation_patterns,
    analyze_regions,
    regions_1d,
    regions_2d,
)
from iga.analysis.spectrum import (
    SAMPLINGS,
    STAT_KEYS,
    SpectrumOptions,
    SpectrumResult,
    analyze_spectrum,
    arch_spec,
    compare_archs,
    eigenvalue_stats,
    kernel_spectrum,
    patch_centres,
    representatives,
    spectra_figure,
    spectrum_of_checkpoint,
)
from iga.analysis.training import ProbeImageTask, TrainingOptions, analyze_training

__all__ = [
    "SAMPLINGS",
    "STAT_KEYS",
    "BandImageTask",
    "BandsOptions",
    "ProbeImageTask",
    "RegionCount",
    "RegionFunctionTask",
    "RegionImageTask",
    "RegionsOptions",
    "TrainingOptions",
    "activation_patterns",
    "analyze_regions",
    "analyze_training",
    "arch_spec",
    "regions_1d",
    "regions_2d",
    "SpectrumOptions",
    "SpectrumResult",
    "analyze_bands",
    "analyze_spectrum",
    "band_columns",
    "band_curves",
    "band_edges",
    "band_energies",
    "band_index",
    "bands_figure",
    "compare_archs",
    "eigenvalue_stats",
    "kernel_spectrum",
    "patch_centres",
    "radial_band_errors",
    "read_band_curves",
    "representatives",
    "spectra_figure",
    "spectrum_of_checkpoint",
]

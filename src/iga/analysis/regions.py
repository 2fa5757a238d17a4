"""Activation regions of ReLU INRs: where the network is one affine map, and how that changes.

This module gathers the public names of the regions analysis, which lives in:

:mod:`iga.analysis.regions_count`
    activation patterns and region counts of a network in 1D and 2D
    (:func:`activation_patterns`, :func:`regions_1d`, :func:`regions_2d`) and the local
    relations of region density to the target and the error (:func:`local_relations`).
:mod:`iga.analysis.regions_tasks`
    the image and 1D tasks with a region probe along training (:class:`RegionImageTask`,
    :class:`RegionFunctionTask`).
:mod:`iga.analysis.regions_driver`
    ``iga analyze regions`` (:class:`RegionsOptions`, :func:`analyze_regions`,
    :func:`regions_figure`).
"""

from __future__ import annotations

from iga.analysis.regions_count import (
    REGION_ARCHS,
    RegionCount,
    activation_patterns,
    local_relations,
    pattern_ids,
    regions_1d,
    regions_2d,
)
from iga.analysis.regions_driver import RegionsOptions, analyze_regions, regions_figure
from iga.analysis.regions_tasks import RegionFunctionTask, RegionImageTask

__all__ = [
    "REGION_ARCHS",
    "RegionCount",
    "RegionFunctionTask",
    "RegionImageTask",
    "RegionsOptions",
    "activation_patterns",
    "analyze_regions",
    "local_relations",
    "pattern_ids",
    "regions_1d",
    "regions_2d",
    "regions_figure",
]

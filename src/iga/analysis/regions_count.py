"""Activation regions of ReLU INRs: counting where the network is one affine map.

A ReLU network is piecewise affine in its input: each on/off *activation pattern* of its
hidden units selects one affine map, and the set of inputs sharing a pattern is a linear
region. Lazzari & Liu ("Understanding the Spectral Bias of Coordinate Based MLPs Via Training
Dynamics", summarised in the project's reference notes, document 004) tie the spectral bias
of coordinate MLPs in low dimensions to these regions: a function with few regions in an
area cannot bend there, and positional encoding changes how many there are and where.

What is counted here, for an :class:`~iga.models.INR` of arch ``relu`` or ``pe`` (plain
``nn.ReLU`` activations only):

* **pattern** (:func:`activation_patterns`): one bit per hidden unit, ``z > 0``, at an input
  point. For ``pe`` the network sees ``γ(x)``, so a region is a set of *inputs* x with one
  pattern, on which the network is affine in ``γ(x)`` (not in x).
* **1D** (:func:`regions_1d`): the pieces of a segment: the patterns on a dense grid, a
  boundary wherever two neighbouring samples differ (located by bisection between them), and
  ``pieces = boundaries + 1``. Resolution limit: two boundaries inside one grid step whose
  patterns cancel are missed, and several boundaries in one step count once; bisection
  refines positions, it does not find missed pairs. The default grid (20001 points) is far
  finer than the regions of the networks studied here.
* **2D** (:func:`regions_2d`): patterns on a pixel grid; the number of distinct patterns,
  the number of connected regions (4-neighbour components of equal pattern, by
  ``scipy.sparse.csgraph.connected_components``), and the boundary map (pixels whose right
  or lower neighbour has another pattern). Regions smaller than a pixel are not resolved.

:func:`local_relations` relates the local density of region boundaries to the target's detail
and to the error reduction. Counting along training is in :mod:`iga.analysis.regions_tasks`,
``iga analyze regions`` in :mod:`iga.analysis.regions_driver`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage, sparse, stats
from scipy.sparse.csgraph import connected_components
from torch import nn

from iga.models import INR

__all__ = [
    "REGION_ARCHS",
    "RegionCount",
    "activation_patterns",
    "local_relations",
    "pattern_ids",
    "regions_1d",
    "regions_2d",
]

REGION_ARCHS = ("relu", "pe")


def _relu_parts(model: nn.Module) -> tuple[nn.Module, list[nn.Module]]:
    if not isinstance(model, INR):
        raise ValueError(
            f"activation regions need a plain ReLU INR (arch relu or pe); got a "
            f"{type(model).__name__} (FR/BN variants are not analysed)"
        )
    acts = [m for m in model.net if not isinstance(m, nn.Linear)]
    if not acts or not all(type(m) is nn.ReLU for m in acts):
        kinds = sorted({type(m).__name__ for m in acts})
        raise ValueError(
            f"activation regions need ReLU activations only (arch relu or pe); arch "
            f"{model.arch!r} has {', '.join(kinds) or 'none'}"
        )
    return model.encoding, list(model.net)


@torch.no_grad()
def activation_patterns(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The on/off pattern ``z > 0`` of every hidden ReLU unit at each row of ``x``:
    bool [N, total hidden units], layers in forward order.

    Raises:
        ValueError: the model is not a plain INR with ReLU activations only.
    """
    encoding, modules = _relu_parts(model)
    h = encoding(x)
    bits = []
    for m in modules:
        if isinstance(m, nn.ReLU):
            bits.append(h > 0)
        h = m(h)
    return torch.cat(bits, dim=1)


def pattern_ids(patterns: torch.Tensor) -> np.ndarray:
    """An integer id per row of a bool pattern matrix (equal rows, equal ids)."""
    packed = np.packbits(patterns.cpu().numpy(), axis=1)
    _, ids = np.unique(packed, axis=0, return_inverse=True)
    return ids.reshape(-1)


@dataclass
class RegionCount:
    """Regions of one network on one domain."""

    count: int
    """1D: pieces of the segment; 2D: connected regions on the pixel grid."""
    patterns: int
    """Distinct activation patterns seen."""
    boundaries: np.ndarray
    """1D: boundary positions (ascending); 2D: the bool boundary map [H, W]."""


def regions_1d(
    model: nn.Module, lo: float, hi: float, n: int = 20001, bisect: int = 30
) -> RegionCount:
    """Linear pieces of a 1D-input ReLU INR on ``[lo, hi]`` (see the module docstring)."""
    if not hi > lo or n < 2:
        raise ValueError(f"need lo < hi and n >= 2; got [{lo}, {hi}], n={n}")
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    x = torch.linspace(lo, hi, n, dtype=dtype, device=device)[:, None]
    pat = activation_patterns(model, x)
    change = (pat[1:] != pat[:-1]).any(dim=1).nonzero().squeeze(1)
    a, b = x[change, 0].clone(), x[change + 1, 0].clone()
    left = pat[change]
    for _ in range(bisect):
        mid = (a + b) / 2
        same = (activation_patterns(model, mid[:, None]) == left).all(dim=1)
        a = torch.where(same, mid, a)
        b = torch.where(same, b, mid)
    positions = ((a + b) / 2).cpu().double().numpy()
    return RegionCount(int(change.numel()) + 1, int(np.unique(pattern_ids(pat)).size), positions)


def regions_2d(model: nn.Module, coords: torch.Tensor, height: int, width: int) -> RegionCount:
    """Regions of a 2D-input ReLU INR on a ``height × width`` grid whose points are the
    row-major ``coords`` [H·W, 2] (e.g. an image's pixel centres)."""
    if coords.shape[0] != height * width:
        raise ValueError(f"coords has {coords.shape[0]} rows for a {width}x{height} grid")
    ids = pattern_ids(activation_patterns(model, coords)).reshape(height, width)
    right = ids[:, 1:] == ids[:, :-1]
    down = ids[1:, :] == ids[:-1, :]
    index = np.arange(height * width).reshape(height, width)
    rows = np.concatenate([index[:, :-1][right], index[:-1, :][down]])
    cols = np.concatenate([index[:, 1:][right], index[1:, :][down]])
    graph = sparse.coo_matrix(
        (np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(height * width,) * 2
    )
    n_regions, _ = connected_components(graph, directed=False)
    boundary = np.zeros((height, width), dtype=bool)
    boundary[:, :-1] |= ~right
    boundary[:-1, :] |= ~down
    return RegionCount(int(n_regions), int(np.unique(ids).size), boundary)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(stats.spearmanr(a, b).statistic)


def local_relations(
    boundary: np.ndarray, target: np.ndarray, err0: np.ndarray, err1: np.ndarray, window: int
) -> dict[str, float]:
    """Spearman correlations, over pixels, of the local region density (share of boundary
    points in a ``window × window``-pixel box; a boundary map finer than the pixels is first
    averaged per pixel) with (a) the target's local high-frequency content (the box mean of
    ``|t − gauss(t, σ=1.5)|`` of the grey target) and (b) the local error reduction (box mean
    of ``|r_start| − |r_end|``)."""
    h, w = err0.shape
    sy, sx = boundary.shape[0] // h, boundary.shape[1] // w
    per_pixel = boundary[: h * sy, : w * sx].reshape(h, sy, w, sx).mean(axis=(1, 3))
    density = ndimage.uniform_filter(per_pixel.astype(np.float64), window)
    grey = target.mean(axis=-1) if target.ndim == 3 else target
    detail = ndimage.uniform_filter(np.abs(grey - ndimage.gaussian_filter(grey, 1.5)), window)
    gain = ndimage.uniform_filter(err0 - err1, window)
    return {
        "vs_target_detail": _spearman(density, detail),
        "vs_error_drop": _spearman(density, gain),
    }

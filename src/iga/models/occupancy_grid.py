"""An occupancy grid that steers NeRF's coarse samples away from empty space (issue 28).

nerfacc's ``OccGridEstimator`` and instant-ngp's density grid keep a binary grid over the
scene's box, updated during training from the network's density, and march each ray only
through occupied cells: a variable number of samples per ray, packed, scanned by a CUDA
kernel. This grid is updated as theirs is (``maximum(decay · EMA, new)`` with decay 0.95, a
threshold ``min(threshold, mean)`` on the opacity ``σ · cell size``, every cell during a
warm-up, then a quarter of the cells drawn at random plus up to as many occupied ones), but
the sampling stays fixed-shape, as IGA's per-ray eNTK (``torch.func`` through the renderer)
needs:

- every ray keeps ``n_coarse`` samples; :meth:`OccupancyGrid.depths` *warps* the plain
  stratified depths through the inverse CDF of a piecewise-constant density along the ray,
  1 on the ray's candidate bins whose midpoint lies in an occupied cell and ``floor`` on the
  others (``4 · resolution`` bins between near and far; a lookup, no network);
- where a ray's whole near..far stretch is occupied (or none of it is) that density is
  uniform and the warp is the identity: the samples are the plain ones (to round-off); with
  part of the ray occupied, its samples crowd into the occupied stretch, keeping their
  stratified order and jitter, and a share ``floor · empty / (occupied + floor · empty)`` of
  them stays in empty space, so a cell wrongly marked empty still gets samples (and
  gradient); the fine samples are drawn from the coarse weights as before;
- a margin: the occupied cells are grown by :attr:`OccupancyGrid.dilation` cells. The
  renderer's step ``δ_i = z_{i+1} − z_i`` (nerf-pytorch's) reaches to the next sample, so the
  last sample with σ > 0 before a stretch of sparse empty-space samples would claim all of
  it; nerfacc's samples carry their own intervals and need no margin;
- outside the box a point takes the occupancy of the nearest cell on the box's surface
  (nerfacc samples nothing outside its box). An edge of the box where the density is not yet
  zero (the fog a NeRF starts with fills the whole box) would otherwise be such a gap: in
  300-step smoke runs on lego with every cell occupied, treating the outside as empty put
  the grid run 2.5 dB of validation PSNR behind the plain run at step 250, this rule 0.2 dB
  (docs/nerf.md). Once the cells on the box's surface are empty, so is everything beyond.

The grid is a submodule of :class:`~iga.models.nerf.NeRF` whose state is two buffers (the
EMA opacity and the grid the sampling looks up): it travels with the state dict, so
checkpoints, ``best.pt`` and :func:`iga.load` carry it. Its update draws from a generator
seeded by the run's seed and the step (:func:`update_generator`), so a resumed run updates it
as a straight run does, and each step's rays are those of the same run without a grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "GRID_CHUNK",
    "GRID_DECAY",
    "GRID_MAX",
    "GRID_WARMUP",
    "OccupancyGrid",
    "check_grid_options",
    "update_generator",
    "warp_depths",
]

GRID_DECAY = 0.95
"""EMA decay of a cell's opacity per update (nerfacc's and instant-ngp's)."""
GRID_WARMUP = 256
"""Steps during which every cell is evaluated at each update (nerfacc's ``warmup_steps``)."""
GRID_MAX = 256
"""Largest grid (cells per axis): 256³ cells hold 84 MB of state."""
GRID_CHUNK = 65536
"""Cell centres per network call during an update (bounds the memory of a full update)."""


def check_grid_options(grid: int, every: int, threshold: float, bound: float, floor: float) -> None:
    """Raise a one-line ValueError naming the flag when a grid option is out of range."""
    if (
        isinstance(grid, bool)
        or not isinstance(grid, int)
        or not (grid == 0 or 2 <= grid <= GRID_MAX)
    ):
        raise ValueError(f"--grid must be 0 (off) or 2..{GRID_MAX} cells per axis; got {grid!r}")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"--grid-every must be an integer >= 1; got {every!r}")
    if not (isinstance(threshold, int | float) and 0 < threshold < 1):
        raise ValueError(f"--grid-threshold must be an opacity in (0, 1); got {threshold!r}")
    if not (isinstance(bound, int | float) and 0 < bound < math.inf):
        raise ValueError(f"--grid-bound must be a positive number; got {bound!r}")
    if not (isinstance(floor, int | float) and 0 < floor <= 1):
        raise ValueError(f"--grid-floor must be in (0, 1]; got {floor!r}")


def update_generator(seed: int, step: int) -> torch.Generator:
    """The generator of the grid update at ``step`` of a run seeded ``seed``: a function of
    both only, so a resumed run redraws what a straight run drew, and the training batches'
    own generator is left alone."""
    return torch.Generator().manual_seed((seed % 2**31) * 2**32 + step)


def warp_depths(edges: torch.Tensor, weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Depths [R, S] at the quantiles ``u`` [R, S] (in [0, 1]) of the piecewise-constant
    density with bin ``edges`` [M + 1] (shared by the rays) and positive ``weights`` [R, M].

    With equal weights it maps ``u`` linearly onto ``[edges[0], edges[-1]]``. Unlike
    :func:`~iga.models.render.sample_pdf` it adds nothing to the weights and keeps a bin's
    samples spread over it however small its share (no ``denom < 1e-5`` shortcut): the floor
    of an empty bin can be that small.
    """
    cdf = torch.cumsum(weights, dim=-1)
    cdf = cdf / cdf[:, -1:]  # ends at exactly 1
    cdf = torch.cat([torch.zeros_like(cdf[:, :1]), cdf], dim=-1)  # [R, M + 1]
    m = weights.shape[-1]
    hi = torch.searchsorted(cdf, u.contiguous(), right=True).clamp(1, m)
    lo = hi - 1
    c_lo, c_hi = cdf.gather(-1, lo), cdf.gather(-1, hi)
    t = ((u - c_lo) / (c_hi - c_lo).clamp_min(torch.finfo(cdf.dtype).tiny)).clamp(0.0, 1.0)
    e_lo, e_hi = edges[lo], edges[hi]
    return e_lo + t * (e_hi - e_lo)


class OccupancyGrid(nn.Module):
    """A binary occupancy grid of ``resolution``³ cells over the box ``[-bound, bound]³``.

    Buffers: ``opacity`` [resolution³] (the EMA of ``σ · cell size`` per cell, the cells in
    x-major order) and ``occupied`` [resolution, resolution, resolution] (bool, what the
    sampling looks up: :meth:`binary` grown by :attr:`dilation` cells; all True before the
    first update, so an un-updated grid samples as no grid does). A point outside the box
    takes the occupancy of the nearest cell.

    Args:
        resolution: cells per axis.
        bound: half the box's edge (world units; nerfacc's Blender box: 1.5).
        threshold: a cell is occupied when its opacity exceeds ``min(threshold, mean
            opacity)`` (nerfacc's ``occ_thre``; the mean keeps part of the grid occupied while
            the density is small everywhere, e.g. at initialisation).
        floor: the density of the sampling pdf in empty bins, relative to 1 in occupied ones.
    """

    def __init__(self, resolution: int, bound: float, threshold: float, floor: float) -> None:
        super().__init__()
        check_grid_options(resolution, 1, threshold, bound, floor)
        if resolution == 0:
            raise ValueError("an OccupancyGrid needs a resolution of at least 2 (--grid)")
        self.resolution, self.bound = resolution, float(bound)
        self.threshold, self.floor = float(threshold), float(floor)
        self.register_buffer("opacity", torch.zeros(resolution**3))
        self.register_buffer("occupied", torch.ones((resolution,) * 3, dtype=torch.bool))

    @property
    def cell(self) -> float:
        """A cell's edge length (world units)."""
        return 2.0 * self.bound / self.resolution

    @property
    def candidates(self) -> int:
        """Bins between near and far at which a ray looks the grid up (4 per cell of an
        axis: a ray crossing the box crosses up to √3·resolution cells in a stretch that is
        part of near..far)."""
        return 4 * self.resolution

    def lookup(self, points: torch.Tensor) -> torch.Tensor:
        """Whether each point [..., 3] lies in an occupied cell, or outside the box nearest
        to one (bool [...])."""
        res = self.resolution
        idx = torch.floor((points + self.bound) / self.cell).long().clamp(0, res - 1)
        flat = (idx[..., 0] * res + idx[..., 1]) * res + idx[..., 2]
        return self.occupied.reshape(-1)[flat]

    def depths(
        self,
        rays_o: torch.Tensor,
        rays_d: torch.Tensor,
        z: torch.Tensor,
        near: float,
        far: float,
    ) -> torch.Tensor:
        """The depths ``z`` [R, S] in [near, far] (plain stratified ones) warped towards the
        occupied stretches of each ray (see the module docstring); [R, S], detached."""
        with torch.no_grad():
            m = self.candidates
            edges = torch.linspace(near, far, m + 1, dtype=z.dtype, device=z.device)
            mids = 0.5 * (edges[1:] + edges[:-1])
            pts = rays_o[:, None, :] + rays_d[:, None, :] * mids[None, :, None]
            w = torch.where(self.lookup(pts), 1.0, self.floor).to(z.dtype)
            return warp_depths(edges, w, (z - near) / (far - near))

    def cell_points(self, cells: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A uniformly random point [N, 3] in each of the ``cells`` [N] (flat indices)."""
        res = self.resolution
        ijk = torch.stack([cells // (res * res), (cells // res) % res, cells % res], dim=-1)
        jitter = torch.rand(ijk.shape, generator=generator)
        return (ijk.to(jitter.dtype) + jitter) * self.cell - self.bound

    @torch.no_grad()
    def update(
        self,
        density: Callable[[torch.Tensor], torch.Tensor],
        step: int,
        generator: torch.Generator,
    ) -> None:
        """One update (nerfacc's ``_update``): evaluate ``density(points [N, 3]) -> σ [N]``
        at a random point of every cell (``step`` < :data:`GRID_WARMUP`) or of a quarter of
        the cells drawn at random plus the occupied cells (a quarter of the cells drawn from
        them where there are more), and set
        ``opacity = maximum(opacity · decay, σ · cell)`` there; then ``occupied`` is
        :meth:`binary` (``opacity > min(threshold, mean opacity)``) grown by
        :attr:`dilation` cells."""
        n = self.resolution**3
        if step < GRID_WARMUP:
            cells = torch.arange(n)
        else:
            drawn = torch.randint(n, (n // 4,), generator=generator)
            occupied = self.binary().reshape(-1).nonzero().squeeze(1).cpu()
            if len(occupied) > n // 4:  # as nerfacc: at most a quarter, drawn at random
                occupied = occupied[torch.randint(len(occupied), (n // 4,), generator=generator)]
            cells = torch.unique(torch.cat([drawn, occupied]))
        device = self.opacity.device
        pts = self.cell_points(cells, generator).to(device)
        sigma = torch.cat([density(chunk).reshape(-1) for chunk in pts.split(GRID_CHUNK)])
        cells = cells.to(device)
        new = torch.maximum(self.opacity[cells] * GRID_DECAY, sigma.to(self.opacity) * self.cell)
        self.opacity[cells] = new
        r = self.dilation
        grown = F.max_pool3d(self.binary().to(self.opacity)[None, None], 2 * r + 1, 1, r)
        self.occupied.copy_(grown[0, 0] > 0)

    @property
    def dilation(self) -> int:
        """Cells by which the occupied cells are grown (``max(1, resolution // 32)``: at
        least 3% of the box, 0.09 for Blender scenes). A renderer step ``δ_i = z_{i+1} − z_i``
        reaches to the next sample: without a margin of occupied cells behind an object, its
        last sample with σ > 0 could be followed by a long stretch of sparse empty-space
        samples and claim all of it (measured on a ball of σ = 1: a coarse colour 0.40 off,
        0.02 with the margin; the test of this margin is in tests/test_nerf_grid.py)."""
        return max(1, self.resolution // 32)

    def binary(self) -> torch.Tensor:
        """The grid before the margin: ``opacity > min(threshold, mean opacity)``
        [resolution, resolution, resolution] (bool)."""
        threshold = torch.clamp(self.opacity.mean(), max=self.threshold)
        return (self.opacity > threshold).reshape(self.occupied.shape)

    def extra_repr(self) -> str:
        return (
            f"resolution={self.resolution}, bound={self.bound}, threshold={self.threshold}, "
            f"floor={self.floor}"
        )

"""Groups of nearby points: index tensors [n_groups, points_per_group].

Entry ``groups[j, k]`` is the index (into the flat list of N points) of the k-th point of
group j, or ``-1`` for padding when groups are ragged (a grid whose size is not a multiple of
the block). Padding slots are masked everywhere downstream; no point is ever dropped or counted
twice. :class:`Grouping` validates such a tensor once against N and precomputes the gather
and scatter indices the training step needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = ["grid", "from_lists", "Grouping"]


def _as_tuple(v: int | Sequence[int], ndim: int, name: str) -> tuple[int, ...]:
    t = (int(v),) * ndim if isinstance(v, int) else tuple(int(i) for i in v)
    if len(t) != ndim:
        raise ValueError(f"{name} has {len(t)} dimensions but the grid has {ndim}")
    return t


def grid(shape: int | Sequence[int], block: int | Sequence[int]) -> torch.Tensor:
    """Non-overlapping blocks of a 1D, 2D or 3D grid of points stored row-major.

    Args:
        shape: grid size, e.g. ``(H, W)`` for an image whose pixel (r, c) is point r·W + c.
        block: block size per dimension (an int applies to all), e.g. ``(8, 8)`` patches.

    Returns:
        LongTensor [n_groups, prod(block)]; groups in row-major block order, points inside a
        block in row-major order; edge blocks that stick out of the grid are padded with -1.
    """
    shape_t = (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
    if not 1 <= len(shape_t) <= 3:
        raise ValueError(f"grid shape must have 1 to 3 dimensions; got {shape_t}")
    block_t = _as_tuple(block, len(shape_t), "block")
    for s, b in zip(shape_t, block_t, strict=True):
        if s < 1 or b < 1:
            raise ValueError(f"grid shape {shape_t} and block {block_t} must be positive")
        if b > s:
            raise ValueError(
                f"block {block_t} is larger than the signal {shape_t}; use a smaller block"
            )
    idx = torch.arange(math.prod(shape_t)).reshape(shape_t)
    counts = [math.ceil(s / b) for s, b in zip(shape_t, block_t, strict=True)]
    padded = torch.full([c * b for c, b in zip(counts, block_t, strict=True)], -1)
    padded[tuple(slice(0, s) for s in shape_t)] = idx
    # [c0, b0, c1, b1, ...] -> [c0, c1, ..., b0, b1, ...]
    inter = [v for cb in zip(counts, block_t, strict=True) for v in cb]
    nd = len(shape_t)
    perm = [2 * i for i in range(nd)] + [2 * i + 1 for i in range(nd)]
    return padded.reshape(inter).permute(perm).reshape(math.prod(counts), math.prod(block_t))


def from_lists(groups: Sequence[Sequence[int]]) -> torch.Tensor:
    """Pack ragged lists of point indices (e.g. from clustering) into a -1 padded tensor."""
    if not groups or any(len(g) == 0 for g in groups):
        raise ValueError("every group needs at least one point")
    p = max(len(g) for g in groups)
    out = torch.full((len(groups), p), -1, dtype=torch.long)
    for j, g in enumerate(groups):
        out[j, : len(g)] = torch.as_tensor(list(g), dtype=torch.long)
    return out


class Grouping:
    """A validated group tensor for N points, with precomputed gather/scatter indices.

    Build it once per dataset; the training step then only indexes.
    """

    def __init__(self, groups: torch.Tensor, n_points: int) -> None:
        if not isinstance(groups, torch.Tensor) or groups.ndim != 2:
            raise ValueError("groups must be a LongTensor [n_groups, points_per_group]")
        if groups.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"groups must hold integer indices; got {groups.dtype}")
        g = groups.detach().to(torch.long).cpu()
        valid = g >= 0
        if (g < -1).any():
            bad = int(g[g < -1][0])
            raise ValueError(
                f"groups hold the index {bad}: indices are 0 and up, and only -1 marks padding"
            )
        if (g >= n_points).any():
            raise ValueError(
                f"groups hold indices outside [0, {n_points}) (only -1 marks padding); "
                f"were the groups built for a signal of {n_points} points?"
            )
        if not valid.any(dim=1).all():
            raise ValueError("some groups are empty (all -1); drop them")
        flat = g[valid]
        counts = torch.bincount(flat, minlength=n_points)
        if flat.numel() != n_points or (counts != 1).any():
            missing = int((counts == 0).sum())
            dup = int((counts > 1).sum())
            raise ValueError(
                f"groups must cover each of the {n_points} points exactly once "
                f"({missing} missing, {dup} repeated); build them for this signal's shape"
            )
        self.groups = g
        self.n_points = n_points
        self.valid = valid
        # Padding points at row N of a zero-extended residual, so gathering needs no mask.
        self.gather_index = torch.where(valid, g, torch.full_like(g, n_points))
        # Position of point i in the flattened [n_groups * p] layout.
        self.scatter_index = torch.empty(n_points, dtype=torch.long)
        self.scatter_index[flat] = torch.nonzero(valid.reshape(-1)).squeeze(1)
        self._device_cache: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    @property
    def n_groups(self) -> int:
        return self.groups.shape[0]

    @property
    def group_size(self) -> int:
        return self.groups.shape[1]

    def on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(groups, gather_index, scatter_index) on ``device``, cached."""
        if device not in self._device_cache:
            self._device_cache[device] = tuple(
                t.to(device) for t in (self.groups, self.gather_index, self.scatter_index)
            )
        return self._device_cache[device]  # type: ignore[return-value]

    def gather(self, values: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
        """[N, ...] -> [n_groups, p, ...]; padding slots hold ``fill``."""
        _, gi, _ = self.on(values.device)
        pad = values.new_full((1, *values.shape[1:]), fill)
        return torch.cat([values, pad])[gi]

    def scatter(self, grouped: torch.Tensor) -> torch.Tensor:
        """[n_groups, p, ...] -> [N, ...] (padding slots are discarded)."""
        _, _, si = self.on(grouped.device)
        return grouped.reshape(-1, *grouped.shape[2:])[si]

"""Choosing the representative point of each group (paper Sec. 3.3 and Appendix B).

Modes:

``"max_residual"`` (default, the paper's SLR)
    the point with the largest ``Σ_c |f_c − y_c|`` in its group, re-chosen at every refresh.
``"random"`` (the paper's RI)
    a uniformly random point per group, new at every refresh.
``"random_once"`` (the paper's RSI)
    a random point per group drawn at the first refresh and kept.
``"center"``
    the ``p // 2``-th valid point of each group in the group's own order, fixed for the whole
    run: what the authors' occupancy script computes (``a[:, group_size // 2, :]``, "we simply
    adopt the fixed points") although the paper describes max-residual sampling for every task.
    For a run of consecutive points it is the middle one; for a row-major block it is the first
    point of the middle row, not the geometric centre.
``"reference"``
    the kernel the authors' image script actually computes. It picks the max-residual
    *offset* o_k inside every group k, then row j of J is the gradient of g summed over the
    points at offsets o_0 … o_{n-1} *inside group j* (their ``a[:, max_indices, :]``). So
    each row mixes n points of one group rather than being one point per group as in the
    paper's definition. Offered to compare against the authors' numbers; it needs groups of
    equal size and costs n² model evaluations per refresh (generic eNTK path).
"""

from __future__ import annotations

from typing import Any

import torch

from iga.core.groups import Grouping

__all__ = ["SAMPLING", "Sampler", "max_residual_points"]

SAMPLING = ("max_residual", "random", "random_once", "center", "reference")


def _offsets_max(residual: torch.Tensor, grouping: Grouping) -> torch.Tensor:
    score = residual.abs().reshape(residual.shape[0], -1).sum(dim=1)
    return grouping.gather(score, fill=float("-inf")).argmax(dim=1)


def max_residual_points(residual: torch.Tensor, grouping: Grouping) -> torch.Tensor:
    """Index [n_groups] of the point with the largest ``Σ_c |r_c|`` in each group."""
    groups = grouping.on(residual.device)[0]
    off = _offsets_max(residual, grouping)
    return groups.gather(1, off[:, None]).squeeze(1)


class Sampler:
    """Stateful representative selection; returns point indices to evaluate the eNTK on.

    ``__call__`` gives a LongTensor [n_groups] (one point per group), or [n, n] for
    ``"reference"`` (row j lists the points whose g values are summed for row j of J).
    """

    def __init__(self, mode: str, grouping: Grouping, seed: int | None = None) -> None:
        if mode not in SAMPLING:
            raise ValueError(f"unknown sampling {mode!r}; choose one of {', '.join(SAMPLING)}")
        if mode == "reference" and not bool(grouping.valid.all()):
            raise ValueError(
                "sampling='reference' needs groups of equal size (no -1 padding); "
                "choose a block that divides the signal or another sampling"
            )
        self.mode = mode
        self.grouping = grouping
        self.generator = torch.Generator()
        if seed is not None:
            self.generator.manual_seed(seed)
        self._fixed: torch.Tensor | None = None

    def state_dict(self) -> dict[str, Any]:
        """The sampler's state (generator, kept points) for checkpoints."""
        return {"generator": self.generator.get_state(), "fixed": self._fixed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (resuming a run draws the same points as a straight run)."""
        self.generator.set_state(state["generator"])
        self._fixed = state["fixed"]

    def _random(self) -> torch.Tensor:
        # Uniform over each group's valid slots: the largest random key among valid slots.
        keys = torch.rand(self.grouping.groups.shape, generator=self.generator)
        keys[~self.grouping.valid] = -1.0
        off = keys.argmax(dim=1)
        return self.grouping.groups.gather(1, off[:, None]).squeeze(1)

    def __call__(self, residual: torch.Tensor) -> torch.Tensor:
        device = residual.device
        if self.mode == "max_residual":
            return max_residual_points(residual, self.grouping)
        if self.mode == "random":
            return self._random().to(device)
        if self.mode == "center":
            if self._fixed is None:
                valid = self.grouping.valid
                # the (count // 2)-th valid slot; padding may sit anywhere in a row
                rank = valid.cumsum(dim=1) - 1
                want = valid.sum(dim=1, keepdim=True) // 2
                off = ((rank == want) & valid).int().argmax(dim=1)
                self._fixed = self.grouping.groups.gather(1, off[:, None]).squeeze(1)
            return self._fixed.to(device)
        if self.mode == "random_once":
            if self._fixed is None:
                self._fixed = self._random()
            return self._fixed.to(device)
        groups = self.grouping.on(device)[0]
        off = _offsets_max(residual, self.grouping)
        return groups[:, off]

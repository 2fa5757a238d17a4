"""Adjusters other than :class:`iga.IGA`, built on it or on the core: what
:func:`iga.train.train` calls as ``adjuster.loss(pred, target, inputs)``.

* :class:`FixedAdjustment`: a constant S (the paper's Exp. 1: S from the NTK or the eNTK at
  initialisation), for the 1D task.
* :class:`NeRFAdjuster`: IGA on NeRF's fine render plus the plain coarse loss.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from iga.core import IGA, Balanced, Grouping, adjusted_loss
from iga.models.nerf import AuthorsKernel, NeRF, RayRenderer
from iga.train import MethodConfig

__all__ = ["FixedAdjustment", "NeRFAdjuster"]


def _sigmoid_proxy(row: torch.Tensor) -> torch.Tensor:
    # The authors' scalar: Linear(4, 1) with weights 1/√4 after a sigmoid of the raw outputs.
    return torch.sigmoid(row).sum() / math.sqrt(row.shape[-1])


class NeRFAdjuster:
    """IGA on the fine render plus the plain coarse loss: what :func:`iga.train.train` calls.

    ``iga`` is an :class:`iga.IGA` over the batch's rays (one group each) whose model is the
    kernel's function; :meth:`loss` takes the NeRF's output ``[R, 6]`` (fine, coarse), the
    targets and the rays, and returns ``iga.loss(fine, target, kernel rows) + MSE(coarse)``.
    """

    def __init__(self, nerf: NeRF, iga: IGA, kernel: str) -> None:
        self.nerf, self.iga, self.kernel = nerf, iga, kernel

    @classmethod
    def build(
        cls, nerf: NeRF, batch_rays: int, kernel: str, method: MethodConfig, seed: int
    ) -> NeRFAdjuster:
        """The adjuster of ``method`` (end, start, ref, solver) for batches of ``batch_rays``."""
        field_net = nerf.trained_field
        if kernel == "ray":
            # Rows are rays of many field points: only the generic (torch.func) eNTK applies.
            model: nn.Module = RayRenderer(field_net, nerf.render_cfg.white_background)
            output_fn, entk_method = None, "functorch"
        elif kernel == "sample-authors":
            model, output_fn, entk_method = AuthorsKernel(field_net), None, "auto"
            model.to(next(field_net.parameters()))
        else:
            model, output_fn, entk_method = field_net, _sigmoid_proxy, "auto"
        iga = IGA(
            model,
            torch.arange(batch_rays).reshape(-1, 1),
            end=method.end,
            start=method.start,
            ref=method.ref,
            every=1,
            output_fn=output_fn,
            entk_method=entk_method,
            seed=seed,
            solver=method.solver,
            iters=method.solver_iters,
        )
        return cls(nerf, iga, kernel)

    def loss(self, pred: torch.Tensor, target: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        rows = self.nerf.kernel_rows(inputs, self.kernel)
        fine = self.iga.loss(pred[:, :3], target[:, :3], rows)
        if pred.shape[1] == 3:
            return fine
        return fine + nn.functional.mse_loss(pred[:, 3:], target[:, 3:])

    def stats(self) -> dict[str, Any]:
        return self.iga.stats()

    def state_dict(self) -> dict[str, Any]:
        return self.iga.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.iga.load_state_dict(state)


class FixedAdjustment:
    """An adjuster with a constant S (e.g. from the exact NTK), usable with :func:`iga.train`."""

    def __init__(self, spectrum: Balanced, groups: torch.Tensor | Grouping) -> None:
        n = spectrum.S.shape[0]
        self.grouping = (
            groups if isinstance(groups, Grouping) else Grouping(groups, int((groups >= 0).sum()))
        )
        if self.grouping.n_groups != n:
            raise ValueError(f"S is {n}x{n} but there are {self.grouping.n_groups} groups")
        self.spectrum = spectrum
        self.S = spectrum.S
        # S never changes: compute the logged numbers once (a full eigvalsh).
        self._stats = {
            "lambda_max": float(spectrum.top[0]) if spectrum.top.numel() else float("nan"),
            "lambda_ref": spectrum.lambda_ref,
            "cond_before": spectrum.cond_before,
            "cond_after": spectrum.cond_after,
        }

    def loss(self, pred: torch.Tensor, target: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Adjusted loss with the fixed S (``inputs`` unused)."""
        return adjusted_loss(pred, target, self.S.to(pred.device), self.grouping)

    def stats(self) -> dict[str, Any]:
        """Spectrum numbers of the fixed S."""
        return dict(self._stats)

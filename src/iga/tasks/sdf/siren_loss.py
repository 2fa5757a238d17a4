"""SIREN's loss for a signed distance field from oriented points (Sitzmann et al., NeurIPS 2020;
vsitzmann/siren, ``loss_functions.sdf`` and ``dataio.PointCloud``), with IGA on its data term.

A batch is M on-surface points (with unit normals n) followed by K = M points drawn uniformly
in [-1, 1]³; with f the network and g = ∇ₓf, summed over the batch's N = M + K rows:

    L =  3e3 · Σ_on  |f|                / N      sdf: the data term
      +  1e2 · Σ_off exp(-100 |f|)       / N      inter: no zero level set off the surface
      +  1e2 · Σ_on  (1 − cos(g, n))     / N      normal
      +  5e1 · Σ_all |‖g‖ − 1|           / N      grad: the eikonal term

(SIREN writes each as ``torch.where(on, term, 0).mean()``: the mean over all N rows of a term
that is zero on the other rows.) IGA adjusts the data term only: the training loop's data rows
are the M on-surface ones (``Fit.data_rows``), :func:`data_loss` is its value and
:func:`data_residual` the residual r that IGA mixes, scaled so that IGA with ``end=0`` is
exactly its gradient: IGA's loss is ``(2/(M·C)) Σ f ⊙ r``, so ``∂L_sdf/∂f_i = 3e3·sign(f_i)/N``
needs ``r = (M·C/2) · 3e3·sign(f)/N``, 750·sign(f) for K = M and C = 1. The three other terms
stay plain: :meth:`OrientedBatches.penalty` (``Fit.penalty``) adds them in both paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from iga.tasks.common import batch_order

__all__ = [
    "GRAD_WEIGHT",
    "INTER_ALPHA",
    "INTER_WEIGHT",
    "NORMAL_WEIGHT",
    "SDF_WEIGHT",
    "OrientedBatches",
    "data_loss",
    "data_residual",
    "heldout_validation",
    "input_gradient",
    "siren_terms",
]

SDF_WEIGHT = 3e3
INTER_WEIGHT = 1e2
NORMAL_WEIGHT = 1e2
GRAD_WEIGHT = 5e1
INTER_ALPHA = 1e2
"""SIREN's weights (``loss_functions.sdf``) and the sharpness of its off-surface term."""

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def input_gradient(pred: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``∇ₓ Σ pred`` ``[N, d]``, with its graph (``create_graph``), as SIREN's
    ``diff_operators.gradient``: row i is ∇f(x_i) since rows do not mix."""
    return torch.autograd.grad(pred, [x], torch.ones_like(pred), create_graph=True)[0]


def siren_terms(x: torch.Tensor, pred: torch.Tensor, normals: torch.Tensor) -> dict[str, Any]:
    """SIREN's four weighted terms (module docstring) of a batch ``x`` ``[N, 3]`` (requiring
    grad) with predictions ``pred`` ``[N, 1]``, whose first ``len(normals)`` rows are on the
    surface with unit ``normals`` and the rest off it; their sum is SIREN's loss."""
    on, n = normals.shape[0], pred.shape[0]
    g = input_gradient(pred, x)
    f = pred[:, 0]
    cos = nn.functional.cosine_similarity(g[:on], normals, dim=-1)
    return {
        "sdf": SDF_WEIGHT * f[:on].abs().sum() / n,
        "inter": INTER_WEIGHT * torch.exp(-INTER_ALPHA * f[on:].abs()).sum() / n,
        "normal": NORMAL_WEIGHT * (1 - cos).sum() / n,
        "grad": GRAD_WEIGHT * (g.norm(dim=-1) - 1).abs().sum() / n,
    }


def data_loss(total: int) -> Loss:
    """SIREN's data term as ``Fit.loss``: ``3e3 · Σ |f − t| / total`` over the data rows (the
    on-surface points, target 0), ``total`` the batch's rows (both kinds)."""

    def loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return SDF_WEIGHT * (pred - target).abs().sum() / total

    return loss


def data_residual(total: int) -> Loss:
    """The residual IGA mixes for :func:`data_loss` (``Fit.residual``): ``(M·C/2) ∂L/∂f``, so
    that IGA with ``end=0`` has exactly the data term's gradient."""

    def residual(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (SDF_WEIGHT * pred.numel() / (2 * total)) * torch.sign(pred - target)

    return residual


class OrientedBatches:
    """``Fit.batch`` and ``Fit.penalty`` of SIREN's loss over oriented ``points`` ``[P, 3]`` in
    Morton order with their ``normals``.

    Step s trains on M on-surface rows, the points of the ``batch`` groups
    :func:`~iga.tasks.common.batch_order` draws for it (each group once per epoch, resumable),
    or every point with ``batch`` 0, followed by M points uniform in [-1, 1)³ drawn from the
    training loop's generator (checkpointed: a resumed run draws the same ones). The target
    is SIREN's: 0 on the surface, -1 (a marker) off it. :meth:`penalty` reads the normals of
    the batch drawn last, which the loop always draws just before.
    """

    def __init__(
        self,
        points: torch.Tensor,
        normals: torch.Tensor,
        groups: torch.Tensor,
        batch: int,
        seed: int,
    ) -> None:
        self.points, self.normals = points, normals
        self.groups = groups.to(points.device)
        self.batch, self.seed = batch, seed
        self.rows = batch * int(groups.shape[1]) if batch else int(points.shape[0])
        """M: the on-surface rows of a step (the data rows); a batch has 2M."""
        self.current = normals

    def __call__(self, step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of training step ``step``: ``(x [2M, 3], target [2M, 1])``."""
        if self.batch:
            order = batch_order(step, self.batch, int(self.groups.shape[0]), self.seed)
            index = self.groups[order.to(self.points.device)].reshape(-1)
            on, self.current = self.points[index], self.normals[index]
        else:
            on, self.current = self.points, self.normals
        off = torch.rand(on.shape, generator=generator, dtype=on.dtype).to(on.device) * 2 - 1
        target = torch.cat([on.new_zeros(len(on), 1), on.new_full((len(off), 1), -1.0)])
        return torch.cat([on, off]), target

    def penalty(self, x: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        """The plain terms (inter, normal, grad) of the batch ``x`` drawn last."""
        t = siren_terms(x, pred, self.current)
        return t["inter"] + t["normal"] + t["grad"]


def heldout_validation(
    points: torch.Tensor, normals: torch.Tensor, seed: int
) -> Callable[[nn.Module], dict[str, Any]]:
    """A ``Fit.validate`` that needs no ground truth: SIREN's loss on held-out oriented
    ``points`` and as many fixed (seeded) uniform points (``val_loss``; ``neg_val_loss`` picks
    the best weights) and the mean ``|f|`` on the held-out points (``val_abs_sdf``)."""
    g = torch.Generator().manual_seed(seed)
    off = (torch.rand(points.shape, generator=g, dtype=points.dtype) * 2 - 1).to(points.device)
    x0 = torch.cat([points, off])

    def validate(model: nn.Module) -> dict[str, Any]:
        with torch.enable_grad():
            x = x0.clone().requires_grad_(True)
            pred = model(x)
            total = float(sum(siren_terms(x, pred, normals).values()).detach())
        return {
            "val_loss": total,
            "neg_val_loss": -total,
            "val_abs_sdf": float(pred[: len(points)].detach().abs().mean()),
        }

    return validate

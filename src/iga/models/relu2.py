"""The two-layer ReLU network of Arora et al. (2019), the paper's Exp. 1 network, whose NTK has
a closed form (:func:`iga.ntk_two_layer_relu`)."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["TwoLayerReLU"]


class TwoLayerReLU(nn.Module):
    """The two-layer ReLU network of Arora et al. (2019) used in the paper's Exp. 1.

    ``f(x) = (1/√m) Σ_r a_r ReLU(w_rᵀx/√2 + b_r/√2)`` with ``w_r ~ N(0, I)``, ``b_r = 0`` at
    initialisation (both trained) and fixed signs ``a_r = ±1``. Its NTK as m → ∞ is
    :func:`iga.ntk_two_layer_relu` on unit-norm inputs.

    The 1/√2 is applied after the ReLU (ReLU is positively homogeneous) and the 1/√m is folded
    into the frozen output layer, so every trainable parameter sits in one ``nn.Linear`` and
    the closed-form eNTK of :func:`iga.entk` applies.
    """

    def __init__(self, in_features: int, width: int, generator: torch.Generator | None = None):
        super().__init__()
        self.hidden = nn.Linear(in_features, width)
        self.out = nn.Linear(width, 1, bias=False)
        with torch.no_grad():
            self.hidden.weight.copy_(torch.randn(width, in_features, generator=generator))
            self.hidden.bias.zero_()
            signs = torch.randint(0, 2, (1, width), generator=generator).float() * 2 - 1
            self.out.weight.copy_(signs / math.sqrt(width))
        self.out.weight.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(x)) * (1.0 / math.sqrt(2.0)))

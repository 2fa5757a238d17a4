"""A cosine MLP, ``cos(ω·z)`` activations: an arch added to iga's zoo from outside."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from iga.models import INR, ArchSpec


class Cos(nn.Module):
    def __init__(self, omega: float) -> None:
        super().__init__()
        self.omega = omega

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cos(self.omega * x)


def construct(
    in_features: int, out_features: int, width: int, layers: int, opts: dict[str, Any]
) -> INR:
    dims = [in_features] + [width] * layers
    modules: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        modules += [nn.Linear(a, b), Cos(float(opts["omega"]))]
    return INR(nn.Sequential(*modules, nn.Linear(width, out_features)), arch="cos", options=opts)


ARCH = ArchSpec(name="cos", construct=construct, options={"omega": 3.0})

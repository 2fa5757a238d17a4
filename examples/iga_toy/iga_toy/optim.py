"""SGD with Nesterov momentum: an optimiser added to iga from outside (``--optimizer nesterov``)."""

from __future__ import annotations

import torch

from iga.optim import OptimizerSpec

NESTEROV = OptimizerSpec(
    name="nesterov",
    help="SGD with Nesterov momentum (an example plugin)",
    build=lambda model, lr, options, seed: torch.optim.SGD(
        model.parameters(), lr=lr, momentum=float(options["momentum"]), nesterov=True
    ),
    options={"momentum": 0.9},
)

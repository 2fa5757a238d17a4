"""The model section of a task config: which INR of the zoo, how wide and deep, its options."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from iga.models.inr import ARCH_OPTIONS

__all__ = ["ModelConfig"]


@dataclass
class ModelConfig:
    """The INR: an MLP with ``hidden_layers + 1`` linear layers (3 -> the paper's four)."""

    arch: str = field(default="pe", metadata={"help": "relu|pe|siren|finer|wire|gauss"})
    width: int = field(default=64, metadata={"help": "hidden features per layer"})
    hidden_layers: int = field(default=3, metadata={"help": "activations between linears"})
    options: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "arch option, e.g. pe_levels=6 (pe), spherical_norm=true, hadamard=all, "
            "weight_scale=2 (every arch); with --method fr: fr_alpha=0.05"
        },
    )
    fresh: str = field(
        default="",
        metadata={
            "help": "FreSh (ICLR 2025): before training, choose the embedding frequency "
            "(siren/finer: first_omega0, pe: pe_levels) whose untrained output spectrum is "
            "closest to the signal's; 'auto' for the task's candidates or a list such as "
            "20,40,60 (image, super-resolution, audio, occupancy, SDF; CT: on the FBP)"
        },
    )

    def __post_init__(self) -> None:
        if self.arch not in ARCH_OPTIONS:
            raise ValueError(f"unknown arch {self.arch!r}; choose one of {', '.join(ARCH_OPTIONS)}")

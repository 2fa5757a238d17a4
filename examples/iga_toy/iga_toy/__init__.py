"""A toy task for iga: fit ``sin(3πt) + 0.5·sin(15πt)`` on ``points`` samples of [-1, 1] with
an INR; IGA's groups are runs of ``group`` neighbouring samples. The whole task is this file
and its benchmark declaration (``bench.py``); iga finds it through the entry point in
``pyproject.toml``."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

import iga
from iga.tasks.base import Fit
from iga.tasks.registry import TaskSpec
from iga.train import MethodConfig, TrainConfig, TrainResult


@dataclass
class ToyConfig:
    """A toy fit. The fields are the command's flags (``--points``, ``--arch``, ...)."""

    points: int = field(default=128, metadata={"help": "samples of the signal"})
    group: int = field(default=4, metadata={"help": "IGA: neighbouring samples per group"})
    arch: str = field(default="relu", metadata={"help": "any arch of iga.models.build"})
    width: int = field(default=32, metadata={"help": "hidden width"})
    method: MethodConfig = field(default_factory=lambda: MethodConfig(end=4))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(steps=200, lr=1e-2))
    out: str = field(default="runs/toy", metadata={"help": "run directory"})
    overwrite: bool = field(default=False, metadata={"help": "replace a finished run in --out"})


def signal(points: int) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.linspace(-1.0, 1.0, points)[:, None]
    return t, torch.sin(3 * math.pi * t) + 0.5 * torch.sin(15 * math.pi * t)


class ToyTask:
    """The task contract (:mod:`iga.tasks.base`): ``setup`` and ``evaluate``."""

    name: ClassVar[str] = "toy"

    def method(self, cfg: ToyConfig) -> MethodConfig:
        return cfg.method

    def lr(self, cfg: ToyConfig) -> float:
        return float(cfg.train.lr or 1e-2)

    def describe_model(self, cfg: ToyConfig) -> str:
        return self._model(cfg).describe()

    def _model(self, cfg: ToyConfig) -> Any:
        return iga.models.build(cfg.arch, 1, 1, cfg.width, 2, seed=cfg.train.seed)

    def setup(self, cfg: ToyConfig, device: torch.device) -> Fit:
        if cfg.points % cfg.group:
            raise ValueError(f"--points {cfg.points} is not a multiple of --group {cfg.group}")
        t, y = signal(cfg.points)
        return Fit(
            model=self._model(cfg).to(device),
            inputs=t,
            target=y,
            groups=iga.groups.grid((cfg.points,), cfg.group),
            score=lambda pred, target: -((pred - target) ** 2).mean(),
            score_name="neg_mse",
            groups_flag="--group",
        )

    def evaluate(self, cfg: ToyConfig, fit: Fit, result: TrainResult, out: Path) -> dict[str, Any]:
        with torch.no_grad():
            mse = float(((fit.model(fit.inputs) - fit.target) ** 2).mean())
        return {"mse_final": mse, "best_step": result.best_step}


SPEC = TaskSpec(
    name="toy",
    config=ToyConfig,
    task=ToyTask,
    help="fit a toy 1D signal (an example plugin)",
    report=lambda cfg, s: f"toy/{cfg.method.method}: final MSE {s['mse_final']:.4g} -> {cfg.out}",
    benches=("iga_toy.bench",),
)

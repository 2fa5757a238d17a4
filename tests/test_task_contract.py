"""The task contract admits what the coming tasks need, without special cases in the loop:
mini-batches of groups per step (3D occupancy), a loss and residual other than the MSE's
(occupancy: BCE on logits), and predictions that are not one row per sample point (NeRF: one
colour per ray, integrated from many samples)."""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from torch import nn

import iga
from iga.tasks.base import Fit, TrainingInterrupted, fit
from iga.train import MethodConfig, TrainConfig, TrainResult


@dataclass
class ToyConfig:
    kind: str = "occupancy"  # or "rays"
    method: MethodConfig = field(default_factory=lambda: MethodConfig(method="vanilla", end=0))
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(steps=12, lr=1e-2, device="cpu", spectrum_every=4)
    )
    interrupt_at: int = -1
    out: str = "runs/toy"
    overwrite: bool = False


def _bce(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.binary_cross_entropy_with_logits(pred, target)


def _bce_residual(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # d(mean BCE)/d pred = (σ(pred) − y)/(N·C); IGA's loss has gradient (2/(N·C)) Jᵀ r.
    return (torch.sigmoid(pred) - target) / 2


class Renderer(nn.Module):
    """A row of input is a ray (origin, direction); its prediction integrates 8 samples."""

    def __init__(self) -> None:
        super().__init__()
        self.field = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))

    def forward(self, rays: torch.Tensor) -> torch.Tensor:
        t = torch.linspace(0, 1, 8)
        pts = rays[:, None, :2] + t[None, :, None] * rays[:, None, 2:]  # [R, 8, 2]
        return self.field(pts).mean(dim=1)  # [R, 1]


class ToyTask:
    """Occupancy-like (BCE, 4 blocks of 16 points drawn from 16 per step) or ray-like."""

    name: ClassVar[str] = "toy"

    def method(self, cfg: ToyConfig) -> MethodConfig:
        return cfg.method

    def lr(self, cfg: ToyConfig) -> float:
        return float(cfg.train.lr)  # type: ignore[arg-type]

    def setup(self, cfg: ToyConfig, device: torch.device) -> Fit:
        g = torch.Generator().manual_seed(1)
        if cfg.kind == "rays":
            model = Renderer()
            rays = torch.rand(64, 4, generator=g) * 2 - 1
            target = torch.sin(3 * rays[:, :1]) * 0.5
            groups = torch.arange(64).reshape(16, 4)  # 16 groups of 4 neighbouring rays
            return Fit(
                model,
                rays,
                target,
                groups=groups,
                score_name="neg_mse",
                score=lambda p, t: -((p - t) ** 2).mean(),
                extra=self._stop(cfg),
            )
        torch.manual_seed(cfg.train.seed)
        model = nn.Sequential(nn.Linear(3, 32), nn.ReLU(), nn.Linear(32, 1))
        pts = torch.rand(16, 16, 3, generator=g) * 2 - 1  # 16 blocks of 16 points
        occ = (pts.norm(dim=-1, keepdim=True) < 0.7).float()

        def batch(step: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
            blocks = torch.randperm(16, generator=gen)[:4]
            return pts[blocks].reshape(-1, 3), occ[blocks].reshape(-1, 1)

        return Fit(
            model, pts.reshape(-1, 3), occ.reshape(-1, 1),
            groups=torch.arange(64).reshape(4, 16),  # the 4 blocks of a batch
            batch=batch, loss=_bce, residual=_bce_residual, score_name="neg_mse",
            score=lambda p, t: -((torch.sigmoid(p) - t) ** 2).mean(), extra=self._stop(cfg),
        )  # fmt: skip

    @staticmethod
    def _stop(cfg: ToyConfig) -> Any:
        def extra(step: int, pred: torch.Tensor) -> dict[str, Any]:
            if step == cfg.interrupt_at:
                signal.raise_signal(signal.SIGINT)
            return {}

        return extra

    def evaluate(self, cfg: ToyConfig, fit: Fit, result: TrainResult, out: Path) -> dict[str, Any]:
        torch.save(result.final_state, out / "final.pt")
        return {"best": result.best_score, "first": result.history[0]["neg_mse"]}


def _final(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "final.pt", weights_only=True)


def test_iga_with_end_0_and_a_bce_residual_is_exactly_the_bce_gradient(tmp_path: Path) -> None:
    plain = ToyConfig(out=str(tmp_path / "bce"))
    iga0 = ToyConfig(method=MethodConfig(method="iga", end=0), out=str(tmp_path / "iga0"))
    fit(ToyTask(), plain, progress=False)
    fit(ToyTask(), iga0, progress=False)
    a, b = _final(tmp_path / "bce"), _final(tmp_path / "iga0")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_mini_batches_with_iga_resume_to_the_same_result(tmp_path: Path) -> None:
    method = MethodConfig(method="iga", end=2)
    straight = fit(ToyTask(), ToyConfig(method=method, out=str(tmp_path / "a")), progress=False)
    cfg = ToyConfig(method=method, out=str(tmp_path / "b"), interrupt_at=6)
    with pytest.raises(TrainingInterrupted):
        fit(ToyTask(), cfg, progress=False)
    cfg.interrupt_at = -1  # another config (another key): refused
    with pytest.raises(ValueError, match="other options"):
        fit(ToyTask(), cfg, progress=False, resume=True)
    cfg.interrupt_at = 6  # the same config; step 6 is behind the checkpoint and not rerun
    resumed = fit(ToyTask(), cfg, progress=False, resume=True)
    assert resumed["best"] == straight["best"]
    a, b = _final(tmp_path / "a"), _final(tmp_path / "b")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    # IGA really adjusted (its spectrum was logged) and the loss went down.
    rows = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    assert "cond_after" in rows[0] and len(rows) == 13


def test_one_prediction_per_ray_trains_with_iga(tmp_path: Path) -> None:
    cfg = ToyConfig(
        kind="rays",
        method=MethodConfig(method="iga", end=4),
        train=TrainConfig(steps=40, lr=1e-2, device="cpu"),
        out=str(tmp_path / "rays"),
    )
    s = fit(ToyTask(), cfg, progress=False)
    # The renderer applies its linears to 8 samples per row, so the closed-form eNTK does not
    # hold; the eNTK IGA takes (method "auto") must still be the per-ray one.
    model, rays = Renderer(), torch.rand(6, 4) * 2 - 1
    torch.testing.assert_close(
        iga.entk(model, rays), iga.entk(model, rays, method="functorch"), rtol=1e-5, atol=1e-7
    )
    assert s["best"] > s["first"] + 0.1 * abs(s["first"])
    assert json.loads((tmp_path / "rays" / "config.json").read_text())["key"] == s["key"]

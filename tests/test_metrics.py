"""Tests for iga.metrics: MSE, PSNR, SSIM and the optional LPIPS wrapper."""

from __future__ import annotations

import math
import socket
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from iga import metrics


@pytest.fixture(autouse=True)
def _fresh_lpips_cache() -> Iterator[None]:
    metrics._reset_lpips_cache()
    yield
    metrics._reset_lpips_cache()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_mse_known_value() -> None:
    a = np.zeros((4, 5, 3))
    b = np.full((4, 5, 3), 0.5)
    assert metrics.mse(a, b) == pytest.approx(0.25)


def test_psnr_constant_offset_is_20_db() -> None:
    target = np.full((8, 8, 3), 0.5)
    pred = target + 0.1
    assert metrics.psnr(pred, target) == pytest.approx(20.0, abs=1e-9)
    assert metrics.psnr(torch.from_numpy(pred), torch.from_numpy(target)) == pytest.approx(20.0)


def test_psnr_float32_torch_near_identical() -> None:
    target = torch.full((16, 16, 3), 0.25, dtype=torch.float32)
    pred = target + 1e-4
    # Tolerance covers float32 rounding of the offset itself, not of the MSE.
    assert metrics.psnr(pred, target) == pytest.approx(80.0, abs=1e-2)


def test_psnr_identical_is_inf_and_symmetric() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((6, 7, 3))
    b = rng.random((6, 7, 3))
    assert metrics.psnr(a, a) == math.inf
    assert metrics.psnr(a, b) == pytest.approx(metrics.psnr(b, a))


def test_psnr_clip_and_data_range() -> None:
    target = np.ones((4, 4))
    pred = np.full((4, 4), 1.5)  # overshoot, invisible once displayed
    assert metrics.psnr(pred, target) == math.inf
    assert metrics.psnr(pred, target, clip=False) == pytest.approx(10 * math.log10(1 / 0.25))
    assert metrics.psnr(pred * 255, target * 255, data_range=255.0, clip=False) == pytest.approx(
        10 * math.log10(1 / 0.25)
    )


def test_psnr_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="does not match"):
        metrics.psnr(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="data_range"):
        metrics.psnr(np.zeros(3), np.zeros(3), data_range=0)
    with pytest.raises(TypeError, match="pred"):
        metrics.psnr([0.0], np.zeros(1))  # type: ignore[arg-type]


def test_ssim_identical_noisy_and_backends() -> None:
    rng = np.random.default_rng(1)
    img = rng.random((32, 24, 3))
    noisy = np.clip(img + rng.normal(0, 0.1, img.shape), 0, 1)
    assert metrics.ssim(img, img) == pytest.approx(1.0)
    s_np = metrics.ssim(noisy, img)
    assert s_np < 1.0
    s_torch = metrics.ssim(torch.from_numpy(noisy).float(), torch.from_numpy(img).float())
    assert s_torch == pytest.approx(s_np, abs=1e-5)
    assert metrics.ssim(img[..., 0], img[..., 0]) == pytest.approx(1.0)


def test_ssim_small_image_message() -> None:
    with pytest.raises(ValueError, match="at least 7x7"):
        metrics.ssim(np.zeros((5, 9, 3)), np.zeros((5, 9, 3)))


def test_lpips_unavailable_here(no_network: None) -> None:
    if "lpips" in sys.modules or _lpips_importable():
        pytest.skip("lpips is installed in this environment")
    ok, reason = metrics.lpips_status()
    assert ok is False
    assert "lpips not installed" in reason and "\n" not in reason
    img = np.zeros((16, 16, 3))
    assert metrics.lpips_metric(img, img) is None


def _lpips_importable() -> bool:
    import importlib.util

    return importlib.util.find_spec("lpips") is not None


def _fake_lpips(monkeypatch: pytest.MonkeyPatch, factory: object) -> types.ModuleType:
    module = types.ModuleType("lpips")
    module.LPIPS = factory  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lpips", module)
    return module


def test_lpips_missing_weights_never_constructs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, no_network: None
) -> None:
    def must_not_build(**kwargs: object) -> None:
        raise AssertionError("LPIPS constructed without cached weights")

    _fake_lpips(monkeypatch, must_not_build)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    ok, reason = metrics.lpips_status()
    assert ok is False
    assert "AlexNet weights not in" in reason and str(tmp_path / "hub") in reason
    assert metrics.lpips_metric(np.zeros((16, 16, 3)), np.zeros((16, 16, 3))) is None


def _with_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ckpt = tmp_path / "hub" / "checkpoints"
    ckpt.mkdir(parents=True)
    (ckpt / "alexnet-owt-7be5be79.pth").write_bytes(b"x")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def test_lpips_construction_error_is_reported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("bad checkpoint\nsecond line")

    _fake_lpips(monkeypatch, broken)
    _with_weights(monkeypatch, tmp_path)
    ok, reason = metrics.lpips_status()
    assert ok is False
    assert "bad checkpoint" in reason and "second line" not in reason


def test_lpips_metric_with_fake_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[torch.Tensor] = []

    class FakeLPIPS(torch.nn.Module):
        def __init__(self, net: str, verbose: bool) -> None:
            super().__init__()
            assert net == "alex"
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            seen.extend([a, b])
            return ((a - b) ** 2).mean().reshape(1, 1, 1, 1)

    _fake_lpips(monkeypatch, FakeLPIPS)
    _with_weights(monkeypatch, tmp_path)
    assert metrics.lpips_status()[0] is True
    pred = np.ones((4, 5, 3))
    target = np.zeros((4, 5, 3))
    value = metrics.lpips_metric(pred, torch.from_numpy(target))
    assert value == pytest.approx(4.0)  # inputs mapped to [-1, 1]: (1 - (-1))^2
    assert seen[0].shape == (1, 3, 4, 5)
    assert float(seen[0].max()) == 1.0 and float(seen[1].min()) == -1.0

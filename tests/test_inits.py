"""The initialisation rivals: weight scaling (a model option) and FreSh (``--fresh``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from iga.cli import main
from iga.models import build, fresh
from iga.models.config import ModelConfig
from iga.tasks.image.data import image_coords
from iga.tasks.image.task import ImageFitConfig, fit_image, fresh_choice, run_key
from iga.train import TrainConfig


@pytest.mark.parametrize("arch", ["relu", "pe", "siren", "finer"])
def test_weight_scale_multiplies_every_weight_but_the_last(arch: str) -> None:
    plain = build(arch, 2, 3, 16, 3, seed=4)
    scaled = build(arch, 2, 3, 16, 3, seed=4, weight_scale=2.5)
    a = [m for m in plain.modules() if isinstance(m, nn.Linear)]
    b = [m for m in scaled.modules() if isinstance(m, nn.Linear)]
    assert len(a) == len(b) == 4
    for i, (la, lb) in enumerate(zip(a, b, strict=True)):
        factor = 1.0 if i == len(a) - 1 else 2.5
        torch.testing.assert_close(lb.weight, factor * la.weight, rtol=0, atol=1e-7)
        torch.testing.assert_close(lb.bias, la.bias, rtol=0, atol=0)
    assert "weight_scale=2.5" in scaled.describe()
    # 1 is the default: the description (and so every committed run's key) is unchanged
    assert build(arch, 2, 3, 16, 3, seed=4, weight_scale=1.0).describe() == plain.describe()


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "2"])
def test_weight_scale_rejects_bad_values(bad: object) -> None:
    with pytest.raises((ValueError, TypeError), match="weight_scale"):
        build("siren", 2, 3, 8, 2, weight_scale=bad)


def test_spectrum_mask_is_the_authors_rule_written_as_a_loop() -> None:
    # entry (i, j) of an n x n DFT counts when i + j <= n - 1, or i + j == n with
    # 1 <= i <= n // 2; never row 0 or column 0 past n // 2 (gmum/FreSh get_2d_fft_mask)
    for n in (2, 3, 6, 7, 16):
        expected = torch.zeros(n, n, dtype=torch.float64)
        for i in range(n):
            for j in range(n):
                on = i + j <= n - 1 or (i + j == n and 1 <= i <= n // 2)
                if (i == 0 and j > n // 2) or (j == 0 and i > n // 2):
                    on = False
                expected[i, j] = float(on)
        assert torch.equal(fresh.spectrum_mask(n), expected)


def test_image_spectrum_puts_a_cosine_at_the_sum_of_its_frequency_indices() -> None:
    n = 32
    y, x = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    img = torch.cos(2 * math.pi * (3 * y + 5 * x) / n)[None].repeat(3, 1, 1)
    spec = fresh.image_spectrum(img, crop=None)
    assert spec.shape == (2 * n - 2,)
    # the DFT of the cosine sits at (3, 5) and its mirror (29, 27); only (3, 5) is unmasked
    assert int(np.argmax(spec)) + 1 == 3 + 5  # index 0 of the output is i + j = 1
    assert spec[7] == pytest.approx(3 * n * n / 2, rel=1e-6)
    assert np.delete(spec, 7).max() < 1e-6 * spec[7]


def test_wasserstein_of_shifted_spectra_is_the_shift() -> None:
    u = np.zeros(20)
    v = np.zeros(20)
    u[3], v[7] = 2.0, 5.0  # weights are normalised: only the positions matter
    assert fresh.wasserstein(u, v) == pytest.approx(4.0)


def test_select_recovers_the_frequency_of_a_target_drawn_from_the_model() -> None:
    h, w = 32, 32
    coords = image_coords(h, w)

    def make(options: dict, seed: int) -> nn.Module:
        return build("siren", 2, 3, 32, 3, seed=seed, **options)

    with torch.no_grad():
        target = make({"first_omega0": 90.0}, 1234)(coords)
    choice = fresh.select("siren", make, coords, target, (h, w), (10.0, 90.0, 400.0), inits=4)
    assert choice.param == "first_omega0"
    assert choice.value == 90.0
    d = {k: v[0] for k, v in choice.distances.items()}
    assert d[90.0] < d[10.0] and d[90.0] < d[400.0]


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:24, 0:32] / 8.0
    rgb = np.stack([np.sin(5 * x), np.cos(7 * y), np.sin(3 * x + 4 * y)], -1) * 0.4 + 0.5
    rgb += 0.05 * rng.standard_normal(rgb.shape)
    path = tmp_path / "photo.png"
    Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8)).save(path)
    return path


def _cfg(path: Path, out: Path, fresh_values: str) -> ImageFitConfig:
    return ImageFitConfig(
        path=str(path),
        patch=4,
        model=ModelConfig(arch="siren", width=16, fresh=fresh_values),
        train=TrainConfig(steps=3, lr=1e-3, device="cpu"),
        out=str(out),
    )


def test_fit_with_fresh_records_the_choice_and_keeps_the_sweep_key(
    photo: Path, tmp_path: Path
) -> None:
    cfg = _cfg(photo, tmp_path / "run", "20,60,150")
    choice = fresh_choice(cfg)
    assert choice is not None and choice.value in (20.0, 60.0, 150.0)
    fit_image(cfg, progress=False)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["resolved"]["fresh"]["chosen"] == choice.value
    assert f"first_omega0={choice.value!r}" in saved["resolved"]["model"]
    # the benchmark sweep compares run_key with the key the run wrote: they must agree
    assert saved["key"] == run_key(cfg)
    # without --fresh the key differs (another model)
    assert run_key(_cfg(photo, tmp_path / "b", "")) != saved["key"]


def test_fresh_from_the_command_line(photo: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    argv = ["fit", "image", str(photo), "--arch", "pe", "--fresh", "auto", "--width", "16"]
    argv += ["--patch", "4", "--steps", "2", "--device", "cpu", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["resolved"]["fresh"]["param"] == "pe_levels"
    assert len(saved["resolved"]["fresh"]["distances"]) == len(fresh.FRESH_PARAMS["pe"][1])

"""FR (Fourier reparameterised) and BN (batch norm) baselines: models, merging, training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from iga.cli import main
from iga.models import BNINR, FRINR, INR, FRLinear, build, fourier_bases
from iga.tasks.image import ImageFitConfig, ModelConfig, fit_image
from iga.train import METHODS, MethodConfig, TrainConfig

# Small bases keep the tests fast; the defaults (128 + 128 frequencies, 32 phases) are
# exercised once below.
SMALL_FR = {"fr_low": 8, "fr_high": 8, "fr_phases": 4}


def _coords(n: int = 50, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, generator=g) * 2 - 1


def test_methods_registered() -> None:
    assert set(METHODS) == {"vanilla", "fr", "bn", "iga"}


def test_fourier_bases_shape_scale_and_full_rank() -> None:
    b = fourier_bases(16, low=4, high=4, phases=2, alpha=0.5)
    assert b.shape == (16, 16)  # (4 + 4) * 2 rows, 16 input units
    assert b.abs().max() <= 0.5 + 1e-12
    # The duplicate period end point is dropped, so W = ΛB can reach every W.
    assert torch.linalg.matrix_rank(fourier_bases(32, 128, 128, 32)) == 32


def test_fr_linear_equals_linear_with_merged_weight() -> None:
    torch.manual_seed(0)
    w, b = torch.randn(5, 12) * 0.1, torch.randn(5)
    for init in ("solve", "uniform"):
        layer = FRLinear(w, b, low=4, high=4, phases=4, alpha=0.05, init=init)
        with torch.no_grad():
            layer.lam.add_(0.01 * torch.randn_like(layer.lam))  # away from the init
        x = torch.randn(7, 12)
        plain = layer.to_linear()
        assert isinstance(plain, nn.Linear)
        torch.testing.assert_close(plain(x), layer(x))
        torch.testing.assert_close(plain.weight, layer.lam @ layer.bases)
        assert not layer.bases.requires_grad
        assert [n for n, _ in layer.named_parameters()] == ["lam", "bias"]


def test_fr_solve_init_starts_as_the_vanilla_model_and_merges() -> None:
    x = _coords()
    for arch in ("relu", "pe", "siren"):
        vanilla = build(arch, 2, 3, hidden_features=16, seed=3)
        fr = build(arch, 2, 3, hidden_features=16, seed=3, method="fr", **SMALL_FR)
        assert isinstance(fr, FRINR)
        # Hidden-to-hidden layers only: 3 hidden layers -> 4 linears -> 2 FR layers.
        assert sum(isinstance(m, FRLinear) for m in fr.net) == 2
        torch.testing.assert_close(fr(x), vanilla(x), atol=1e-5, rtol=1e-4)
        with torch.no_grad():
            for m in fr.net:
                if isinstance(m, FRLinear):
                    m.lam.mul_(1.1)
        merged = fr.merge()
        assert isinstance(merged, INR) and merged.arch == arch
        torch.testing.assert_close(merged(x), fr(x))


def test_fr_default_bases_and_per_arch_alpha() -> None:
    fr = build("relu", 2, 3, hidden_features=8, hidden_layers=2, seed=0, method="fr")
    layer = next(m for m in fr.net if isinstance(m, FRLinear))
    assert layer.bases.shape == ((128 + 128) * 32, 8)
    assert fr.options["fr_alpha"] == 1e-3
    assert "relu+fr" in fr.describe()


def test_bn_model_structure_and_merge() -> None:
    x = _coords(64)
    for pos in ("pre", "post"):
        for arch in ("relu", "siren"):
            model = build(arch, 2, 3, hidden_features=16, seed=0, method="bn", bn_position=pos)
            assert isinstance(model, BNINR)
            bns = [m for m in model.net if isinstance(m, nn.BatchNorm1d)]
            assert len(bns) == 3 and all(not b.track_running_stats for b in bns)
            with torch.no_grad():  # non-trivial affine parameters
                for bn in bns:
                    bn.weight.uniform_(0.5, 1.5)
                    bn.bias.uniform_(-0.2, 0.2)
            y = model(x)
            # Full-batch statistics in both modes: eval on the training grid = training.
            model.eval()
            torch.testing.assert_close(model(x), y)
            model.train()
            merged = model.merge(x)
            assert isinstance(merged, INR)
            torch.testing.assert_close(merged(x), y, atol=1e-5, rtol=1e-4)


def test_method_options_validated() -> None:
    with pytest.raises(TypeError, match="fr_alpha"):
        build("relu", 2, 3, method="bn", fr_alpha=0.1)
    with pytest.raises(ValueError, match="bn_position"):
        build("relu", 2, 3, method="bn", bn_position="middle")
    with pytest.raises(ValueError, match="unknown method"):
        build("relu", 2, 3, method="dropout")
    with pytest.raises(ValueError, match="fr_init"):
        build("relu", 2, 3, hidden_features=8, method="fr", fr_init="zeros", **SMALL_FR)


@pytest.fixture
def tiny_png(tmp_path: Path) -> Path:
    y, x = np.mgrid[0:16, 0:24] / 8.0
    img = np.stack(
        [0.5 + 0.4 * np.sin(2 * x), 0.5 + 0.3 * np.cos(3 * y), 0.5 + 0.4 * np.sin(5 * (x + y))],
        axis=-1,
    )
    path = tmp_path / "tiny.png"
    Image.fromarray((img * 255).astype(np.uint8)).save(path)
    return path


@pytest.mark.parametrize("method", ["fr", "bn"])
def test_fr_and_bn_models_train(tiny_png: Path, tmp_path: Path, method: str) -> None:
    options = dict(SMALL_FR) if method == "fr" else {}
    cfg = ImageFitConfig(
        path=str(tiny_png),
        patch=4,
        model=ModelConfig(arch="pe", width=16, options={"pe_levels": 3, **options}),
        method=MethodConfig(method=method),
        train=TrainConfig(steps=80, lr=5e-3, device="cpu"),
        out=str(tmp_path / method),
    )
    s = fit_image(cfg, progress=False)
    first = float((tmp_path / method / "metrics.csv").read_text().splitlines()[1].split(",")[2])
    assert s["method"] == method
    assert s["psnr_best"] > first + 3.0
    assert s["lr"] == 5e-3


def test_cli_fit_with_method_fr(tiny_png: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli_fr"
    argv = ["fit", "image", str(tiny_png), "--method", "fr", "--arch", "relu", "--width", "8"]
    argv += ["--steps", "5", "--patch", "4", "--quiet", "--out", str(out)]
    argv += ["--opt", "fr_low=4", "--opt", "fr_high=4", "--opt", "fr_phases=2"]
    assert main(argv) == 0
    assert "relu/fr" in capsys.readouterr().out
    assert (out / "summary.json").exists()


def test_compare_writes_the_figure4_view(tiny_png: Path, tmp_path: Path) -> None:
    from iga.tasks.image import compare

    configs = {
        m: ImageFitConfig(
            path=str(tiny_png),
            patch=4,
            model=ModelConfig(arch="relu", width=8, options=dict(SMALL_FR) if m == "fr" else {}),
            method=MethodConfig(method=m, end=4),
            train=TrainConfig(steps=3, device="cpu"),
            out=str(tmp_path / m),
        )
        for m in ("vanilla", "fr", "bn", "iga")
    }
    summaries = compare(configs, tmp_path, progress=False)
    assert set(summaries) == {"vanilla", "fr", "bn", "iga"}
    for name in ("comparison.png", "spectra.png", "psnr.png"):
        assert (tmp_path / name).stat().st_size > 0

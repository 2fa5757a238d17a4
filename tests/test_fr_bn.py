"""FR (Fourier reparameterised) and BN (batch norm) baselines: models, merging, training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from iga.cli import main
from iga.models import BNINR, FRINR, INR, FRLinear, build, fourier_bases
from iga.models.config import ModelConfig
from iga.tasks.image.task import ImageFitConfig, fit_image
from iga.train import METHODS, MethodConfig, TrainConfig

# Small bases keep the tests fast; the defaults (128 + 128 frequencies, 32 phases) are
# exercised once below.
SMALL_FR = {"fr_low": 8, "fr_high": 8, "fr_phases": 4}


def _coords(n: int = 50, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, generator=g) * 2 - 1


def test_methods_registered() -> None:
    assert set(METHODS) == {"vanilla", "fr", "bn", "iga"}


def test_fourier_bases_shape_and_scale() -> None:
    b = fourier_bases(16, low=4, high=4, phases=2, alpha=0.5)
    assert b.shape == (16, 16)  # (4 + 4) * 2 rows, 16 input units
    assert b.abs().max() <= 0.5 + 1e-12


def _fr_paper_bases(n_in: int, low: int, high: int, phases: int, alpha: float) -> np.ndarray:
    """B written out from the FR paper's definition, one entry at a time (no shared code).

    Bases cos(ω t + φ) for ω in {1/low, ..., low/low} ∪ {1, ..., high} and φ = 2πp/phases,
    sampled at n_in points spread evenly over [-T/2, T/2], T the longest period (2π·low), both
    ends included; rows: low frequencies first, phases innermost; everything scaled by α.
    """
    omegas = [k / low for k in range(1, low + 1)] + [float(k) for k in range(1, high + 1)]
    period = 2 * math.pi / min(omegas)
    points = [-period / 2 + j * period / (n_in - 1) for j in range(n_in)]
    rows = []
    for omega in omegas:
        for p in range(phases):
            phi = 2 * math.pi * p / phases
            rows.append([alpha * math.cos(omega * x + phi) for x in points])
    return np.array(rows)


@pytest.mark.parametrize(
    "n_in, low, high, phases, alpha",
    [(8, 4, 4, 2, 1.0), (24, 16, 8, 4, 0.05), (64, 128, 128, 32, 0.004), (33, 128, 128, 32, 1.0)],
)
def test_fourier_bases_match_an_independent_derivation(
    n_in: int, low: int, high: int, phases: int, alpha: float
) -> None:
    b = fourier_bases(n_in, low, high, phases, alpha)
    np.testing.assert_allclose(
        b.numpy(), _fr_paper_bases(n_in, low, high, phases, alpha), atol=1e-9
    )


@pytest.mark.parametrize("width", [16, 32, 64, 128, 256, 512])
def test_fourier_bases_are_not_aliased(width: int) -> None:
    """Sampling spacing must not be a multiple of 2π for most frequencies (it once was)."""
    b = fourier_bases(width)  # the defaults: 128 + 128 frequencies, 32 phases
    constant = (b.max(dim=1).values - b.min(dim=1).values) < 1e-6
    # Only frequencies whose step ω·T/(in-1) is a multiple of 2π give constant rows (<= 6 %).
    assert constant.double().mean() <= 0.07
    s = torch.linalg.svdvals(b)
    # No direction of the input space dominates (an aliased B has one 4-11x the median).
    assert s[0] / s.median() < 2.0


@pytest.mark.parametrize("arch", ["pe", "siren"])
@pytest.mark.parametrize("width", [64, 256])
def test_fr_first_adam_step_is_comparable_to_vanilla(arch: str, width: int) -> None:
    """From one function, FR's first Adam step must not move the loss far more than vanilla's."""
    n = 32
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    coords = torch.stack([yy, xx], -1).reshape(-1, 2)
    target = 0.5 * torch.stack(
        [torch.sin(3 * xx) * torch.cos(5 * yy), torch.sin(17 * xx * yy), torch.cos(11 * (xx + yy))],
        -1,
    ).reshape(-1, 3)
    fr = build(arch, 2, 3, width, 3, seed=0, method="fr", fr_init="solve")
    vanilla = fr.merge()  # the same function, trained plainly

    def change(model: nn.Module) -> tuple[float, float]:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        before = ((model(coords) - target) ** 2).mean()
        opt.zero_grad()
        before.backward()
        opt.step()
        with torch.no_grad():
            after = ((model(coords) - target) ** 2).mean()
        return before.item(), after.item() - before.item()

    before_v, delta_v = change(vanilla)
    before_f, delta_f = change(fr)
    assert before_f == pytest.approx(before_v, rel=1e-4)
    # Aliased bases made this step raise PE's loss 450x (0.11 -> 49); a sound FR stays within
    # an order of magnitude of vanilla's step.
    assert abs(delta_f) <= max(10 * abs(delta_v), 0.25 * before_v)


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


def test_fr_solve_init_projects_the_vanilla_weights_and_merges() -> None:
    x = _coords()
    for arch in ("relu", "pe", "siren"):
        vanilla = build(arch, 2, 3, hidden_features=16, seed=3)
        fr = build(arch, 2, 3, hidden_features=16, seed=3, method="fr", fr_init="solve", **SMALL_FR)
        assert isinstance(fr, FRINR)
        # Hidden-to-hidden layers only: 3 hidden layers -> 4 linears -> 2 FR layers.
        fr_layers = [m for m in fr.net if isinstance(m, FRLinear)]
        assert len(fr_layers) == 2
        for layer, w0 in zip(fr_layers, [m.weight for m in vanilla.linears[1:-1]], strict=True):
            # ΛB = W₀ projected onto B's row space (the two end points coincide, so columns
            # 0 and -1 of W₀ are averaged), computed here by least squares.
            b = layer.bases.double()
            sol = torch.linalg.lstsq(b.T, w0.detach().double().T, driver="gelsd").solution
            proj = sol.T @ b
            torch.testing.assert_close(layer.merged_weight().double(), proj, atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(proj[:, 0], proj[:, -1])
        with torch.no_grad():
            for m in fr_layers:
                m.lam.mul_(1.1)
        merged = fr.merge()
        assert isinstance(merged, INR) and merged.arch == arch
        torch.testing.assert_close(merged(x), fr(x))


def test_fr_default_init_is_the_authors_uniform_draw() -> None:
    fr = build("siren", 2, 3, hidden_features=16, seed=0, method="fr", **SMALL_FR)
    assert fr.options["fr_init"] == "uniform"
    m = 16 * 4  # (low + high) * phases
    for layer in (m_ for m_ in fr.net if isinstance(m_, FRLinear)):
        assert torch.count_nonzero(layer.bias) == 0  # the authors zero the bias
        # Column k of Λ within ±sqrt(6/M) / (‖B_k‖ ω₀), and filling most of that range.
        bound = math.sqrt(6 / m) / (layer.bases.double().norm(dim=1) * 30.0)
        ratio = layer.lam.detach().double().abs() / bound[None, :]
        assert ratio.max() <= 1 + 1e-6 and ratio.max() > 0.9
    merged = fr.merge()
    x = _coords()
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
    from iga.tasks.image.task import compare

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


def test_bn_default_position_follows_the_authors_per_arch() -> None:
    """Authors' Kodak code: relu+bn puts BN after the ReLU; relu+pe+bn and sin+bn before."""
    for arch, expected in (("relu", "post"), ("pe", "pre"), ("siren", "pre")):
        model = build(arch, 2, 3, hidden_features=8, seed=0, method="bn")
        assert model.options["bn_position"] == expected
        kinds = [type(m).__name__ for m in model.net]
        first_bn = kinds.index("BatchNorm1d")
        assert kinds[first_bn - 1] == ("ReLU" if expected == "post" else "Linear")

"""``iga.analysis``: eNTK spectrum statistics and frequency-band errors, against values known
in closed form, and ``iga analyze`` end to end on tiny settings."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from iga.analysis import (
    SpectrumResult,
    band_curves,
    band_index,
    bands_figure,
    compare_archs,
    eigenvalue_stats,
    kernel_spectrum,
    patch_centres,
    radial_band_errors,
    read_band_curves,
    representatives,
    spectra_figure,
    spectrum_of_checkpoint,
)
from iga.cli import main
from iga.core import balance
from iga.core import groups as groups_mod
from iga.models.config import ModelConfig
from iga.tasks.image.data import ImageData
from iga.tasks.image.task import ImageFitConfig, build_model, fit_image
from iga.train import MethodConfig, TrainConfig


@pytest.fixture(scope="module")
def png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16x16 RGB image with a few frequencies."""
    y, x = np.mgrid[0:16, 0:16] / 8.0
    rgb = np.stack(
        [0.5 + 0.4 * np.sin(2 * x), 0.5 + 0.3 * np.cos(3 * y), 0.5 + 0.4 * np.sin(5 * (x + y))],
        axis=-1,
    )
    path = tmp_path_factory.mktemp("analysis") / "tiny.png"
    Image.fromarray((rgb * 255).astype(np.uint8)).save(path)
    return path


def tiny_cfg(png: Path, out: Path, method: str = "vanilla", steps: int = 5) -> ImageFitConfig:
    return ImageFitConfig(
        path=str(png),
        patch=4,
        model=ModelConfig(arch="pe", width=16, options={"pe_levels": 3}),
        method=MethodConfig(method=method, end=3),
        train=TrainConfig(steps=steps, device="cpu"),
        out=str(out),
    )


@pytest.fixture(scope="module")
def run_dir(png: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 5-step ``iga fit image`` run (16 groups of 4x4 pixels)."""
    out = tmp_path_factory.mktemp("analysis_run") / "run"
    fit_image(tiny_cfg(png, out), progress=False)
    return out


# --- eigenvalue statistics -------------------------------------------------------------------


def test_eigenvalue_stats_of_a_hand_made_spectrum() -> None:
    s = eigenvalue_stats(torch.tensor([1.0, 4.0, 0.0, 2.0, 1.0]))  # any order
    assert s["lambda_max"] == 4.0 and s["lambda_min"] == 1.0 and s["condition"] == 4.0
    # mean 8/5, Var = mean(λ²) - mean² = 22/5 - 64/25 = 46/25 -> (46/25) / (64/25)
    assert s["variance_normalised"] == pytest.approx(46 / 64, rel=1e-14)
    # p = (1/2, 1/4, 1/8, 1/8): entropy 1.75 ln 2
    assert s["effective_rank"] == pytest.approx(2**1.75, rel=1e-14)
    assert s["n_positive"] == 4
    flat = eigenvalue_stats(np.full(6, 3.0))
    assert flat["condition"] == 1.0 and flat["variance_normalised"] == 0.0
    assert flat["effective_rank"] == pytest.approx(6.0, rel=1e-14)
    # rtol: 1e-9 is round-off next to 1, so it no longer counts as positive.
    noisy = eigenvalue_stats([1.0, 0.5, 1e-9, -1e-12], rtol=1e-6)
    assert noisy["lambda_min"] == 0.5 and noisy["condition"] == 2.0 and noisy["n_positive"] == 2
    assert eigenvalue_stats([1.0, 0.5, 1e-9])["condition"] == pytest.approx(1e9)


def test_eigenvalue_stats_rejects_empty_and_non_finite() -> None:
    with pytest.raises(ValueError, match="at least one"):
        eigenvalue_stats([])
    with pytest.raises(ValueError, match="finite"):
        eigenvalue_stats([1.0, float("nan")])
    zero = eigenvalue_stats([0.0, 0.0])
    assert math.isnan(zero["condition"]) and math.isnan(zero["variance_normalised"])


# --- kernel spectra --------------------------------------------------------------------------


def linear_and_kernel() -> tuple[torch.nn.Linear, torch.Tensor, np.ndarray]:
    """nn.Linear(d, 1): J(x) = [x, 1], so K = X Xᵀ + 1 exactly (full rank for n <= d)."""
    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 1)
    X = torch.randn(6, 8)
    Xn = X.double().numpy()
    return lin, X, Xn @ Xn.T + 1.0


def test_kernel_spectrum_of_a_linear_model_is_x_xt_plus_one() -> None:
    lin, X, K = linear_and_kernel()
    res = kernel_spectrum(lin, X)
    expected = np.linalg.eigvalsh(K)[::-1]
    assert res.eigenvalues.dtype == torch.float64 and res.adjusted is None
    np.testing.assert_allclose(res.eigenvalues.numpy(), expected, rtol=1e-12)
    assert res.stats == pytest.approx(eigenvalue_stats(expected), rel=1e-10)
    # In the model's own dtype (float32) the values agree to float32 precision.
    np.testing.assert_allclose(kernel_spectrum(lin, X, dtype=None).eigenvalues, expected, rtol=1e-4)


def test_adjusted_spectrum_lowers_the_top_end_to_lambda_end() -> None:
    lin, X, K = linear_and_kernel()
    end = 3
    res = kernel_spectrum(lin, X, end)
    ev = np.linalg.eigvalsh(K)[::-1]
    expected = np.concatenate([np.full(end, ev[end]), ev[end:]])
    assert res.adjusted is not None and res.stats_adjusted is not None and res.end == end
    np.testing.assert_allclose(res.adjusted.numpy(), expected, rtol=1e-12)
    # They are the eigenvalues of the product K·S (similar to S^½ K S^½: real, non-negative).
    S = balance(torch.from_numpy(K), end).S.numpy()
    ks = np.sort(np.linalg.eigvals(K @ S).real)[::-1]
    np.testing.assert_allclose(ks, expected, rtol=1e-10)
    assert res.stats_adjusted["condition"] == pytest.approx(ev[end] / ev[-1], rel=1e-12)
    balanced = res.balanced()
    assert torch.equal(balanced.eigenvalues, res.adjusted) and balanced.adjusted is None
    with pytest.raises(ValueError, match="end"):
        kernel_spectrum(lin, X).balanced()


def test_compare_archs_over_seeds_and_the_figure(tmp_path: Path) -> None:
    x = torch.rand(12, 2) * 2 - 1
    seen: list[str] = []
    res = compare_archs(
        ["relu", "pe"], x, width=16, seeds=[0, 1], end=2, on_arch=lambda a, _: seen.append(a)
    )
    assert seen == ["relu", "pe"] and list(res) == ["relu", "pe"]
    assert all(len(v) == 2 and isinstance(v[0], SpectrumResult) for v in res.values())
    assert res["pe"][0].info["seed"] == 0 and res["pe"][0].eigenvalues.shape == (12,)
    # Seeded: the same seed gives the same kernel, another seed another one.
    again = compare_archs(["pe"], x, width=16, seeds=[0])["pe"][0]
    assert torch.equal(again.eigenvalues, res["pe"][0].eigenvalues)
    assert not torch.equal(res["pe"][0].eigenvalues, res["pe"][1].eigenvalues)
    # Variants through build()'s options: FR keeps its parameterisation, BN is merged.
    for method in ("fr", "bn"):
        variant = compare_archs(["pe"], x, width=16, seeds=[0], options={"pe": {"method": method}})
        assert variant["pe"][0].info["method"] == method
        assert variant["pe"][0].stats["n_positive"] == 12
    path = spectra_figure(
        {**res, "pe K·S": [r.balanced() for r in res["pe"]], "one": res["relu"][0]},
        tmp_path / "spectra.png",
        title="t",
    )
    assert path.stat().st_size > 0


def test_patch_centres_are_the_middle_pixel_of_each_grid_group() -> None:
    assert patch_centres(8, 8, 4).tolist() == [2 * 8 + 2, 2 * 8 + 6, 6 * 8 + 2, 6 * 8 + 6]
    # A ragged 10x10 grid: the edge patches (2 pixels) are centred on what is visible.
    centres = patch_centres(10, 10, 4)
    assert [(int(i) // 10, int(i) % 10) for i in centres[:3]] == [(2, 2), (2, 6), (2, 9)]
    groups = groups_mod.grid((10, 10), 4)
    assert all(int(c) in groups[j].tolist() for j, c in enumerate(centres))
    with pytest.raises(ValueError, match="larger"):
        patch_centres(4, 8, 5)


def test_spectrum_of_checkpoint_rebuilds_the_run(run_dir: Path, png: Path) -> None:
    res = spectrum_of_checkpoint(run_dir, end=3)
    assert res.info["sampling"] == "center" and res.info["n"] == 16
    assert res.info["arch"] == "pe" and res.adjusted is not None
    # The same as building the model by hand and loading best.pt.
    cfg = tiny_cfg(png, run_dir)
    model = build_model(cfg)
    model.load_state_dict(torch.load(run_dir / "best.pt", weights_only=True))
    data = ImageData.from_file(png)
    by_hand = kernel_spectrum(model, data.coords[patch_centres(16, 16, 4)])
    torch.testing.assert_close(res.eigenvalues, by_hand.eigenvalues)
    # max_residual: per patch, the pixel with the largest Σ|r| of these weights.
    with torch.no_grad():
        residual = model(data.coords) - data.target
    idx = representatives(16, 16, 4, "max_residual", residual)
    groups = groups_mod.grid((16, 16), 4)
    want = groups.gather(1, residual.abs().sum(1)[groups].argmax(1, keepdim=True)).squeeze(1)
    assert torch.equal(idx, want)
    mr = spectrum_of_checkpoint(run_dir, sampling="max_residual", weights="final")
    assert mr.info["sampling"] == "max_residual" and mr.info["weights"] == "final"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        spectrum_of_checkpoint(run_dir / "missing")
    with pytest.raises(ValueError, match="sampling"):
        spectrum_of_checkpoint(run_dir, sampling="random")


# --- frequency bands -------------------------------------------------------------------------

H = W = 32
_Y, _X = np.mgrid[0:H, 0:W]


def cosine(ky: int, kx: int) -> np.ndarray:
    """cos at (ky, kx) cycles per image: normalised radius sqrt(ky² + kx²) / 16 on 32x32."""
    return np.cos(2 * np.pi * (ky * _Y / H + kx * _X / W))


def test_band_errors_of_a_known_spectrum() -> None:
    # One cosine in each of 4 bands (radius 0.125, 0.265, 0.625, 0.8125).
    parts = [cosine(0, 2), cosine(3, 3), cosine(0, 10), cosine(13, 0)]
    target = np.stack([sum(parts), sum(parts) * 0.5, sum(parts)], axis=-1)
    removed = np.stack([parts[2], parts[2] * 0.5, parts[2]], axis=-1)
    errors = radial_band_errors(target - removed, target, n_bands=4)
    np.testing.assert_allclose(errors, [0.0, 0.0, 1.0, 0.0], atol=1e-12)
    assert radial_band_errors(target, target, n_bands=4).tolist() == [0.0] * 4
    # Two cosines in the same band (distinct frequencies are orthogonal): 0.3 / sqrt(0.3² + 0.4²).
    two = 0.3 * cosine(0, 10) + 0.4 * cosine(10, 0)
    errors = radial_band_errors(torch.from_numpy(0.4 * cosine(10, 0)), two, n_bands=4)
    assert errors[2] == pytest.approx(0.6, rel=1e-12)
    # The other bands hold no target energy: no relative error to speak of.
    assert np.isnan(errors[[0, 1, 3]]).all()
    with pytest.raises(ValueError, match="shape"):
        radial_band_errors(np.zeros((4, 4)), np.zeros((4, 5)))


def test_band_index_edges() -> None:
    idx = band_index(8, 8, n_bands=4)
    assert idx[0, 0] == 0  # DC
    assert idx[0, 4] == 3 and idx[4, 0] == 3  # Nyquist along one axis: radius exactly 1
    assert idx[4, 4] == 3  # the corner, radius √2, goes into the last band
    assert idx[0, 1] == 1  # radius 0.25: the lower edge belongs to the band above


def test_band_curves_log_the_errors_of_the_current_weights(png: Path, tmp_path: Path) -> None:
    cfg = tiny_cfg(png, tmp_path / "bands", method="iga", steps=5)
    res = band_curves(cfg, every=2, n_bands=4)
    assert res["steps"] == [0, 2, 4] and res["errors"].shape == (3, 4)
    header = (tmp_path / "bands" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert [c for c in header if c.startswith("band_")] == ["band_0", "band_1", "band_2", "band_3"]
    assert read_band_curves(tmp_path / "bands")["steps"] == [0, 2, 4]
    # Step 0 is the initial model's output (before any update).
    data = ImageData.from_file(png)
    with torch.no_grad():
        pred = build_model(cfg)(data.coords)
    expected = radial_band_errors(data.as_image(pred), data.image, 4)
    np.testing.assert_allclose(res["errors"][0], expected, rtol=1e-5)
    path = bands_figure({"iga": (res["steps"], res["errors"])}, tmp_path / "bands.png")
    assert path.stat().st_size > 0
    with pytest.raises(ValueError, match="n_steps"):
        bands_figure({"x": ([0, 1], np.zeros((3, 4)))}, tmp_path / "bad.png")


# --- CLI -------------------------------------------------------------------------------------


def test_cli_analyze_spectrum_archs_and_runs(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "spec"
    argv = ["analyze", "spectrum", "--archs", "relu,pe", "--size", "16x16", "--patch", "4"]
    assert main([*argv, "--width", "16", "--seeds", "0,1", "--end", "4", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("relu: ") for line in lines)
    assert any(line.startswith("pe: ") for line in lines)
    for name in ("spectra_archs.png", "spectra_iga.png"):
        assert (out / name).stat().st_size > 0
    record = json.loads((out / "spectra.json").read_text())
    assert record["mode"] == "archs" and record["n_points"] == 16
    assert (
        len(record["results"]["relu"]) == 2 and len(record["results"]["relu"][0]["adjusted"]) == 16
    )
    # --run, repeatable and comma-separated; a run named twice is analysed once.
    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    out2 = tmp_path / "runs"
    runs = ["--run", f"{run_dir},{other}", "--run", str(run_dir)]
    assert main(["analyze", "spectrum", *runs, "--end", "3", "--out", str(out2)]) == 0
    record = json.loads((out2 / "spectra.json").read_text())
    assert record["mode"] == "runs"
    assert list(record["results"]) == ["run (pe/vanilla)", "other (pe/vanilla)"]
    assert (out2 / "spectra_runs.png").stat().st_size > 0


def test_cli_analyze_bands(png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bands"
    argv = ["analyze", "bands", "--image", str(png), "--methods", "vanilla,iga", "--steps", "4"]
    argv += ["--every", "2", "--size", "16x16", "--patch", "4", "--end", "3", "--width", "16"]
    assert main([*argv, "--bands", "4", "--device", "cpu", "--quiet", "--out", str(out)]) == 0
    assert "vanilla: best PSNR" in capsys.readouterr().out
    record = json.loads((out / "bands.json").read_text())
    assert list(record["methods"]) == ["vanilla", "iga"] and len(record["edges"]) == 5
    assert record["methods"]["iga"]["steps"] == [0, 2]
    assert (out / "bands.png").stat().st_size > 0
    assert (out / "iga" / "summary.json").is_file()


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["spectrum", "--archs", "relu,sine"], 2, "argument --archs: unknown arch 'sine'"),
        (["spectrum", "--size", "16x16", "--end", "16"], 1, "--end 16 must be smaller"),
        (["spectrum", "--size", "16x"], 2, "argument --size: invalid size"),
        (["spectrum", "--run", "{missing}"], 1, "no such run directory"),
        (["bands", "--methods", "iga,sgd"], 2, "argument --methods: unknown method 'sgd'"),
        (["bands", "--size", "8x8", "--patch", "4", "--end", "4"], 1, "--end 4 must be smaller"),
    ],
)
def test_cli_analyze_bad_input_is_one_line(
    argv: list[str], code: int, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = [a.replace("{missing}", str(tmp_path / "missing")) for a in argv]
    assert main(["analyze", *argv, "--out", str(out)]) == code
    err = capsys.readouterr().err
    assert err.startswith("iga: error: ") and err.count("\n") == 1 and needle in err, err
    assert not out.exists()

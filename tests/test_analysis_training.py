"""``iga analyze training``: the eNTK/band probe along training, its files and its figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from iga.analysis import eigenvalue_stats, kernel_spectrum, patch_centres
from iga.analysis.training import (
    SPECTRUM_COLUMNS,
    ProbeImageTask,
    band_ratio_figure,
    read_spectrum_curves,
    spectrum_training_figure,
)
from iga.cli import main
from iga.core import balance
from iga.models.config import ModelConfig
from iga.tasks.base import fit
from iga.tasks.image.data import ImageData
from iga.tasks.image.task import ImageFitConfig, build_model
from iga.train import MethodConfig, TrainConfig


def cfg_for(png: Path, out: Path, method: str, steps: int = 5) -> ImageFitConfig:
    return ImageFitConfig(
        path=str(png),
        patch=4,
        model=ModelConfig(arch="relu", width=16),
        method=MethodConfig(method=method, end=3),
        train=TrainConfig(steps=steps, device="cpu"),
        out=str(out),
    )


@pytest.mark.parametrize("method", ["iga", "bn"])
def test_probe_logs_the_kernel_of_the_current_weights(
    png: Path, tmp_path: Path, method: str
) -> None:
    cfg = cfg_for(png, tmp_path / method, method)
    fit(ProbeImageTask(every=2, n_bands=4, end=3), cfg, progress=False)
    curves = read_spectrum_curves(cfg.out)
    assert curves["steps"].tolist() == [0, 2, 4]
    header = (Path(cfg.out) / "metrics.csv").read_text().splitlines()[0].split(",")
    assert set(SPECTRUM_COLUMNS) <= set(header) and "band_3" in header
    saved = np.load(Path(cfg.out) / "spectra_training.npz")
    assert saved["steps"].tolist() == [0, 2, 4] and saved["eigenvalues"].shape == (3, 16)

    # Step 0 is the initial model, on the patch centres, independently recomputed.
    data = ImageData.from_file(png)
    x = data.coords[patch_centres(16, 16, 4)]
    model = build_model(cfg)
    # BN: folded with the float32 grid statistics, as the probe does, then made float64.
    net = (model.merge(data.coords) if method == "bn" else model).double()
    J = []
    for xi in x.double():
        net.zero_grad()
        net(xi[None]).sum().div(3**0.5).backward()
        J.append(torch.cat([p.grad.reshape(-1) for p in net.parameters()]))
    K = torch.stack(J) @ torch.stack(J).T
    eig = torch.linalg.eigvalsh(K).flip(0)
    np.testing.assert_allclose(saved["eigenvalues"][0], eig.numpy(), rtol=1e-6, atol=1e-9)
    stats = eigenvalue_stats(eig)
    assert curves["K_cond"][0] == pytest.approx(stats["condition"], rel=1e-6)
    assert curves["K_var"][0] == pytest.approx(stats["variance_normalised"], rel=1e-6)
    # K·S: the top end eigenvalues lowered to λ_end, the rest kept.
    adj = saved["adjusted"][0]
    np.testing.assert_allclose(adj[:4], eig[3].item(), rtol=1e-6)
    np.testing.assert_allclose(adj[4:], eig[4:].numpy(), rtol=1e-6, atol=1e-9)
    expected = balance(K, 3).adjusted.sort(descending=True).values
    np.testing.assert_allclose(adj, expected.numpy(), rtol=1e-6, atol=1e-9)
    assert curves["KS_cond"][0] == pytest.approx(eigenvalue_stats(expected)["condition"])
    # Later probes see trained weights: the kernel moved.
    assert not np.allclose(saved["eigenvalues"][2], saved["eigenvalues"][0])
    assert kernel_spectrum(build_model(cfg), x, 3, grid=data.coords).end == 3


def test_probe_rejects_end_not_below_the_patches(png: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--end 16 must be smaller"):
        fit(ProbeImageTask(every=1, end=16), cfg_for(png, tmp_path / "r", "vanilla"))
    with pytest.raises(ValueError, match="end must be an integer"):
        ProbeImageTask(every=1, end=-1)


def test_figures_take_several_seeds(tmp_path: Path) -> None:
    steps = np.array([0, 10, 20])
    curve = {"steps": steps, **{c: np.array([3.0, 2.0, 1.0]) for c in SPECTRUM_COLUMNS}}
    path = spectrum_training_figure({"vanilla": [curve, curve], "iga": [curve]}, tmp_path / "s.png")
    assert path.stat().st_size > 0
    errors = {"vanilla": [np.ones((3, 4))] * 2, "iga": [np.full((3, 4), 0.5)] * 2}
    assert band_ratio_figure(errors, steps, tmp_path / "r.png").stat().st_size > 0
    with pytest.raises(ValueError, match="baseline 'vanilla'"):
        band_ratio_figure({"iga": errors["iga"]}, steps, tmp_path / "x.png")


def test_cli_analyze_training(
    png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "tr"
    argv = ["analyze", "training", "--image", str(png), "--methods", "vanilla,iga"]
    argv += ["--seeds", "0,1", "--steps", "4", "--every", "2", "--size", "16x16", "--patch", "4"]
    argv += ["--arch", "relu", "--end", "3", "--width", "16", "--bands", "4", "--quiet"]
    assert main([*argv, "--device", "cpu", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "iga seed 1: best PSNR" in text
    record = json.loads((out / "training.json").read_text())
    assert record["steps"] == [0, 2] and record["n_points"] == 16
    assert len(record["methods"]["iga"]["psnr_best"]) == 2
    for name in ("spectra_training.png", "bands.png", "band_ratio.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "vanilla" / "seed1" / "spectra_training.npz").is_file()


def test_spectrum_1d_arch_specs_and_short_fits(
    png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from iga.analysis import arch_spec

    assert arch_spec("pe:pe_levels=3:spherical_norm") == (
        "pe",
        {"pe_levels": 3, "spherical_norm": True},
    )
    with pytest.raises(ValueError, match="unknown arch 'sine'"):
        arch_spec("sine:x=1")
    out = tmp_path / "s1d"
    argv = ["analyze", "spectrum", "--signal", "1d", "--archs", "relu,relu:hadamard=all"]
    assert (
        main(
            [
                *argv,
                "--patch",
                "64",
                "--width",
                "8",
                "--seeds",
                "0",
                "--end",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    record = json.loads((out / "spectra.json").read_text())
    assert record["signal"] == "1d" and record["n_points"] == 32
    assert set(record["results"]) == {"relu", "relu:hadamard=all"}
    # Same weights seed, different model: the option reached the factory.
    plain, mod = (record["results"][k][0]["eigenvalues"] for k in ("relu", "relu:hadamard=all"))
    assert plain != mod
    out2 = tmp_path / "fits"
    argv = ["analyze", "spectrum", "--image", str(png), "--size", "16x16", "--patch", "4"]
    argv += ["--archs", "relu,relu:spherical_norm", "--width", "8", "--seeds", "0", "--end", "3"]
    assert (
        main([*argv, "--fit-steps", "3", "--fit-methods", "vanilla,iga", "--out", str(out2)]) == 0
    )
    fits = json.loads((out2 / "spectra.json").read_text())["fits"]
    assert set(fits["relu:spherical_norm"]) == {"vanilla", "iga"}
    assert "relu:spherical_norm iga: best PSNR" in capsys.readouterr().out
    assert (
        main(
            [
                "analyze",
                "spectrum",
                "--signal",
                "1d",
                "--fit-steps",
                "3",
                "--out",
                str(tmp_path / "bad"),
            ]
        )
        == 1
    )
    assert "--signal 1d" in capsys.readouterr().err

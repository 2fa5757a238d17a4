"""The image task and the CLI end to end, on tiny images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from iga.cli import main
from iga.models.config import ModelConfig
from iga.tasks.image.task import ImageFitConfig, fit_image
from iga.train import MethodConfig, TrainConfig


def cfg_for(path: Path, out: Path, method: str, steps: int = 60, **train_kw) -> ImageFitConfig:
    return ImageFitConfig(
        path=str(path),
        patch=4,
        model=ModelConfig(arch="pe", width=16, options={"pe_levels": 3}),
        method=MethodConfig(method=method, end=4),
        train=TrainConfig(steps=steps, device="cpu", **train_kw),
        out=str(out),
    )


@pytest.mark.parametrize("method", ["vanilla", "iga"])
def test_short_fit_improves_psnr_and_writes_run(tiny_png: Path, tmp_path: Path, method) -> None:
    out = tmp_path / method
    s = fit_image(cfg_for(tiny_png, out, method, steps=100, lr=5e-3), progress=False)
    rows = list(
        map(lambda line: line.split(","), (out / "metrics.csv").read_text().splitlines()[1:])
    )
    first_psnr = float(rows[0][2])
    assert s["psnr_best"] > first_psnr + 3.0
    assert s["steps"] == 100 and len(rows) == 100
    for name in ("config.json", "summary.json", "reconstruction.png", "psnr.png", "best.pt"):
        assert (out / name).stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["psnr_best"] == pytest.approx(s["psnr_best"])
    # Reconstruction PNG is the best state's output: its PSNR matches psnr_best (8-bit rounding).
    recon = np.asarray(Image.open(out / "reconstruction.png"), dtype=np.float64) / 255
    target = np.asarray(Image.open(tiny_png), dtype=np.float64) / 255
    psnr_png = -10 * np.log10(((recon - target) ** 2).mean())
    assert psnr_png == pytest.approx(s["psnr_best"], abs=0.3)


def test_best_weights_are_a_copy_not_an_alias(tiny_png: Path, tmp_path: Path) -> None:
    # With the lr decayed to ~0 after 30 steps of a huge lr, the best step is early.
    out = tmp_path / "r"
    s = fit_image(cfg_for(tiny_png, out, "vanilla", steps=40, lr=3e-2), progress=False)
    best, final = torch.load(out / "best.pt"), torch.load(out / "final.pt")
    assert set(best) == set(final)
    if s["best_step"] < s["steps"] - 1:
        assert any(not torch.equal(best[k], final[k]) for k in best)


def test_iga_end_zero_trains_exactly_like_vanilla(tiny_png: Path, tmp_path: Path) -> None:
    a = cfg_for(tiny_png, tmp_path / "a", "vanilla", steps=15, lr=1e-3)
    b = cfg_for(tiny_png, tmp_path / "b", "iga", steps=15, lr=1e-3)
    b.method.end = 0
    fit_image(a, progress=False)
    fit_image(b, progress=False)
    ra = (tmp_path / "a" / "metrics.csv").read_text().splitlines()
    rb = (tmp_path / "b" / "metrics.csv").read_text().splitlines()
    psnr_a = [float(r.split(",")[2]) for r in ra[1:]]
    psnr_b = [float(r.split(",")[2]) for r in rb[1:]]
    np.testing.assert_allclose(psnr_a, psnr_b, rtol=1e-5)


def test_cli_end_to_end(tiny_png: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    argv = ["fit", "image", str(tiny_png), "--arch", "siren", "--method", "iga", "--end", "3"]
    argv += ["--patch", "4", "--steps", "20", "--width", "16", "--out", str(out), "--quiet"]
    argv += ["--size", "12x8", "--opt", "omega0=20", "--device", "cpu"]
    assert main(argv) == 0
    assert "siren/iga: best PSNR" in capsys.readouterr().out
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model"]["options"] == {"omega0": 20}
    assert cfg["resolved"]["image_size"] == [12, 8]
    assert cfg["resolved"]["n_groups"] == 6
    # the processor and its kernels' instruction set: a run is bit-reproducible on its kind
    assert cfg["resolved"]["cpu"].endswith(torch.backends.cpu.get_cpu_capability())
    # refuses to clobber, then overwrites on request
    assert main(argv) == 1
    assert "already holds a run; pass --overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite", "--sampling", "reference"]) == 0


def _err(capsys, argv: list[str]) -> str:
    assert main(argv) in (1, 2)  # 2: rejected by argparse while parsing
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_cli_bad_inputs(tiny_png: Path, tmp_path: Path, capsys) -> None:
    base = ["fit", "image", str(tiny_png), "--steps", "2", "--quiet", "--out"]
    assert "image file not found" in _err(
        capsys, ["fit", "image", str(tmp_path / "nope.png"), "--out", str(tmp_path / "o")]
    )
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    assert "cannot read image" in _err(capsys, ["fit", "image", str(bad), "--out", str(tmp_path)])
    assert "argument --arch: invalid choice: 'mlp'" in _err(
        capsys, [*base, str(tmp_path / "a"), "--arch", "mlp"]
    )
    assert "argument --method: invalid choice: 'sgd'" in _err(
        capsys, [*base, str(tmp_path / "b"), "--method", "sgd"]
    )
    # 24x16 with 8x8 patches = 6 groups
    assert "--end 6 must be smaller than the number of IGA groups (6)" in _err(
        capsys, [*base, str(tmp_path / "c"), "--patch", "8", "--end", "6"]
    )
    assert "end=-2" in _err(capsys, [*base, str(tmp_path / "d"), "--end", "-2"])
    assert "larger than the signal" in _err(capsys, [*base, str(tmp_path / "e"), "--patch", "20"])
    assert "unknown option" in _err(
        capsys, [*base, str(tmp_path / "f"), "--arch", "relu", "--opt", "omega0=3"]
    )
    for d in "abcdef":  # nothing was written for rejected runs
        assert not (tmp_path / d / "config.json").exists()


def test_nonfinite_loss_stops_and_keeps_best(tiny_png: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "div"
    argv = ["fit", "image", str(tiny_png), "--arch", "relu", "--method", "vanilla", "--quiet"]
    argv += ["--lr", "1e30", "--steps", "50", "--width", "8", "--out", str(out)]
    err = _err(capsys, argv)
    assert "loss became non-finite at step" in err and "lower --lr" in err
    s = json.loads((out / "summary.json").read_text())
    assert s["diverged_at_step"] is not None and s["diverged_at_step"] < 50
    assert np.isfinite(s["psnr_best"])
    assert (out / "reconstruction.png").exists() and (out / "best.pt").exists()

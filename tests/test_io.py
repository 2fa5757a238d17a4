"""Tests for iga.io (atomic writes, CSV logging, run directories) and iga.figures.plots outputs."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from iga import io, runs
from iga.figures import plots


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.txt"
    io.atomic_write_text(target, "first")
    io.atomic_write_text(target, "second")
    assert target.read_text() == "second"
    io.atomic_write_bytes(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert _leftovers(target.parent) == []


def test_atomic_write_keeps_permissions(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    io.atomic_write_text(target, "x")
    # Not the 0600 that temporary files are created with.
    assert target.stat().st_mode & 0o044


def test_write_json_failure_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "config.json"
    io.write_json(target, {"a": 1})
    with pytest.raises(TypeError, match="cannot convert object"):
        io.write_json(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert _leftovers(tmp_path) == []


def test_failure_mid_write_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "ckpt.pt"
    io.save_torch(target, {"w": torch.ones(2)})
    with pytest.raises(Exception, match="(?i)pickle"):
        io.save_torch(target, {"f": lambda: 0})  # lambdas cannot be pickled: fails mid-write
    assert torch.equal(torch.load(target)["w"], torch.ones(2))
    assert _leftovers(tmp_path) == []


@dataclasses.dataclass
class _Config:
    path: Path
    size: tuple[int, int]
    lr: float


def test_write_json_converts_and_handles_nonfinite(tmp_path: Path) -> None:
    obj = {
        "cfg": _Config(Path("a/b.png"), (3, 4), 1e-3),
        "np": np.float32(0.5),
        "npi": np.int64(7),
        "t": torch.tensor(2.5),
        "arr": np.arange(3),
        "psnr": math.inf,
        "bad": float("nan"),
        "dtype": torch.float32,
    }
    target = tmp_path / "summary.json"
    io.write_json(target, obj)
    text = target.read_text()
    data = json.loads(text)  # strict JSON: would fail on NaN/Infinity literals
    assert "NaN" not in text and "Infinity" not in text
    assert data["cfg"] == {"path": "a/b.png", "size": [3, 4], "lr": 1e-3}
    assert data["np"] == 0.5 and data["npi"] == 7 and data["t"] == 2.5
    assert data["arr"] == [0, 1, 2]
    assert data["psnr"] is None and data["bad"] is None
    assert data["dtype"] == "torch.float32"
    assert list(data) == list(obj)  # key order preserved


def test_save_png_variants(tmp_path: Path) -> None:
    rgb = np.linspace(0, 1, 4 * 5 * 3).reshape(4, 5, 3)
    io.save_png(tmp_path / "rgb.png", rgb)
    io.save_png(tmp_path / "gray.png", torch.zeros(4, 5))
    io.save_png(tmp_path / "u8.png", np.full((4, 5, 3), 200, dtype=np.uint8))
    with Image.open(tmp_path / "rgb.png") as im:
        assert im.mode == "RGB" and im.size == (5, 4)
        assert np.asarray(im)[-1, -1, -1] == 255
    with Image.open(tmp_path / "gray.png") as im:
        assert im.mode == "L"
    with Image.open(tmp_path / "u8.png") as im:
        assert np.asarray(im)[0, 0, 0] == 200
    with pytest.raises(ValueError, match=r"\[H, W, 3\]"):
        io.save_png(tmp_path / "bad.png", np.zeros((4, 5, 2)))
    assert _leftovers(tmp_path) == []


def test_csv_logger_round_trip(tmp_path: Path) -> None:
    target = tmp_path / "metrics.csv"
    logger = io.CSVLogger(target)
    logger.log({"step": 0, "psnr": 12.5, "loss": np.float32(0.25)})
    logger.flush()
    logger.log({"step": 10, "psnr": math.inf, "loss": torch.tensor(0.125)})
    logger.log({"step": 20, "psnr": 30.123456789012345})  # missing column -> empty cell
    logger.flush()
    with target.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["0", "10", "20"]
    assert float(rows[1]["psnr"]) == math.inf
    assert float(rows[2]["psnr"]) == 30.123456789012345
    assert float(rows[1]["loss"]) == 0.125 and rows[2]["loss"] == ""
    with pytest.raises(ValueError, match="not in the CSV header"):
        logger.log({"step": 30, "new": 1.0})
    assert _leftovers(tmp_path) == []


def test_csv_logger_flush_every_and_context(tmp_path: Path) -> None:
    target = tmp_path / "m.csv"
    with io.CSVLogger(target, flush_every=2) as logger:
        logger.log({"a": 1})
        assert not target.exists()
        logger.log({"a": 2})
        assert target.read_text().splitlines() == ["a", "1", "2"]
        logger.log({"a": 3})
    assert target.read_text().splitlines() == ["a", "1", "2", "3"]


def test_prepare_run_dir(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runs.prepare_run_dir(empty, overwrite=False) == empty
    fresh = runs.prepare_run_dir(tmp_path / "new" / "nested", overwrite=False)
    assert fresh.is_dir()

    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text("{}")
    (run / "metrics.csv").write_text("a\n1\n")
    (run / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="already holds a run; pass --overwrite"):
        runs.prepare_run_dir(run, overwrite=False)
    assert (run / "summary.json").exists()
    runs.prepare_run_dir(run, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]

    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(FileExistsError, match="is a file"):
        runs.prepare_run_dir(a_file, overwrite=True)


# --- plots (they write through io.save_figure) ------------------------------------------------


def _assert_png(path: Path) -> None:
    assert path.stat().st_size > 0
    with Image.open(path) as im:
        assert im.format == "PNG"
    assert _leftovers(path.parent) == []


def test_psnr_curves_png(tmp_path: Path) -> None:
    out = plots.psnr_curves(
        {"siren": ([0, 10, 20], [10.0, 20.0, math.inf]), "iga": ([0, 10, 20], [11.0, 22.0, 30.0])},
        tmp_path / "curves.png",
        title="PSNR",
    )
    _assert_png(out)


def test_side_by_side_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = {"target": rng.random((8, 12, 3)), "pred": torch.rand(8, 12, 3)}
    out = plots.side_by_side(images, tmp_path / "side.png", titles_extra={"pred": "33.7 dB"})
    _assert_png(out)


def test_fft_residual_and_spectra_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    target = rng.random((8, 10, 3))
    spec = plots.fft_residual(target + 0.01, target)
    assert spec.shape == (8, 10)
    # A constant offset only has a DC component, at the centre after fftshift.
    assert np.unravel_index(np.argmax(spec), spec.shape) == (4, 5)
    out = plots.residual_spectra(
        {"a": target + rng.normal(0, 0.05, target.shape), "exact": target},
        target,
        tmp_path / "spectra.png",
    )
    _assert_png(out)


def test_spectrum_plot_png(tmp_path: Path) -> None:
    before = np.array([1e-6, 1.0, 1e2, 0.0])
    after = torch.tensor([1e-2, 1.0, 10.0, 0.5])
    _assert_png(plots.spectrum_plot(before, after, tmp_path / "spec.png"))

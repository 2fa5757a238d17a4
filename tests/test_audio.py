"""The audio task: the loader against synthetic sines written to disk, bad files, the band
errors, IGA at end = 0, and the run promises (resume, divergence, overwrite) on tiny clips."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from _interrupt import interrupt_at
from scipy.io import wavfile

from iga import IGA
from iga.cli import main
from iga.runs import CHECKPOINT_FILE
from iga.tasks.audio.data import load_audio
from iga.tasks.audio.task import (
    AudioFitConfig,
    AudioTask,
    band_errors,
    fit_audio,
    pe_levels_for,
    run_key,
)
from iga.tasks.base import TrainingDiverged, fit
from iga.train import MethodConfig, TrainConfig

RATE = 8000


def _tone(n: int = 800, channels: int = 1) -> np.ndarray:
    t = np.arange(n) / RATE
    x = np.stack([0.5 * np.sin(2 * np.pi * (220 * (c + 1)) * t) for c in range(channels)], 1)
    return (x + 0.2 * np.sin(2 * np.pi * 1900 * t)[:, None]).astype(np.float32)


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "tone.wav"
    wavfile.write(path, RATE, _tone()[:, 0])
    return path


def _cfg(path: Path, out: Path, method: str = "iga", **train) -> AudioFitConfig:
    return AudioFitConfig(
        path=str(path),
        duration=0.0,
        window=16,
        method=MethodConfig(method=method, end=4),
        train=TrainConfig(**{"steps": 30, "checkpoint_every": 5, **train}),
        out=str(out),
    )


# --- loading ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtype", "scale", "offset", "tol"),
    [
        (np.float32, 1.0, 0.0, 0.0),
        (np.int16, 32768, 0, 0.5 / 32768),
        (np.uint8, 128, 128, 0.5 / 128),
    ],
)
def test_the_loader_reads_a_sine_back(tmp_path: Path, dtype, scale, offset, tol) -> None:
    x = _tone(500, channels=2)
    # PCM as the reader decodes it: x · 2^(bits−1) (+ 128 for unsigned 8-bit)
    info = np.iinfo(dtype) if dtype != np.float32 else None
    raw = x if info is None else np.clip(np.round(x * scale + offset), info.min, info.max)
    raw = raw.astype(dtype)
    wavfile.write(tmp_path / "s.wav", RATE, raw)
    data = load_audio(tmp_path / "s.wav")
    assert data.rate == RATE and data.samples.shape == (500, 2)
    assert data.samples.dtype == np.float32
    assert np.abs(data.samples - x).max() <= tol + 1e-6
    assert torch.equal(data.coords()[[0, -1], 0], torch.tensor([-1.0, 1.0]))
    crop = data.crop(0.01, 0.02)  # 80 samples from sample 80
    assert crop.start == 80 and np.array_equal(crop.samples, data.samples[80:240])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: wavfile.write(p, RATE, np.zeros(0, np.float32)), "holds 0 samples"),
        (lambda p: wavfile.write(p, RATE, np.zeros((10, 3), np.float32)), "3 channels"),
        (lambda p: wavfile.write(p, RATE, np.array([0.1, np.nan, 0.2], np.float32)), "non-finite"),
        (lambda p: wavfile.write(p, 0, np.zeros(10, np.float32)), "sample rate of 0"),
        (lambda p: p.write_bytes(b"RIFF0000WAVEjunk"), "cannot read"),
        (lambda p: p.with_suffix(".mp3").write_bytes(b"x"), "unknown audio format"),
    ],
)
def test_bad_audio_is_one_line(tmp_path: Path, capsys, make, message) -> None:
    path = tmp_path / "bad.wav"
    make(path)
    if not path.exists():
        path = path.with_suffix(".mp3")
    code = main(["fit", "audio", str(path), "--steps", "2", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and message in err and err.count("\n") == 1, err


def test_bad_crop_and_window_are_one_line(clip: Path, tmp_path: Path, capsys) -> None:
    for args, message in (
        (["--offset", "5"], "--offset 5 s is past the end"),
        (["--duration", "0.0001"], "fewer than 2 samples"),
        (["--window", "5000"], "--window 5000 exceeds"),
        (["--batch-windows", "999"], "--batch-windows 999 exceeds"),
    ):
        code = main(["fit", "audio", str(clip), *args, "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert code == 1 and message in err and err.count("\n") == 1, err


# --- pieces ----------------------------------------------------------------------------------


def test_band_errors_against_hand_computed_values() -> None:
    n = 1000
    t = torch.arange(n, dtype=torch.float64)[:, None]
    low = torch.sin(2 * math.pi * 10 * t / n)  # rFFT bin 10 of 501: band 0 of 4
    high = torch.sin(2 * math.pi * 400 * t / n)  # bin 400: band 3
    target = low + high
    # empty bands (1, 2) have no relative error: 0 when the residual is zero there too, else NaN
    assert np.array_equal(band_errors(target, target, 4), [0, 0, 0, 0])
    mid = torch.sin(2 * math.pi * 200 * t / n)  # bin 200: band 1, where the target has nothing
    assert np.isnan(band_errors(target + mid, target, 4)[1])
    e = band_errors(low, target, 4)  # the high tone missing entirely, the low one exact
    assert e[0] == pytest.approx(0, abs=1e-9) and e[3] == pytest.approx(1.0)
    e = band_errors(target + 0.5 * high, target, 4)  # the high tone 50 % too loud
    assert e[3] == pytest.approx(0.5)


def test_pe_levels_reach_below_nyquist() -> None:
    for n in (100, 44_100, 308_207):
        top = 2 ** (pe_levels_for(n) - 1) * math.pi  # rad per unit of t in [-1, 1]
        nyquist = math.pi * (n - 1) / 2
        assert nyquist / 4 < top <= nyquist


def test_iga_with_end_zero_is_the_plain_gradient(clip: Path) -> None:
    cfg = _cfg(clip, Path("unused"))
    job = AudioTask().setup(cfg, torch.device("cpu"))
    model = job.model
    adj = IGA(model, job.groups, end=0)
    pred = model(job.inputs)
    g_iga = torch.autograd.grad(adj.loss(pred, job.target, job.inputs), list(model.parameters()))
    pred = model(job.inputs)
    mse = torch.nn.functional.mse_loss(pred, job.target)
    g_mse = torch.autograd.grad(mse, list(model.parameters()))
    for a, b in zip(g_iga, g_mse, strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-9)


# --- runs ------------------------------------------------------------------------------------


def test_a_fit_writes_its_outputs_and_learns(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    s = fit_audio(_cfg(clip, out, steps=60, lr=1e-3), progress=False)
    for name in ("reconstruction.wav", "comparison.png", "psnr.png", "best.pt", "summary.json"):
        assert (out / name).is_file(), name
    rows = [r for r in (out / "metrics.csv").read_text().splitlines()[1:]]
    first = float(rows[0].split(",")[1])
    assert s["psnr"] > first + 3
    assert s["snr_db"] == pytest.approx(
        10 * math.log10(float((_tone()[:, 0] ** 2).mean()) / s["mse"]), rel=1e-3
    )
    assert len(s["bands"]) == 8
    rate, back = wavfile.read(out / "reconstruction.wav")
    assert rate == RATE and back.shape == (800,)
    config = json.loads((out / "config.json").read_text())
    assert config["key"] == run_key(_cfg(clip, out, steps=60, lr=1e-3))
    assert "first_omega0=3000" in config["resolved"]["model"]


@pytest.mark.parametrize("batch", [0, 10])
def test_interrupt_then_resume_equals_a_straight_run(clip: Path, tmp_path: Path, batch) -> None:
    straight = replace(_cfg(clip, tmp_path / "a"), batch_windows=batch, eval_every=10)
    s1 = fit(AudioTask(), straight, progress=False)
    resumed = replace(straight, out=str(tmp_path / "b"))
    with pytest.raises(KeyboardInterrupt):
        fit(interrupt_at(AudioTask(), 17), resumed, progress=False)
    assert (tmp_path / "b" / CHECKPOINT_FILE).is_file()
    s2 = fit(AudioTask(), resumed, progress=False, resume=True)
    assert s2["psnr"] == s1["psnr"] and s2["mse"] == s1["mse"] and s2["key"] == s1["key"]
    a = torch.load(tmp_path / "a" / "best.pt")
    b = torch.load(tmp_path / "b" / "best.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_divergence_keeps_the_best_result_and_names_the_step(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "div"
    with pytest.raises(TrainingDiverged, match=r"non-finite at step \d+.*lower --lr"):
        fit_audio(_cfg(clip, out, lr=1e8), progress=False)
    s = json.loads((out / "summary.json").read_text())
    assert s["diverged_at_step"] is not None and math.isfinite(s["psnr"])
    assert (out / "best.pt").is_file() and (out / "reconstruction.wav").is_file()
    assert not (out / CHECKPOINT_FILE).exists()


def test_overwrite_replaces_a_run_and_refuses_without_it(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    args = ["fit", "audio", str(clip), "--steps", "3", "--window", "16", "--out", str(out)]
    assert main([*args, "--quiet"]) == 0
    assert main([*args, "--quiet"]) == 1  # holds a run
    (out / "stale.txt").write_text("old")
    assert main([*args, "--quiet", "--overwrite", "--method", "vanilla"]) == 0
    assert json.loads((out / "summary.json").read_text())["method"] == "vanilla"
    assert not (out / "stale.txt").exists() and not (out / ".replaced").exists()


def test_the_benchmark_runs_resumes_and_tabulates(tmp_path: Path, capsys) -> None:
    clip = tmp_path / "long.wav"  # the tier keeps one second from 1.0 s
    wavfile.write(clip, RATE, _tone(2 * RATE + 100)[:, 0])
    args = [
        *("bench", "audio", "--clips", str(clip), "--archs", "relu", "--methods", "vanilla,iga"),
        *("--steps", "4", "--out", str(tmp_path / "res"), "--quiet", "--no-figures"),
    ]
    assert main(args) == 0
    table = (tmp_path / "res" / "cpu_steps4" / "table" / "table.md").read_text()
    assert "PSNR (dB)" in table and "+IGA" in table and "Vanilla" in table
    capsys.readouterr()
    assert main(args) == 0
    assert "0 run, 2 already finished" in capsys.readouterr().out
    bad = main([*args[:3], "nope", *args[4:]])
    assert bad == 1 and "clip 'nope' not found" in capsys.readouterr().err


def test_window_groups_pad_or_overlap_the_last_window() -> None:
    from iga.tasks.common import window_groups

    assert window_groups(6, 3).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert window_groups(7, 3).tolist() == [[0, 1, 2], [3, 4, 5], [6, -1, -1]]
    assert window_groups(7, 3, overlap_last=True).tolist() == [[0, 1, 2], [3, 4, 5], [4, 5, 6]]


def test_mini_batches_cover_a_clip_whose_length_is_no_multiple(clip: Path, tmp_path: Path) -> None:
    cfg = replace(_cfg(clip, tmp_path / "r", steps=12), window=24, batch_windows=8, eval_every=4)
    s = fit_audio(cfg, progress=False)  # 800 samples = 33 windows of 24 + 8
    assert s["steps"] == 12 and math.isfinite(s["psnr"])

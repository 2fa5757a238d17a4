"""Runs that survive: checkpoints, resume to the same result, overwrite that never mixes runs,
divergence that keeps the best result, config keys that spot stale runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from _interrupt import interrupt_at
from PIL import Image

from iga.models.config import ModelConfig
from iga.runs import CHECKPOINT_FILE, config_key, run_state
from iga.tasks.base import TrainingDiverged, TrainingInterrupted, fit
from iga.tasks.image.task import ImageFitConfig, ImageTask, fit_image
from iga.train import MethodConfig, TrainConfig


@pytest.fixture
def tiny_png(tmp_path: Path) -> Path:
    y, x = np.mgrid[0:16, 0:16] / 8.0
    img = np.stack(
        [0.5 + 0.4 * np.sin(3 * x), 0.5 + 0.3 * np.cos(4 * y), 0.5 + 0.4 * np.sin(5 * (x + y))],
        axis=-1,
    )
    path = tmp_path / "tiny.png"
    Image.fromarray((img * 255).astype(np.uint8)).save(path)
    return path


def _cfg(png: Path, out: Path, method: str = "iga", **train: Any) -> ImageFitConfig:
    t = {"steps": 30, "lr": 5e-3, "device": "cpu", "spectrum_every": 5, **train}
    return ImageFitConfig(
        path=str(png),
        patch=4,
        model=ModelConfig(arch="pe", width=16, options={"pe_levels": 3}),
        # random sampling and every=3: the sampler's RNG and a stale S must survive a resume.
        method=MethodConfig(method=method, end=4, sampling="random", every=3),
        train=TrainConfig(**t),
        out=str(out),
    )


# Each optimiser's state (Muon + Adam pair, ESGD's curvature EMA, its step counters and its
# Rademacher generator) and the cosine schedule must survive a resume too.
OPTIMIZER_RUNS = {
    "adam": {},
    "muon": {"optimizer": "muon", "schedule": "cosine"},
    "esgd": {"optimizer": "esgd", "optimizer_options": {"d_warmup": 5, "update_every": 4}},
}


@pytest.mark.parametrize("optimizer", list(OPTIMIZER_RUNS))
@pytest.mark.parametrize("method", ["iga", "vanilla"])
def test_interrupt_then_resume_equals_a_straight_run(
    tiny_png: Path, tmp_path: Path, method: str, optimizer: str
) -> None:
    opt = OPTIMIZER_RUNS[optimizer]
    straight = fit_image(_cfg(tiny_png, tmp_path / "straight", method, **opt), progress=False)

    cfg = _cfg(tiny_png, tmp_path / "resumed", method, checkpoint_every=7, **opt)
    with pytest.raises(TrainingInterrupted, match="--resume"):
        fit(interrupt_at(ImageTask(), 17), cfg, progress=False)
    out = Path(cfg.out)
    assert run_state(out)[0] == "resumable"
    assert not (out / "summary.json").exists()
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 1 + 18  # header + steps 0..17, flushed before the checkpoint
    ckpt = torch.load(out / CHECKPOINT_FILE, weights_only=True)
    assert ckpt["step"] == 18

    resumed = fit_image(cfg, progress=False, resume=True)
    for k in ("psnr_best", "best_step", "psnr_final", "ssim", "steps"):
        assert resumed[k] == straight[k], k
    a = torch.load(tmp_path / "straight" / "final.pt", weights_only=True)
    b = torch.load(out / "final.pt", weights_only=True)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)
    m_a = (tmp_path / "straight" / "metrics.csv").read_text().splitlines()
    m_b = (out / "metrics.csv").read_text().splitlines()
    assert len(m_a) == len(m_b) == 31
    # Same losses row by row (the time column differs).
    cols = m_a[0].split(",")
    mse = cols.index("mse")
    assert [r.split(",")[mse] for r in m_a] == [r.split(",")[mse] for r in m_b]
    assert not (out / CHECKPOINT_FILE).exists()  # removed once finished


def test_resume_refuses_other_options_and_finished_runs(tiny_png: Path, tmp_path: Path) -> None:
    cfg = _cfg(tiny_png, tmp_path / "r", "vanilla")
    with pytest.raises(TrainingInterrupted):
        fit(interrupt_at(ImageTask(), 3), cfg, progress=False)
    other = _cfg(tiny_png, tmp_path / "r", "vanilla", lr=1e-3)
    with pytest.raises(ValueError, match="other options"):
        fit_image(other, progress=False, resume=True)
    fit_image(cfg, progress=False, resume=True)
    with pytest.raises(FileExistsError, match="finished"):
        fit_image(cfg, progress=False, resume=True)
    with pytest.raises(FileNotFoundError, match="no run to resume"):
        fit_image(_cfg(tiny_png, tmp_path / "none"), progress=False, resume=True)


@pytest.mark.parametrize("damage", ["truncated checkpoint", "no config", "garbage config"])
def test_resume_of_a_damaged_run_is_one_line(tiny_png: Path, tmp_path: Path, damage: str) -> None:
    cfg = _cfg(tiny_png, tmp_path / "r", "iga")
    with pytest.raises(TrainingInterrupted):
        fit(interrupt_at(ImageTask(), 3), cfg, progress=False)
    out = tmp_path / "r"
    if damage == "truncated checkpoint":
        data = (out / CHECKPOINT_FILE).read_bytes()
        (out / CHECKPOINT_FILE).write_bytes(data[: len(data) // 2])
        match = "cannot read .*checkpoint.pt.*--overwrite"
    elif damage == "no config":
        (out / "config.json").unlink()
        match = "no readable config.json.*--overwrite"
    else:
        (out / "config.json").write_text("{not json")
        match = "no readable config.json.*--overwrite"
    with pytest.raises(ValueError, match=match) as e:
        fit_image(cfg, progress=False, resume=True)
    assert len(str(e.value).splitlines()) == 1


def test_overwrite_moves_the_old_run_aside_until_the_new_one_finishes(
    tiny_png: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    first = fit_image(_cfg(tiny_png, out, "vanilla"), progress=False)
    with pytest.raises(FileExistsError, match="--overwrite"):
        fit_image(_cfg(tiny_png, out, "vanilla", lr=1e-3), progress=False)
    assert json.loads((out / "summary.json").read_text()) == first  # untouched

    new = _cfg(tiny_png, out, "vanilla", lr=1e-3)
    new.overwrite = True
    with pytest.raises(TrainingInterrupted):
        fit(interrupt_at(ImageTask(), 5), new, progress=False)
    # Crashed half-way: no summary in out (no old summary beside the new config), the old run
    # is complete in .replaced/.
    assert not (out / "summary.json").exists()
    assert json.loads((out / "config.json").read_text())["train"]["lr"] == 1e-3
    assert json.loads((out / ".replaced" / "summary.json").read_text()) == first
    done = fit_image(new, progress=False, resume=True)
    assert done["lr"] == 1e-3
    assert not (out / ".replaced").exists()


def test_overwrite_moves_every_old_output_aside_not_only_the_csvs(
    tiny_png: Path, tmp_path: Path
) -> None:
    # Another task's run in the folder (its figures and mesh), then an image run over it.
    out = tmp_path / "run"
    fit_image(_cfg(tiny_png, out, "vanilla"), progress=False)
    (out / "surface.png").write_bytes(b"an occupancy figure")
    (out / "mesh").mkdir()
    (out / "mesh" / "shape.ply").write_text("ply")
    new = _cfg(tiny_png, out, "vanilla", lr=1e-3)
    new.overwrite = True
    with pytest.raises(TrainingInterrupted):
        fit(interrupt_at(ImageTask(), 3), new, progress=False)
    assert not (out / "surface.png").exists() and not (out / "mesh").exists()
    assert not (out / "best.pt").exists() and not (out / "reconstruction.png").exists()
    assert (out / ".replaced" / "surface.png").read_bytes() == b"an occupancy figure"
    assert (out / ".replaced" / "mesh" / "shape.ply").is_file()
    fit_image(new, progress=False, resume=True)
    # once finished, the folder holds what a run made from scratch holds, nothing else
    fit_image(_cfg(tiny_png, tmp_path / "scratch", "vanilla", lr=1e-3), progress=False)
    assert {p.name for p in out.iterdir()} == {p.name for p in (tmp_path / "scratch").iterdir()}
    # A folder that holds no run keeps what it holds (--out . must not move a user's files).
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    fit_image(_cfg(tiny_png, foreign, "vanilla"), progress=False)
    assert (foreign / "notes.txt").read_text() == "mine"


def test_divergence_keeps_the_best_result_and_names_the_step(
    tiny_png: Path, tmp_path: Path
) -> None:
    for method in ("vanilla", "iga"):
        out = tmp_path / method
        with pytest.raises(TrainingDiverged, match=r"non-finite at step \d+.*lower --lr"):
            fit_image(_cfg(tiny_png, out, method, lr=1e4, steps=60), progress=False)
        s = json.loads((out / "summary.json").read_text())
        assert s["diverged_at_step"] is not None and s["diverged_at_step"] < 60
        assert np.isfinite(s["psnr_best"])
        assert (out / "reconstruction.png").exists()
        assert not (out / CHECKPOINT_FILE).exists()


def test_config_key_ignores_where_and_sees_what() -> None:
    base = {"path": "a.png", "out": "x", "overwrite": False, "train": {"lr": 1e-3, "device": "cpu"}}
    resolved = {"lr": 1e-3, "model": "pe: 2 -> 64 (pe_levels=6)"}
    k = config_key(base, resolved)
    moved = {**base, "out": "y", "overwrite": True, "train": {"lr": 1e-3, "device": "cuda"}}
    assert config_key(moved, resolved) == k
    assert config_key({**base, "path": "b.png"}, resolved) != k
    # A changed default (here a model option) changes the key through the model description.
    assert config_key(base, {**resolved, "model": "pe: 2 -> 64 (pe_levels=8)"}) != k
    # Old records carry their resolved facts inside.
    assert config_key({**base, "resolved": resolved}) == k


def test_a_non_finite_entk_is_a_divergence_that_keeps_the_best_result(
    tiny_png: Path, tmp_path: Path
) -> None:
    # One hidden layer's weights scaled by 1e20 at step 15 (S is refreshed every 3 steps): the
    # outputs stay finite but IGA's eNTK (sums of products of gradients) overflows float32
    # before any loss is formed. That must stop the run like any divergence (best result kept, step
    # named), not end it with an error and no result (issue 28: it did, and a fair-lr sweep
    # then never finished its selection).
    task = ImageTask()
    setup = task.setup

    def poisoned(cfg: Any, device: torch.device) -> Any:
        job = setup(cfg, device)
        seen = {"step": -1, "done": False}

        def extra(step: int, pred: torch.Tensor) -> dict[str, Any]:
            seen["step"] = step
            return {}

        def poison(module: torch.nn.Module, args: Any) -> None:
            # At the first forward of step 15 (before its graph exists).
            if seen["step"] == 14 and not seen["done"]:
                seen["done"] = True
                with torch.no_grad():  # outputs stay finite, the Jacobian's products do not
                    module.net[4].weight.mul_(1e20)

        job.extra = extra
        job.model.register_forward_pre_hook(poison)
        return job

    task.setup = poisoned  # type: ignore[method-assign]
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"non-finite at step 15.*lower --lr"):
        fit(task, _cfg(tiny_png, out, "iga", steps=30, spectrum_every=1), progress=False)
    s = json.loads((out / "summary.json").read_text())
    assert s["diverged_at_step"] == 15 and np.isfinite(s["psnr_best"]) and s["best_step"] <= 14
    assert (out / "reconstruction.png").exists() and (out / "best.pt").exists()

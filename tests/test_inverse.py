"""Inpainting and super-resolution on the image task (``--keep``, ``--downsample``): what is
trained on, what is scored, against hand computations; IGA at end = 0; resume; run keys."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from _interrupt import interrupt_at

from iga import IGA
from iga.models.config import ModelConfig
from iga.runs import config_key
from iga.tasks.base import fit
from iga.tasks.image.data import image_coords
from iga.tasks.image.task import ImageFitConfig, ImageTask, fit_image
from iga.train import MethodConfig, TrainConfig


def _cfg(png: Path, out: Path, **kw) -> ImageFitConfig:
    return ImageFitConfig(
        path=str(png),
        patch=4,
        heldout_every=5,
        model=ModelConfig(arch="pe", width=16, hidden_layers=2),
        method=MethodConfig(method="iga", end=3),
        train=TrainConfig(steps=20, checkpoint_every=5),
        out=str(out),
        **kw,
    )


def test_inpainting_trains_on_the_kept_pixels_only(tiny_png: Path) -> None:
    task = ImageTask()
    job = task.setup(_cfg(tiny_png, Path("x"), keep=0.25), torch.device("cpu"))
    data = task.data
    n = data.height * data.width
    assert job.inputs.shape == (round(0.25 * n), 2)
    # every training row is one of the image's pixels with its colour
    match = (job.inputs[:, None, :] == data.coords[None, :, :]).all(-1)
    assert (match.sum(1) == 1).all()
    assert torch.equal(job.target, data.target[match.int().argmax(1)])
    g = job.groups
    assert g.max() < job.inputs.shape[0] and ((g >= 0).any(dim=1)).all()
    assert torch.equal(torch.unique(g[g >= 0]), torch.arange(job.inputs.shape[0]))


def test_super_resolution_trains_on_block_means_at_block_centres(tiny_png: Path) -> None:
    task = ImageTask()
    job = task.setup(_cfg(tiny_png, Path("x"), downsample=2), torch.device("cpu"))
    img, (h, w) = task.data.image, (task.data.height, task.data.width)
    assert job.inputs.shape == (h * w // 4, 2)
    c = image_coords(h, w).reshape(h, w, 2)
    assert torch.allclose(job.inputs[0], c[:2, :2].reshape(4, 2).mean(0))  # block (0, 0)
    assert torch.allclose(job.target[1], img[0:2, 2:4].reshape(4, 3).mean(0))  # block (0, 1)
    assert job.groups.shape == ((h // 2 // 4) * (w // 2 // 4), 16)


@pytest.mark.parametrize("kw", [{"keep": 0.3}, {"downsample": 2}])
def test_iga_with_end_zero_is_the_plain_gradient(tiny_png: Path, kw) -> None:
    job = ImageTask().setup(_cfg(tiny_png, Path("x"), **kw), torch.device("cpu"))
    model, params = job.model, list(job.model.parameters())
    adj = IGA(model, job.groups, end=0)
    g1 = torch.autograd.grad(adj.loss(model(job.inputs), job.target, job.inputs), params)
    mse = torch.nn.functional.mse_loss(model(job.inputs), job.target)
    for a, b in zip(g1, torch.autograd.grad(mse, params), strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-9)


def test_the_summary_scores_what_was_not_trained_on(tiny_png: Path, tmp_path: Path) -> None:
    s = fit_image(_cfg(tiny_png, tmp_path / "inp", keep=0.5), progress=False)
    assert {"psnr_heldout", "psnr_full", "heldout_best", "heldout_best_step", "keep"} <= set(s)
    rows = (tmp_path / "inp" / "metrics.csv").read_text().splitlines()
    assert "psnr_heldout" in rows[0] and rows[1].split(",")[-1] != ""  # logged at step 0
    s = fit_image(_cfg(tiny_png, tmp_path / "sr", downsample=2), progress=False)
    assert s["psnr_heldout"] == s["psnr_full"] and 10 < s["psnr_bicubic"] < 60


def test_interrupt_then_resume_equals_a_straight_run(tiny_png: Path, tmp_path: Path) -> None:
    a = _cfg(tiny_png, tmp_path / "a", keep=0.5)
    s1 = fit(ImageTask(), a, progress=False)
    b = replace(a, out=str(tmp_path / "b"))
    with pytest.raises(KeyboardInterrupt):
        fit(interrupt_at(ImageTask(), 12), b, progress=False)
    s2 = fit(ImageTask(), b, progress=False, resume=True)
    for key in ("psnr_heldout", "psnr_full", "heldout_best", "psnr_best"):
        assert s1[key] == s2[key]


def test_the_new_fields_leave_every_old_key_alone(tiny_png: Path, tmp_path: Path) -> None:
    cfg = json.loads(
        json.dumps(_cfg(tiny_png, tmp_path / "k").__dict__, default=lambda o: o.__dict__)
    )
    old = {k: v for k, v in cfg.items() if k not in ("keep", "downsample", "heldout_every")}
    # heldout_every only says when to log (like --spectrum-every): never part of a key
    assert config_key(cfg, {"lr": 1e-3}) == config_key(old, {"lr": 1e-3})
    assert config_key({**cfg, "keep": 0.5}, {"lr": 1e-3}) != config_key(old, {"lr": 1e-3})

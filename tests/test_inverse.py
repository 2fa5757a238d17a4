"""Inpainting and super-resolution on the image task (``--keep``, ``--downsample``): what is
trained on, what is scored, against hand computations; IGA at end = 0; resume; run keys."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
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


def test_held_out_pixels_never_enter_training(tiny_png: Path, tmp_path: Path) -> None:
    """Change every held-out pixel of the image file: training is bit-identical (the same final
    weights); only the held-out scores change."""
    from PIL import Image

    from iga.tasks.image.inverse import _keep_mask

    pixels = np.asarray(Image.open(tiny_png).convert("RGB")).copy()
    h, w = pixels.shape[:2]
    held = ~_keep_mask(h * w, 0.5, 0).numpy().reshape(h, w)
    pixels[held] = 255 - pixels[held]
    other = tmp_path / "other.png"
    Image.fromarray(pixels).save(other)
    a = fit_image(_cfg(tiny_png, tmp_path / "a", keep=0.5), progress=False)
    b = fit_image(_cfg(other, tmp_path / "b", keep=0.5), progress=False)
    wa, wb = torch.load(tmp_path / "a" / "final.pt"), torch.load(tmp_path / "b" / "final.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a["psnr_best"] == b["psnr_best"] and a["psnr_heldout"] != b["psnr_heldout"]


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


@pytest.mark.parametrize("method", ["fr", "bn"])
@pytest.mark.parametrize("problem", [{"keep": 0.5}, {"downsample": 2}])
def test_fr_and_bn_models_train_and_score_held_out(tiny_png, tmp_path, method, problem) -> None:
    """The held-out pass between steps leaves FR's bases (in the graph) and BN's statistics as
    training needs them (it once wrote into FR's bases in place, failing at step 0)."""
    cfg = _cfg(tiny_png, tmp_path / "r", **problem)
    cfg = replace(cfg, method=MethodConfig(method=method), train=replace(cfg.train, steps=6))
    s = fit_image(cfg, progress=False)
    assert s["steps"] == 6 and math.isfinite(s["psnr_heldout"])


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
    new = ("keep", "downsample", "heldout_every", "val_fraction")
    old = {k: v for k, v in cfg.items() if k not in new}
    # heldout_every only says when to log (like --spectrum-every): never part of a key
    assert config_key(cfg, {"lr": 1e-3}) == config_key(old, {"lr": 1e-3})
    assert config_key({**cfg, "keep": 0.5}, {"lr": 1e-3}) != config_key(old, {"lr": 1e-3})
    val = {**cfg, "keep": 0.5, "val_fraction": 0.1}
    assert config_key(val, {"lr": 1e-3}) != config_key({**cfg, "keep": 0.5}, {"lr": 1e-3})


def test_validation_pixels_pick_the_weights_and_never_enter_training(
    tiny_png: Path, tmp_path: Path
) -> None:
    """``--val-fraction``: a seeded share of the kept pixels is set aside; changing those pixels
    in the image file leaves training bit-identical (the same final weights) and changes only
    ``psnr_val``, and the best weights are those of the best ``psnr_val`` row. The held-out
    pixels scored against the truth are the same as without it."""
    from PIL import Image

    from iga.tasks.image.inverse import _keep_mask, _val_mask

    pixels = np.asarray(Image.open(tiny_png).convert("RGB")).copy()
    h, w = pixels.shape[:2]
    kept = _keep_mask(h * w, 0.5, 0)
    val = _val_mask(kept, 0.2, 0)
    assert int(val.sum()) == round(0.2 * int(kept.sum())) and not (val & ~kept).any()
    job = ImageTask().setup(_cfg(tiny_png, Path("x"), keep=0.5, val_fraction=0.2), "cpu")
    assert job.inputs.shape[0] == int(kept.sum()) - int(val.sum())
    v = val.numpy().reshape(h, w)
    pixels[v] = 255 - pixels[v]
    other = tmp_path / "other.png"
    Image.fromarray(pixels).save(other)
    a = fit_image(_cfg(tiny_png, tmp_path / "a", keep=0.5, val_fraction=0.2), progress=False)
    b = fit_image(_cfg(other, tmp_path / "b", keep=0.5, val_fraction=0.2), progress=False)
    wa, wb = torch.load(tmp_path / "a" / "final.pt"), torch.load(tmp_path / "b" / "final.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a["psnr_best"] != b["psnr_best"]  # the best psnr_val: only the set-aside pixels moved
    assert a["picked_by"] == "psnr_val" and a["val_fraction"] == 0.2
    lines = (tmp_path / "a" / "metrics.csv").read_text().splitlines()
    head = lines[0].split(",")
    rows = [dict(zip(head, r.split(","), strict=True)) for r in lines[1:]]
    scored = [(float(r["psnr_val"]), int(r["step"])) for r in rows if r["psnr_val"]]
    assert len(scored) >= 4 and a["best_step"] == max(scored)[1]
    plain = fit_image(_cfg(tiny_png, tmp_path / "c", keep=0.5), progress=False)
    assert plain["picked_by"] == "psnr" and plain["psnr_heldout"] != a["psnr_heldout"]
    for bad, message in (
        ({"val_fraction": 1.0}, "--val-fraction must be in [0, 1)"),
        ({"val_fraction": 0.1, "keep": 1.0}, "use it with --keep"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            _cfg(tiny_png, tmp_path / "d", **{"keep": 0.5, **bad})


def _bench(png: Path, out: Path, name: str, *extra: str) -> list[str]:
    return [
        *("bench", name, "--images", str(png), "--size", "24x16", "--patch", "4", "--archs", "pe"),
        *("--methods", "vanilla,iga", "--steps", "4", "--threads", "1", "--out", str(out)),
        *("--quiet", "--no-figures", *extra),
    ]


@pytest.mark.parametrize(
    ("name", "problem", "expected"),
    [
        (
            "inpainting",
            ("--keeps", "0.3"),
            (
                "### Held-out PSNR (dB), weights picked by the training PSNR (what a user "
                "without ground truth can pick)",
                "### Held-out PSNR (dB), best along training (an early stop that knows the truth",
                "PE keep 30 %",
            ),
        ),
        (
            "superres",
            ("--factors", "2"),
            (
                "### Full-resolution PSNR (dB), weights picked by the training PSNR (what a user "
                "without ground truth can pick)",
                "### Bicubic upsampling PSNR (dB), the classical baseline",
                "PE ×2",
            ),
        ),
    ],
)
def test_the_inverse_benchmarks_run_resume_and_tabulate(
    tiny_png: Path, tmp_path: Path, capsys, name: str, problem: tuple[str, str], expected
) -> None:
    from iga.cli import main

    args = _bench(tiny_png, tmp_path / "res", name, *problem)
    assert main(args) == 0
    tier = tmp_path / "res" / "cpu_steps4_size24x16_patch4"
    table = (tier / "table" / "table.md").read_text()
    assert all(text in table for text in expected) and "Vanilla" in table and "+IGA" in table
    (run,) = tier.glob("runs/tiny/*/pe/iga/seed0/summary.json")
    s = json.loads(run.read_text())
    assert s["steps"] == 4 and (s.get("keep") == 0.3 or s.get("downsample") == 2)
    patch = json.loads((run.parent / "config.json").read_text())["patch"]
    assert patch == (4 if name == "inpainting" else 2)  # superres: the same part of the image
    capsys.readouterr()
    assert main(args) == 0
    assert "0 run, 2 already finished" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "extra", "message"),
    [
        ("inpainting", ("--keeps", "1.5"), "--keeps takes fractions in (0, 1)"),
        ("inpainting", ("--keeps", "0.2,0.2"), "--keeps lists a value more than once"),
        ("superres", ("--factors", "0"), "--factors takes whole numbers >= 2"),
        ("superres", ("--factors", "5"), "--factors 5 does not divide the 24x16 size"),
        ("inpainting", ("--patch", "32"), "24x16 training image is smaller than a 32x32 patch"),
        ("inpainting", ("--patch", "8"), "has 6 IGA groups of 8x8 pixels, no more than IGA's end"),
        ("superres", ("--keeps", "0.2"), "--keeps is an option of `iga bench inpainting`"),
        ("superres", ("--val-fraction", "0.1"), "--val-fraction is an option of `iga bench inp"),
        ("inpainting", ("--val-fraction", "1.5"), "--val-fraction must be in [0, 1); got 1.5"),
        ("superres", ("--end", "-1"), "--end must be >= 1 (0: the paper's per arch); got -1"),
        ("inpainting", ("--end", "24"), "no more than IGA's end 24 for pe; choose a smaller --pa"),
        (
            "superres",
            ("--methods", "muon@-1"),
            "--methods: 'muon@-1' needs a positive lr after '@'",
        ),
        (
            "inpainting",
            ("--methods", "adam"),
            "--methods must list some of vanilla, fr, bn, iga, muon",
        ),
    ],
)
def test_bad_benchmark_input_is_a_one_line_error(
    tiny_png: Path, tmp_path: Path, capsys, name: str, extra: tuple[str, str], message: str
) -> None:
    from iga.cli import main

    assert main(_bench(tiny_png, tmp_path / "res", name, *extra)) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "res").exists()  # refused before any run


def test_a_recipe_at_its_own_lr_runs_beside_the_recipe(tiny_png: Path, tmp_path: Path) -> None:
    """``--methods muon,muon@0.02``: two runs, the second at lr 0.02 (the first at the
    recipe's 0.1), each in its own folder and its own column of the table."""
    from iga.cli import main

    args = _bench(tiny_png, tmp_path / "res", "inpainting", "--keeps", "0.3")
    assert main([*args, "--methods", "muon,muon@0.02"]) == 0
    tier = tmp_path / "res" / "cpu_steps4_size24x16_patch4"
    runs = tier / "runs" / "tiny" / "keep0.3" / "pe"
    lrs = {
        m: json.loads((runs / m / "seed0" / "config.json").read_text())["train"]["lr"]
        for m in ("muon", "muon@0.02")
    }
    assert lrs == {"muon": None, "muon@0.02": 0.02}
    first = {m: (runs / m / "seed0" / "metrics.csv").read_text().splitlines()[1] for m in lrs}
    assert first["muon"] != first["muon@0.02"]
    table = (tier / "table" / "table.md").read_text()
    assert "| Muon | Muon (lr 0.02) |" in table


def test_an_end_sweep_runs_in_a_tier_of_its_own(tiny_png: Path, tmp_path: Path) -> None:
    """``--end 3`` balances 3 eigenvalues for every arch, in a tier tagged ``_end3`` whose runs
    differ from the paper's end (20 for PE) from their first step."""
    from iga.cli import main

    args = _bench(tiny_png, tmp_path / "res", "inpainting", "--keeps", "0.3", "--methods", "iga")
    assert main(args) == 0 and main([*args, "--end", "3"]) == 0
    tiers = {t: tmp_path / "res" / f"cpu_steps4_size24x16_patch4{t}" for t in ("", "_end3")}
    run = {t: d / "runs" / "tiny" / "keep0.3" / "pe" / "iga" / "seed0" for t, d in tiers.items()}
    ends = {t: json.loads((r / "config.json").read_text())["method"]["end"] for t, r in run.items()}
    assert ends == {"": 20, "_end3": 3}
    rows = {t: (r / "metrics.csv").read_text().splitlines()[2] for t, r in run.items()}
    assert rows[""] != rows["_end3"]


def test_esgd_recipes_run_at_a_constant_lr_alone_and_with_iga(
    tiny_png: Path, tmp_path: Path
) -> None:
    """``--methods esgd,esgd+iga@1``: ESGD at its recipe's lr for the arch (0.1 for PE) and a
    constant lr (the authors' image runs), and ESGD fed IGA's gradient at lr 1; the other
    recipes keep the tier's decay, so their committed runs keep their keys."""
    from iga.cli import main
    from iga.harness import options
    from iga.train import TrainConfig

    args = _bench(tiny_png, tmp_path / "res", "superres", "--factors", "2")
    assert main([*args, "--methods", "esgd,esgd+iga@1"]) == 0
    tier = tmp_path / "res" / "cpu_steps4_size24x16_patch4"
    runs = tier / "runs" / "tiny" / "x2" / "pe"
    cfg = {
        m: json.loads((runs / m / "seed0" / "config.json").read_text())
        for m in ("esgd", "esgd+iga@1")
    }
    assert {m: (c["method"]["method"], c["train"]["optimizer"]) for m, c in cfg.items()} == {
        "esgd": ("vanilla", "esgd"),
        "esgd+iga@1": ("iga", "esgd"),
    }
    assert [c["train"]["decay"] for c in cfg.values()] == [1.0, 1.0]
    for m, lr in (("esgd", 0.1), ("esgd+iga@1", 1.0)):
        rows = (runs / m / "seed0" / "metrics.csv").read_text().splitlines()
        col = rows[0].split(",").index("lr")
        assert {float(r.split(",")[col]) for r in rows[1:]} == {lr}  # constant, at the recipe's
    assert "| ESGD | ESGD + IGA (lr 1) |" in (tier / "table" / "table.md").read_text()
    train = TrainConfig(steps=10, decay=0.1)
    assert options.recipe_train("muon", train, 0)[1].decay == 0.1
    assert options.recipe_train("esgd@0.2", train, 0)[1].lr == 0.2

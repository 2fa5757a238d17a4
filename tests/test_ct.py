"""The CT task: the projector against scikit-image's radon, the slice loader's conversions,
IGA at end = 0, the slice never entering training, and the run promises (resume, divergence,
overwrite, load) on a tiny phantom."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from _interrupt import interrupt_at
from PIL import Image

import iga
from iga import IGA
from iga.cli import main
from iga.models.config import ModelConfig
from iga.runs import CHECKPOINT_FILE
from iga.tasks.base import TrainingDiverged, fit
from iga.tasks.ct import task as ct_task
from iga.tasks.ct.data import all_rays, angles_deg, load_slice, project, sinogram
from iga.tasks.ct.task import CTFitConfig, CTTask, fit_ct, run_key
from iga.train import MethodConfig, TrainConfig


def _cfg(out: Path, method: str = "iga", **train) -> CTFitConfig:
    return CTFitConfig(
        path="phantom",
        size=16,
        angles=8,
        bundle=2,
        batch_groups=16,
        eval_every=5,
        model=ModelConfig(arch="relu", width=16, hidden_layers=2),
        method=MethodConfig(method=method, end=3),
        train=TrainConfig(**{"steps": 20, "checkpoint_every": 5, "lr": 3e-3, **train}),
        out=str(out),
    )


def _bilinear(img: np.ndarray):
    t = torch.from_numpy(img).float()[None, None]

    def f(p: torch.Tensor) -> torch.Tensor:
        grid = p[:, [1, 0]].reshape(1, -1, 1, 2)  # (y, x) -> grid_sample's (x, y)
        out = torch.nn.functional.grid_sample(
            t, grid, mode="bilinear", align_corners=True, padding_mode="zeros"
        )
        return out.reshape(-1, 1)

    return f


@pytest.mark.parametrize("n", [32, 33])
def test_the_projector_reproduces_radon_on_the_phantom(n: int) -> None:
    """The INR's forward model, applied to the bilinear interpolation of the pixels, is
    scikit-image's radon(circle=False) (divided by M), odd and even sizes."""
    img, note = load_slice("phantom", n)
    assert note == ""
    angles = angles_deg(13)
    want = sinogram(img, angles)
    got = project(_bilinear(img), all_rays(n, angles), n).reshape(len(angles), -1).T
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, atol=2e-6 * want.max())


def test_a_ray_through_the_centre_at_0_degrees_sums_the_middle_column() -> None:
    """By hand: θ = 0, c' = 0 is the column o = N // 2, every row once (radon's c axis)."""
    n = 9
    img = np.random.default_rng(0).uniform(size=(n, n))
    value = project(_bilinear(img), torch.tensor([[0.0, 0.0]]), n)
    from iga.tasks.ct.data import padded_size

    assert float(value) == pytest.approx(img[:, n // 2].sum() / padded_size(n), rel=1e-5)


def test_the_slice_loader_converts_and_notes(tmp_path: Path) -> None:
    grey16 = (np.linspace(0, 65535, 40 * 30).reshape(30, 40)).astype(np.uint16)
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    img, note = load_slice(tmp_path / "g16.png", 16)
    assert img.shape == (16, 16) and img.min() >= 0 and img.max() <= 1
    assert "centre 30x30 square" in note
    rgb = np.zeros((20, 20, 3), np.uint8)
    rgb[..., 0] = 255
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    img, note = load_slice(tmp_path / "rgb.png", 20)
    assert "converted to grey" in note and img.max() == pytest.approx(0.299, abs=1e-3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--angles", "0"], "--angles must be an integer >= 1"),
        (["--size", "4"], "--size must be an integer >= 8"),
        (["--noise", "-1"], "--noise must be >= 0"),
        (["--batch-groups", "100000"], "exceeds the"),
    ],
)
def test_bad_options_are_one_line(tmp_path: Path, capsys, args, message) -> None:
    code = main(["fit", "ct", "phantom", "--size", "16", "--out", str(tmp_path / "r"), *args])
    err = capsys.readouterr().err.strip()
    assert code in (1, 2) and message in err and len(err.splitlines()) <= 2, err


def test_a_missing_slice_is_one_line(tmp_path: Path, capsys) -> None:
    assert main(["fit", "ct", str(tmp_path / "nope.png"), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err.strip()
    assert "no CT slice" in err and len(err.splitlines()) == 1


def test_iga_with_end_zero_is_the_plain_gradient() -> None:
    cfg = _cfg(Path("unused"))
    job = CTTask().setup(cfg, torch.device("cpu"))
    x, y = job.batch(0, torch.Generator())
    adj = IGA(job.model, job.groups, end=0)
    g_iga = torch.autograd.grad(adj.loss(job.model(x), y, x), list(job.model.parameters()))
    mse = torch.nn.functional.mse_loss(job.model(x), y)
    g_mse = torch.autograd.grad(mse, list(job.model.parameters()))
    for a, b in zip(g_iga, g_mse, strict=True):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-9)


def test_the_slice_never_enters_training(tmp_path: Path, monkeypatch) -> None:
    """Changing the slice after its sinogram is measured changes the held-out scores, not one
    bit of training."""
    real = ct_task.measurements

    def measured_then_changed(cfg):
        truth, angles, sino, note = real(cfg)
        return np.ones_like(truth) * 0.5, angles, sino, note

    a = fit_ct(_cfg(tmp_path / "a", steps=10), progress=False)
    monkeypatch.setattr(ct_task, "measurements", measured_then_changed)
    b = fit_ct(_cfg(tmp_path / "b", steps=10), progress=False)
    wa, wb = torch.load(tmp_path / "a" / "final.pt"), torch.load(tmp_path / "b" / "final.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert a["psnr"] != b["psnr"] and a["fbp_psnr"] != b["fbp_psnr"]


def test_a_fit_writes_its_outputs_learns_and_loads(tmp_path: Path) -> None:
    out = tmp_path / "run"
    s = fit_ct(_cfg(out, steps=60), progress=False)
    for name in ("reconstruction.png", "comparison.png", "psnr.png", "best.pt", "final.pt"):
        assert (out / name).is_file(), name
    with (out / "metrics.csv").open() as f:
        held = [float(r["psnr"]) for r in csv.DictReader(f) if r.get("psnr")]
    assert s["psnr"] > held[0] + 1.0  # learnt the slice it never saw
    assert math.isfinite(s["psnr"]) and math.isfinite(s["fbp_psnr"])
    assert s["psnr_oracle"] >= max(s["psnr"], s["psnr_final"]) - 1e-6  # logged at the end too
    config = json.loads((out / "config.json").read_text())
    assert config["key"] == run_key(_cfg(out, steps=60))
    field = iga.load(out)
    img = field.image()
    assert img.shape == (16, 16, 1)
    saved = np.asarray(Image.open(out / "reconstruction.png"), dtype=np.float32) / 255.0
    np.testing.assert_allclose(img[..., 0].numpy(), saved, atol=0.6 / 255)


def test_interrupt_then_resume_equals_a_straight_run(tmp_path: Path) -> None:
    straight = _cfg(tmp_path / "a")
    s1 = fit(CTTask(), straight, progress=False)
    resumed = replace(straight, out=str(tmp_path / "b"))
    with pytest.raises(KeyboardInterrupt):
        fit(interrupt_at(CTTask(), 13), resumed, progress=False)
    assert (tmp_path / "b" / CHECKPOINT_FILE).is_file()
    s2 = fit(CTTask(), resumed, progress=False, resume=True)
    assert s2["psnr"] == s1["psnr"] and s2["key"] == s1["key"]


def test_divergence_keeps_the_best_result_and_names_the_step(tmp_path: Path) -> None:
    out = tmp_path / "div"
    with pytest.raises(TrainingDiverged, match=r"non-finite at step \d+.*lower --lr"):
        fit_ct(_cfg(out, lr=1e12), progress=False)
    s = json.loads((out / "summary.json").read_text())
    assert s["diverged_at_step"] is not None
    assert (out / "best.pt").is_file() and not (out / CHECKPOINT_FILE).exists()


def test_overwrite_replaces_a_run_and_refuses_without_it(tmp_path: Path) -> None:
    out = tmp_path / "o"
    args = ["fit", "ct", "phantom", "--size", "16", "--angles", "8", "--batch-groups", "24"]
    args += ["--steps", "3", "--width", "8", "--end", "4", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert main(args) == 1  # holds a run
    assert main([*args, "--overwrite", "--method", "vanilla"]) == 0
    assert json.loads((out / "summary.json").read_text())["method"] == "vanilla"
    assert not (out / ".replaced").exists()


def test_a_bn_slice_does_not_depend_on_how_the_grid_is_evaluated(tmp_path: Path) -> None:
    """BN trained on rays keeps running statistics: the slice it is scored on (eval mode) is
    one function of the pixel, whatever batch the pixel is evaluated in. With batch
    statistics (the old default) the grid's own statistics, or a chunk's, made the scored
    slice a different function from the one trained on rays."""
    out = tmp_path / "bn"
    s = fit_ct(_cfg(out, method="bn", steps=30), progress=False)
    whole = iga.load(out).image()[..., 0]
    coords = ct_task.image_coords(16, 16)
    model = ct_task.build_model(_cfg(out, method="bn"))
    state = torch.load(out / "best.pt")
    model.load_state_dict({k.removeprefix("inr."): v for k, v in state.items()})
    model.eval()
    with torch.no_grad():
        chunks = torch.cat([model(c) for c in coords.split(7)]).reshape(16, 16)
    assert any("running_mean" in k for k in state)
    torch.testing.assert_close(chunks.clamp(0, 1), whole.clamp(0, 1), rtol=0, atol=1e-6)
    saved = np.asarray(Image.open(out / "reconstruction.png"), dtype=np.float32) / 255.0
    np.testing.assert_allclose(chunks.clamp(0, 1).numpy(), saved, atol=0.6 / 255)
    assert math.isfinite(s["psnr"])


def test_val_angles_are_never_trained_on_and_pick_the_weights(tmp_path: Path, monkeypatch) -> None:
    """``--val-angles``: the set-aside projections change the picked weights' score, not one
    bit of training; their rays' error picks ``best.pt``."""
    mask = ct_task.val_angle_mask(8, 2, seed=0)
    assert mask.sum() == 2 and mask.dtype == bool
    assert np.array_equal(mask, ct_task.val_angle_mask(8, 2, seed=0))
    assert not ct_task.val_angle_mask(8, 0, seed=0).any()
    assert any(not np.array_equal(mask, ct_task.val_angle_mask(8, 2, seed=s)) for s in (1, 2, 3))

    real = ct_task.measurements

    def val_angles_changed(cfg):
        truth, angles, sino, note = real(cfg)
        sino = sino.copy()
        sino[:, ct_task.val_angle_mask(len(angles), cfg.val_angles, cfg.train.seed)] *= 3.0
        return truth, angles, sino, note

    a = fit_ct(replace(_cfg(tmp_path / "a", steps=10), val_angles=2), progress=False)
    monkeypatch.setattr(ct_task, "measurements", val_angles_changed)
    b = fit_ct(replace(_cfg(tmp_path / "b", steps=10), val_angles=2), progress=False)
    wa, wb = torch.load(tmp_path / "a" / "final.pt"), torch.load(tmp_path / "b" / "final.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    with (tmp_path / "b" / "metrics.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r.get("val_sino_mse")]
    assert rows and all(float(r["val_sino_mse"]) > float(r["sino_mse"]) for r in rows)
    assert a["picked_by"] == b["picked_by"] == "val_sino_mse"
    # The picked step is the one with the lowest error on the set-aside rays.
    best = min(rows, key=lambda r: float(r["val_sino_mse"]))
    assert b["best_step"] == int(best["step"])
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert len(config["resolved"]["val_angles_deg"]) == 2 and config["resolved"]["val_rays"] > 0
    # At 0 the option is left out of the key, so the committed runs (made before it) keep theirs.
    from dataclasses import asdict

    from iga.runs import config_key

    plain = json.loads(json.dumps(asdict(_cfg(tmp_path / "c"))))
    older = {k: v for k, v in plain.items() if k != "val_angles"}
    assert config_key(plain, {"lr": 3e-3}) == config_key(older, {"lr": 3e-3})
    assert config_key({**plain, "val_angles": 1}, {"lr": 3e-3}) != config_key(older, {"lr": 3e-3})


def test_val_angles_that_leave_nothing_to_train_on_are_one_line(tmp_path: Path, capsys) -> None:
    args = ["fit", "ct", "phantom", "--size", "16", "--angles", "4", "--val-angles", "4"]
    assert main([*args, "--out", str(tmp_path / "r")]) in (1, 2)
    err = capsys.readouterr().err.strip()
    assert "--val-angles 4 leaves no projection" in err and len(err.splitlines()) <= 2, err


def test_bench_ct_sets_projections_aside_in_a_tier_of_its_own(tmp_path: Path) -> None:
    from iga import harness
    from iga.tasks.ct import bench as bench_ct

    opts = bench_ct.Options(slices="phantom", angles="20,50", val_angles=2)
    s = bench_ct.setup("ct", opts, harness.RunOptions())
    assert s["tier"] == "cpu_val2" and s["tier_config"].val_angles == 2
    assert "2 projections set aside" in bench_ct._describe(s["tier_config"])
    plain = bench_ct.setup("ct", bench_ct.Options(slices="phantom"), harness.RunOptions())
    assert plain["tier"] == "cpu" and plain["tier_config"].val_angles == 0
    ctx = harness.Context("ct", s["tier"], s["tier_config"], tmp_path, s["options"])
    cell = {"slice": "phantom", "angles": 20, "arch": "siren", "method": "iga", "seed": 0}
    spec = bench_ct.make_run(ctx, cell)
    assert spec.config["fit"]["val_angles"] == 2
    with pytest.raises(ValueError, match="--val-angles must be in \\[0, 20\\)"):
        bench_ct.setup("ct", replace(opts, val_angles=20), harness.RunOptions())


def test_bench_ct_end_sweeps_in_a_tier_of_its_own(tmp_path: Path) -> None:
    """``--end K`` balances K eigenvalues in a tier tagged ``_endK`` (its own runs and table,
    the key changed); the tier's own end, or 0, leaves the tier and its keys alone."""
    from iga import harness
    from iga.tasks.ct import bench as bench_ct

    ro = harness.RunOptions()
    plain = bench_ct.setup("ct", bench_ct.Options(slices="phantom"), ro)
    s = bench_ct.setup("ct", bench_ct.Options(slices="phantom", end=5), ro)
    assert s["tier"] == "cpu_end5" and s["tier_config"].method.end == 5
    assert "end 5" in bench_ct._describe(s["tier_config"])
    same = bench_ct.setup("ct", bench_ct.Options(slices="phantom", end=20), ro)
    assert same["tier"] == plain["tier"] == "cpu" and same["tier_config"] == plain["tier_config"]
    cell = {"slice": "phantom", "angles": 20, "arch": "siren", "method": "iga", "seed": 0}
    specs = [
        bench_ct.make_run(
            harness.Context("ct", x["tier"], x["tier_config"], tmp_path, x["options"]), cell
        )
        for x in (plain, s)
    ]
    assert specs[1].config["fit"]["method"]["end"] == 5
    assert specs[0].key != specs[1].key
    for bad in (-1, 256):
        with pytest.raises(ValueError, match=f"--end must be in \\[0, 256\\).*got {bad}"):
            bench_ct.setup("ct", bench_ct.Options(slices="phantom", end=bad), ro)


def test_a_bench_method_may_name_its_own_lr_and_the_plain_recipe_keeps_its_key(
    tmp_path: Path,
) -> None:
    """``--methods muon+iga@0.02`` runs the recipe at lr 0.02, in a folder and a table column
    of its own; the plain recipe's run (lr None: the recipe's) keeps the key it had, so the
    committed runs still count as finished."""
    from iga import harness
    from iga.harness import options
    from iga.io import to_jsonable
    from iga.tasks.ct import bench as bench_ct

    opts = bench_ct.Options(slices="phantom", angles="20", methods="muon+iga,muon+iga@0.02")
    s = bench_ct.setup("ct", opts, harness.RunOptions())
    assert s["axes"]["method"] == ["muon+iga", "muon+iga@0.02"]
    ctx = harness.Context("ct", s["tier"], s["tier_config"], tmp_path, s["options"])
    cell = {"slice": "phantom", "angles": 20, "arch": "siren", "seed": 0}
    plain = bench_ct.make_run(ctx, {**cell, "method": "muon+iga"})
    own = bench_ct.make_run(ctx, {**cell, "method": "muon+iga@0.02"})
    assert plain.config["fit"]["train"]["lr"] is None
    assert own.config["fit"]["train"]["lr"] == 0.02
    assert own.config["fit"]["train"]["optimizer"] == "muon"
    assert own.config["fit"]["method"]["method"] == "iga"
    assert plain.key != own.key and own.name.endswith("muon+iga@0.02/seed0")
    tier = s["tier_config"].train  # the plain run's training config, as before @LR existed:
    before = replace(tier, seed=0, optimizer="muon", schedule="cosine")
    assert plain.config["fit"]["train"] == to_jsonable(asdict(before))
    assert options.METHOD_LABELS.get("muon+iga@0.02") == "Muon + IGA (lr 0.02)"
    assert options.recipes("muon@1e-2,iga") == ["muon@0.01", "iga"]  # one spelling per run
    with pytest.raises(ValueError, match="lists muon@0.01 more than once"):
        options.recipes("muon@0.010,muon@1e-2")
    assert options.METHOD_LABELS.get("muon") == "Muon"

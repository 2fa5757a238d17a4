"""The occupancy task: grid layout, groups, batches, the validation hook, a short fit, resume,
bad input; IoU and Chamfer against hand computations."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from _interrupt import interrupt_at

from iga import metrics
from iga.cli import main
from iga.core.groups import Grouping
from iga.core.sampling import Sampler
from iga.meshes import grid_points
from iga.models.config import ModelConfig
from iga.runs import CHECKPOINT_FILE
from iga.tasks.base import TrainingInterrupted, fit
from iga.tasks.common import batch_order
from iga.tasks.occupancy.task import (
    OccupancyFitConfig,
    OccupancyTask,
    fit_occupancy,
    flat_coords,
    make_groups,
    pe_levels_for,
)
from iga.train import MethodConfig, TrainConfig, train

trimesh = pytest.importorskip("trimesh")


@pytest.fixture(scope="module")
def sphere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mesh") / "ball.obj"
    trimesh.creation.icosphere(subdivisions=3, radius=0.7).export(path)
    return path


def _cfg(mesh: Path, out: Path, method: str = "iga", **train_kw: Any) -> OccupancyFitConfig:
    t = {"steps": 60, "schedule": "exp", "checkpoint_every": 0, **train_kw}
    return OccupancyFitConfig(
        path=str(mesh),
        resolution=16,
        groups="blocks",
        block=2,
        batch_groups=64,
        validate_every=20,
        eval_points=2000,
        surface_points=2000,
        cache_dir=str(out.parent / "cache"),
        model=ModelConfig(arch="relu", width=32),
        method=MethodConfig(method=method, end=4),
        train=TrainConfig(**t),
        out=str(out),
    )


# --- layout -----------------------------------------------------------------------------------


def test_flat_coords_follow_the_grid_points_layout() -> None:
    r = 5
    pts = torch.from_numpy(grid_points(r).reshape(-1, 3))
    torch.testing.assert_close(flat_coords(torch.arange(r**3), r), pts)


@pytest.mark.parametrize("groups", ["blocks", "runs"])
def test_groups_cover_every_point_once(groups: str) -> None:
    cfg = OccupancyFitConfig(resolution=8, groups=groups, block=2, group_size=16)
    assert OccupancyFitConfig().groups == "runs"  # the paper's partition is the default
    g = make_groups(cfg)
    assert g.shape == ((8**3) // 8, 8) if groups == "blocks" else ((8**3) // 16, 16)
    assert torch.equal(g.reshape(-1).sort().values, torch.arange(8**3))


def test_blocks_are_compact_cubes_and_runs_consecutive() -> None:
    r = 8
    block = make_groups(OccupancyFitConfig(resolution=r, groups="blocks", block=2))[5]
    c = flat_coords(block, r)
    step = 2.0 / (r - 1)
    assert float((c.max(0).values - c.min(0).values).max()) == pytest.approx(step)
    run = make_groups(OccupancyFitConfig(resolution=r, groups="runs", group_size=16))[3]
    assert torch.equal(run, torch.arange(48, 64))


def test_groups_that_do_not_fit_the_grid_name_the_flag() -> None:
    with pytest.raises(ValueError, match="--block 3 does not divide --resolution 8"):
        make_groups(OccupancyFitConfig(resolution=8, groups="blocks", block=3))
    with pytest.raises(ValueError, match="--group-size 100 does not divide"):
        make_groups(OccupancyFitConfig(resolution=8, groups="runs", group_size=100))


def test_batches_draw_every_group_once_per_epoch_in_a_new_order() -> None:
    n, b = 10, 4
    stream = torch.cat([batch_order(s, b, n, seed=3) for s in range(5)])  # 20 = two epochs
    assert sorted(stream[:10].tolist()) == list(range(n))
    assert sorted(stream[10:20].tolist()) == list(range(n))
    assert stream[:10].tolist() != stream[10:20].tolist()
    assert torch.equal(batch_order(2, b, n, seed=3), stream[8:12])  # crosses the epoch edge
    assert not torch.equal(batch_order(0, b, n, seed=4), batch_order(0, b, n, seed=3))


def test_pe_levels_scale_with_the_grid() -> None:
    assert pe_levels_for(512) == 10  # the authors' NeRF encoding at 512³
    assert pe_levels_for(128) == 8


def test_center_sampling_picks_the_middle_point_of_each_group() -> None:
    groups = torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, -1, -1]])
    s = Sampler("center", Grouping(groups, 10))
    picked = s(torch.rand(10, 1))
    assert picked.tolist() == [2, 6, 9]
    assert torch.equal(s(torch.rand(10, 1)), picked)  # fixed for the run


# --- metrics ----------------------------------------------------------------------------------


def test_iou_by_hand() -> None:
    pred = np.array([0.9, 0.6, 0.4, 0.1, 0.7])
    true = np.array([1, 0, 1, 0, 1], dtype=bool)
    # inside: pred {0, 1, 4}, true {0, 2, 4} -> I = 2, U = 4
    assert metrics.iou(pred, true) == pytest.approx(0.5)
    assert metrics.iou(np.zeros(3), np.zeros(3, dtype=bool)) == 1.0
    with pytest.raises(ValueError, match="same shape"):
        metrics.iou(np.zeros(3), np.zeros(4))


def test_chamfer_by_hand() -> None:
    a = np.array([[0.0, 0, 0], [1, 0, 0]])
    b = np.array([[0.0, 0, 0.5]])
    # a -> b: 0.5 and sqrt(1.25); b -> a: 0.5
    expect = 0.5 * ((0.5 + math.sqrt(1.25)) / 2 + 0.5)
    assert metrics.chamfer(a, b) == pytest.approx(expect)
    assert metrics.chamfer(a, a) == 0.0


# --- the training loop's hooks -----------------------------------------------------------------


def test_exp_schedule_reaches_the_decay_at_the_end() -> None:
    model = torch.nn.Linear(1, 1)
    x, y = torch.zeros(4, 1), torch.zeros(4, 1)
    res = train(model, x, y, TrainConfig(steps=10, schedule="exp", decay=0.1), 1.0, progress=False)
    lrs = [r["lr"] for r in res.history]
    assert lrs[0] == pytest.approx(1.0)
    assert lrs[5] == pytest.approx(0.1**0.5)
    assert lrs[9] == pytest.approx(0.1**0.9)


def test_validation_picks_the_best_weights_and_checks_the_final_ones() -> None:
    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    x, y = torch.ones(8, 1), torch.ones(8, 1)
    seen: list[float] = []

    def validate(m: torch.nn.Module) -> dict[str, Any]:
        w = float(m.weight)
        seen.append(w)
        return {"score": -abs(w - 0.5)}  # best where the weight passes 0.5

    res = train(
        model,
        x,
        y,
        TrainConfig(steps=20, lr=0.05, optimizer="sgd"),
        0.05,
        validate_fn=validate,
        validate_every=1,
        validate_key="score",
        progress=False,
    )
    assert len(seen) == 21  # every step and the final weights
    best = max(range(21), key=lambda i: -abs(seen[i] - 0.5))
    assert res.best_step == best
    assert float(res.best_state["weight"]) == pytest.approx(seen[best])
    assert res.history[-1]["step"] == 20 and "score" in res.history[-1]


# --- the task ---------------------------------------------------------------------------------


def test_a_short_fit_learns_the_shape_and_writes_its_outputs(sphere: Path, tmp_path: Path) -> None:
    cfg = _cfg(sphere, tmp_path / "run", steps=150)
    s = fit_occupancy(cfg, progress=False)
    out = Path(cfg.out)
    for name in ("surface.ply", "surface.png", "error_slices.png", "iou.png", "summary.json"):
        assert (out / name).is_file(), name
    rows = [json.loads(json.dumps(r)) for r in [s]]
    assert rows[0]["iou"] > 0.8
    first = float((out / "metrics.csv").read_text().splitlines()[1].split(",")[-1])
    assert s["iou"] > first + 0.2  # from (nearly) nothing to the ball
    assert s["iou"] >= s["iou_final"] - 1e-12  # best is chosen among validations incl. final
    assert 0 < s["iou_eval"] <= 1 and 0 < s["iou_near"] <= 1
    assert s["chamfer_floor"] < s["chamfer"] < 0.2
    assert s["epochs"] == pytest.approx(150 * 64 * 8 / 16**3)


@pytest.mark.parametrize(
    ("optimizer", "lr", "options"),
    [("muon", 0.05, {}), ("esgd", 0.2, {"d_warmup": 5, "update_every": 10})],
)
def test_rival_optimizers_with_iga_learn_the_shape(
    sphere: Path, tmp_path: Path, optimizer: str, lr: float, options: dict
) -> None:
    cfg = _cfg(
        sphere, tmp_path / "run", steps=150, lr=lr, optimizer=optimizer, optimizer_options=options
    )
    s = fit_occupancy(cfg, progress=False)
    first = float((Path(cfg.out) / "metrics.csv").read_text().splitlines()[1].split(",")[-1])
    assert s["iou"] > first + 0.2 and s["iou"] > 0.7
    assert json.loads((Path(cfg.out) / "config.json").read_text())["train"]["optimizer"] == (
        optimizer
    )


def test_interrupt_then_resume_equals_a_straight_run(sphere: Path, tmp_path: Path) -> None:
    straight = fit_occupancy(_cfg(sphere, tmp_path / "straight", steps=40), progress=False)
    cfg = _cfg(sphere, tmp_path / "resumed", steps=40, checkpoint_every=10)
    with pytest.raises(TrainingInterrupted):
        fit(interrupt_at(OccupancyTask(), 23), cfg, progress=False)
    assert (Path(cfg.out) / CHECKPOINT_FILE).is_file()
    resumed = fit_occupancy(cfg, progress=False, resume=True)
    for k in ("iou", "iou_final", "best_step", "iou_eval", "chamfer"):
        assert resumed[k] == straight[k], k


@pytest.mark.parametrize(
    ("mesh", "flags", "message"),
    [
        ("missing.obj", {}, "missing.obj"),
        ("", {}, "no mesh given"),
        (
            "{ball}",
            {"--groups": "blocks", "--block": "3"},
            "--block 3 does not divide --resolution 16",
        ),
        ("{ball}", {"--batch-groups": "100000"}, "--batch-groups 100000 exceeds"),
        ("{ball}", {"--groups": "lines"}, "--groups"),
        ("{ball}", {"--resolution": "1"}, "--resolution"),
        ("{ball}", {"--end": "64"}, "--end 64"),
    ],
)
def test_bad_input_gives_one_line(
    sphere: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mesh: str,
    flags: dict[str, str],
    message: str,
) -> None:
    mesh = str(tmp_path / mesh) if mesh == "missing.obj" else mesh.format(ball=sphere)
    options = {"--resolution": "16", "--batch-groups": "8", "--steps": "2", **flags}
    options |= {"--out": str(tmp_path / "o"), "--cache-dir": str(tmp_path / "c")}
    argv = ["fit", "occupancy", mesh, *[x for kv in options.items() for x in kv], "--quiet"]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1, err
    assert message in err, err


def test_bn_evaluates_with_running_statistics_independent_of_chunking(
    sphere: Path, tmp_path: Path
) -> None:
    """Mini-batch BN keeps running statistics: the evaluated model is one function of a point,
    whatever else is in the chunk (with batch statistics the grid IoU was chunk-dependent)."""
    from iga.tasks.occupancy.task import _predict, build_model

    cfg = _cfg(sphere, tmp_path / "bn", method="bn", steps=40)
    assert "bn_running_stats=True" in build_model(cfg).describe()
    s = fit_occupancy(cfg, progress=False)
    model = build_model(cfg)
    model.load_state_dict(torch.load(Path(cfg.out) / "final.pt", weights_only=True))
    model.eval()
    pts = flat_coords(torch.arange(16**3), 16)
    whole = _predict(model, pts, chunk=16**3)
    torch.testing.assert_close(_predict(model, pts, chunk=100), whole)
    perm = torch.randperm(len(pts), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(_predict(model, pts[perm], chunk=7), whole[perm])
    assert abs(s["iou_eval"] - s["iou"]) < 0.15  # fresh points agree with the grid


def test_every_above_one_is_refused_for_mini_batches(sphere: Path, tmp_path: Path) -> None:
    # S belongs to one batch's groups; the next step draws other groups.
    cfg = _cfg(sphere, tmp_path / "run")
    cfg.method.every = 2
    with pytest.raises(ValueError, match="--every must be 1"):
        fit_occupancy(cfg, progress=False)
    assert not (tmp_path / "run" / "summary.json").exists()


@pytest.mark.parametrize("method", ["vanilla", "iga"])
def test_divergence_keeps_the_best_result_and_names_the_step(
    sphere: Path, tmp_path: Path, method: str
) -> None:
    from iga.tasks.base import TrainingDiverged

    out = tmp_path / method
    with pytest.raises(TrainingDiverged, match=r"non-finite at step \d+.*lower --lr"):
        fit_occupancy(_cfg(sphere, out, method, lr=1e8), progress=False)
    s = json.loads((out / "summary.json").read_text())
    assert s["diverged_at_step"] is not None and s["diverged_at_step"] < 60
    assert math.isfinite(s["iou"]) and (out / "best.pt").is_file()
    assert not (out / CHECKPOINT_FILE).exists()

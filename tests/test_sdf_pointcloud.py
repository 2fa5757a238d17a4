"""``iga fit sdf --loss siren``: SIREN's loss from oriented points against an independent
re-implementation of its formulas, IGA with end = 0 against the plain loss's gradient, reading
point clouds (PLY, .xyz), one-line errors for bad input, short fits (mesh and point cloud),
resume, divergence, and the run keys of the default path."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from _interrupt import interrupt_at

from iga import IGA
from iga.cli import main
from iga.models.config import ModelConfig
from iga.runs import CHECKPOINT_FILE, config_key
from iga.tasks.base import TrainingDiverged, fit
from iga.tasks.sdf.pointcloud import HELDOUT_MAX, oriented_points
from iga.tasks.sdf.siren_loss import OrientedBatches, siren_terms
from iga.tasks.sdf.task import SDFFitConfig, SDFTask, fit_sdf
from iga.train import MethodConfig, TrainConfig, train

torch.set_num_threads(1)


def _ball() -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=3, radius=0.5)  # 642 vertices


@pytest.fixture(scope="module")
def sphere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mesh") / "sphere.obj"
    _ball().export(path)
    return path


def _write_xyz(path: Path, points: np.ndarray, normals: np.ndarray) -> Path:
    np.savetxt(path, np.hstack([points, normals]))
    return path


def _write_ply(path: Path, columns: dict[str, np.ndarray], binary: bool = False) -> Path:
    names = list(columns)
    n = len(columns[names[0]])
    fmt = "binary_little_endian" if binary else "ascii"
    head = f"ply\nformat {fmt} 1.0\nelement vertex {n}\n"
    head += "".join(f"property float {k}\n" for k in names) + "end_header\n"
    table = np.stack([columns[k] for k in names], axis=1).astype(np.float32)
    if binary:
        path.write_bytes(head.encode() + table.astype("<f4").tobytes())
    else:
        path.write_text(head + "\n".join(" ".join(f"{v:.7g}" for v in r) for r in table) + "\n")
    return path


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sphere's vertices with their normals (length 2.5, to be normalised), as .xyz."""
    ball = _ball()
    path = tmp_path_factory.mktemp("cloud") / "sphere.xyz"
    return _write_xyz(path, ball.vertices, 2.5 * ball.vertex_normals)


def _cfg(path: Path, out: Path, method: str = "iga", batch: int = 8, **train) -> SDFFitConfig:
    return SDFFitConfig(
        path=str(path),
        loss="siren",
        points=2048,
        group_size=32,
        batch_groups=batch,
        resolution=16,
        eval_every=5,
        surface_points=2000,
        model=ModelConfig(arch="siren", width=16, hidden_layers=2),
        method=MethodConfig(method=method, end=4),
        train=TrainConfig(**{"steps": 20, "checkpoint_every": 5, "lr": 1e-3, **train}),
        out=str(out),
    )


def _siren_reference(
    coords: torch.Tensor, pred: torch.Tensor, gt_sdf: torch.Tensor, gt_normals: torch.Tensor
) -> dict[str, torch.Tensor]:
    """vsitzmann/siren ``loss_functions.sdf``, written out again: masks by ``gt_sdf != -1``,
    means over every row."""
    gradient = torch.autograd.grad(pred, [coords], torch.ones_like(pred), create_graph=True)[0]
    on = gt_sdf != -1
    zero = torch.zeros_like(pred)
    sdf = torch.where(on, pred, zero)
    inter = torch.where(on, zero, torch.exp(-1e2 * torch.abs(pred)))
    cos = torch.nn.functional.cosine_similarity(gradient, gt_normals, dim=-1)[..., None]
    normal = torch.where(on, 1 - cos, torch.zeros_like(gradient[..., :1]))
    grad = torch.abs(gradient.norm(dim=-1) - 1)
    return {
        "sdf": torch.abs(sdf).mean() * 3e3,
        "inter": inter.mean() * 1e2,
        "normal": normal.mean() * 1e2,
        "grad": grad.mean() * 5e1,
    }


def _batch(cloud: Path, tmp_path: Path, seed: int = 0):
    """A job's model and the first batch with SIREN's ground truth (normals -1 off surface)."""
    job = SDFTask().setup(_cfg(cloud, tmp_path / "x"), torch.device("cpu"))
    x, y = job.batch(0, torch.Generator().manual_seed(seed))
    m = job.data_rows
    gt_normals = torch.cat([job.batch.current, -torch.ones(len(x) - m, 3)])
    return job, x.requires_grad_(True), y, gt_normals


def test_the_loss_terms_are_sirens(cloud: Path, tmp_path: Path) -> None:
    job, x, y, gt_normals = _batch(cloud, tmp_path)
    m = job.data_rows
    assert m == 8 * 32 and x.shape == (2 * m, 3) and (y[:m] == 0).all() and (y[m:] == -1).all()
    assert (x[m:].abs() <= 1).all() and torch.allclose(gt_normals[:m].norm(dim=1), torch.ones(m))
    pred = job.model(x)
    ours = siren_terms(x, pred, gt_normals[:m])
    ref = _siren_reference(x, pred, y, gt_normals)
    for k in ref:
        assert torch.allclose(ours[k], ref[k], rtol=1e-5, atol=1e-6), k
    # what the training loop adds: the data term (rows :m) and the plain penalty (all rows)
    total = job.loss(pred[:m], y[:m]) + job.penalty(x, pred)
    assert torch.allclose(total, sum(ref.values()), rtol=1e-5)
    assert float(ref["sdf"].detach()) > 0 and float(ref["grad"].detach()) > 0


def test_iga_with_end_zero_is_the_gradient_of_sirens_loss(cloud: Path, tmp_path: Path) -> None:
    job, x, y, gt_normals = _batch(cloud, tmp_path)
    model, m, params = job.model, job.data_rows, [*job.model.parameters()]
    pred = model(x)
    adj = IGA(model, job.groups, end=0)
    target = pred[:m].detach() - job.residual(pred[:m].detach(), y[:m])
    adjusted = adj.loss(pred[:m], target, x[:m].detach()) + job.penalty(x, pred)
    g1 = torch.autograd.grad(adjusted, params)
    pred = model(x)
    g2 = torch.autograd.grad(sum(_siren_reference(x, pred, y, gt_normals).values()), params)
    for a, b in zip(g1, g2, strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6 * float(b.abs().max()))
    # the residual IGA mixes: 750·sign(f) (= 3e3·M/(2·2M))
    assert torch.equal(job.residual(pred[:m], y[:m]).abs().unique(), torch.tensor([750.0]))


def test_one_training_step_with_iga_at_end_zero_equals_the_plain_one(
    cloud: Path, tmp_path: Path
) -> None:
    """Through :func:`iga.train.train` itself: the data rows, the residual and the penalty."""
    states = []
    for adjusted in (False, True):
        job = SDFTask().setup(_cfg(cloud, tmp_path / "x"), torch.device("cpu"))
        adjuster = IGA(job.model, job.groups, end=0) if adjusted else None
        tc = TrainConfig(steps=2, lr=1e-4, optimizer="sgd", checkpoint_every=0)
        result = train(
            job.model,
            job.inputs,
            job.target,
            tc,
            1e-4,
            adjuster,
            loss_fn=job.loss,
            residual_fn=job.residual,
            batch_fn=job.batch,
            data_rows=job.data_rows,
            penalty_fn=job.penalty,
            progress=False,
        )
        states.append(result.final_state)
    for k in states[0]:
        assert torch.allclose(states[0][k], states[1][k], rtol=1e-5, atol=1e-7), k
    init = SDFTask().setup(_cfg(cloud, tmp_path / "x"), torch.device("cpu")).model.state_dict()
    moved = max(float((states[0][k] - init[k]).abs().max()) for k in init)
    assert moved > 0


@pytest.mark.parametrize("form", ["xyz", "ply", "binary ply"])
def test_point_clouds_load_with_unit_normals(form: str, tmp_path: Path) -> None:
    ball = _ball()
    pts, nrm = 3.0 + 2.0 * ball.vertices, 0.3 * ball.vertex_normals  # other units, short normals
    if form == "xyz":
        path = _write_xyz(tmp_path / "c.xyz", pts, nrm)
    else:
        cols = dict(zip(("x", "y", "z", "nx", "ny", "nz"), np.hstack([pts, nrm]).T, strict=True))
        path = _write_ply(tmp_path / "c.ply", cols, binary=form == "binary ply")
    data = oriented_points(path, 123, 0.05, 8, seed=0)
    n = len(ball.vertices)
    held = min(HELDOUT_MAX, n // 10)
    assert len(data.points) == n - held and len(data.heldout_points) == held
    assert data.mesh is None and data.grid is None
    p, q = data.all_points
    assert len(p) == n and np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-6)
    half = (p.max(axis=0) - p.min(axis=0)).max() / 2
    assert abs(half - 0.95) < 1e-5 and np.allclose((p.max(0) + p.min(0)) / 2, 0, atol=1e-5)
    # normals still point away from the centre (outward), after normalising
    assert (np.sum(p * q, axis=1) > 0).all()
    # same points as written, up to the recorded normalisation
    back = data.normalization.invert(p)
    d = np.linalg.norm(back[:, None] - pts[None], axis=2).min(axis=1)
    assert d.max() < 1e-4


def test_a_mesh_gives_points_on_its_faces_with_their_normals(sphere: Path, tmp_path: Path) -> None:
    data = oriented_points(sphere, 500, 0.05, 8, seed=0, cache_dir=tmp_path)
    assert data.points.shape == (500, 3) and len(data.heldout_points) == 0
    r = np.linalg.norm(data.points, axis=1)
    assert np.abs(r - 0.95).max() < 0.01  # on the normalised sphere (facets' sag)
    cos = np.sum(data.points * data.normals, axis=1) / r
    assert cos.min() > 0.99 and data.grid.shape == (8, 8, 8)


def test_bad_inputs_are_one_line_errors(sphere: Path, tmp_path: Path, capsys) -> None:
    ball = _ball()
    v, n = ball.vertices, ball.vertex_normals
    cols = dict(zip(("x", "y", "z"), v.T, strict=True))
    zero = n.copy()
    zero[5] = 0
    nan = v.copy()
    nan[3, 1] = np.nan
    np.savetxt(tmp_path / "three.xyz", v)
    (tmp_path / "empty.xyz").write_text("")
    cases = {
        "no normals (PLY)": (_write_ply(tmp_path / "nonormals.ply", cols), "without normals"),
        "no normals (xyz)": (tmp_path / "three.xyz", "3 columns"),
        "zero normals": (_write_xyz(tmp_path / "zero.xyz", v, zero), "zero-length normals"),
        "NaN": (_write_xyz(tmp_path / "nan.xyz", nan, n), "NaN"),
        "few points": (_write_xyz(tmp_path / "few.xyz", v[:40], n[:40]), "fewer than a step"),
        "empty": (tmp_path / "empty.xyz", "empty"),
    }
    base = ["--group-size", "32", "--batch-groups", "8", "--steps", "2", "--width", "8", "--quiet"]
    out = tmp_path / "o"
    for name, (path, words) in cases.items():
        capsys.readouterr()
        code = main(["fit", "sdf", str(path), "--loss", "siren", *base, "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 1 and err.startswith("iga: error:") and err.count("\n") == 1, (name, err)
        assert words in err, (name, err)
    # a point cloud with the default (regression) loss: say how to fit it
    ply = _write_ply(
        tmp_path / "cloud.ply",
        dict(zip(("x", "y", "z", "nx", "ny", "nz"), np.hstack([v, n]).T, strict=True)),
    )
    for path in (ply, tmp_path / "zero.xyz"):
        capsys.readouterr()
        code = main(["fit", "sdf", str(path), "--out", str(tmp_path / "r"), "--quiet"])
        err = capsys.readouterr().err
        assert code == 1 and err.count("\n") == 1 and "pass --loss siren" in err, err
    with pytest.raises(ValueError, match="--loss must be one of regression, siren"):
        replace(_cfg(sphere, tmp_path / "z"), loss="l1")


def test_a_short_fit_to_a_point_cloud(cloud: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = ["fit", "sdf", str(cloud), "--loss", "siren", "--group-size", "32"]
    args += ["--batch-groups", "8", "--resolution", "24", "--eval-every", "10", "--steps", "150"]
    args += ["--width", "32", "--hidden-layers", "2", "--lr", "1e-3", "--end", "4"]
    assert main([*args, "--out", str(out), "--quiet"]) == 0
    assert "no mesh" in capsys.readouterr().out
    s = json.loads((out / "summary.json").read_text())
    assert s["loss"] == "siren" and s["iou"] is None and s["mae_near"] is None
    assert s["note"].startswith("no mesh") and s["points"] == 642
    assert math.isfinite(s["chamfer"]) and s["chamfer"] < 0.25
    assert 0.5 < s["normal_consistency"] <= 1
    for name in ("surface.ply", "surface.png", "val_loss.png", "best.pt", "final.pt"):
        assert (out / name).is_file(), name
    rows = [r for r in _rows(out) if r["val_loss"]]
    assert float(rows[-1]["val_loss"]) < 0.5 * float(rows[0]["val_loss"])
    # the Chamfer falls with training (a barely trained field may have no surface at all)
    steps = args.index("--steps") + 1
    early = [*args[:steps], "10", *args[steps + 1 :], "--out", str(tmp_path / "early")]
    assert main([*early, "--quiet"]) == 0
    e = json.loads((tmp_path / "early" / "summary.json").read_text())
    assert e["chamfer"] is None or e["chamfer"] > s["chamfer"]
    assert json.loads((out / "config.json").read_text())["resolved"]["heldout"] == 64


def _rows(out: Path) -> list[dict[str, str]]:
    import csv

    with (out / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def test_a_short_fit_to_a_mesh_keeps_the_mesh_metrics(sphere: Path, tmp_path: Path) -> None:
    s = fit_sdf(_cfg(sphere, tmp_path / "m", steps=30), progress=False)
    assert s["loss"] == "siren" and 0 <= s["iou"] <= 1 and math.isfinite(s["mae_near"])
    assert s["chamfer_floor"] < 0.1 and ("note" in s) == (s["chamfer"] is None)
    for name in ("error_slices.png", "iou.png", "best.pt"):
        assert (tmp_path / "m" / name).is_file(), name
    # the regression path's summary, number for number, plus the loss's name
    plain = replace(_cfg(sphere, tmp_path / "r", steps=2), loss="regression", batch_groups=0)
    r = fit_sdf(plain, progress=False)
    assert "loss" not in r and set(s) - {"note"} == set(r) - {"note"} | {"loss"}


@pytest.mark.parametrize(("source", "batch"), [("cloud", 8), ("cloud", 0), ("mesh", 8)])
def test_interrupt_then_resume_equals_a_straight_run(
    cloud: Path, sphere: Path, tmp_path: Path, source: str, batch: int
) -> None:
    path = cloud if source == "cloud" else sphere
    straight = _cfg(path, tmp_path / "a", batch=batch, steps=16)
    if batch == 0:  # every point each step: fewer, larger groups
        straight = replace(straight, group_size=64)
    s1 = fit(SDFTask(), straight, progress=False)
    resumed = replace(straight, out=str(tmp_path / "b"))
    with pytest.raises(KeyboardInterrupt):
        fit(interrupt_at(SDFTask(), 7), resumed, progress=False)
    assert (tmp_path / "b" / CHECKPOINT_FILE).is_file()
    s2 = fit(SDFTask(), resumed, progress=False, resume=True)
    for k in ("chamfer", "normal_consistency", "best_step", "iou", "val_loss"):
        assert s1.get(k) == s2.get(k), k
    a, b = torch.load(tmp_path / "a" / "final.pt"), torch.load(tmp_path / "b" / "final.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    a, b = torch.load(tmp_path / "a" / "best.pt"), torch.load(tmp_path / "b" / "best.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_divergence_keeps_the_best_result(cloud: Path, tmp_path: Path) -> None:
    out = tmp_path / "div"
    with pytest.raises(TrainingDiverged, match=r"non-finite at step \d+.*lower --lr"):
        fit_sdf(_cfg(cloud, out, lr=1e9, steps=40), progress=False)
    s = json.loads((out / "summary.json").read_text())
    assert s["diverged_at_step"] is not None and (out / "best.pt").is_file()
    assert s["best_step"] < s["diverged_at_step"]
    assert not (out / CHECKPOINT_FILE).exists()


def test_the_loss_field_leaves_the_regression_keys_alone(sphere: Path, tmp_path: Path) -> None:
    cfg = asdict(replace(_cfg(sphere, tmp_path / "k"), loss="regression"))
    old = {k: v for k, v in cfg.items() if k != "loss"}
    assert config_key(cfg, {"lr": 1e-3}) == config_key(old, {"lr": 1e-3})
    assert config_key({**cfg, "loss": "siren"}, {"lr": 1e-3}) != config_key(old, {"lr": 1e-3})


def test_oriented_batches_draw_each_group_once_per_epoch() -> None:
    pts = torch.rand(64, 3) * 2 - 1
    groups = torch.arange(64).reshape(8, 8)
    b = OrientedBatches(pts, torch.nn.functional.normalize(pts, dim=1), groups, 2, seed=3)
    g = torch.Generator().manual_seed(0)
    seen = []
    for step in range(4):  # one epoch: 8 groups, 2 per step
        x, _ = b(step, g)
        rows = [int(torch.nonzero((pts == r).all(dim=1))[0]) for r in x[:16]]
        seen += rows
        assert torch.equal(b.current, b.normals[rows])
    assert sorted(seen) == list(range(64))

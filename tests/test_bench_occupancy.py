"""``iga bench occupancy``: the plan (extra seeds for vanilla and IGA only), a tiny end-to-end
run with its tables, references and figure, and bad options."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest

from iga import harness
from iga.tasks.occupancy import bench as occ

trimesh = pytest.importorskip("trimesh")


@pytest.fixture(scope="module")
def meshes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("meshes")
    trimesh.creation.icosphere(subdivisions=2, radius=0.8).export(d / "bunny.obj")
    trimesh.creation.box(extents=(1.0, 0.6, 0.8)).export(d / "dragon.ply")
    return d


def _setup(meshes: Path, **kw: object) -> dict:
    base: dict[str, object] = {
        "data": str(meshes),
        "shapes": "bunny,dragon",
        "archs": "relu",
        "methods": "vanilla,iga",
        "seeds": "0",
    }
    base.update(kw)
    s = occ.setup("occupancy", occ.Options(**base), harness.RunOptions())
    # A tiny tier: 16³, 2³ blocks, a few steps.
    s["tier_config"] = replace(
        s["tier_config"],
        resolution=16,
        groups="blocks",
        block=2,
        batch_groups=32,
        validate_every=25,
        eval_points=1000,
        surface_points=1000,
        train=replace(s["tier_config"].train, steps=100),
    )
    return s


def test_plan_gives_extra_seeds_to_vanilla_and_iga_only(meshes: Path, tmp_path: Path) -> None:
    s = _setup(meshes, methods="vanilla,fr,bn,iga", seeds="0,1")
    p = harness.plan(
        s["bench"],
        s["tier"],
        tmp_path,
        **{k: s[k] for k in ("tier_config", "axes", "where", "options")},
    )
    cells = [r.cell for r in p.runs]
    assert len(cells) == 2 * 4 + 2 * 2  # seed 0: every method; seed 1: vanilla and iga
    assert {c["method"] for c in cells if c["seed"] == 1} == {"vanilla", "iga"}
    assert all(c["lr"] == 2e-3 for c in cells)  # the paper's lr for relu, every method
    default = occ.setup("occupancy", occ.Options(), harness.RunOptions())
    assert len(default["axes"]["shape"]) == 3  # the bundled meshes, when ../shared is present


def test_tiny_benchmark_writes_the_papers_layout(meshes: Path, tmp_path: Path) -> None:
    ro = harness.RunOptions(out=str(tmp_path), quiet=True)
    rep = harness.execute(_setup(meshes), ro, log=lambda _: None)
    assert rep.finished == rep.expected == 4
    out = rep.out_dir
    table = (out / "table.md").read_text()
    assert "IoU grid, best" in table and "ReLU +IGA" in table and "Chamfer" in table
    runs = list(csv.DictReader((out / "runs.csv").open()))
    assert {"shape", "arch", "method", "seed", "iou", "iou_eval", "chamfer_e3"} <= set(runs[0])
    assert "bunny" in (out / "per_shape.md").read_text()
    assert "paper (Table 9)" in (out / "comparison.md").read_text()
    assert sorted(f.name for f in (out / "figures").iterdir()) == [
        "bunny_relu.png",
        "dragon_relu.png",
    ]
    run = out.parent / "runs" / "bunny" / "relu" / "iga" / "seed0"
    assert (run / "summary.json").is_file() and not (run / "best.pt").exists()


def test_bad_options(meshes: Path) -> None:
    with pytest.raises(FileNotFoundError, match="--shapes"):
        _setup(meshes, shapes="thai")
    with pytest.raises(ValueError, match="--methods"):
        _setup(meshes, methods="vanilla,dropout")
    with pytest.raises(ValueError, match="--seeds"):
        _setup(meshes, seeds="x")
    with pytest.raises(ValueError, match="--groups"):
        _setup(meshes, groups="lines")


def test_optimizer_overrides_get_their_own_tier_and_reach_every_run(
    meshes: Path, tmp_path: Path
) -> None:
    s = _setup(meshes, optimizer="muon", schedule="cosine", lr=0.1)
    assert s["tier"] == "cpu_muon_cosine_lr0.1"  # never mixed with the paper's Adam runs
    p = harness.plan(
        s["bench"],
        s["tier"],
        tmp_path,
        **{k: s[k] for k in ("tier_config", "axes", "where", "options")},
    )
    for run in p.runs:
        train = run.spec.config["fit"]["train"]
        assert (train["optimizer"], train["schedule"], train["lr"]) == ("muon", "cosine", 0.1)
    with pytest.raises(ValueError, match="optimizer"):
        _setup(meshes, optimizer="lion")

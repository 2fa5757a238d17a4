"""``iga bench nerf``: a tiny end-to-end run with its tables, references and figure, and bad
options."""

from __future__ import annotations

import csv
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from _nerf_scene import write_scene

from iga import harness
from iga.io import to_jsonable
from iga.models.nerf import NeRFConfig
from iga.tasks.nerf import bench as bench_nerf
from iga.tasks.nerf.task import RenderConfig


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("scenes")
    write_scene(d / "toy", size=8, views=2)
    return d


def _setup(data: Path, **kw: object) -> dict:
    base: dict[str, object] = {"data": str(data), "scenes": "toy", "seeds": "0,1"}
    base.update(kw)
    s = bench_nerf.setup("nerf", bench_nerf.Options(**base), harness.RunOptions())
    s["tier_config"] = replace(
        s["tier_config"],
        batch_rays=16,
        validate_every=10,
        turntable_frames=2,
        net=NeRFConfig(depth=2, width=16, skip=-1, multires=3, multires_views=2),
        render=RenderConfig(n_coarse=6, n_fine=6, chunk=64),
        train=replace(s["tier_config"].train, steps=20, checkpoint_every=0),
    )
    return s


def test_tiny_benchmark_writes_the_table(scenes: Path, tmp_path: Path) -> None:
    ro = harness.RunOptions(out=str(tmp_path), quiet=True)
    rep = harness.execute(_setup(scenes, methods="vanilla,iga,iga-ray"), ro, log=lambda _: None)
    assert rep.finished == rep.expected == 6  # 3 methods × 2 seeds
    out = rep.out_dir
    table = (out / "table.md").read_text()
    assert "PSNR test" in table and "NeRF+IGA" in table and "ray kernel" in table
    runs = list(csv.DictReader((out / "runs.csv").open()))
    assert {"scene", "method", "seed", "psnr_test", "ssim_test"} <= set(runs[0])
    assert {r["kernel"] for r in runs if r["method"] == "iga-ray"} == {"ray"}
    comparison = (out / "comparison.md").read_text()
    psnr_part, ssim_part = comparison.split("SSIM test")
    # Each metric beside the paper's own numbers (they once shared a label and got mixed up).
    assert "paper PSNR (Table 3" in psnr_part and "| 31.23 |" in psnr_part
    assert "0.953" not in psnr_part and "| 0.953 |" in ssim_part
    assert sorted(f.name for f in (out / "figures").iterdir()) == [
        "toy_test0.png",
        "toy_val_psnr.png",
    ]
    # One validation curve per run, read back from its metrics.csv (every 10 of 20 steps).
    curves = bench_nerf._validation_curves(rep, out, "toy")
    assert len(curves) == 6 and "NeRF+IGA (ray kernel), seed 1" in curves
    assert all(steps == [0, 10, 20] and len(v) == 3 for steps, v in curves.values())
    run = out.parent / "runs" / "toy" / "iga" / "seed1"
    assert (run / "summary.json").is_file() and not (run / "best.pt").exists()


def test_bad_options(scenes: Path) -> None:
    with pytest.raises(FileNotFoundError, match="--scenes"):
        _setup(scenes, scenes="ship")
    with pytest.raises(ValueError, match="--methods"):
        _setup(scenes, methods="vanilla,siren")
    with pytest.raises(ValueError, match="--seeds"):
        _setup(scenes, seeds="x")


def test_grid_tiers_differ_from_the_cpu_tier_only_in_the_samples() -> None:
    # The grid's side-by-side (issue 28) compares runs that differ in nothing else.
    cpu = bench_nerf.TIERS["cpu"]
    plain, grid = bench_nerf.TIERS["cpu16"], bench_nerf.TIERS["cpu16-grid"]
    assert (cpu.render.n_coarse, cpu.render.grid) == (32, 0)
    assert (plain.render.n_coarse, plain.render.n_fine, plain.render.grid) == (16, 16, 0)
    assert (grid.render.n_coarse, grid.render.n_fine, grid.render.grid) == (16, 16, 32)
    for tier in (plain, grid):
        assert replace(tier, render=cpu.render) == cpu


def test_long_tier_is_the_grid_tier_trained_longer() -> None:
    # The tier that tries to converge (issue 28): cpu16-grid with four times the steps, the
    # lr's ×0.1 decay spread over them, validated and checkpointed every 1000 steps.
    grid, long = bench_nerf.TIERS["cpu16-grid"], bench_nerf.TIERS["long"]
    assert long.train.steps == 4 * grid.train.steps and long.train.decay == grid.train.decay
    assert (long.validate_every, long.train.checkpoint_every) == (1000, 1000)
    shortened = replace(long, validate_every=grid.validate_every)
    shortened = replace(shortened, train=replace(long.train, steps=3000, checkpoint_every=500))
    assert shortened == grid


def test_long2_is_long_with_rays_from_all_views_and_a_larger_lr() -> None:
    # The second try at a tier that converges (issue 28): only the batching and Adam's lr
    # differ from `long`, so its runs sit beside `long`'s at the same steps, samples and grid.
    long, long2 = bench_nerf.TIERS["long"], bench_nerf.TIERS["long2"]
    assert (long.batching, long.train.lr) == ("image", 5e-4)
    assert (long2.batching, long2.train.lr) == ("all", 1e-3)
    assert replace(long2, batching="image", train=replace(long2.train, lr=5e-4)) == long


def test_grid_tier_is_selected_by_name(scenes: Path) -> None:
    opts = bench_nerf.Options(data=str(scenes), scenes="toy", seeds="0")
    s = bench_nerf.setup("nerf", opts, harness.RunOptions(tier="cpu16-grid"))
    assert s["tier"] == "cpu16-grid" and s["tier_config"].render.grid == 32
    with pytest.raises(ValueError, match="cpu16-grid"):  # the error lists the tiers
        bench_nerf.setup("nerf", opts, harness.RunOptions(tier="cpu32-grid"))


@pytest.mark.parametrize(
    ("bench", "listed", "absent"),
    [("nerf", ("cpu16-grid", "long", "long2", "paper"), ()), ("sdf", ("cpu",), ("paper",))],
)
def test_tier_help_names_the_benchmarks_own_tiers(
    bench: str, listed: tuple[str, ...], absent: tuple[str, ...], capsys
) -> None:
    # `iga bench NAME --help` lists that benchmark's TIERS, not a generic "cpu, paper".
    from iga.cli.app import main

    assert main(["bench", bench, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    names = text.split("tier name (", 1)[1].split(")", 1)[0].split(", ")
    assert all(t in names for t in listed) and not any(t in names for t in absent)


def test_the_muon_recipes_swap_the_optimiser_and_leave_the_paper_methods_keys(
    scenes: Path, tmp_path: Path
) -> None:
    # ``muon``/``muon+iga`` are the rivals benchmark's recipe on NeRF: Muon at its own lr
    # (lr None: the recipe's 0.1) with a cosine schedule; the paper's methods keep the tier's
    # Adam 5e-4 and its decay, so their committed runs keep their keys.
    s = _setup(scenes, methods="vanilla,muon,muon+iga", seeds="0")
    ctx = harness.Context("nerf", s["tier"], s["tier_config"], tmp_path, s["options"])
    specs = {
        m: bench_nerf.make_run(ctx, {"scene": "toy", "method": m, "seed": 0})
        for m in ("vanilla", "iga", "muon", "muon+iga")
    }
    train = {m: spec.config["fit"]["train"] for m, spec in specs.items()}
    tier = s["tier_config"].train
    assert train["vanilla"]["optimizer"] == tier.optimizer == "adam"
    assert train["vanilla"]["lr"] == tier.lr and train["vanilla"]["schedule"] == tier.schedule
    for m in ("muon", "muon+iga"):
        assert (train[m]["optimizer"], train[m]["schedule"], train[m]["lr"]) == (
            "muon",
            "cosine",
            None,
        )
    assert specs["muon+iga"].config["fit"]["method"]["method"] == "iga"
    assert specs["muon"].config["fit"]["method"]["method"] == "vanilla"
    assert train["iga"] == to_jsonable(asdict(replace(tier, seed=0)))  # as before the recipes
    ro = harness.RunOptions(out=str(tmp_path / "res"), quiet=True)
    rep = harness.execute(s, ro, log=lambda _: None)
    table = (rep.out_dir / "table.md").read_text()
    assert rep.finished == 3 and "NeRF (Muon)" in table and "NeRF+IGA (Muon)" in table

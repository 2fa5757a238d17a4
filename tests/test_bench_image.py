"""``iga bench image`` on tiny images: planning, resuming, missing cells, tables, figures, CLI."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from iga.bench_image import TIERS, BenchImageConfig, aggregate, plan, register_cli, run_bench


@pytest.fixture
def kodak(tmp_path: Path) -> Path:
    """kodim01 (landscape) and kodim02 (portrait), tiny."""
    data = tmp_path / "kodak"
    data.mkdir()
    for i, (h, w) in enumerate([(16, 24), (24, 16)], start=1):
        y, x = np.mgrid[0:h, 0:w] / 6.0
        img = np.stack([0.5 + 0.4 * np.sin(i * x), 0.5 + 0.3 * np.cos(3 * y), 0.5 + 0 * x], -1)
        Image.fromarray((img * 255).astype(np.uint8)).save(data / f"kodim{i:02d}.png")
    return data


def _cfg(kodak: Path, out: Path, **kw) -> BenchImageConfig:
    base = dict(
        data=str(kodak),
        images="1-2",
        archs="relu",
        methods="vanilla,iga",
        size="12x8",
        patch=2,
        end=4,
        width=8,
        steps=4,
        out=str(out),
        quiet=True,
    )
    base.update(kw)
    return BenchImageConfig(**base)


def test_tier_files_match_builtin_tiers() -> None:
    root = Path(__file__).resolve().parents[1] / "benchmarks" / "image"
    for name, tier in TIERS.items():
        assert json.loads((root / f"{name}.json").read_text()) == tier


def test_plan_order_seeds_and_portrait(kodak: Path, tmp_path: Path) -> None:
    p = plan(_cfg(kodak, tmp_path, seeds="0,1", multi_seed_images="1", methods="vanilla,fr,bn,iga"))
    names = [s.name for s in p.specs]
    # seed 0 image by image (complete blocks first), then seed 1 on kodim01 only.
    assert names[:4] == [
        f"kodim01/relu/{m}/lr{lr}/seed0"
        for m, lr in [("vanilla", "0.001"), ("fr", "0.001"), ("bn", "0.001"), ("iga", "0.005")]
    ]
    assert names[4].startswith("kodim02/") and names[8].endswith("seed1") and len(names) == 12
    assert p.specs[0].config["fit"]["size"] == "12x8"
    assert p.specs[4].config["fit"]["size"] == "8x12"  # portrait image
    assert p.specs[3].config["fit"]["method"]["end"] == 4  # overridden
    assert plan(_cfg(kodak, tmp_path, end=0)).specs[1].config["fit"]["method"]["end"] == 25


def test_run_resume_missing_cells_tables_and_figures(kodak: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    cfg = _cfg(kodak, tmp_path, max_runs=3)
    res = run_bench(cfg, log=lines.append)
    assert res["finished"] == 3 and res["expected"] == 4
    assert res["missing"] == ["kodim02/relu/iga/lr0.005/seed0"]
    outdir = Path(res["dir"])
    # Averages only over images whose block is complete, and the table says so.
    assert "1 complete image(s) (kodim01)" in (outdir / "table.md").read_text()
    assert res["complete_images"] == ["kodim01"]
    assert "kodim02/relu/iga" in (outdir / "missing.md").read_text()
    # Resume: only the missing run is launched.
    lines.clear()
    res = run_bench(_cfg(kodak, tmp_path), log=lines.append)
    assert res["finished"] == 4 and not res["missing"]
    assert any("1 run, 3 already finished" in line for line in lines)
    table = (outdir / "table.md").read_text()
    assert "ReLU Vanilla" in table and "ReLU +IGA" in table and "PSNR best" in table
    assert (outdir / "table.csv").read_text().startswith("Metric,")
    assert len((outdir / "runs.csv").read_text().splitlines()) == 5
    assert "ms/step" in (outdir / "timing.md").read_text()
    assert "kodim02" in (outdir / "per_image.md").read_text()
    assert sorted(f.name for f in (outdir / "figures").iterdir()) == [
        "kodim01_relu.png",
        "kodim02_relu.png",
    ]
    run = outdir.parent / "runs" / "kodim01" / "relu" / "iga" / "lr0.005" / "seed0"
    assert (run / "summary.json").exists() and not (run / "best.pt").exists()
    # The comparison's gain is the per-image mean of IGA − vanilla, recomputed from runs.csv.
    runs = list(csv.DictReader((outdir / "runs.csv").open()))
    best = {(r["image"], r["method"]): float(r["psnr_best"]) for r in runs}
    gain = np.mean([best[(i, "iga")] - best[(i, "vanilla")] for i in ("kodim01", "kodim02")])
    iga_row = next(
        line for line in (outdir / "comparison.md").read_text().splitlines() if "+IGA" in line
    )
    assert iga_row.split("|")[6].strip().startswith(f"{gain:+.2f}")
    assert (outdir / "gains.png").stat().st_size > 0
    # A subset aggregated under --report leaves the main tables alone.
    main_table = (outdir / "table.md").read_text()
    res = aggregate(_cfg(kodak, tmp_path, images="2", report="only2"), figures=False)
    assert Path(res["dir"]) == outdir.parent / "only2" and res["finished"] == 2
    assert (outdir / "table.md").read_text() == main_table
    with pytest.raises(ValueError, match="--report"):
        _cfg(kodak, tmp_path, report="../x")


def test_fair_protocol_selects_lr_on_first_image(kodak: Path, tmp_path: Path) -> None:
    cfg = _cfg(kodak, tmp_path, protocol="fair", methods="vanilla", no_figures=True)
    res = run_bench(cfg, log=lambda s: None)
    # 3 selection runs on kodim01 + kodim02 at the chosen lr; the table uses 2 of them.
    runs = list((tmp_path).glob("*/runs/*/relu/vanilla/*/seed0/summary.json"))
    assert len(runs) == 4
    assert res["expected"] == 2 and res["finished"] == 2
    agg = json.loads((Path(res["dir"]) / "aggregate.json").read_text())
    assert agg["lrs"]["relu/vanilla"] in (1e-3, 2e-3, 5e-3)
    assert aggregate(cfg, figures=False)["finished"] == 2


def test_register_cli_and_bad_inputs(kodak: Path, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="iga")
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench").add_subparsers(dest="bench", required=True)
    register_cli(bench)
    argv = ["bench", "image", "--data", str(kodak), "--images", "1", "--archs", "relu"]
    argv += ["--methods", "bn", "--size", "12x8", "--width", "8", "--steps", "3", "--quiet"]
    argv += ["--patch", "2"]
    argv += ["--out", str(tmp_path / "cli"), "--no-figures"]
    ns = parser.parse_args(argv)
    assert ns.func(ns) == 0
    assert list((tmp_path / "cli").glob("*/runs/kodim01/relu/bn/lr0.001/seed0/summary.json"))
    with pytest.raises(ValueError, match="unknown method"):
        _cfg(kodak, tmp_path, methods="vanilla,dropout")
    with pytest.raises(ValueError, match="protocol"):
        _cfg(kodak, tmp_path, protocol="best")
    with pytest.raises(FileNotFoundError, match="--data"):
        plan(_cfg(kodak, tmp_path, images="1-5"))
    with pytest.raises(ValueError, match="seeds"):
        _cfg(kodak, tmp_path, seeds="a")


def test_extra_archs_run_through_every_method(kodak: Path, tmp_path: Path) -> None:
    cfg = _cfg(
        kodak,
        tmp_path,
        images="1",
        archs="finer,wire,gauss",
        methods="vanilla,fr,bn,iga",
        steps=2,
        no_figures=True,
    )
    res = run_bench(cfg, log=lambda s: None)
    assert res["finished"] == 12 and not res["missing"]
    assert "FINER +BN" in res["table"]


def test_fr_alpha_scale_gets_its_own_folder(kodak: Path, tmp_path: Path) -> None:
    p = plan(_cfg(kodak, tmp_path, methods="vanilla,fr", archs="pe", fr_alpha_scale=0.1))
    assert p.tier_name.endswith("_fralpha0.1")
    fr = next(s for s in p.specs if s.config["meta"]["method"] == "fr")
    assert fr.config["fit"]["model"]["options"] == {"fr_alpha": pytest.approx(0.005)}
    van = next(s for s in p.specs if s.config["meta"]["method"] == "vanilla")
    assert van.config["fit"]["model"]["options"] == {}
    with pytest.raises(ValueError, match="fr-alpha-scale"):
        plan(_cfg(kodak, tmp_path, fr_alpha_scale=-1.0))


def test_method_comparison_figure_and_bad_inputs(tmp_path: Path) -> None:
    from iga import plots

    rng = np.random.default_rng(0)
    target = rng.random((16, 24, 3))
    recons = {"A": target * 0.9, "B": target + 0.01}
    path = plots.method_comparison(target, recons, tmp_path / "f.png", crop=(2, 3, 8, 8))
    assert path.stat().st_size > 0
    with pytest.raises(ValueError, match="at least one"):
        plots.method_comparison(target, {}, tmp_path / "g.png")
    with pytest.raises(ValueError, match="same size"):
        plots.method_comparison(target, {"A": target[:8]}, tmp_path / "g.png")
    with pytest.raises(ValueError, match="does not fit"):
        plots.method_comparison(target, recons, tmp_path / "g.png", crop=(10, 0, 8, 8))
    with pytest.raises(ValueError, match="at least one group"):
        plots.gain_bars({"ReLU": {}}, tmp_path / "h.png")

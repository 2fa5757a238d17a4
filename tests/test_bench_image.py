"""``iga bench image`` on tiny images: planning, resuming, missing cells, tables, figures, CLI."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from iga import harness
from iga.tasks.image import bench as image


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


def _setup(kodak: Path, **kw: object) -> dict:
    base: dict = dict(
        data=str(kodak),
        images="1-2",
        archs="relu",
        methods="vanilla,iga",
        size="12x8",
        patch=2,
        end=4,
        width=8,
        steps=4,
    )
    base.update(kw)
    return image.setup("image", image.Options(**base), harness.RunOptions())


def _run(
    kodak: Path, out: Path, report: str = "", **kw: object
) -> tuple[harness.Report, list[str]]:
    lines: list[str] = []
    max_runs = int(kw.pop("max_runs", 0))  # type: ignore[call-overload]
    agg = bool(kw.pop("aggregate_only", False))
    ro = harness.RunOptions(
        out=str(out),
        quiet=True,
        max_runs=max_runs,
        aggregate_only=agg,
        report=report,
        no_figures=bool(kw.pop("no_figures", False)),
    )
    return harness.execute(_setup(kodak, **kw), ro, log=lines.append), lines


def _plan(s: dict, out: Path) -> harness.Plan:
    keys = ("tier_config", "axes", "where", "options")
    return harness.plan(s["bench"], s["tier"], out, **{k: s[k] for k in keys})


def test_plan_order_seeds_and_portrait(kodak: Path, tmp_path: Path) -> None:
    s = _setup(kodak, seeds="0,1", multi_seed_images="1", methods="vanilla,fr,bn,iga")
    p = _plan(s, tmp_path)
    names = [r.spec.name for r in p.runs]
    # seed 0 image by image (complete blocks first), then seed 1 on kodim01 only.
    assert names[:4] == [
        f"kodim01/relu/{m}/lr{lr}/seed0"
        for m, lr in [("vanilla", "0.001"), ("fr", "0.001"), ("bn", "0.001"), ("iga", "0.005")]
    ]
    assert names[4].startswith("kodim02/") and names[8].endswith("seed1") and len(names) == 12
    assert p.runs[0].spec.config["fit"]["size"] == "12x8"
    assert p.runs[4].spec.config["fit"]["size"] == "8x12"  # portrait image
    assert p.runs[3].spec.config["fit"]["method"]["end"] == 4  # overridden
    assert s["tier"] == "cpu_steps4_size12x8_w8_patch2_end4"  # overrides get their own folder
    s0 = _setup(kodak, end=0)
    p0 = _plan(s0, tmp_path)
    assert p0.runs[1].spec.config["fit"]["method"]["end"] == 25


def test_run_resume_missing_cells_tables_and_figures(kodak: Path, tmp_path: Path) -> None:
    rep, _ = _run(kodak, tmp_path, max_runs=3)
    assert rep.finished == 3 and rep.expected == 4
    assert [m[0] for m in rep.missing] == ["kodim02/relu/iga/lr0.005/seed0"]
    outdir = rep.out_dir
    # Averages only over images whose block is complete, and the table says so.
    assert "1 complete image value(s) (kodim01)" in (outdir / "table.md").read_text()
    assert "kodim02/relu/iga" in (outdir / "missing.md").read_text()
    # Resume: only the missing run is launched.
    rep, lines = _run(kodak, tmp_path)
    assert rep.finished == 4 and not rep.missing
    assert any("1 run, 3 already finished" in line for line in lines)
    table = (outdir / "table.md").read_text()
    assert "ReLU Vanilla" in table and "ReLU +IGA" in table and "PSNR best" in table
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
    rep, _ = _run(kodak, tmp_path, report="only2", images="2", aggregate_only=True, no_figures=True)
    assert rep.out_dir == outdir.parent / "only2" and rep.finished == 2
    assert (outdir / "table.md").read_text() == main_table
    with pytest.raises(ValueError, match="--report"):
        harness.RunOptions(report="../x")


def test_a_changed_default_reruns_instead_of_reusing(kodak: Path, tmp_path: Path) -> None:
    rep, _ = _run(kodak, tmp_path, images="1", methods="bn", no_figures=True)
    assert rep.finished == 1
    # Same cell, other resolved model (BN placed before the ReLU): the old run is stale.
    s = _setup(kodak, images="1", methods="bn")
    tier = s["tier_config"]
    s["tier_config"] = replace(tier, model=replace(tier.model, options={"bn_position": "pre"}))
    p = _plan(s, tmp_path)
    assert harness.run_status(p.runs[0].spec).startswith("stale")


def test_fair_protocol_selects_lr_on_first_image(kodak: Path, tmp_path: Path) -> None:
    rep, _ = _run(kodak, tmp_path, protocol="fair", methods="vanilla", no_figures=True)
    # 3 selection runs on kodim01 + kodim02 at the chosen lr; the table uses 2 of them.
    runs = list(tmp_path.glob("*/runs/*/relu/vanilla/*/seed0/summary.json"))
    assert len(runs) == 4
    assert rep.expected == 2 and rep.finished == 2
    agg = json.loads((rep.out_dir / "aggregate.json").read_text())
    assert agg["selection"]["groups"][0]["chosen"] in (1e-3, 2e-3, 5e-3)
    assert (rep.out_dir / "selection.md").exists()


def test_bad_inputs(kodak: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--methods"):
        _setup(kodak, methods="vanilla,dropout")
    with pytest.raises(ValueError, match="protocol"):
        _setup(kodak, protocol="best")
    with pytest.raises(FileNotFoundError, match="--data"):
        _setup(kodak, images="1-5")
    with pytest.raises(ValueError, match="seeds"):
        _setup(kodak, seeds="a")
    with pytest.raises(ValueError, match="fr-alpha-scale"):
        _setup(kodak, fr_alpha_scale=-1.0)


def test_extra_archs_run_through_every_method(kodak: Path, tmp_path: Path) -> None:
    rep, _ = _run(
        kodak,
        tmp_path,
        images="1",
        archs="finer,wire,gauss",
        methods="vanilla,fr,bn,iga",
        steps=2,
        no_figures=True,
    )
    assert rep.finished == 12 and not rep.missing
    assert "FINER +BN" in rep.table


def test_fr_alpha_scale_gets_its_own_folder(kodak: Path, tmp_path: Path) -> None:
    s = _setup(kodak, methods="vanilla,fr", archs="pe", fr_alpha_scale=0.1)
    assert s["tier"].endswith("_fralpha0.1")
    p = _plan(s, tmp_path)
    fr = next(r.spec for r in p.runs if r.cell["method"] == "fr")
    assert fr.config["fit"]["model"]["options"] == {"fr_alpha": pytest.approx(0.005)}
    van = next(r.spec for r in p.runs if r.cell["method"] == "vanilla")
    assert van.config["fit"]["model"]["options"] == {}


def test_iga_variants_reuse_iga_runs_and_add_table4(kodak: Path, tmp_path: Path) -> None:
    s = _setup(kodak, methods="vanilla,iga,iga-ri,iga-rsi,iga-sub", images="1")
    p = _plan(s, tmp_path)
    by = {r.cell["method"]: r.spec for r in p.runs}
    assert by["iga-ri"].config["fit"]["method"]["sampling"] == "random"
    assert by["iga-rsi"].config["fit"]["method"]["sampling"] == "random_once"
    assert by["iga-sub"].config["fit"]["method"]["solver"] == "subspace"
    assert {r.cell["lr"] for r in p.runs if r.cell["method"].startswith("iga")} == {0.005}
    assert len({spec.key for spec in by.values()}) == 5 and "iga-ri" in by["iga-ri"].out
    # Plain iga keeps the key it had before the variants existed (no solver in its key).
    assert (
        by["iga"].key == _plan(_setup(kodak, methods="iga", images="1"), tmp_path).runs[0].spec.key
    )
    labels = [r.label for r in s["bench"].references]
    assert not any("Table 4" in label for label in labels)  # not the paper's three images


def test_method_comparison_figure_and_bad_inputs(tmp_path: Path) -> None:
    from iga.figures import plots

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


def test_cli_bench_image(kodak: Path, tmp_path: Path) -> None:
    from iga.cli import main

    argv = ["bench", "image", "--data", str(kodak), "--images", "1", "--archs", "relu"]
    argv += ["--methods", "bn", "--size", "12x8", "--width", "8", "--steps", "3", "--quiet"]
    argv += ["--patch", "2", "--out", str(tmp_path / "cli"), "--threads", "1", "--no-figures"]
    assert main(argv) == 0
    assert list((tmp_path / "cli").glob("*/runs/kodim01/relu/bn/lr0.001/seed0/summary.json"))
    assert main([*argv[:-1], "--aggregate-only"]) == 0
    assert main(["bench", "image", "--protocol", "best"]) == 1


def test_the_sweep_resumes_an_interrupted_run_from_its_checkpoint(
    kodak: Path, tmp_path: Path
) -> None:
    import signal

    from iga.tasks.base import TrainingInterrupted, fit
    from iga.tasks.image.bench import run_image
    from iga.tasks.image.task import ImageTask

    s = _setup(kodak, images="1", methods="iga", steps=12)
    spec = _plan(s, tmp_path / "a").runs[0].spec
    straight = run_image(_plan(s, tmp_path / "b").runs[0].spec.config)

    class Interrupt(ImageTask):
        def setup(self, cfg, device):  # type: ignore[no-untyped-def]
            job = super().setup(cfg, device)

            def extra(step: int, pred: object) -> dict:
                if step == 7:
                    signal.raise_signal(signal.SIGINT)
                return {}

            job.extra = extra
            return job

    from iga.tasks.image.task import ImageFitConfig

    f = spec.config["fit"]
    cfg = ImageFitConfig.from_dict({**f, "train": {**f["train"], "checkpoint_every": 5}})
    with pytest.raises(TrainingInterrupted):
        fit(Interrupt(), cfg, progress=False)
    assert harness.run_status(spec) == "interrupted (resumable)"
    rep, lines = _run(kodak, tmp_path / "a", images="1", methods="iga", steps=12, no_figures=True)
    assert rep.finished == 1 and any("1 run, 0 already finished" in line for line in lines)
    summary = json.loads((Path(spec.out) / "summary.json").read_text())
    assert summary["psnr_best"] == straight["psnr_best"]
    assert summary["steps"] == 12 and not (Path(spec.out) / "checkpoint.pt").exists()


def test_full_tier_is_the_paper_setting_with_a_tenth_of_the_steps() -> None:
    from iga.tasks.image.bench import TIERS, tier_config

    name, full = tier_config("full")
    paper = TIERS["paper"]
    assert name == "full" and (full.size, full.patch) == (paper.size, paper.patch)
    assert full.model == paper.model and full.train.steps * 10 == paper.train.steps
    assert full.train.decay_at == paper.train.decay_at

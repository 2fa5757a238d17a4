"""The benchmark harness on hand-written run records: every expected number is written out.

The pure functions (:func:`summarize`, :func:`compare`, :func:`choose`, formatting) get records
as dicts; planning and aggregation get tiny ``config.json``/``summary.json`` files written by
the test, and one end-to-end test runs a trivial worker (no torch) through the in-process
executor.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from iga.harness import (
    Bench,
    Context,
    Metric,
    Reference,
    Selection,
    Stat,
    aggregate,
    cell_path,
    choose,
    compare,
    complete_units,
    format_stat,
    format_values,
    markdown_table,
    plan,
    run,
    summarize,
)
from iga.io import write_json
from iga.sweep import InProcessExecutor, RunSpec


def rec(image: str, psnr: float | None, method: str = "iga", seed: int = 0) -> dict[str, Any]:
    return {"image": image, "method": method, "seed": seed, "psnr_best": psnr}


# --- statistics on hand-written records ----------------------------------------------------


def test_mean_over_images_spread_over_images() -> None:
    records = [rec("k1", 20.0), rec("k2", 22.0), rec("k3", 27.0)]
    s = summarize(records, "psnr_best", average_over=("image",), spread_over=("image",))
    # mean (20 + 22 + 27) / 3 = 23; sample std sqrt((9 + 1 + 16) / 2) = sqrt(13) = 3.6056
    assert s.mean == pytest.approx(23.0)
    assert s.spread == pytest.approx(math.sqrt(13))
    assert (s.n, s.n_spread, s.runs) == (3, 1, 3)
    assert format_stat(s) == "23.00 ± 3.61"
    # No spread axis: the mean alone.
    assert format_stat(summarize(records, "psnr_best", ("image",))) == "23.00"


def test_mean_over_images_of_seed_means_spread_over_seeds() -> None:
    records = [
        rec("k1", 20.0, seed=0),
        rec("k1", 22.0, seed=1),  # k1: mean 21, std sqrt(2) = 1.4142
        rec("k2", 24.0, seed=0),
        rec("k2", 24.0, seed=1),
        rec("k2", 27.0, seed=2),  # k2: mean 25, std sqrt((1 + 1 + 4) / 2) = sqrt(3) = 1.7321
    ]
    s = summarize(records, "psnr_best", average_over=("image",), spread_over=("seed",))
    assert s.mean == pytest.approx(23.0)  # (21 + 25) / 2, not the pooled 117 / 5 = 23.4
    assert s.spread == pytest.approx((math.sqrt(2) + math.sqrt(3)) / 2)  # 1.5731
    assert (s.n, s.n_spread) == (2, 2)
    assert format_stat(s) == "23.00 ± 1.57"
    # Restricted to the complete units (k1 only), with the count of the units shown.
    only_k1 = summarize(records, "psnr_best", ("image",), ("seed",), units=[("k1",)])
    assert format_stat(only_k1, total=1) == "21.00 ± 1.41"
    # The std over per-image means instead: sqrt(((21 - 23)^2 + (25 - 23)^2) / 1) = 2.83
    across = summarize(records, "psnr_best", ("image",), ("image",))
    assert format_stat(across) == "23.00 ± 2.83"


def test_formatting() -> None:
    assert format_values([]) == "—"
    assert format_values([20.0]) == "20.00"
    assert format_values([20.0, 22.0, 27.0]) == "23.00 ± 3.61"
    assert format_values([None, 0.5, float("nan")], ".4f") == "0.5000"
    assert format_stat(Stat(None, runs=0)) == "—"  # no run in the cell
    assert format_stat(Stat(None, runs=2)) == "n/a"  # runs, but the metric is null (LPIPS)
    assert format_stat(Stat(23.0, None, n=2, runs=2), total=3) == "23.00 (2/3)"
    assert format_stat(Stat(0.51234, 0.01, n=3, n_spread=3, runs=3), ".4f") == "0.5123 ± 0.0100"
    assert format_stat(Stat(23.0, 1.0, n=3, runs=3), spread=False) == "23.00"
    assert markdown_table(["arch", "PSNR"], [["ReLU", "20.00"]]) == (
        "| arch | PSNR |\n| --- | ---: |\n| ReLU | 20.00 |"
    )
    assert Metric("psnr_best", "PSNR best (dB)").title == "PSNR best (dB) ↑"
    assert Metric("lpips", "LPIPS", higher_is_better=False).title == "LPIPS ↓"
    cell = {"image": "kodim01", "arch": "pe", "method": "iga", "lr": 0.005, "seed": 0}
    assert (
        cell_path(
            cell, ("image", "arch", "method", "lr", "seed"), {"lr": "lr{:g}", "seed": "seed{}"}
        )
        == "kodim01/pe/iga/lr0.005/seed0"
    )


def test_choose_best_candidate() -> None:
    assert choose({1e-3: 20.0, 2e-3: 22.5, 5e-3: None}) == 2e-3
    assert choose({1e-3: 0.3, 2e-3: 0.1}, higher_is_better=False) == 2e-3
    assert choose({1e-3: 21.0, 2e-3: 21.0}) == 1e-3  # ties: the first
    assert choose({1e-3: float("nan"), 2e-3: 18.0}) == 2e-3
    assert choose({1e-3: None}) == 1e-3  # finished but no score: still a choice
    assert choose({}) is None


def test_complete_units() -> None:
    grid = [{"image": i, "method": m} for i in ("k1", "k2") for m in ("vanilla", "iga")]
    records = [rec("k1", 20.0, "vanilla"), rec("k1", 22.0, "iga"), rec("k2", 24.0, "vanilla")]
    assert complete_units(grid, records, ("method",), ("image",)) == [("k1",)]
    assert complete_units(grid, records[2:], ("method",), ("image",)) == []


def test_reference_and_gains_over_baseline() -> None:
    records = [
        {**rec("k1", 20.0, "vanilla"), "arch": "relu"},
        {**rec("k2", 24.0, "vanilla"), "arch": "relu"},
        {**rec("k1", 22.0, "iga"), "arch": "relu"},
        {**rec("k2", 26.0, "iga", seed=0), "arch": "relu"},
        {**rec("k2", 28.0, "iga", seed=1), "arch": "relu"},  # k2 iga: mean 27
    ]
    table6 = {  # per image; k3 is not ours, so it is left out
        ("relu", "vanilla", "k1"): 19.0,
        ("relu", "vanilla", "k2"): 25.0,
        ("relu", "vanilla", "k3"): 30.0,
        ("relu", "iga", "k1"): 20.0,
        ("relu", "iga", "k2"): 27.0,
        ("relu", "iga", "k3"): 31.0,
    }
    per_image = Reference(
        "psnr_best", ("arch", "method", "image"), table6, "paper", {"method": "vanilla"}
    )
    cells = [("relu", "vanilla"), ("relu", "iga")]
    vanilla, iga = compare(records, per_image, ("arch", "method"), ("image",), cells)
    assert vanilla.cell == ("relu", "vanilla") and vanilla.gain is None
    assert (vanilla.units, vanilla.ours, vanilla.reference) == (2, 22.0, 22.0)  # (20+24)/2
    assert iga.ours == pytest.approx(24.5)  # (22 + 27) / 2
    assert iga.reference == pytest.approx(23.5)  # (20 + 27) / 2, the same two images
    assert iga.d_ours == pytest.approx((2.0, 3.0))  # 22 - 20, 27 - 24
    assert iga.gain is not None and iga.gain.mean == pytest.approx(2.5)
    assert iga.gain.spread == pytest.approx(math.sqrt(0.5))  # std of (2, 3) = 0.7071
    assert iga.d_reference == pytest.approx((1.0, 2.0))  # 20 - 19, 27 - 25
    assert iga.reference_gain == pytest.approx(1.5)
    # An aggregate reference (the paper's Table 1): one number per cell, gains of the numbers.
    table1 = Reference(
        "psnr_best",
        ("arch", "method"),
        {("relu", "vanilla"): 21.78, ("relu", "iga"): 23.00},
        "Table 1",
        {"method": "vanilla"},
    )
    _, iga1 = compare(records, table1, ("arch", "method"), ("image",), cells)
    assert (iga1.ours, iga1.reference) == (pytest.approx(24.5), 23.0)
    assert iga1.reference_gain == pytest.approx(1.22)
    assert iga1.gain is not None and iga1.gain.mean == pytest.approx(2.5)
    # Restricted to complete units (k1): ours 22, gain 2 (one image: no spread).
    _, iga_k1 = compare(records, table1, ("arch", "method"), ("image",), cells, units=[("k1",)])
    assert iga_k1.ours == 22.0 and iga_k1.gain == Stat(2.0, None, n=1, runs=1)


# --- planning and aggregation on run directories written by hand ---------------------------


def toy_worker(config: dict[str, Any]) -> dict[str, Any]:
    """A run: config.json with the key, then summary.json (last), like the tasks."""
    out = Path(config["out"])
    write_json(out / "config.json", {"key": config["key"], "cell": config["cell"]})
    summary = {"psnr_best": config["psnr"], "seconds": 2.0, "seconds_per_step": 0.02}
    write_json(out / "summary.json", summary)
    return summary


PSNR = {  # (image, method, lr, seed) -> best PSNR the toy worker reports
    ("k1", "vanilla", 0.001, 0): 20.0,
    ("k1", "vanilla", 0.005, 0): 19.0,
    ("k1", "iga", 0.001, 0): 21.0,
    ("k1", "iga", 0.005, 0): 23.0,
    ("k2", "vanilla", 0.001, 0): 24.0,
    ("k2", "iga", 0.005, 0): 27.0,
    ("k1", "vanilla", 0.001, 1): 22.0,
    ("k1", "iga", 0.005, 1): 25.0,
}


def make_run(ctx: Context, cell: dict[str, Any]) -> RunSpec:
    name = cell_path(cell, ("image", "method", "lr", "seed"), {"lr": "lr{:g}", "seed": "seed{}"})
    out = ctx.root / "runs" / name
    key = f"{name}@{ctx.config['steps']}"
    psnr = PSNR.get((cell["image"], cell["method"], cell["lr"], cell["seed"]), 0.0)
    config = {"out": str(out), "key": key, "cell": cell, "psnr": psnr}
    return RunSpec(name, str(out), config, key=key)


def toy_bench(**kw: Any) -> Bench:
    base: dict[str, Any] = dict(
        name="toy",
        tiers={"cpu": lambda: {"steps": 10, "note": "not shown"}, "big": {"steps": 100}},
        axes={"seed": [0], "image": ["k1", "k2"], "method": ["vanilla", "iga"]},
        make_run=make_run,
        worker=toy_worker,
        metrics=(Metric("psnr_best", "PSNR best (dB)"),),
        rows=("method",),
        average_over=("image",),
        spread_over=("seed",),
        params={"lr": lambda ctx, cell: 0.001},
        labels={"method": {"vanilla": "Vanilla", "iga": "+IGA"}},
    )
    base.update(kw)
    return Bench(**base)


def finish(spec: RunSpec, key: str | None = None, **summary: Any) -> None:
    """Write a finished run by hand (config.json with ``key``, default the spec's)."""
    write_json(Path(spec.out) / "config.json", {"key": key or spec.key})
    write_json(Path(spec.out) / "summary.json", {"seconds": 2.0, **summary})


def test_plan_order_filters_and_validation(tmp_path: Path) -> None:
    bench = toy_bench(axes={"seed": [0, 1], "image": ["k1", "k2"], "method": ["vanilla", "iga"]})
    # Extra seeds only on k1; seed-major order: seed 0 on every image first.
    p = plan(bench, "cpu", tmp_path, where=lambda c: c["seed"] == 0 or c["image"] == "k1")
    assert [r.spec.name for r in p.runs] == [
        "k1/vanilla/lr0.001/seed0",
        "k1/iga/lr0.001/seed0",
        "k2/vanilla/lr0.001/seed0",
        "k2/iga/lr0.001/seed0",
        "k1/vanilla/lr0.001/seed1",
        "k1/iga/lr0.001/seed1",
    ]
    assert p.root == tmp_path / "cpu" and p.context.config == {"steps": 10, "note": "not shown"}
    assert p.runs[0].cell == {"seed": 0, "image": "k1", "method": "vanilla", "lr": 0.001}
    only = plan(bench, "big", tmp_path, axes={"image": ["k2"], "seed": [3]})
    assert [r.spec.name for r in only.runs] == ["k2/vanilla/lr0.001/seed3", "k2/iga/lr0.001/seed3"]
    assert only.runs[0].spec.key == "k2/vanilla/lr0.001/seed3@100"
    with pytest.raises(ValueError, match="unknown axis"):
        plan(bench, "cpu", tmp_path, axes={"arch": ["relu"]})
    with pytest.raises(ValueError, match="unknown tier"):
        plan(bench, "gpu", tmp_path)
    with pytest.raises(ValueError, match="unknown axes"):
        toy_bench(rows=("arch",))
    with pytest.raises(ValueError, match="row or column"):
        toy_bench(average_over=("method",))
    # Two references under one label would file one's numbers under the other's metric.
    twin = Reference("psnr_best", ("method",), {("iga",): 1.0}, "paper")
    with pytest.raises(ValueError, match="labels must be unique"):
        toy_bench(references=(twin, replace(twin, metric="ssim")))


def test_missing_cells_stale_runs_and_partial_averages(tmp_path: Path) -> None:
    bench = toy_bench()
    p = plan(bench, "cpu", tmp_path)
    runs = {r.spec.name: r.spec for r in p.runs}
    finish(runs["k1/vanilla/lr0.001/seed0"], psnr_best=20.0)
    finish(runs["k1/iga/lr0.001/seed0"], psnr_best=22.0)
    finish(runs["k2/vanilla/lr0.001/seed0"], psnr_best=24.0)
    # k2/iga finished, but with another config: stale, so missing and re-run by a sweep.
    finish(runs["k2/iga/lr0.001/seed0"], key="an older config", psnr_best=99.0)
    report = aggregate(bench, p, tmp_path / "cpu" / "paper", figures=False)
    assert (report.finished, report.expected) == (3, 4)
    assert report.missing == [("k2/iga/lr0.001/seed0", "stale (finished with another config)")]
    assert report.complete == [("k1",)]
    # Averages over the complete image only: the same images in every cell.
    assert report.cells[("vanilla",)]["psnr_best"].mean == 20.0
    out = tmp_path / "cpu" / "paper"
    table = (out / "table.md").read_text()
    assert "Averages over the 1 complete image value(s) (k1)" in table
    assert "| Vanilla | 20.00 |" in table and "| +IGA | 22.00 |" in table
    assert "± = std over seed, averaged over image." in table
    missing = (out / "missing.md").read_text()
    assert missing.startswith("# Missing runs (1)")
    assert "- k2/iga/lr0.001/seed0: stale (finished with another config)" in missing
    per_image = (out / "per_image.md").read_text()
    assert "| Vanilla | 20.00 | 24.00 | 20.00 |" in per_image  # Average: complete images
    assert "| +IGA | 22.00 | — | 22.00 |" in per_image
    rows = list(csv.DictReader((out / "runs.csv").open()))
    assert [r["run"] for r in rows] == [
        "k1/vanilla/lr0.001/seed0",
        "k1/iga/lr0.001/seed0",
        "k2/vanilla/lr0.001/seed0",
    ]
    assert rows[0]["run_dir"] == "../runs/k1/vanilla/lr0.001/seed0"
    assert list(rows[0])[:5] == ["run", "seed", "image", "method", "lr"]
    # One table per metric when columns are given: rows x columns.
    grid = toy_bench(rows=("image",), columns=("method",), average_over=())
    aggregate(grid, plan(grid, "cpu", tmp_path), tmp_path / "grid", figures=False)
    assert (
        "### PSNR best (dB) ↑\n\n| image | Vanilla | +IGA |\n| --- | ---: | ---: |\n"
        + ("| k1 | 20.00 | 22.00 |\n| k2 | 24.00 | — |")
        in (tmp_path / "grid" / "table.md").read_text()
    )
    # No image complete: every cell averages what it has and says how many of the images.
    Path(runs["k1/iga/lr0.001/seed0"].out, "summary.json").unlink()
    report = aggregate(bench, p, out, figures=False)
    table = (out / "table.md").read_text()
    assert "No image has all its runs finished" in table
    assert "| Vanilla | 22.00 (2/2) |" not in table and "| Vanilla | 22.00 |" in table
    assert "| +IGA | — |" in table
    status = dict(report.missing)
    assert status["k1/iga/lr0.001/seed0"] == "started"  # config.json but no summary
    with_failure = runs["k2/iga/lr0.001/seed0"]
    Path(with_failure.out, "summary.json").unlink()
    write_json(Path(with_failure.out) / "failure.json", {"error": "boom"})
    report = aggregate(bench, p, out, figures=False)
    assert dict(report.missing)[with_failure.name] == "failed (see failure.json)"


def test_lr_selection_plans_selection_first_then_best_lr_per_cell(tmp_path: Path) -> None:
    sel = Selection("lr", (0.001, 0.005), on_first=("seed", "image"), score="psnr_best")
    bench = toy_bench(params={}, selection=sel)
    p = plan(bench, "cpu", tmp_path)
    assert p.pending and p.main == []
    selection = [
        "k1/vanilla/lr0.001/seed0",
        "k1/vanilla/lr0.005/seed0",
        "k1/iga/lr0.001/seed0",
        "k1/iga/lr0.005/seed0",
    ]
    assert [r.spec.name for r in p.runs] == selection  # only the selection runs
    specs = {r.spec.name: r.spec for r in p.runs}
    scores = {name: PSNR[("k1", name.split("/")[1], float(name.split("/")[2][2:]), 0)]
              for name in selection}  # fmt: skip
    for name in selection[:3]:
        finish(specs[name], psnr_best=scores[name])
    assert plan(bench, "cpu", tmp_path).pending  # one selection run left
    report = aggregate(bench, p, tmp_path / "out", figures=False)
    assert [m for m, _ in report.missing] == ["k1/iga/lr0.005/seed0"]
    assert "not finished yet" in (tmp_path / "out" / "missing.md").read_text()
    finish(specs[selection[3]], psnr_best=scores[selection[3]])
    p = plan(bench, "cpu", tmp_path)
    assert not p.pending
    # vanilla: 20 (1e-3) beats 19 (5e-3); iga: 23 (5e-3) beats 21 (1e-3)
    assert p.chosen == {("vanilla",): 0.001, ("iga",): 0.005}
    assert p.scores[("iga",)] == {0.001: 21.0, 0.005: 23.0}
    assert [r.spec.name for r in p.main] == [
        "k1/vanilla/lr0.001/seed0",  # the selection runs at the chosen lr are reused
        "k1/iga/lr0.005/seed0",
        "k2/vanilla/lr0.001/seed0",
        "k2/iga/lr0.005/seed0",
    ]
    assert [r.spec.name for r in p.runs] == [*selection, *(r.spec.name for r in p.main[2:])]
    report = aggregate(bench, p, tmp_path / "out", figures=False)
    assert [r["run"] for r in report.records] == [r.spec.name for r in p.main[:2]]
    selection_md = (tmp_path / "out" / "selection.md").read_text()
    assert "| vanilla | 20 | 19 | 0.001 |" in selection_md
    assert "| iga | 21 | 23 | 0.005 |" in selection_md
    assert "lr chosen on seed 0, image k1: vanilla 0.001, iga 0.005" in selection_md


def test_end_to_end_with_a_trivial_worker(tmp_path: Path) -> None:
    sel = Selection("lr", (0.001, 0.005), on_first=("seed", "image"), score="psnr_best")
    reference = Reference(
        "psnr_best",
        ("method", "image"),
        {
            ("vanilla", "k1"): 19.0,
            ("vanilla", "k2"): 25.0,
            ("iga", "k1"): 20.0,
            ("iga", "k2"): 27.0,
        },
        "paper",
        {"method": "vanilla"},
    )
    figures_seen: list[int] = []
    bench = toy_bench(
        axes={"seed": [0, 1], "image": ["k1", "k2"], "method": ["vanilla", "iga"]},
        where=lambda ctx, c: c["seed"] == 0 or c["image"] == "k1",  # extra seed on k1 only
        params={},
        selection=sel,
        references=(reference,),
        figures=lambda report, out: figures_seen.append(len(report.records)),
    )
    p = plan(bench, "cpu", tmp_path)
    p, reports = run(bench, p, InProcessExecutor(), progress=False)
    # Selection (4 runs), then the main runs it decided (4 more: k2 and seed 1 on k1).
    assert [len(r.by_status("done")) for r in reports] == [4, 4]
    assert len(reports[1].by_status("skipped")) == 4 and not p.pending
    out = tmp_path / "cpu" / "fair"
    report = aggregate(bench, p, out)
    assert figures_seen == [6]
    assert (report.finished, report.expected, report.missing) == (6, 6, [])
    # vanilla: k1 seeds (20, 22) -> 21 ± 1.41, k2 24 -> mean 22.50; iga: (23, 25), 27 -> 25.50
    table = (out / "table.md").read_text()
    assert "| method | PSNR best (dB) ↑ |" in table
    assert "| Vanilla | 22.50 ± 1.41 |" in table and "| +IGA | 25.50 ± 1.41 |" in table
    assert table.startswith("toy, tier `cpu` (steps 10); lr chosen on seed 0, image k1:")
    per_image = (out / "per_image.md").read_text()
    assert "| Vanilla | 21.00 ± 1.41 | 24.00 | 22.50 |" in per_image
    # iga gains over vanilla: k1 24 - 21 = 3, k2 27 - 24 = 3; the paper's (20-19, 27-25) -> 1.5
    comparison = (out / "comparison.md").read_text()
    assert "| +IGA | 2 | 25.50 | 23.50 | +3.00 ± 0.00 | +1.50 |" in comparison
    assert "| Vanilla | 2 | 22.50 | 22.00 | — | — |" in comparison
    timing = (out / "timing.md").read_text()
    assert "| vanilla | 0.001 | 3 | 2.0 | 20.0 | 6 |" in timing
    assert "| iga | 0.005 | 3 | 2.0 | 20.0 | 6 |" in timing
    assert "Total training time of these runs: 0.2 min." in timing
    assert (
        out / "missing.md"
    ).read_text() == "# Missing runs (0)\n\nNone: every run is finished.\n"
    table_csv = list(csv.DictReader((out / "table.csv").open()))
    assert table_csv[0] == {
        "method": "vanilla",
        "psnr_best": "22.5",
        "psnr_best_spread": "1.41421",
        "psnr_best_n": "2",
    }
    assert len(list(csv.DictReader((out / "runs.csv").open()))) == 6
    data = json.loads((out / "aggregate.json").read_text())
    assert data["finished"] == 6 and data["training_seconds"] == 12.0
    assert data["selection"]["groups"][1] == {
        "method": "iga",
        "scores": {"0.001": 21.0, "0.005": 23.0},
        "chosen": 0.005,
    }
    assert data["cells"][1]["psnr_best"]["mean"] == 25.5
    assert data["comparisons"]["paper"][1]["reference_gain"] == 1.5
    assert set(data["files"]) >= {"table.md", "runs.csv", "comparison.md", "selection.md"}
    # Everything finished: a second call launches nothing.
    _, again = run(bench, p, progress=False)
    assert [len(r.by_status("skipped")) for r in again] == [8]
    # A changed tier config changes every key: all runs are stale and missing.
    stale = plan(bench, "cpu", tmp_path, tier_config={"steps": 11})
    assert stale.pending  # the selection runs are stale too
    assert (
        aggregate(bench, stale, tmp_path / "stale", figures=False).missing[0][1].startswith("stale")
    )

"""``iga bench rivals`` on a tiny image: each method's own lr grid, its optimiser and schedule."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from iga import harness
from iga.tasks.image import rivals


def _tiny_kodak(tmp_path: Path, steps: int) -> tuple[Path, Path]:
    """A one-image "Kodak" folder and a tiny tier file."""
    data = tmp_path / "kodak"
    data.mkdir()
    y, x = np.mgrid[0:16, 0:24] / 6.0
    img = np.stack([0.5 + 0.4 * np.sin(x), 0.5 + 0.3 * np.cos(3 * y), 0.5 + 0 * x], -1)
    Image.fromarray((img * 255).astype(np.uint8)).save(data / "kodim01.png")
    tier = tmp_path / "tiny.json"
    tier.write_text(json.dumps({"size": "12x8", "patch": 2, "width": 8, "steps": steps}))
    return data, tier


def test_each_method_selects_from_its_own_grid_and_trains_with_its_optimizer(
    tmp_path: Path,
) -> None:
    data, tier = _tiny_kodak(tmp_path, steps=4)
    opts = rivals.Options(data=str(data), images="1", archs="pe", methods="adam,muon+iga,esgd")
    s = rivals.setup("rivals", opts, harness.RunOptions(tier=str(tier)))
    assert s["tier"] == "tiny"
    out = tmp_path / "out"
    lines: list[str] = []
    report = harness.execute(s, harness.RunOptions(out=str(out), quiet=True), log=lines.append)
    # 6 selection runs per method, then the main runs are the chosen ones (same image/seed).
    runs = sorted(p.relative_to(out / "tiny" / "runs").parent.as_posix() for p in
                  (out / "tiny" / "runs").rglob("summary.json"))  # fmt: skip
    assert len(runs) == 18
    for method, rival in (("adam", "adam"), ("muon+iga", "muon"), ("esgd", "esgd")):  # grids
        lrs = sorted(float(r.split("/")[3][2:]) for r in runs if r.split("/")[2] == method)
        assert lrs == sorted(rivals.GRIDS[rival])
    cfg = json.loads((out / "tiny/runs/kodim01/pe/muon+iga/lr0.1/seed0/config.json").read_text())
    assert cfg["train"]["optimizer"] == "muon" and cfg["train"]["schedule"] == "cosine"
    assert cfg["method"]["method"] == "iga"
    cfg = json.loads((out / "tiny/runs/kodim01/pe/esgd/lr0.1/seed0/config.json").read_text())
    assert cfg["train"]["optimizer"] == "esgd" and cfg["train"]["decay"] == 1.0
    assert cfg["method"]["method"] == "vanilla"
    assert {r["method"] for r in report.records} == {"adam", "muon+iga", "esgd"}
    table = (out / "tiny" / "fair" / "table.md").read_text()
    assert "Muon + IGA" in table and "ESGD" in table and "s/step" not in table
    assert (out / "tiny" / "fair" / "selection.md").is_file()
    grid = (out / "tiny" / "fair" / "grid.md").read_text()
    assert "| PE | Muon + IGA | 0.005: " in grid and "0.2: " in grid  # lrs, not ranks
    assert grid.count("**") == 2 * 3  # one chosen lr per method, in bold
    # The figure's curves are kept thinned in curves.csv and rebuilt from it without metrics.csv.
    fig = out / "tiny" / "fair" / "figures" / "kodim01_pe_psnr.png"
    curves = (out / "tiny" / "fair" / "curves.csv").read_text().splitlines()
    assert fig.is_file() and curves[0] == "image,arch,method,step,psnr_best_so_far"
    assert {line.split(",")[2] for line in curves[1:]} == {"adam", "muon+iga", "esgd"}
    for metrics in (out / "tiny" / "runs").rglob("metrics.csv"):
        metrics.unlink()
    fig.unlink()
    ro = harness.RunOptions(out=str(out), quiet=True, aggregate_only=True)
    harness.execute(s, ro, log=lines.append)
    assert fig.is_file()
    assert (out / "tiny" / "fair" / "curves.csv").read_text().splitlines() == curves


def test_init_recipes_run_only_where_they_apply_and_carry_their_model_options(
    tmp_path: Path,
) -> None:
    data, tier = _tiny_kodak(tmp_path, steps=2)
    opts = rivals.Options(data=str(data), images="1", archs="relu,siren", methods="ws,fresh+iga")
    s = rivals.setup("rivals", opts, harness.RunOptions(tier=str(tier)))
    out = tmp_path / "out"
    planned = harness.plan(out=out, **{k: v for k, v in s.items() if k != "report"})
    cells = {(c["arch"], c["method"]) for c in planned.grid}
    # weight scaling is for sinusoidal fields, FreSh for archs with an embedding frequency
    assert cells == {("siren", "ws"), ("siren", "fresh+iga")}
    harness.execute(s, harness.RunOptions(out=str(out), quiet=True), log=lambda _: 0)
    cfgs = [json.loads(p.read_text()) for p in (out / "tiny" / "runs").rglob("config.json")]
    by = {c["resolved"]["fresh"]["param"] if "fresh" in c["resolved"] else "ws": c for c in cfgs}
    assert by["ws"]["model"]["options"] == {"weight_scale": 2.0}
    assert "weight_scale=2.0" in by["ws"]["resolved"]["model"]
    fr = by["first_omega0"]
    assert fr["model"]["fresh"] == "auto" and fr["method"]["method"] == "iga"
    assert f"first_omega0={fr['resolved']['fresh']['chosen']!r}" in fr["resolved"]["model"]

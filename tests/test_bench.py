"""The overhead benchmark runs and reports what it measured (a smoke test, not a timing)."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from iga.cli import main


def test_bench_overhead_json(tmp_path, capsys) -> None:
    img = tmp_path / "img.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (16, 24, 3), dtype=np.uint8)).save(img)
    save = tmp_path / "res.json"
    argv = ["bench", "overhead", "--path", str(img), "--size", "24x16", "--patch", "4"]
    argv += ["--width", "8", "--end", "3", "--repeats", "2", "--warmup", "1", "--archs", "relu,pe"]
    argv += ["--json", "--save", str(save), "--device", "cpu"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) == {"relu", "pe"}
    for r in res.values():
        assert r["vanilla_ms"] > 0 and r["iga_ms"] > 0
        assert abs(r["ratio"] - r["iga_ms"] / r["vanilla_ms"]) < 1e-9
        assert r["n_groups"] == 24 and r["pixels"] == 384
        assert set(r["breakdown_ms"]) == {
            "forward",
            "select",
            "entk",
            "eigh_S",
            "mix",
            "backward_step",
        }
    assert json.loads(save.read_text()) == res


def test_timed_blocks_hold_the_runs_share_of_refreshes(tmp_path, monkeypatch) -> None:
    # With S refreshed every 4 steps, every timed unit must hold one refresh in 4 steps (a
    # median of single steps never saw one), and the cold first step is reported apart.
    import iga.overhead as bench
    from iga.core import IGA

    img = tmp_path / "img.png"
    Image.fromarray(np.zeros((16, 24, 3), np.uint8) + 90).save(img)
    timing = {"on": False}
    seen: list[int] = []
    original_timed, original_refresh = bench._timed, IGA.refresh

    def timed(fn, device):
        timing["on"] = True
        try:
            return original_timed(fn, device)
        finally:
            timing["on"] = False

    def refresh(self, residual, inputs):
        if timing["on"]:
            seen.append(self.calls)
        return original_refresh(self, residual, inputs)

    monkeypatch.setattr(bench, "_timed", timed)
    monkeypatch.setattr(IGA, "refresh", refresh)
    cfg = bench.OverheadConfig(
        path=str(img), size="24x16", patch=4, width=8, end=3, repeats=3, warmup=2,
        archs="relu", variants="exact/e4", device="cpu",
    )  # fmt: skip
    res = bench.overhead(cfg)["relu"]
    assert res["block_steps"] == 4
    assert res["variants"]["exact/e4"]["first_step_ms"] > 0
    # the cold first step (calls 0), then one refresh per timed block of 4 steps
    assert seen[0] == 0 and len(seen) == 1 + cfg.repeats
    assert all(c % 4 == 0 for c in seen)

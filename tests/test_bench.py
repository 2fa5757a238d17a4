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

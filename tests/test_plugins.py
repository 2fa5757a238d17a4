"""Extension from outside: the example package ``examples/iga_toy`` adds a task, a model and an
optimiser through entry points (as installed: a ``.dist-info`` with its ``entry_points.txt`` on
the path), and they run through ``iga fit``, ``--resume`` and a benchmark declaration."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _interrupt import interrupt_at

from iga.cli import main
from iga.models import inr
from iga.optim import OPTIMIZERS
from iga.tasks import registry

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "iga_toy"


def _install(where: Path, entry_points: dict[str, dict[str, str]], name: str = "iga-toy") -> Path:
    """What ``pip install`` leaves for importlib.metadata: the package and a dist-info."""
    shutil.copytree(EXAMPLE / "iga_toy", where / "iga_toy")
    info = where / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    text = "".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
        for group, eps in entry_points.items()
    )
    (info / "entry_points.txt").write_text(text)
    return where


def _declared() -> dict[str, dict[str, str]]:
    """The example's ``[project.entry-points."GROUP"]`` tables (read without tomllib, which
    Python 3.10 lacks)."""
    groups: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in (EXAMPLE / "pyproject.toml").read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            prefix = '[project.entry-points."'
            current = (
                groups.setdefault(line[len(prefix) : -2], {}) if line.startswith(prefix) else None
            )
        elif current is not None and "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            current[key] = value.strip('"')
    return groups


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The example installed on this process' path; the registries restored afterwards."""
    where = _install(tmp_path / "site", _declared())
    monkeypatch.syspath_prepend(str(where))
    tasks, archs = dict(registry.TASKS), dict(inr._ARCH_OPTIONS)
    builders, optimizers = dict(inr.ARCH_BUILDERS), dict(OPTIMIZERS)
    monkeypatch.setattr(registry, "_loaded", False)
    yield where
    for live, saved in (
        (registry.TASKS, tasks),
        (inr._ARCH_OPTIONS, archs),
        (inr.ARCH_BUILDERS, builders),
        (OPTIMIZERS, optimizers),
    ):
        live.clear()
        live.update(saved)
    for mod in [m for m in sys.modules if m == "iga_toy" or m.startswith("iga_toy.")]:
        del sys.modules[mod]


def _cli(where: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(where), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "iga.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


def test_the_example_declares_a_task_a_model_and_an_optimizer() -> None:
    assert set(_declared()) == {"iga.tasks", "iga.models", "iga.optimizers"}


def test_outside_task_model_and_optimizer_appear_and_run(plugin: Path, tmp_path: Path) -> None:
    help_ = _cli(plugin, "fit", "--help", cwd=tmp_path)
    assert help_.returncode == 0 and "toy" in help_.stdout and "example plugin" in help_.stdout
    out = tmp_path / "run"
    r = _cli(
        plugin,
        *("fit", "toy", "--arch", "cos", "--optimizer", "nesterov", "--method", "iga"),
        *("--steps", "30", "--out", str(out), "--quiet"),
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "toy/iga: final MSE" in r.stdout
    config = json.loads((out / "config.json").read_text())
    assert config["resolved"]["model"].startswith("cos:")
    assert config["train"]["optimizer"] == "nesterov"
    assert json.loads((out / "summary.json").read_text())["steps"] == 30


def test_outside_benchmark_runs_resumes_and_aggregates(plugin: Path, tmp_path: Path) -> None:
    args = ("bench", "toy", "--steps", "20", "--seeds", "0", "--out", str(tmp_path / "res"))
    first = _cli(plugin, *args, "--quiet", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "2 run, 0 already finished, 0 failed" in first.stdout
    table = tmp_path / "res" / "cpu_steps20" / "toy" / "table.md"
    text = table.read_text()
    assert "final MSE" in text and "vanilla" in text and "iga" in text
    again = _cli(plugin, *args, "--quiet", cwd=tmp_path)
    assert again.returncode == 0 and "0 run, 2 already finished" in again.stdout
    only = _cli(plugin, *args, "--aggregate-only", cwd=tmp_path)
    assert only.returncode == 0 and table.read_text() == text


def test_outside_task_resumes_through_the_cli(plugin: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    spec = registry.tasks()["toy"]
    common = ["--method", "iga", "--steps", "40", "--checkpoint-every", "5", "--quiet"]
    straight = tmp_path / "straight"
    assert main(["fit", "toy", *common, "--out", str(straight)]) == 0
    resumed = tmp_path / "resumed"
    registry.TASKS["toy"] = replace(spec, task=lambda: interrupt_at(spec.task(), 17))
    assert main(["fit", "toy", *common, "--out", str(resumed)]) == 130
    assert (resumed / "checkpoint.pt").is_file() and not (resumed / "summary.json").exists()
    registry.TASKS["toy"] = spec
    assert main(["fit", "toy", *common, "--out", str(resumed), "--resume"]) == 0
    a = json.loads((straight / "summary.json").read_text())
    b = json.loads((resumed / "summary.json").read_text())
    cfg = spec.config()
    cfg = replace(
        cfg,
        method=replace(cfg.method, method="iga"),
        train=replace(cfg.train, steps=40, checkpoint_every=5),
        out=str(resumed),
    )
    assert a["key"] == b["key"] == spec.run_key(cfg)
    assert b["mse_final"] == a["mse_final"]
    assert _rows(straight) == _rows(resumed)


def _rows(run: Path) -> list[dict[str, str]]:
    """metrics.csv without the wall-clock column."""
    with open(run / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k != "time"} for r in csv.DictReader(f)]


def test_a_broken_or_clashing_plugin_is_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    where = _install(tmp_path / "broken", {"iga.tasks": {"toy": "iga_toy:NOT_THERE"}})
    r = _cli(where, "fit", "--help", cwd=tmp_path)
    assert r.returncode == 1
    assert (
        r.stderr.startswith("iga: error: cannot load entry point 'toy'")
        and r.stderr.count("\n") == 1
    )
    clash = _install(tmp_path / "clash", {"iga.tasks": {"image": "iga_toy.clash:SPEC"}})
    (clash / "iga_toy" / "clash.py").write_text(
        "from dataclasses import replace\nfrom iga_toy import SPEC as TOY\n"
        "SPEC = replace(TOY, name='image')\n"
    )
    r = _cli(clash, "fit", "--help", cwd=tmp_path)
    assert r.returncode == 1
    assert "task 'image' is registered twice" in r.stderr and r.stderr.count("\n") == 1


def test_a_registered_method_is_a_method_choice_of_every_task(plugin: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from iga.methods import METHODS, MethodSpec, register_method
    from iga.train import build_iga

    def two(model, groups, cfg, seed):  # IGA with end 2, whatever --end says
        return build_iga(model, groups, replace(cfg, method="iga", end=2), seed)

    with pytest.raises(ValueError, match="built in"):
        register_method(MethodSpec("iga", "again"))
    spec = register_method(MethodSpec("iga-e2", "IGA, end 2", adjuster=two))
    try:
        out = tmp_path / "m"
        args = ["fit", "toy", "--method", "iga-e2", "--steps", "5", "--out", str(out), "--quiet"]
        assert main(args) == 0
        rows = (out / "metrics.csv").read_text().splitlines()
        assert "lambda_ref" in rows[0]  # the adjuster ran and logged its spectrum
        assert json.loads((out / "config.json").read_text())["method"]["method"] == "iga-e2"
    finally:
        METHODS.pop(spec.name)

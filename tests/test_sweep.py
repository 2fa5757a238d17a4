"""The sweep runner: skip finished runs, survive failures, executors (Ray optional)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from iga.io import write_json
from iga.sweep import (
    FAILURE_FILE,
    InProcessExecutor,
    RunSpec,
    collect,
    is_finished,
    make_executor,
    run_sweep,
)

CALLS: list[str] = []


def toy_run(config: dict[str, Any]) -> dict[str, Any]:
    """Writes summary.json last, like the tasks; fails when asked to."""
    CALLS.append(config["name"])
    if config.get("fail"):
        raise RuntimeError(f"boom in {config['name']}")
    out = Path(config["out"])
    out.mkdir(parents=True, exist_ok=True)
    summary = {"value": config["x"] ** 2}
    write_json(out / "summary.json", summary)
    return summary


def _specs(tmp_path: Path, fail: set[str] = frozenset()) -> list[RunSpec]:
    specs = []
    for i in range(4):
        name = f"run{i}"
        out = str(tmp_path / name)
        specs.append(RunSpec(name, out, {"name": name, "out": out, "x": i, "fail": name in fail}))
    return specs


def test_skips_finished_runs_and_resumes(tmp_path: Path) -> None:
    CALLS.clear()
    specs = _specs(tmp_path)
    report = run_sweep(specs[:2], toy_run, progress=False)
    assert [o.status for o in report.outcomes] == ["done", "done"]
    CALLS.clear()
    report = run_sweep(specs, toy_run, progress=False)
    assert CALLS == ["run2", "run3"]  # the first two were finished
    assert len(report.by_status("skipped")) == 2 and len(report.by_status("done")) == 2
    assert collect(specs) == {f"run{i}": {"value": i * i} for i in range(4)}


def test_failing_run_is_recorded_and_others_continue(tmp_path: Path) -> None:
    CALLS.clear()
    specs = _specs(tmp_path, fail={"run1"})
    lines: list[str] = []
    report = run_sweep(specs, toy_run, InProcessExecutor(), progress=False, log=lines.append)
    assert CALLS == ["run0", "run1", "run2", "run3"]
    failed = report.by_status("failed")
    assert [o.spec.name for o in failed] == ["run1"]
    assert "boom in run1" in (failed[0].error or "")
    record = json.loads((tmp_path / "run1" / FAILURE_FILE).read_text())
    assert "RuntimeError" in record["error"] and "Traceback" in record["traceback"]
    assert not is_finished(tmp_path / "run1") and is_finished(tmp_path / "run2")
    assert collect(specs)["run1"] is None
    assert any("failed" in line for line in lines)
    # Fixed on the next call: only the failed run is retried, its failure record removed.
    CALLS.clear()
    fixed = [RunSpec(s.name, s.out, {**s.config, "fail": False}) for s in specs]
    report = run_sweep(fixed, toy_run, progress=False)
    assert CALLS == ["run1"]
    assert not (tmp_path / "run1" / FAILURE_FILE).exists()


def test_max_runs_and_validation(tmp_path: Path) -> None:
    CALLS.clear()
    specs = _specs(tmp_path)
    run_sweep(specs, toy_run, progress=False, max_runs=1)
    assert CALLS == ["run0"]
    with pytest.raises(ValueError, match="unique"):
        run_sweep([specs[0], specs[0]], toy_run, progress=False)
    with pytest.raises(ValueError, match="max_runs"):
        run_sweep(specs, toy_run, progress=False, max_runs=-1)
    with pytest.raises(ValueError, match="unknown executor"):
        make_executor("slurm")


def test_ray_executor_on_local_cluster(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    import sys

    from ray import cloudpickle

    # Ray workers cannot import this test module; ship toy_run by value instead.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    specs = _specs(tmp_path, fail={"run2"})
    ex = make_executor("ray", num_cpus=1, init_kwargs={"num_cpus": 2, "include_dashboard": False})
    try:
        report = run_sweep(specs, toy_run, ex, progress=False)
        assert {o.spec.name for o in report.by_status("done")} == {"run0", "run1", "run3"}
        assert [o.spec.name for o in report.by_status("failed")] == ["run2"]
        assert collect(specs)["run3"] == {"value": 9}
        # Resume through Ray as well: nothing but the failed run is launched again.
        report = run_sweep(specs, toy_run, ex, progress=False)
        assert len(report.by_status("skipped")) == 3
    finally:
        ray.shutdown()

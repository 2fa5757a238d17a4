"""The sweep runner: skip finished runs, survive failures, executors.

The Ray test runs on a local Ray cluster; it is skipped where Ray is not installed, except with
``IGA_REQUIRE_RAY=1`` (set by CI), where a missing Ray fails it.
"""

from __future__ import annotations

import json
import os
import sys
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
    if config.get("interrupt"):
        from iga.tasks.base import TrainingInterrupted

        raise TrainingInterrupted("interrupted at step 3")
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


def _ray_or_skip() -> Any:
    """Ray, or a skip where it is not installed; with IGA_REQUIRE_RAY=1 (CI) a failure instead."""
    try:
        import ray
    except ImportError as e:
        if os.environ.get("IGA_REQUIRE_RAY") == "1":
            pytest.fail(f"IGA_REQUIRE_RAY=1 but Ray cannot be imported ({e}); install '.[ray]'")
        pytest.skip("Ray is not installed (pip install 'iga[ray]')")
    return ray


def pid_run(config: dict[str, Any]) -> dict[str, Any]:
    """toy_run, returning (not writing) the id of the process that ran it as well."""
    return {**toy_run(config), "pid": os.getpid()}


def test_ray_executor_on_local_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ray = _ray_or_skip()
    from ray import cloudpickle

    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")  # no usage report from CI
    # Ray workers cannot import this test module; ship pid_run and toy_run by value instead.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    CALLS.clear()
    specs = _specs(tmp_path, fail={"run2"})
    # A small local cluster (2 CPUs, no dashboard), one CPU per run: two runs at a time.
    ex = make_executor("ray", num_cpus=1, init_kwargs={"num_cpus": 2, "include_dashboard": False})
    try:
        report = run_sweep(specs, pid_run, ex, progress=False)
        assert ray.is_initialized() and ray.cluster_resources()["CPU"] == 2
        done = report.by_status("done")
        assert {o.spec.name: o.result["value"] for o in done if o.result} == {
            "run0": 0,
            "run1": 1,
            "run3": 9,
        }
        # Every run ran in a Ray worker, none in this process.
        assert CALLS == [] and all(o.result and o.result["pid"] != os.getpid() for o in done)
        failed = report.by_status("failed")
        assert [o.spec.name for o in failed] == ["run2"]
        assert "boom in run2" in (failed[0].error or "")
        record = json.loads((tmp_path / "run2" / FAILURE_FILE).read_text())
        assert record["name"] == "run2" and "RuntimeError: boom in run2" in record["error"]
        assert "Traceback" in record["traceback"]
        assert collect(specs) == {
            "run0": {"value": 0},
            "run1": {"value": 1},
            "run2": None,
            "run3": {"value": 9},
        }
        # Resume through Ray, one task in flight at a time: only the failed run is launched
        # again; it succeeds now and its failure record is removed.
        fixed = [RunSpec(s.name, s.out, {**s.config, "fail": False}) for s in specs]
        again = make_executor("ray", num_cpus=1, max_in_flight=1)
        report = run_sweep(fixed, pid_run, again, progress=False)
        assert len(report.by_status("skipped")) == 3
        assert [o.spec.name for o in report.by_status("done")] == ["run2"]
        assert not (tmp_path / "run2" / FAILURE_FILE).exists()
        assert collect(fixed) == {f"run{i}": {"value": i * i} for i in range(4)}
    finally:
        ray.shutdown()


def test_an_interrupted_run_stops_the_sweep(tmp_path: Path) -> None:
    """Ctrl-C / SIGTERM inside one run must stop the sweep, not skip to the next run."""
    from iga.tasks.base import TrainingInterrupted

    specs = _specs(tmp_path)
    specs[1].config["interrupt"] = True
    CALLS.clear()
    with pytest.raises(TrainingInterrupted):
        run_sweep(specs, toy_run, progress=False)
    assert CALLS == ["run0", "run1"]

"""Run many independent training runs: resumable, failure-tolerant, in-process or on Ray.

A sweep is a list of :class:`RunSpec` (a name, a run directory and a JSON-able config) and a
run function ``fn(config) -> dict``. :func:`run_sweep`:

* skips every run whose directory already holds the finished marker (``summary.json``, which
  the tasks write last) *of the same config* (:attr:`RunSpec.key`), so an interrupted sweep
  goes on where it stopped and a run whose config changed runs again; the run function resumes
  an interrupted run from its checkpoint (:func:`iga.tasks.base.fit` with ``resume="auto"``);
* catches a run's exception, records it in ``<run dir>/failure.json`` (message and traceback)
  and goes on with the others; a failed run is retried on the next call (its marker is absent);
* shows a progress bar over the whole sweep (finished-before runs count as done);
* returns a :class:`SweepReport`; results are re-read from the run directories by
  :func:`collect`, so aggregation never depends on which process ran what.

Executors: :class:`InProcessExecutor` (default; one run after the other in this process) and
:class:`RayExecutor` (``pip install 'iga[ray]'``; each run is a Ray task, on a local
``ray.init()`` or an existing cluster). ``fn`` must be importable by the workers (a module-level
function) for Ray.
"""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

from iga.io import write_json
from iga.runs import run_state

__all__ = [
    "EXECUTORS",
    "FAILURE_FILE",
    "FINISHED_FILE",
    "Executor",
    "InProcessExecutor",
    "RayExecutor",
    "RunOutcome",
    "RunSpec",
    "SweepReport",
    "collect",
    "is_finished",
    "make_executor",
    "run_sweep",
]

FINISHED_FILE = "summary.json"
"""A run directory holding this file holds a finished run (written last by the tasks)."""
FAILURE_FILE = "failure.json"
"""Written into a run directory when its run raised; removed when a later attempt succeeds."""

EXECUTORS = ("inprocess", "ray")

RunFn = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class RunSpec:
    """One run: a unique ``name``, its directory ``out`` and the ``config`` handed to ``fn``."""

    name: str
    out: str
    config: dict[str, Any] = field(default_factory=dict)
    key: str | None = None
    """The key (:func:`iga.runs.config_key`) of the run this spec asks for; a finished run with
    another key is stale and runs again (``None``: any finished run counts)."""


@dataclass
class RunOutcome:
    """What happened to one run in this sweep call."""

    spec: RunSpec
    status: str  # "done", "skipped" (finished before) or "failed"
    seconds: float = 0.0
    result: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class SweepReport:
    """All outcomes of one :func:`run_sweep` call, in completion order."""

    outcomes: list[RunOutcome]
    seconds: float

    def by_status(self, status: str) -> list[RunOutcome]:
        """The outcomes with this status (``done``, ``skipped`` or ``failed``)."""
        return [o for o in self.outcomes if o.status == status]

    def summary(self) -> str:
        """One line: counts per status and wall time."""
        counts = {s: len(self.by_status(s)) for s in ("done", "skipped", "failed")}
        return (
            f"{counts['done']} run, {counts['skipped']} already finished, "
            f"{counts['failed']} failed, {self.seconds:.0f} s"
        )


def is_finished(out: str | Path, key: str | None = None) -> bool:
    """Whether ``out`` holds a finished run (its :data:`FINISHED_FILE` exists) of ``key``."""
    state, found = run_state(out)
    return state == "finished" and (key is None or found == key)


def _execute(fn: RunFn, spec: RunSpec) -> RunOutcome:
    """Run one spec, never raising: a failure becomes an outcome and a failure.json."""
    t0 = time.perf_counter()
    try:
        result = fn(dict(spec.config))
    except Exception as e:  # noqa: BLE001 - one failing run must not stop the sweep
        seconds = time.perf_counter() - t0
        message = f"{type(e).__name__}: {e}"
        # The failure is reported in the outcome even when its record cannot be written.
        with contextlib.suppress(OSError):
            write_json(
                Path(spec.out) / FAILURE_FILE,
                {
                    "name": spec.name,
                    "error": message,
                    "traceback": traceback.format_exc(),
                    "seconds": seconds,
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                },
            )
        return RunOutcome(spec, "failed", seconds, error=message)
    failure = Path(spec.out) / FAILURE_FILE
    if failure.exists():
        failure.unlink()
    return RunOutcome(spec, "done", time.perf_counter() - t0, result=result)


class Executor(Protocol):
    """Runs specs and yields their outcomes as they complete."""

    def map(self, fn: RunFn, specs: Sequence[RunSpec]) -> Iterator[RunOutcome]: ...


class InProcessExecutor:
    """One run after the other, in this process (the default)."""

    def map(self, fn: RunFn, specs: Sequence[RunSpec]) -> Iterator[RunOutcome]:
        """Yield each spec's outcome in order."""
        for spec in specs:
            yield _execute(fn, spec)


class RayExecutor:
    """Each run is a Ray task; outcomes are yielded as tasks finish.

    Args:
        address: passed to ``ray.init`` when Ray is not initialised yet (``None``: start a
            local cluster, or join the one in ``RAY_ADDRESS``).
        num_cpus: CPUs reserved per run (so a 2-core machine runs ``2 // num_cpus`` at once).
        max_in_flight: at most this many tasks submitted at a time (0: all).
        init_kwargs: extra ``ray.init`` keyword arguments (e.g. ``num_cpus`` of a local cluster).
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: float = 1.0,
        max_in_flight: int = 0,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ImportError(
                "the ray executor needs Ray: pip install 'iga[ray]' (or use --executor inprocess)"
            ) from None
        self.address = address
        self.num_cpus = num_cpus
        self.max_in_flight = max_in_flight
        self.init_kwargs = dict(init_kwargs or {})

    def map(self, fn: RunFn, specs: Sequence[RunSpec]) -> Iterator[RunOutcome]:
        """Submit the specs as Ray tasks and yield outcomes in completion order."""
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, **self.init_kwargs)
        remote = ray.remote(num_cpus=self.num_cpus)(_execute)
        pending_specs = list(specs)
        in_flight: list[Any] = []
        limit = self.max_in_flight or len(pending_specs)
        while pending_specs or in_flight:
            while pending_specs and len(in_flight) < limit:
                in_flight.append(remote.remote(fn, pending_specs.pop(0)))
            done, in_flight = ray.wait(in_flight, num_returns=1)
            for ref in done:
                yield ray.get(ref)


def make_executor(name: str, **kw: Any) -> Executor:
    """An executor by name: ``inprocess`` or ``ray`` (``kw`` go to :class:`RayExecutor`)."""
    if name == "inprocess":
        return InProcessExecutor()
    if name == "ray":
        return RayExecutor(**kw)
    raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


def run_sweep(
    specs: Sequence[RunSpec],
    fn: RunFn,
    executor: Executor | None = None,
    *,
    progress: bool = True,
    max_runs: int = 0,
    log: Callable[[str], None] | None = None,
) -> SweepReport:
    """Run every unfinished spec through ``executor`` (in-process by default).

    Args:
        specs: the runs, in the order to launch them; names must be unique.
        fn: ``fn(config) -> dict``, writing the run directory ``config`` names; it must write
            :data:`FINISHED_FILE` last.
        executor: where runs execute (default :class:`InProcessExecutor`).
        progress: show a tqdm bar over the sweep.
        max_runs: launch at most this many unfinished runs (0: all); the rest stay for the
            next call.
        log: called with one line per finished or failed run (e.g. ``print``).
    """
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"run names must be unique; repeated: {', '.join(dup[:5])}")
    if max_runs < 0:
        raise ValueError(f"max_runs must be >= 0 (0 = all); got {max_runs}")
    executor = executor or InProcessExecutor()
    t0 = time.perf_counter()
    finished = {s.name: is_finished(s.out, s.key) for s in specs}
    outcomes = [RunOutcome(s, "skipped") for s in specs if finished[s.name]]
    todo = [s for s in specs if not finished[s.name]]
    if max_runs:
        todo = todo[:max_runs]
    bar = tqdm(
        total=len(outcomes) + len(todo),
        initial=len(outcomes),
        desc="sweep",
        disable=not progress,
        unit="run",
    )
    try:
        for outcome in executor.map(fn, todo):
            outcomes.append(outcome)
            bar.update(1)
            if log is not None:
                what = f"failed: {outcome.error}" if outcome.status == "failed" else "done"
                log(
                    f"[{len(outcomes)}/{bar.total}] {outcome.spec.name} {what} "
                    f"({outcome.seconds:.0f} s)"
                )
    finally:
        bar.close()
    return SweepReport(outcomes, time.perf_counter() - t0)


def collect(specs: Sequence[RunSpec]) -> dict[str, dict[str, Any] | None]:
    """``{name: summary}`` read from each run directory (None where the run is not finished)."""
    out: dict[str, dict[str, Any] | None] = {}
    for spec in specs:
        path = Path(spec.out) / FINISHED_FILE
        fresh = path.is_file() and is_finished(spec.out, spec.key)
        out[spec.name] = json.loads(path.read_text()) if fresh else None
    return out

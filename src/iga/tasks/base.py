"""The task contract: what every task provides, and :func:`fit`, the run skeleton written once.

A task turns its config into a :class:`Fit` (model, data, groups and optional hooks) and,
after training, evaluates the trained model into its own outputs and summary numbers.
Everything else is shared and lives here: seeding, the IGA adjuster, the run directory,
``config.json``, streaming ``metrics.csv``, checkpoints and resume, divergence, interruption
and ``summary.json``.

A run directory (``cfg.out``)::

    config.json      the resolved config, its key (hash) and the environment; written first
    metrics.csv      one row per logged step, appended and flushed as training goes
    checkpoint.pt    a resumable state (model, optimizer, schedule, IGA, RNG, best so far);
                     written atomically every ``train.checkpoint_every`` steps and on
                     SIGINT/SIGTERM, removed when the run finishes
    summary.json     written last: a directory without it holds an unfinished run
    ...              the task's outputs (reconstructions, figures, best.pt/final.pt)

Resume (``resume=True`` or ``"auto"``) continues from ``checkpoint.pt`` when the directory's
``config.json`` has the same key as the requested config, and reaches the same result as a
straight run. ``overwrite`` never mixes runs: the old run's files are moved to ``.replaced/``
inside the directory first and deleted only when the new run has finished.
"""

from __future__ import annotations

import contextlib
import platform
import shutil
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import torch
from torch import nn

from iga.core import IGA
from iga.io import CSVAppender, physical_memory, save_torch, to_jsonable, write_json
from iga.methods import adjusts
from iga.runs import CHECKPOINT_FILE, REPLACED, config_key, cpu_description, prepare
from iga.train import (
    BatchFn,
    LossFn,
    MethodConfig,
    PenaltyFn,
    ScoreFn,
    TrainConfig,
    TrainResult,
    ValidateFn,
    make_adjuster,
    resolve_device,
    train,
)

__all__ = [
    "Fit",
    "Task",
    "TaskConfig",
    "TrainingDiverged",
    "TrainingInterrupted",
    "check_groups",
    "check_ints",
    "config_from_dict",
    "entk_bytes",
    "fit",
]


class TrainingDiverged(RuntimeError):
    """The loss or weights became non-finite; the run directory holds the best result before."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM stopped training; ``checkpoint.pt`` lets ``--resume`` continue it.

    A ``KeyboardInterrupt``, so a sweep or benchmark stops instead of going on to its next
    run (it catches ``Exception`` per run)."""


@dataclass
class Fit:
    """What a task hands the shared training loop (see :func:`iga.train.train` for the hooks).

    ``inputs``/``target`` are the full data (empty when ``batch`` builds each step's data
    itself); ``groups`` index rows of what the model is fed each step (of a batch when
    ``batch`` is given; ``None``: the task does not support IGA).
    """

    model: nn.Module
    inputs: torch.Tensor
    target: torch.Tensor
    groups: torch.Tensor | None = None
    batch: BatchFn | None = None
    loss: LossFn | None = None
    residual: LossFn | None = None
    data_rows: int | None = None
    """How many leading rows of a step's batch form the data term (the ``mse`` column, the
    score, ``loss``, ``residual``, and IGA, whose ``groups`` index them); None: every row."""
    penalty: PenaltyFn | None = None
    """``penalty(x, pred)``: a scalar over all rows added to the loss, plain (vanilla and IGA
    alike); ``x`` requires grad, so it may differentiate ``pred`` in ``x`` (eikonal terms)."""
    score: ScoreFn | None = None
    score_name: str = "psnr"
    extra: Callable[[int, torch.Tensor], dict[str, Any]] | None = None
    extra_every: int = 1
    validate: ValidateFn | None = None
    """Held-data scores of the model (e.g. full-grid IoU); they pick the best weights."""
    validate_every: int = 0
    validate_key: str = ""
    """The :attr:`validate` value that picks the best weights (higher is better)."""
    log_every: int = 1
    """Which history rows go to metrics.csv (every row is kept in memory either way)."""
    columns: tuple[str, ...] = ()
    """metrics.csv columns (default: the first logged row's keys, plus IGA's spectrum)."""
    adjuster: Any = None
    """A ready adjuster (e.g. a fixed-S one); when None and the method is ``iga``, :func:`fit`
    builds :class:`~iga.IGA` on ``groups``."""
    resolved: dict[str, Any] = field(default_factory=dict)
    """Task facts recorded in config.json (image size, number of groups, model, ...)."""
    groups_flag: str = "--patch"
    """The task's flag that sets the group size, named in errors about too many groups."""


class TaskConfig(Protocol):
    """The fields :func:`fit` reads from every task config (a dataclass)."""

    train: TrainConfig
    out: str
    overwrite: bool


C = TypeVar("C")


class Task(Protocol[C]):
    """What a task implements; :func:`fit` does the rest.

    ``setup`` builds everything and validates; it must not write to ``cfg.out``.
    ``evaluate`` writes the task's outputs into ``out`` and returns the summary numbers.
    """

    name: ClassVar[str]

    def method(self, cfg: C) -> MethodConfig | Any: ...

    def lr(self, cfg: C) -> float: ...

    def setup(self, cfg: C, device: torch.device) -> Fit: ...

    def evaluate(self, cfg: C, fit: Fit, result: TrainResult, out: Path) -> dict[str, Any]: ...


def config_from_dict(cls: type[C], data: Mapping[str, Any], where: str = "config") -> C:
    """Rebuild a task config (a dataclass of dataclasses) from its ``asdict`` /
    ``config.json`` form. Missing keys keep the config's own defaults, nested ones included
    (e.g. the task's TrainConfig defaults, not TrainConfig's); unknown keys are refused."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a JSON object; got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown keys {unknown} in {where}; allowed: {sorted(known)}")
    kw: dict[str, Any] = {}
    for name, value in data.items():
        f = known[name]
        default = f.default_factory() if callable(f.default_factory) else f.default
        if is_dataclass(default):
            if not isinstance(value, Mapping):
                raise ValueError(f"{where}.{name} must be a JSON object; got {value!r}")
            # Absent keys take this config's defaults for the nested one.
            merged = {**asdict(default), **value}  # type: ignore[call-overload]
            kw[name] = config_from_dict(type(default), merged, f"{where}.{name}")
        else:
            kw[name] = value
    return cls(**kw)


ENTK_MATRICES = 5
"""Peak memory of one eNTK refresh for n groups, in n x n float64 matrices: the kernel (in the
model's dtype), its float64 and symmetrised copies, LAPACK's working copy, S and the identity
it is built from. Measured on the CPU (4096 and 8192 groups, relu/pe/siren, with the logged
full spectrum): 3.6-4.2; 5 leaves a margin."""


def entk_bytes(n_groups: int) -> int:
    """Estimated peak bytes of one eNTK refresh with ``n_groups`` groups (n² · 8 · c)."""
    return n_groups * n_groups * 8 * ENTK_MATRICES


def _memory_of(device: torch.device) -> tuple[int, str]:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[1], f"the GPU ({device}) has"
    total = physical_memory()
    if total is None:
        raise ValueError("the OS does not report physical memory")
    return total, "this machine has"


def check_ints(*checks: tuple[str, Any, int]) -> None:
    """``(flag, value, minimum)`` triples: each value must be an int (not a bool) >= its
    minimum, else a one-line ValueError naming the flag (what task configs check first)."""
    for flag, v, low in checks:
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{flag} must be an integer >= {low}; got {v!r}")


_COUNT_FLAGS = ("--batch-groups", "--batch-rays")
"""Group flags that set how many groups a step has (the others set a group's size)."""


def check_groups(n_groups: int, device: torch.device, flag: str = "--patch", end: int = 0) -> None:
    """Refuse, before anything is computed or written, an IGA that cannot run: ``end`` not
    below the number of groups, or an eNTK too large for the device's memory
    (:func:`entk_bytes` against the total physical or GPU memory). ``flag`` is the task's
    option that sets the group size; the messages say how to fix it."""
    # A flag that counts groups (per step) needs raising for more groups; one that sizes a
    # group (--patch, --group-size) needs lowering.
    counts = flag in _COUNT_FLAGS
    if isinstance(end, int) and not isinstance(end, bool) and end >= n_groups:
        raise ValueError(
            f"--end {end} must be smaller than the number of IGA groups ({n_groups}); "
            f"lower --end or use a {'larger' if counts else 'smaller'} {flag}"
        )
    need = entk_bytes(n_groups)
    try:
        have, who = _memory_of(device)
    except (ValueError, OSError, RuntimeError, AttributeError):  # unknown: do not guess
        return
    if need > have:
        kernel = n_groups * n_groups * 8
        raise ValueError(
            f"{n_groups} IGA groups need ~{need / 1e9:.0f} GB for the eNTK (the "
            f"{n_groups}x{n_groups} kernel alone is {kernel / 1e9:.1f} GB; {who} "
            f"{have / 1e9:.0f} GB); use a {'smaller' if counts else 'larger'} {flag}"
        )


class _Stop:
    """SIGINT/SIGTERM set a flag the loop checks after each step (main thread only)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self) -> bool:
        return self.signum is not None

    @contextlib.contextmanager
    def installed(self) -> Iterator[_Stop]:
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, frame: Any) -> None:
            if self.signum is not None:  # a second signal: stop now
                raise KeyboardInterrupt
            self.signum = signum

        for s in old:
            signal.signal(s, handler)
        try:
            yield self
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def fit(
    task: Task[C], cfg: C, *, progress: bool = True, desc: str = "", resume: bool | str = False
) -> dict[str, Any]:
    """Run ``task`` with ``cfg`` into ``cfg.out``; returns the summary (also summary.json).

    ``resume``: ``True`` continues an interrupted run (error if there is none to continue),
    ``"auto"`` continues one when its key matches and otherwise starts afresh (what sweeps use),
    ``False`` starts afresh (``cfg.overwrite`` needed if ``cfg.out`` holds a run).

    Raises:
        TrainingDiverged: after writing the outputs of the best step before the divergence.
        TrainingInterrupted: after SIGINT/SIGTERM, with ``checkpoint.pt`` written.
    """
    tc: TrainConfig = cfg.train  # type: ignore[attr-defined]
    device = resolve_device(tc.device)
    torch.manual_seed(tc.seed)
    job = task.setup(cfg, device)
    method = task.method(cfg)
    adjuster = job.adjuster
    name = getattr(method, "method", None)
    if job.batch is not None and name == "iga" and getattr(method, "every", 1) != 1:
        # S is a matrix over one batch's groups: reusing it on the next batch's groups mixes
        # residuals of groups it was never computed for.
        raise ValueError(
            f"--every must be 1 for task {task.name!r}: each step draws a new batch of groups, "
            "and S belongs to one batch"
        )
    if adjuster is None and isinstance(name, str) and adjusts(name):
        if job.groups is None:
            raise ValueError(f"task {task.name!r} does not support --method {name}")
        check_groups(int(job.groups.shape[0]), device, job.groups_flag, getattr(method, "end", 0))
        adjuster = make_adjuster(job.model, job.groups, method, seed=tc.seed)
    elif isinstance(adjuster, IGA) and adjuster.active:  # built by the task
        check_groups(adjuster.grouping.n_groups, device, job.groups_flag)
    lr = task.lr(cfg)
    record = to_jsonable(asdict(cfg))  # type: ignore[call-overload]
    from iga import __version__
    from iga.fields import FIELD_FORMAT

    resolved = {
        "task": task.name,
        "format": FIELD_FORMAT,
        "iga": __version__,
        "lr": lr,
        "device": str(device),
        **job.resolved,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "cpu": cpu_description(),  # the kind of machine a run reproduces on bit for bit
    }
    from iga.tasks.registry import key_facts

    facts = key_facts(task, cfg)  # the key's facts, from the task itself: never mirrored
    resolved.update(facts)
    key = config_key(record, resolved)
    checkpoint = prepare(cfg.out, bool(cfg.overwrite), resume, key)  # type: ignore[attr-defined]
    out = Path(cfg.out)  # type: ignore[attr-defined]
    write_json(out / "config.json", {**record, "resolved": resolved, "key": key})

    history = checkpoint["history"] if checkpoint else []
    columns = list(job.columns) or None
    metrics: CSVAppender | None = None

    def on_row(row: dict[str, Any]) -> None:
        nonlocal metrics, columns
        if row["step"] % job.log_every:
            return
        if metrics is None:
            if columns is None:
                columns = list(row)
                if adjuster is not None:
                    columns += [
                        k
                        for k in ("lambda_max", "lambda_ref", "cond_before", "cond_after")
                        if k not in columns
                    ]
            metrics = CSVAppender(
                out / "metrics.csv",
                columns,
                [r for r in history if r["step"] % job.log_every == 0],
            )
        metrics.write(row)
        if row["step"] % 50 == 0:
            metrics.flush()

    def save(state: dict[str, Any]) -> None:
        if metrics is not None:
            metrics.flush()
        save_torch(out / CHECKPOINT_FILE, state)

    stop = _Stop()
    data_x, data_y = job.inputs.to(device), job.target.to(device)
    try:
        with stop.installed():
            result = train(
                job.model,
                data_x,
                data_y,
                tc,
                lr,
                adjuster,
                score_name=job.score_name,
                score_fn=job.score,
                extra_fn=job.extra,
                extra_every=job.extra_every,
                loss_fn=job.loss,
                residual_fn=job.residual,
                batch_fn=job.batch,
                data_rows=job.data_rows,
                penalty_fn=job.penalty,
                validate_fn=job.validate,
                validate_every=job.validate_every,
                validate_key=job.validate_key,
                on_row=on_row,
                checkpoint_fn=save,
                resume=checkpoint,
                stop=stop,
                desc=desc or task.name,
                progress=progress,
            )
    finally:
        if metrics is not None:
            metrics.close()
    if result.interrupted_at is not None:
        raise TrainingInterrupted(
            f"interrupted at step {result.interrupted_at}; checkpoint kept in {out}; "
            "run the same command with --resume to continue"
        )
    summary = task.evaluate(cfg, job, result, out)
    summary.update(
        {
            "steps": result.steps_done,
            "seconds": result.seconds,
            "seconds_per_step": result.seconds_per_step,
            "lr": lr,
            "diverged_at_step": result.diverged_at,
            "key": key,
        }
    )
    core = getattr(adjuster, "iga", adjuster)  # NeRF's adjuster wraps an iga.IGA
    if getattr(core, "solver", None) == "subspace":
        # refreshes where the subspace solver missed its test and the exact one ran
        summary["iga_fallbacks"] = int(core.fallbacks)
    write_json(out / "summary.json", summary)
    (out / CHECKPOINT_FILE).unlink(missing_ok=True)
    shutil.rmtree(out / REPLACED, ignore_errors=True)
    if result.diverged_at is not None:
        raise TrainingDiverged(
            f"loss became non-finite at step {result.diverged_at}; best result so far "
            f"({job.score_name} {result.best_score:.4g} at step {result.best_step}) kept in "
            f"{out}; try a lower --lr"
        )
    return summary

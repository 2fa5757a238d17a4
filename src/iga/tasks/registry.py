"""The task registry: a task is one folder (or an outside package) plus one :class:`TaskSpec`.

``iga fit <task>``, ``iga bench <name>`` and ``iga experiment <name>`` are generated from
:func:`tasks`, so the CLI holds no per-task code. Built-in tasks are the subpackages of
:mod:`iga.tasks` whose ``__init__`` registers a spec; a user's package adds its own through
the ``iga.tasks`` entry-point group (the same mechanism nerfstudio uses for its methods)::

    # pyproject.toml of my_pkg
    [project.entry-points."iga.tasks"]
    my_signal = "my_pkg.task:SPEC"      # a TaskSpec (registered when loaded)

Methods, models and optimisers are extended the same way (groups ``iga.methods``,
``iga.models`` and ``iga.optimizers``, see :func:`load_plugins`). ``docs/architecture.md``
walks through adding a task.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from importlib.metadata import entry_points
from typing import Any

__all__ = ["TASKS", "TaskSpec", "load_plugins", "register_task", "run_key", "tasks"]


@dataclass(frozen=True)
class TaskSpec:
    """Everything the CLI and the harness need to know about a task, in one place.

    The task's typed config (a dataclass with ``train``, ``out`` and ``overwrite`` fields, see
    :class:`iga.tasks.base.TaskConfig`) is the only source of its defaults; ``iga fit NAME``
    gets one option per config field (:mod:`iga.cli.configcli`).
    """

    name: str
    """The command: ``iga fit NAME``."""
    config: Callable[[], Any]
    """Returns the config whose values are the defaults: the dataclass itself (when a field
    such as the input file has none) or an instance (when the task's defaults differ from the
    shared sections', e.g. its own ``TrainConfig``)."""
    task: Callable[[], Any]
    """Makes the :class:`iga.tasks.base.Task` (``setup``, ``evaluate``, ``lr``, ``method``)."""
    help: str
    """One line for ``iga fit --help``."""
    description: str = ""
    """The paragraph of ``iga fit NAME --help`` (default: :attr:`help`)."""
    argument: str = ""
    """The config field given as the positional argument (e.g. ``path``), or none."""
    argument_help: str = ""
    overrides: Callable[[], dict[str, dict[str, Any]]] | None = None
    """Per config field, argparse settings its metadata does not declare (``choices``,
    ``min``, ``check``, ``flag``, ``help``): see :func:`iga.cli.configcli.add_options`."""
    check: Callable[[Any], None] | None = None
    """Checks a built config before anything runs; raises ``ValueError`` naming the flag."""
    report: Callable[[Any, dict[str, Any]], str] | None = None
    """The line printed after a run, from the config and the summary."""
    benches: tuple[str, ...] = ()
    """Modules declaring ``iga bench`` commands: each has ``HELP`` ({command: help}),
    ``Options`` (a dataclass of its own flags) and ``setup(name, options, run_options)`` (the
    arguments of :func:`iga.harness.execute`)."""
    experiments: tuple[str, ...] = ()
    """The same, for ``iga experiment`` commands."""
    fitted: str = ""
    """The module whose ``field(record, data=None)`` rebuilds a finished run's fitted field
    (:func:`iga.load`, ``iga render``, ``iga export``); empty: the task has none."""
    demo: Callable[..., None] | None = None
    """``iga demo``: ``demo(steps=, seed=, device=, out=, progress=)`` on bundled data."""
    source: str = field(default="iga", compare=False)
    """Who registered it: ``iga`` or the entry point's distribution."""

    def fit(self, cfg: Any, **kwargs: Any) -> dict[str, Any]:
        """:func:`iga.tasks.base.fit` of this task (``progress``, ``desc``, ``resume``)."""
        from iga.tasks.base import fit

        return fit(self.task(), cfg, **kwargs)

    def run_key(self, cfg: Any) -> str:
        """The key :meth:`fit` writes for ``cfg``, without running it."""
        return run_key(self.task(), cfg)


TASKS: dict[str, TaskSpec] = {}
"""Every registered task by name (filled by :func:`tasks`)."""


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add a task; it becomes ``iga fit NAME`` with its benchmarks. A name already taken by
    another spec is refused (one line), so a plugin cannot silently replace a built-in."""
    if not isinstance(spec, TaskSpec):
        raise TypeError(f"register_task needs a TaskSpec; got {type(spec).__name__}")
    old = TASKS.get(spec.name)
    if old is not None and old != spec:
        raise ValueError(
            f"task {spec.name!r} is registered twice ({old.source} and {spec.source}); "
            "rename one of them"
        )
    TASKS[spec.name] = spec
    return spec


_loaded = False


def tasks() -> Mapping[str, TaskSpec]:
    """All tasks: the built-in folders of :mod:`iga.tasks`, then the ``iga.tasks`` entry
    points (each loads a :class:`TaskSpec`, or a module that registers one). Loaded once."""
    global _loaded
    if not _loaded:
        import iga.tasks as pkg

        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
            if info.ispkg:
                importlib.import_module(f"iga.tasks.{info.name}")
        load_plugins()
        _loaded = True
    return TASKS


def _entry_points(group: str) -> list[Any]:
    return sorted(entry_points(group=group), key=lambda e: e.name)


def load_plugins() -> None:
    """Load the outside packages' tasks, methods, models and optimisers (entry-point groups
    ``iga.tasks``, ``iga.methods``, ``iga.models``, ``iga.optimizers``). A task entry point
    names a :class:`TaskSpec`; a method one an :class:`iga.methods.MethodSpec`; a model one an
    :class:`iga.models.ArchSpec`; an optimiser one an :class:`iga.optim.OptimizerSpec`; or any
    of them a module whose import registers it."""
    from iga.methods import MethodSpec, register_method
    from iga.models import ArchSpec, register_arch
    from iga.optim import OptimizerSpec, register_optimizer

    kinds: dict[str, tuple[type, Callable[[Any], Any]]] = {
        "iga.methods": (MethodSpec, register_method),
        "iga.models": (ArchSpec, register_arch),
        "iga.optimizers": (OptimizerSpec, register_optimizer),
        "iga.tasks": (TaskSpec, register_task),
    }
    for group, (kind, register) in kinds.items():
        for ep in _entry_points(group):
            where = f"entry point {ep.name!r} of group {group!r} ({ep.value})"
            try:
                obj = ep.load()
            except Exception as e:  # noqa: BLE001 - a broken plugin: one line naming it
                raise ValueError(f"cannot load {where}: {type(e).__name__}: {e}") from None
            if isinstance(obj, TaskSpec) and obj.source == "iga":
                dist = getattr(ep, "dist", None)
                obj = _with_source(obj, getattr(dist, "name", None) or ep.value)
            if isinstance(obj, kind):
                register(obj)
            elif not hasattr(obj, "__file__"):  # a module registers itself when imported
                raise ValueError(f"{where} is a {type(obj).__name__}, not a {kind.__name__}")


def _with_source(spec: TaskSpec, source: str) -> TaskSpec:
    from dataclasses import replace

    return replace(spec, source=source)


def run_key(task: Any, cfg: Any) -> str:
    """The key (:func:`iga.runs.config_key`) of the run ``cfg`` describes, without running it:
    the config plus what defaults decide, the lr (``task.lr``) and, for a task with a
    ``describe_model(cfg)`` method, the model's description. :func:`iga.tasks.base.fit` writes
    this same key, so a task never mirrors it by hand."""
    from iga.io import to_jsonable
    from iga.runs import config_key

    return config_key(to_jsonable(asdict(cfg)), key_facts(task, cfg))


def key_facts(task: Any, cfg: Any) -> dict[str, Any]:
    """``{"lr": ..., "model": ...}``: the resolved facts a run's key reads."""
    facts: dict[str, Any] = {"lr": task.lr(cfg)}
    describe = getattr(task, "describe_model", None)
    if describe is not None:
        facts["model"] = describe(cfg)
    return facts

"""What tasks have in common: the command-line settings of the shared config sections
(``ModelConfig``, ``MethodConfig``, ``TrainConfig``: choices read from the registries when the
parser is built, so plugins' archs, methods and optimisers appear), the check of ``--opt``
keys, :func:`batch_order`, the resumable order of mini-batches of groups, and
:func:`fresh_options`, FreSh's choice for any task's model."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import torch

__all__ = [
    "FRESH_CUBE",
    "batch_order",
    "check_model",
    "cube_signal",
    "fresh_facts",
    "fresh_options",
    "group_batches",
    "mesh_fresh",
    "no_fresh",
    "predict",
    "recorded_fresh",
    "save_surface",
    "shared_flags",
    "window_groups",
]


def _positive(value: float) -> None:
    if not value > 0:
        raise ValueError(f"must be > 0; got {value}")


def shared_flags() -> dict[str, dict[str, Any]]:
    """configcli overrides for the model, method and train sections' fields."""
    from iga.core import SAMPLING
    from iga.methods import METHODS
    from iga.models import ARCH_OPTIONS
    from iga.optim import OPTIMIZERS, SCHEDULES

    return {
        "arch": {"choices": tuple(ARCH_OPTIONS)},
        "schedule": {"choices": SCHEDULES},
        "width": {"min": 1},
        "hidden_layers": {"min": 1},
        "options": {"flag": "--opt"},
        "method": {"choices": tuple(METHODS)},
        "ref": {"choices": ("end", "start")},
        "sampling": {"choices": SAMPLING},
        "every": {"min": 1},
        "scale": {"check": _positive},
        "optimizer": {"choices": tuple(OPTIMIZERS)},
    }


def check_model(cfg: Any) -> None:
    """``--opt`` keys in the user's terms, before anything is built."""
    from iga.models import check_options

    check_options(cfg.model.options, cfg.model.arch, cfg.method.method)


_FRESH: dict[str, Any] = {}

Signal = Callable[[], tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]]
"""``() -> (coords [N, d], target [N, C], grid shape)``: the signal FreSh matches."""


def fresh_options(
    model: Any,
    seed: int,
    what: object,
    signal: Signal,
    make: Callable[[dict[str, object], int], torch.nn.Module],
    defaults: Sequence[float] | None = None,
) -> tuple[dict[str, object], Any]:
    """FreSh's choice (:func:`iga.models.fresh.select`) for ``model``, a task config's model
    section (``arch``, ``options``, ``fresh``: ``cfg.model``, the 1-D task's ``cfg.net``), at
    the run's ``seed``: ``({param: value}, FreshChoice)``, or ``({}, None)`` without
    ``--fresh``. Chosen once per signal, model and seed (cached in the process): ``what`` names
    what the signal depends on (file, crop, grid), ``defaults`` are the task's candidates for
    ``--fresh auto``."""
    from iga.io import to_jsonable
    from iga.models import fresh

    if not model.fresh:
        return {}, None
    values = fresh.parse_values(model.arch, model.fresh, defaults)
    param = fresh.FRESH_PARAMS[model.arch][0]
    if param in model.options:
        raise ValueError(f"--fresh chooses {param}: leave --opt {param}=... out, or --fresh out")
    probe = {"what": what, "model": asdict(model), "seed": seed, "v": values}
    key = json.dumps(to_jsonable(probe), sort_keys=True, default=str)
    if key not in _FRESH:
        coords, target, shape = signal()
        _FRESH[key] = fresh.select(model.arch, make, coords, target, shape, values, seed=seed)
    choice = _FRESH[key]
    return {choice.param: choice.value}, choice


FRESH_CUBE = 32
"""The largest grid side FreSh compares on the 3-D tasks (a larger grid is read every
``ceil(R / 32)``-th point per axis): 32³ evaluations per candidate and initialisation, about
the image task's 128² (a 64³ cube costs 5 minutes of one core per choice at width 256)."""


def cube_signal(values: Any) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]:
    """FreSh's signal of a field given on the R³ grid of :func:`iga.meshes.grid_points`
    (``values`` [R, R, R]): every ``ceil(R / FRESH_CUBE)``-th point per axis, as
    ``(coords [n³, 3], values [n³, 1], (n, n, n))``."""
    import numpy as np

    from iga.meshes import grid_points

    r = int(values.shape[0])
    stride = -(-r // FRESH_CUBE)
    pts = grid_points(r)[::stride, ::stride, ::stride]
    vals = np.asarray(values, dtype=np.float32)[::stride, ::stride, ::stride]
    n = pts.shape[0]
    coords = torch.from_numpy(np.ascontiguousarray(pts.reshape(-1, 3)))
    return coords, torch.from_numpy(np.ascontiguousarray(vals.reshape(-1, 1))), (n, n, n)


def mesh_fresh(
    cfg: Any, grid: Callable[[], Any], build: Callable[[Any, dict[str, Any], int], torch.nn.Module]
) -> tuple[dict[str, object], Any]:
    """:func:`fresh_options` for the mesh tasks (occupancy, SDF): the field on its R³ grid
    (``grid()``, read by :func:`cube_signal`) against ``build(cfg, options, seed)``'s model;
    the choice depends on the mesh file, ``cfg.resolution``, ``cfg.margin`` and the method."""
    from pathlib import Path

    what = (str(Path(cfg.path).resolve()), cfg.resolution, cfg.margin, cfg.method.method)
    return fresh_options(
        cfg.model,
        cfg.train.seed,
        what,
        lambda: cube_signal(grid()),
        lambda extra, seed: build(cfg, {**cfg.model.options, **extra}, seed),
    )


def recorded_fresh(resolved: dict[str, Any]) -> dict[str, object]:
    """The ``{param: value}`` FreSh chose for a finished run (``resolved["fresh"]`` of its
    config.json), so a loaded model does not choose again; ``{}`` without FreSh."""
    rec = resolved.get("fresh")
    return {rec["param"]: rec["chosen"]} if isinstance(rec, dict) else {}


def fresh_facts(choice: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a run records of FreSh's ``choice`` (None: nothing): ``config.json``'s
    ``resolved["fresh"]`` (every distance) and the summary's ``fresh`` (``param=value``)."""
    if choice is None:
        return {}, {}
    return {"fresh": choice.as_dict()}, {"fresh": f"{choice.param}={choice.value:g}"}


def no_fresh(cfg: Any, why: str) -> None:
    """A one-line error when ``cfg`` asks for ``--fresh`` where it cannot work (``why``)."""
    if cfg.model.fresh:
        raise ValueError(f"--fresh {why}: leave --fresh out, or set the frequency with --opt")


def batch_order(step: int, batch: int, n_groups: int, seed: int) -> torch.Tensor:
    """The groups of training step ``step``: consecutive slices of an endless stream of
    per-epoch permutations of the groups (each epoch's from its own seeded generator), so
    every group is drawn once per epoch and a resumed run draws the same batches."""
    start, got = step * batch, 0
    out = []
    while got < batch:
        epoch, pos = divmod(start + got, n_groups)
        part = _epoch_order(n_groups, seed, epoch)[pos : pos + batch - got]
        out.append(part)
        got += len(part)
    return torch.cat(out)


@functools.lru_cache(maxsize=2)
def _epoch_order(n_groups: int, seed: int, epoch: int) -> torch.Tensor:
    # Cached: every step of an epoch slices the same permutation (read-only).
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n_groups, generator=g)


def window_groups(n: int, size: int, *, overlap_last: bool = False) -> torch.Tensor:
    """Groups of ``size`` consecutive rows of ``n``: ``[ceil(n / size), size]``. A short last
    group is padded with -1 (which IGA's grouping skips), or, with ``overlap_last``, made of
    the last ``size`` rows (overlapping the one before), so every group is full: what a
    mini-batch of groups needs, whose rows must number ``batch · size``."""
    index = torch.arange(n)
    if n % size == 0:
        return index.reshape(-1, size)
    head = index[: n - n % size].reshape(-1, size)
    last = (
        index[n - size :]
        if overlap_last
        else torch.cat([index[n - n % size :], torch.full((size - n % size,), -1)])
    )
    return torch.cat([head, last[None]])


def group_batches(
    groups: torch.Tensor, batch: int, seed: int, inputs: torch.Tensor, target: torch.Tensor
) -> Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]:
    """A ``Fit.batch``: step ``s`` trains on the rows of the ``batch`` groups
    :func:`batch_order` draws for it (full groups: see :func:`window_groups`)."""
    index_of = groups.to(inputs.device)
    n_groups = int(groups.shape[0])

    def draw(step: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        del generator  # per-epoch seeded orders: a resumed run draws the same batches
        index = index_of[batch_order(step, batch, n_groups, seed).to(inputs.device)].reshape(-1)
        return inputs[index], target[index]

    return draw


def predict(model: torch.nn.Module, x: torch.Tensor, chunk: int = 1 << 16) -> torch.Tensor:
    """``model(x)`` in chunks of rows, without gradients."""
    with torch.no_grad():
        return torch.cat([model(c) for c in x.split(chunk)])


def save_surface(out: Any, surface: Any, up: str, title: str) -> None:
    """Write a mesh task's extracted ``surface`` (a trimesh) as ``out/surface.ply`` and its
    shaded render, upright along ``up``, as ``out/surface.png``."""
    from pathlib import Path

    from iga.figures import plots3d
    from iga.meshes import upright

    surface.export(Path(out) / "surface.ply")
    plots3d.save_render(
        Path(out) / "surface.png", upright(surface.vertices, up), surface.faces, title=title
    )

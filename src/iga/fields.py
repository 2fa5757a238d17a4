"""Fitted fields: a finished run directory back as a network you query in your own units.

``iga.load(run_dir)`` reads a run written by ``iga fit`` (or a benchmark run kept with
``--keep-checkpoints``) and returns a :class:`Field` of the run's task::

    field = iga.load("runs/photo")            # an ImageField
    rgb = field.image((768, 512))             # [512, 768, 3] in [0, 1]: super-resolution
    mesh = iga.load("runs/bunny").mesh(256)   # marching cubes, in the mesh file's units
    frame = iga.load("runs/lego").render(iga.fields.turntable_pose(30.0))

Every field is callable: ``field(x)`` maps points in the task's *user units* (below) to its
outputs, in chunks and without gradients. The mapping is one small ``torch.nn.Module``,
:attr:`Field.module`, that holds the normalisation the task applied while training (the mesh's
centre and scale, the audio clip's time axis, ...), so what :mod:`iga.export` writes needs
neither iga nor the training data.

========== ======================================= =============================================
task       input (user units)                      output
========== ======================================= =============================================
image      (y, x) in [-1, 1]: -1 the top row/left   RGB in [0, 1]
           column, +1 the bottom row/right column
           (centres of the corner pixels)
occupancy  (x, y, z) in the mesh file's units       occupancy in [0, 1] (inside where >= 0.5)
sdf        (x, y, z) in the mesh file's units       signed distance in the mesh's units
                                                    (negative inside)
nerf       (x, y, z, dx, dy, dz): a world point    (r, g, b, σ): colour in [0, 1] and density
           and a view direction (Blender scene)    of the fine network (the coarse one without)
function   t, the signal's own variable             the signal's value
audio      time in seconds from the excerpt's       the samples, one column per channel,
           first sample                             full scale ±1
========== ======================================= =============================================

Batch-norm (``--method bn``) models: an image or audio run's statistics are those of its
whole training grid, which are folded into a plain network (exact on that grid); occupancy and
NeRF runs keep running statistics (eval mode). An SDF run's BN used its mini-batches'
statistics, which no pointwise function reproduces: it loads, but refuses to export.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from iga.io import PathLike

__all__ = [
    "FIELD_FORMAT",
    "Field",
    "FieldModule",
    "RunRecord",
    "load",
    "read_run",
]

FIELD_FORMAT = 1
"""The run-directory format this iga reads and writes (``config.json``'s ``resolved.format``);
runs written before it was recorded are format 0, also readable. A newer format is refused."""
WEIGHTS = ("best", "final")


@dataclass
class RunRecord:
    """What a finished run directory holds, read and checked by :func:`read_run`."""

    run: Path
    task: str
    config: Any
    """The task's typed config, rebuilt from ``config.json``."""
    resolved: dict[str, Any]
    """The facts ``fit`` recorded (image size, model description, normalisation, ...)."""
    summary: dict[str, Any]
    state: dict[str, torch.Tensor] | None
    """The weights (``best.pt`` or ``final.pt``); ``None`` when read without them."""
    weights: str


class FieldModule(nn.Module):
    """``post(net((pre(x) - shift) * scale))``: a trained network between the task's input
    normalisation and output mapping, so that it takes and returns user units. Plain tensor
    code (TorchScript- and ``torch.export``-friendly).

    Args:
        net: the trained network (model units in, model outputs out).
        shift: per input column, subtracted first: ``model_input = (x - shift) * scale``.
        scale: per input column, the factor after the shift.
        out_scale: the output's factor: ``y = net(...) * out_scale + out_shift``.
        out_shift: the output's offset, added after the factor.
        pre: ``""`` or ``"circle"`` (the 1D task's ``x = (cos t, sin t)``, applied first).
        post: ``""``, ``"clamp01"`` (clip to [0, 1]) or ``"nerf"`` (``sigmoid`` on the colour,
            ``relu`` on the density).
    """

    def __init__(
        self,
        net: nn.Module,
        shift: torch.Tensor | None = None,
        scale: torch.Tensor | None = None,
        out_scale: float = 1.0,
        out_shift: float = 0.0,
        pre: str = "",
        post: str = "",
    ) -> None:
        super().__init__()
        if pre not in ("", "circle") or post not in ("", "clamp01", "nerf"):
            raise ValueError(f"unknown pre {pre!r} or post {post!r}")
        self.net = net
        self.register_buffer("shift", torch.zeros(1) if shift is None else shift.float())
        self.register_buffer("scale", torch.ones(1) if scale is None else scale.float())
        self.out_scale = float(out_scale)
        self.out_shift = float(out_shift)
        self.circle = pre == "circle"
        self.post = post

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.circle:
            x = torch.cat([torch.cos(x), torch.sin(x)], dim=-1)
        y = self.net((x - self.shift) * self.scale) * self.out_scale + self.out_shift
        if self.post == "clamp01":
            y = y.clamp(0.0, 1.0)
        elif self.post == "nerf":
            y = torch.cat([torch.sigmoid(y[..., :3]), torch.relu(y[..., 3:])], dim=-1)
        return y


class Field:
    """A fitted INR: :attr:`module` maps user units to outputs (see the module docstring).

    Attributes:
        record: the run it came from (config, resolved facts, summary).
        module: the ``nn.Module`` that is the field, in eval mode.
        inputs, outputs: what the columns of ``x`` and of ``field(x)`` mean, in words.
        meta: the convention as JSON-ready facts (written next to every export).
        exportable: ``""`` when :mod:`iga.export` can write the module, else why not.
    """

    def __init__(
        self,
        record: RunRecord,
        module: FieldModule,
        inputs: str,
        outputs: str,
        meta: Mapping[str, Any] | None = None,
        exportable: str = "",
    ) -> None:
        self.record = record
        self.module = module.eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.inputs = inputs
        self.outputs = outputs
        self.meta = dict(meta or {})
        self.exportable = exportable

    @property
    def task(self) -> str:
        """The task that fitted it (``image``, ``occupancy``, ...)."""
        return self.record.task

    @property
    def device(self) -> torch.device:
        return next(self.module.buffers()).device

    @property
    def in_features(self) -> int:
        return int(self.meta["in_features"])

    def to(self, device: torch.device | str) -> Field:
        """Move the field to ``device`` (in place); returns it."""
        self.module.to(device)
        return self

    def __call__(self, x: Any, chunk: int = 1 << 16) -> torch.Tensor:
        """The field at points ``x`` ``[N, in_features]`` (user units) -> ``[N, outputs]``,
        computed ``chunk`` rows at a time on the field's device; returned there."""
        x = torch.as_tensor(x, dtype=torch.float32, device=self.device)
        if x.ndim == 1 and self.in_features == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"this {self.task} field takes points [N, {self.in_features}] ({self.inputs}); "
                f"got shape {tuple(x.shape)}"
            )
        from iga.tasks.common import predict

        return self.module(x) if x.shape[0] == 0 else predict(self.module, x, chunk)

    render_options: tuple[str, ...] = ()
    """The ``iga render`` options this field takes (``size``, ``resolution``, ...)."""

    def render_files(
        self, out: PathLike | None = None, *, progress: bool = False, **options: Any
    ) -> list[Path]:
        """``iga render``: write the field's natural files (an image, a mesh and its picture,
        views, a signal) into ``out`` (a file name with the right suffix, or a folder;
        default: the run's ``renders/`` folder); returns the paths written."""
        wrong = [k for k, v in options.items() if v is not None and k not in self.render_options]
        if wrong:
            takes = ", ".join(f"--{k}" for k in self.render_options) or "none"
            raise ValueError(
                f"--{wrong[0]} does not apply to a {self.task} run (its options: {takes})"
            )
        return self._render_files(
            out, progress=progress, **{k: v for k, v in options.items() if v is not None}
        )

    def _render_files(self, out: PathLike | None, *, progress: bool, **options: Any) -> list[Path]:
        raise ValueError(f"iga render does not know how to render a {self.task} run")

    def _target(self, out: PathLike | None, default: str, suffixes: tuple[str, ...]) -> Path:
        """``out`` when it names a file with one of ``suffixes``; else ``default`` inside
        ``out`` (a folder) or inside the run's ``renders/``."""
        if out is None:
            return self.record.run / "renders" / default
        p = Path(out)
        if p.suffix.lower() in suffixes:
            return p
        if p.suffix and not p.is_dir():
            raise ValueError(
                f"--out {p}: a {self.task} render is written as {' or '.join(suffixes)}; "
                "name such a file or a folder"
            )
        return p / default

    def describe(self) -> str:
        """A few lines: the run, the model, what goes in and what comes out."""
        r = self.record
        model = r.resolved.get("model") or ""
        return (
            f"{self.task} field from {r.run} ({r.weights} weights)\n"
            f"  model:   {model}\n  inputs:  {self.inputs}\n  outputs: {self.outputs}"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.task} from {self.record.run} ({self.record.weights})>"


# ----------------------------------------------------------------------------- reading runs


class RunError(ValueError):
    """A run directory that cannot be loaded; the message is one line naming the fix."""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise RunError(f"cannot read {path} ({type(e).__name__}); the run is damaged") from None
    if not isinstance(data, dict):
        raise RunError(f"{path} does not hold a run's JSON object; the run is damaged")
    return data


def _infer_task(config: Mapping[str, Any], specs: Mapping[str, Any]) -> str | None:
    """The task whose config has every key of ``config`` (runs written before the task name
    was recorded); the one with exactly those keys when several fit."""
    keys = set(config) - {"resolved", "key"}
    fits = []
    for name, spec in specs.items():
        try:
            known = {f.name for f in fields(spec.config())}
        except TypeError:
            continue
        if keys <= known:
            fits.append((name, known == keys))
    exact = [n for n, same in fits if same]
    if len(exact) == 1:
        return exact[0]
    return fits[0][0] if len(fits) == 1 else None


def read_run(run_dir: PathLike, weights: str | None = "best") -> RunRecord:
    """Read and check a finished run directory: its task, config, summary and weights.

    ``weights``: ``"best"``, ``"final"`` or ``None`` (no weights: the config and summary only).

    Raises:
        FileNotFoundError: no such directory.
        ValueError: (one line, naming the fix) no run in it, an unfinished run, no weights
            file, a task that is not installed, or a run written by an incompatible iga.
    """
    from iga.tasks.base import config_from_dict
    from iga.tasks.registry import tasks

    if weights not in (*WEIGHTS, None):
        raise ValueError(f"weights must be 'best' or 'final'; got {weights!r}")
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"no run directory {run}; name the --out of an iga fit run")
    if not (run / "config.json").is_file():
        raise RunError(f"{run} holds no run (no config.json); name the --out of an iga fit run")
    data = _read_json(run / "config.json")
    if not (run / "summary.json").is_file():
        hint = (
            "continue it with --resume"
            if (run / "checkpoint.pt").is_file()
            else "it was interrupted before its first checkpoint: run it again"
        )
        raise RunError(f"the run in {run} has not finished (no summary.json); {hint}")
    summary = _read_json(run / "summary.json")
    resolved = data.get("resolved") or {}
    fmt = resolved.get("format", 0)
    if not isinstance(fmt, int) or fmt > FIELD_FORMAT:
        raise RunError(
            f"{run} was written by a newer iga (run format {fmt}, this iga reads up to "
            f"{FIELD_FORMAT}; iga {resolved.get('iga', '?')}): upgrade iga"
        )
    specs = tasks()
    name = resolved.get("task") or _infer_task(data, specs)
    if name is None:
        raise RunError(
            f"cannot tell which task wrote {run} (its config.json matches none of "
            f"{', '.join(sorted(specs))}); it was written by an incompatible iga version"
        )
    if name not in specs:
        raise RunError(
            f"{run} was written by task {name!r}, which is not installed here "
            f"(installed: {', '.join(sorted(specs))}); install the package that provides it"
        )
    made = specs[name].config()
    try:
        config = config_from_dict(
            made if isinstance(made, type) else type(made),
            {k: v for k, v in data.items() if k not in ("resolved", "key")},
            "config.json",
        )
    except (TypeError, ValueError) as e:
        raise RunError(
            f"{run}/config.json does not fit this iga's {name} task ({' '.join(str(e).split())}"
            "): it was written by an incompatible iga version"
        ) from None
    state = None
    if weights is not None:
        path = run / f"{weights}.pt"
        if not path.is_file():
            other = [w for w in WEIGHTS if (run / f"{w}.pt").is_file()]
            hint = (
                f"load weights={other[0]!r} (--weights {other[0]})"
                if other
                else "benchmarks delete the weights unless --keep-checkpoints: fit it again "
                "with iga fit, or rerun the benchmark with --keep-checkpoints"
            )
            raise RunError(f"{run} has no {weights}.pt; {hint}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - truncated or foreign file: any unpickling error
            raise RunError(
                f"cannot read {path} ({type(e).__name__}); the file is damaged"
            ) from None
        if not isinstance(state, dict):
            raise RunError(f"{path} does not hold a state dict; the file is damaged")
    return RunRecord(run, name, config, resolved, summary, state, weights or "")


def load_weights(model: nn.Module, record: RunRecord) -> nn.Module:
    """``model`` with the record's weights, on the CPU in eval mode; a mismatch is one line."""
    try:
        model.load_state_dict(record.state or {})
    except RuntimeError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RunError(
            f"the weights in {record.run} do not fit the model its config.json describes "
            f"({first.rstrip(':')}); it was written by an incompatible iga version"
        ) from None
    return model.eval()


def load(
    run_dir: PathLike,
    weights: str = "best",
    *,
    device: torch.device | str | None = None,
    data: PathLike | None = None,
) -> Field:
    """The fitted field of a finished run directory (see the module docstring).

    Args:
        run_dir: a run directory written by ``iga fit`` (``config.json``, ``summary.json``
            and ``best.pt``/``final.pt``).
        weights: ``"best"`` (the weights the run's summary scores) or ``"final"``.
        device: where the field computes (default: the CPU).
        data: the run's input file or folder when its recorded path no longer resolves and
            the task needs it (an occupancy/SDF run written before the mesh normalisation was
            recorded); relative recorded paths are relative to where the run was started.

    Raises:
        FileNotFoundError: no such directory, or a needed data file is missing.
        ValueError: one line naming the fix (see :func:`read_run`).
    """
    import importlib

    from iga.tasks.registry import tasks

    record = read_run(run_dir, weights)
    spec = tasks()[record.task]
    if not spec.fitted:
        raise RunError(f"task {record.task!r} does not provide a fitted field (iga.load)")
    builder: Callable[..., Field] = importlib.import_module(spec.fitted).field
    result = builder(record, data=data)
    return result.to(device) if device is not None else result


# ----------------------------------------------------------------------------- helpers


def grid_axis(resolution: int, lo: float = -1.0, hi: float = 1.0) -> torch.Tensor:
    """``resolution`` points from ``lo`` to ``hi``, endpoints included."""
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"--resolution must be an integer >= 2; got {resolution!r}")
    return torch.linspace(lo, hi, resolution)


def turntable_pose(theta: float, phi: float = -30.0, radius: float = 4.0) -> torch.Tensor:
    """A camera-to-world matrix [4, 4] on nerf-pytorch's turntable: azimuth ``theta`` and
    elevation ``phi`` in degrees, at ``radius`` from the origin, looking at it (Blender axes)."""
    from iga.models.render import pose_spherical

    return pose_spherical(theta, phi, radius)


def as_vector(values: Any) -> torch.Tensor:
    return torch.as_tensor(values, dtype=torch.float32).reshape(-1)

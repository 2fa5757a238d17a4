"""Run directories, in one place: what marks a directory as a run, its state (missing,
finished, resumable, partial), its key (a hash of what it computes), and how ``--out``,
``--overwrite`` and ``--resume`` prepare it. :func:`iga.tasks.base.fit` and the sweep
(:mod:`iga.sweep`) use these; :func:`iga.tasks.registry.run_key` gives a config's key."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from iga.io import PathLike, to_jsonable

__all__ = [
    "CHECKPOINT_FILE",
    "REPLACED",
    "RUN_FILES",
    "config_key",
    "cpu_description",
    "prepare",
    "prepare_run_dir",
    "run_state",
]

# Files whose presence marks a directory as holding a run; also what ``overwrite`` removes.
RUN_FILES: tuple[str, ...] = ("summary.json", "config.json", "metrics.csv")
CHECKPOINT_FILE = "checkpoint.pt"
"""A run's resumable state (see :mod:`iga.tasks.base`); removed when the run finishes."""
# Fields that name where and how a run is written, not what it computes: not in its key.
_NOT_IN_KEY = ("out", "overwrite", "resume", "cache_dir", "up", "heldout_every")
_NOT_IN_KEY_TRAIN = ("device", "checkpoint_every", "spectrum_every")
REPLACED = ".replaced"
"""Where ``overwrite`` moves the old run's files; deleted when the new run has finished."""


def prepare_run_dir(path: PathLike, overwrite: bool) -> Path:
    """Create the output directory for a run and make sure it does not clobber another run.

    A directory "holds a run" when it contains any of :data:`RUN_FILES`. Without ``overwrite``
    such a directory is refused; with it, only those run files are deleted (other files are
    left alone; outputs the new run writes again are replaced atomically). Empty or unrelated
    directories are accepted as they are; missing ones are created with their parents.

    Raises:
        FileExistsError: the directory holds a run and ``overwrite`` is false, or ``path`` is an
            existing file.
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output path {out} is a file, not a directory; choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    existing = [out / name for name in RUN_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"output directory {out} already holds a run; pass --overwrite or choose another --out"
        )
    # Check everything before deleting anything, so a refusal leaves the directory untouched.
    for run_file in existing:
        if run_file.is_dir():
            raise FileExistsError(
                f"{run_file} is a directory where a run file belongs; remove it or choose "
                "another --out"
            )
    for run_file in existing:
        run_file.unlink()
    return out


_NOTHING = object()
_ADDED_LATER: dict[str, dict[str, Any]] = {
    "train": {"schedule": "step", "optimizer_options": {}},
    "method": {"solver": "exact", "solver_iters": 2},
    "model": {"fresh": ""},
    # NeRF: FR options; redraw_dead changed nothing for the committed runs (alive at init);
    # the 1D task: --opt and --fresh
    "net": {
        "fr_alpha": 0.005,
        "fr_layers": "feature",
        "redraw_dead": True,
        "options": {},
        "fresh": "",
    },
    # NeRF: the occupancy grid (off by default)
    "render": {
        "grid": 0,
        "grid_every": 16,
        "grid_threshold": 0.01,
        "grid_bound": 1.5,
        "grid_floor": 0.01,
    },
}
"""Per config section, fields added after results were committed, with the value every older
run used: left out of the key at that value, so finished runs keep their keys (and are not
re-run)."""
_ADDED_LATER_TOP: dict[str, Any] = {
    "keep": 1.0,
    "downsample": 1,
    "val_fraction": 0.0,
    "val_angles": 0,
    "loss": "regression",
}
"""Top-level config fields added after results were committed (the image task's inverse
problems, the SDF task's ``--loss``), left out of the key at their defaults."""


def config_key(config: Mapping[str, Any], resolved: Mapping[str, Any] | None = None) -> str:
    """A short hash of what a run computes: its config (as ``asdict``) without the fields that
    only say where/how it is written, plus the resolved facts that defaults decide (``lr`` and
    the model description, which names every model option). Two runs with the same key compute
    the same thing; a sweep re-runs a finished run whose key differs from what it asks for."""
    c = {k: v for k, v in config.items() if k not in _NOT_IN_KEY + ("resolved", "key")}
    train = c.get("train")
    if isinstance(train, Mapping):
        c["train"] = {k: v for k, v in train.items() if k not in _NOT_IN_KEY_TRAIN}
    for name, value in _ADDED_LATER_TOP.items():
        if c.get(name, _NOTHING) == value:
            del c[name]
    for section, later in _ADDED_LATER.items():
        part = c.get(section)
        if isinstance(part, Mapping):
            c[section] = {k: v for k, v in part.items() if later.get(k, _NOTHING) != v}
    r = resolved if resolved is not None else config.get("resolved", {})
    payload: dict[str, Any] = {"config": c, "model": r.get("model")}
    if not isinstance(train, Mapping) or train.get("lr") is None:
        payload["lr"] = r.get("lr")  # the default lr, decided per method/arch
    text = json.dumps(to_jsonable(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_state(out: str | Path) -> tuple[str, str | None]:
    """``(state, key)`` of a run directory: state is ``"missing"``, ``"finished"``,
    ``"resumable"`` (a checkpoint) or ``"partial"`` (started, nothing to resume from)."""
    d = Path(out)
    cfg_path = d / "config.json"
    key = None
    if cfg_path.is_file():
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(cfg_path.read_text())
            key = data.get("key") or config_key(data)
    if (d / "summary.json").is_file():
        return "finished", key
    if (d / CHECKPOINT_FILE).is_file():
        return "resumable", key
    if key is not None or (d / "metrics.csv").exists():
        return "partial", key
    return "missing", None


def prepare(out_text: str, overwrite: bool, resume: bool | str, key: str) -> dict[str, Any] | None:
    """Make ``out`` ready; returns the checkpoint to resume from, if any."""
    if not str(out_text).strip():
        raise ValueError("--out is empty; name a run directory, e.g. --out runs/photo")
    out = Path(out_text)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a directory; choose another --out")
    state, old_key = run_state(out)
    if resume and state == "resumable" and old_key == key:
        try:
            return torch.load(out / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - truncated or foreign file: any unpickling error
            raise ValueError(
                f"cannot read {out / CHECKPOINT_FILE} ({type(e).__name__}); the run cannot be "
                "resumed: start it afresh with --overwrite"
            ) from None
    if resume is True:
        if state == "finished":
            raise FileExistsError(f"the run in {out} has finished; nothing to resume")
        if state == "resumable" and old_key is None:
            raise ValueError(
                f"the run in {out} has a checkpoint but no readable config.json, so its options "
                "are unknown; start it afresh with --overwrite"
            )
        if state == "resumable":
            raise ValueError(
                f"the run in {out} was started with other options (key {old_key}, now {key}); "
                "pass the options it was started with, or --overwrite to start afresh"
            )
        if state == "missing":
            raise FileNotFoundError(f"no run to resume in {out}; drop --resume to start one")
        # partial: interrupted before its first checkpoint; starting over is the same thing.
    elif state != "missing" and not overwrite and resume != "auto":
        raise FileExistsError(
            f"--out {out} already holds a run; pass --overwrite, --resume or another --out"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FileExistsError(
            f"cannot create --out {out}: {e.strerror}; choose another --out"
        ) from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise FileExistsError(f"--out {out} is not writable; choose another --out")
    if state == "missing":  # a new or foreign folder: leave what it holds alone
        existing = [out / n for n in (*RUN_FILES, CHECKPOINT_FILE) if (out / n).exists()]
    else:  # the old run's every output (weights, figures, meshes, any task's), not just its CSVs
        existing = [p for p in out.iterdir() if p.name != REPLACED]
    if existing:
        aside = out / REPLACED
        shutil.rmtree(aside, ignore_errors=True)
        aside.mkdir()
        for p in existing:
            p.rename(aside / p.name)
    return None


def cpu_description() -> str:
    """The processor and the vector instructions torch's kernels use (``AVX512``, ``AVX2``):
    runs on another processor differ in the last bits, and training amplifies that (a run is
    reproducible bit for bit on the same kind of machine, not across kinds)."""
    name = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine()
    capability = getattr(torch.backends.cpu, "get_cpu_capability", lambda: "unknown")()
    return f"{name}, {capability}"

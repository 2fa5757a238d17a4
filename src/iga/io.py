"""Crash-safe output: atomic file writes and the JSON/CSV/PNG/figure/checkpoint savers.

(What a run directory holds and how its key is made: :mod:`iga.runs`.)

Every writer here goes through :func:`atomic_open`: the data is written to a temporary file in
the destination's directory, flushed and fsynced, then moved over the destination with
``os.replace``. A reader (or a run killed half-way) therefore sees either the complete old file
or the complete new one, never a truncated mix. If writing fails, the temporary file is removed
and the previous file is left untouched.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import enum
import functools
import io
import json
import math
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

__all__ = [
    "CSVAppender",
    "CSVLogger",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_open",
    "physical_memory",
    "save_figure",
    "save_gif",
    "save_png",
    "save_torch",
    "to_jsonable",
    "write_json",
]

PathLike = str | os.PathLike[str]


@functools.cache
def _default_file_mode() -> int:
    # NamedTemporaryFile creates files as 0600; results should get the usual 0666 & ~umask.
    # os.umask can only be read by setting it, so do that once and restore immediately.
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; not possible (nor needed) everywhere.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: PathLike, text: bool = False) -> Iterator[IO[Any]]:
    """Yield a file object whose content replaces ``path`` atomically when the block succeeds.

    Missing parent directories are created. On any exception the temporary file is deleted and
    the exception propagates; ``path`` keeps its previous content (or stays absent).
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"cannot write {target}: it is a directory; choose a file path")
    target.parent.mkdir(parents=True, exist_ok=True)
    mode = "w" if text else "wb"
    extra: dict[str, Any] = {"encoding": "utf-8", "newline": ""} if text else {}
    tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed explicitly below
        mode=mode,
        dir=target.parent,
        prefix=f".{target.name}.",
        suffix=".tmp",
        delete=False,
        **extra,
    )
    tmp_path = Path(tmp.name)
    try:
        try:
            yield tmp
            tmp.flush()
            os.fsync(tmp.fileno())
        finally:
            tmp.close()
        # Keep an existing file's permissions; new files get the umask default.
        mode_bits = target.stat().st_mode & 0o777 if target.exists() else _default_file_mode()
        os.chmod(tmp_path, mode_bits)
        os.replace(tmp_path, target)
    except BaseException:
        # BaseException so that Ctrl-C mid-write does not leave stray temp files either.
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: PathLike, data: bytes) -> Path:
    """Atomically replace ``path`` with ``data``; returns the path written."""
    with atomic_open(path) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Atomically replace ``path`` with ``text`` encoded as UTF-8 (newlines written verbatim)."""
    with atomic_open(path, text=True) as f:
        f.write(text)
    return Path(path)


# --- JSON -----------------------------------------------------------------------------------


def to_jsonable(obj: Any) -> Any:
    """Convert ``obj`` into plain JSON-compatible Python data (dict/list/str/int/float/bool/None).

    Handles dataclass instances (as dicts of their fields), mappings (keys become strings),
    lists/tuples (as lists), sets (as sorted lists when sortable), ``pathlib`` paths (as
    strings), enums (their value), numpy/torch scalars (Python numbers), numpy arrays and torch
    tensors (nested lists), and ``torch.dtype``/``torch.device`` (strings). Non-finite floats are
    kept as floats here; :func:`write_json` decides how to write them.

    Raises:
        TypeError: for any other type, naming it.
    """
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        # Not dataclasses.asdict: it deep-copies values, which fails or is slow for tensors.
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, Mapping):
        return {_json_key(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, set | frozenset):
        items = [to_jsonable(v) for v in obj]
        with contextlib.suppress(TypeError):
            items.sort()
        return items
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, torch.Tensor):
        return to_jsonable(obj.detach().cpu().tolist())
    if isinstance(obj, torch.dtype | torch.device):
        return str(obj)
    raise TypeError(
        f"cannot convert {type(obj).__name__} to JSON; pass plain data, dataclasses, paths, "
        "numpy or torch values"
    )


def _json_key(key: Any) -> str:
    value = to_jsonable(key)
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float) or value is None:
        return json.dumps(value)
    raise TypeError(f"cannot use {type(key).__name__} as a JSON object key; use strings")


def _nonfinite_to_none(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nonfinite_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nonfinite_to_none(v) for v in obj]
    return obj


def write_json(path: PathLike, obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (``indent=2``, key order preserved).

    ``obj`` is first passed through :func:`to_jsonable`. NaN and +/-infinity are written as
    ``null``: strict JSON has no literal for them, and ``null`` keeps the file readable by every
    parser (a PSNR of ``inf`` for a perfect fit therefore reads back as ``None``). Serialisation
    happens before anything is written, so an unconvertible object leaves ``path`` untouched.
    """
    data = _nonfinite_to_none(to_jsonable(obj))
    text = json.dumps(data, indent=2, sort_keys=False, allow_nan=False, ensure_ascii=False)
    return atomic_write_text(path, text + "\n")


# --- images, figures, checkpoints -----------------------------------------------------------


def _to_uint8_image(array: Any) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    if not isinstance(array, np.ndarray):
        raise TypeError(f"image must be a numpy array or torch tensor, got {type(array).__name__}")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 3)):
        raise ValueError(
            f"image must have shape [H, W, 3] or [H, W], got {tuple(array.shape)}; "
            "reshape flat predictions to the image shape first"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(
            f"image has no pixels (shape {tuple(array.shape)}); pass a non-empty image"
        )
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if np.issubdtype(array.dtype, np.floating):
        # NaN -> black; out-of-range values are clipped, as any image viewer would.
        clean = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        return np.round(np.clip(clean, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise ValueError(f"image dtype {array.dtype} is not supported; pass floats in [0, 1] or uint8")


def save_png(path: PathLike, array: Any) -> Path:
    """Atomically save an image as PNG.

    ``array`` is ``[H, W, 3]`` (RGB) or ``[H, W]`` / ``[H, W, 1]`` (grayscale), either floats in
    [0, 1] (clipped, NaN written as 0, rounded to 8 bits) or ``uint8``; numpy or torch.
    """
    from PIL import Image

    pixels = _to_uint8_image(array)
    image = Image.fromarray(pixels)  # uint8 [H, W] -> "L", [H, W, 3] -> "RGB"
    with atomic_open(path) as f:
        image.save(f, format="PNG")
    return Path(path)


def save_gif(path: PathLike, frames: Sequence[Any], fps: float = 20.0) -> Path:
    """Atomically save an animated GIF of ``frames`` (each as for :func:`save_png`, RGB),
    looping forever."""
    from PIL import Image

    if not frames:
        raise ValueError("save_gif needs at least one frame")
    images = [Image.fromarray(_to_uint8_image(f)) for f in frames]
    with atomic_open(path) as f:
        images[0].save(
            f,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=round(1000 / fps),
            loop=0,
        )
    return Path(path)


def save_figure(fig: Any, path: PathLike, **savefig_kwargs: Any) -> Path:
    """Atomically save a matplotlib figure, then close it (also when saving fails).

    The format follows the file suffix (PNG when there is none); ``savefig_kwargs`` go to
    ``Figure.savefig`` (``dpi``, ``bbox_inches``...).
    """
    target = Path(path)
    fmt = target.suffix.lstrip(".").lower() or "png"
    try:
        with atomic_open(target) as f:
            fig.savefig(f, format=fmt, **savefig_kwargs)
    finally:
        # Only pyplot tracks figures globally; avoid importing it (and picking a GUI backend)
        # when the caller never did.
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            pyplot.close(fig)
    return target


def save_torch(path: PathLike, obj: Any) -> Path:
    """Atomically ``torch.save`` ``obj`` to ``path`` (e.g. a checkpoint or state dict)."""
    with atomic_open(path) as f:
        torch.save(obj, f)
    return Path(path)


# --- CSV ------------------------------------------------------------------------------------


def _csv_value(value: Any) -> Any:
    value = to_jsonable(value)
    if isinstance(value, dict | list):
        return json.dumps(value)
    return "" if value is None else value


class CSVAppender:
    """A CSV file written row by row as a run goes (``metrics.csv``), flushed on demand.

    Unlike :class:`CSVLogger` (whole-file atomic rewrites) it appends, so its cost per row does
    not grow with the file; a run killed mid-write can leave a partial last line, which a
    resumed run rewrites (it starts the file again from the rows its checkpoint holds).

    ``columns`` given: start the file with that header and ``rows``; ``None``: append to the
    existing file under its own header.
    """

    def __init__(
        self,
        path: PathLike,
        columns: list[str] | None = None,
        rows: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        self.path = Path(path)
        if columns is None:
            with open(self.path, newline="") as f:
                columns = next(csv.reader(f))
            self._file = open(self.path, "a", newline="")  # noqa: SIM115 - close()
        else:
            self._file = open(self.path, "w", newline="")  # noqa: SIM115 - close()
        self.columns = columns
        self._writer = csv.writer(self._file)
        if self._file.mode == "w":
            self._writer.writerow(columns)
        for row in rows:
            self.write(row)
        self.flush()

    def write(self, row: Mapping[str, Any]) -> None:
        """One row; columns it lacks are left empty, keys outside the header are ignored."""
        self._writer.writerow([_csv_value(row.get(c)) for c in self.columns])

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CSVAppender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class CSVLogger:
    """Collects metric rows (dicts) and writes them to a CSV file.

    Design: rows are kept in memory and :meth:`flush` rewrites the whole file atomically. A run
    killed at any moment leaves the CSV as of the last flush, always complete and parseable
    (appending in place could leave a half-written last line). The cost is rewriting the file on
    every flush, which is negligible for metric logs of a few thousand rows; call :meth:`flush`
    every few rows (or pass ``flush_every``) and once at the end. The logger owns the file:
    previous content is replaced by the first flush.

    The header is taken from the first row's keys, in order. Later rows may omit keys (written
    as empty cells) but may not add new ones. Floats are written with full precision;
    ``nan``/``inf`` are written as Python prints them, which ``float()`` reads back.
    """

    def __init__(self, path: PathLike, flush_every: int = 0) -> None:
        """Create a logger for ``path``; ``flush_every > 0`` flushes after every that many rows."""
        if flush_every < 0:
            raise ValueError(f"flush_every must be >= 0, got {flush_every}; use 0 to disable")
        self.path = Path(path)
        self.flush_every = flush_every
        self.fieldnames: list[str] | None = None
        self._rows: list[dict[str, Any]] = []

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows logged so far (copies)."""
        return [dict(r) for r in self._rows]

    def log(self, row: Mapping[str, Any]) -> None:
        """Add one row; the first row fixes the column names."""
        if not row:
            raise ValueError("cannot log an empty row; pass at least one metric")
        keys = [str(k) for k in row]
        if self.fieldnames is None:
            self.fieldnames = keys
        else:
            extra = [k for k in keys if k not in self.fieldnames]
            if extra:
                raise ValueError(
                    f"row has columns {extra} not in the CSV header {self.fieldnames}; "
                    "include every column in the first logged row"
                )
        self._rows.append({str(k): _csv_value(v) for k, v in row.items()})
        if self.flush_every and len(self._rows) % self.flush_every == 0:
            self.flush()

    def flush(self) -> None:
        """Atomically rewrite the CSV with all rows so far (does nothing before the first row)."""
        if self.fieldnames is None:
            return
        buffer = io.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=self.fieldnames, restval="")
        writer.writeheader()
        writer.writerows(self._rows)
        atomic_write_text(self.path, buffer.getvalue())

    def __enter__(self) -> CSVLogger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.flush()


def physical_memory() -> int | None:
    """The machine's physical memory in bytes, or None where the OS does not say (callers
    then skip their memory checks)."""
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * page_size if pages > 0 and page_size > 0 else None


def read_csv(path: PathLike) -> list[dict[str, str]]:
    """Rows of a CSV written by :class:`CSVLogger`, as dicts of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))

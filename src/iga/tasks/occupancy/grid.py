"""A mesh's occupancy grid: the inside test of :mod:`iga.meshes` on a regular grid
in [-1, 1]³, computed in chunks within a memory budget and cached on disk (keyed by the
file's bytes, the resolution, the margin and the inside test)."""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from iga.io import atomic_open
from iga.io import physical_memory as _physical_memory_bytes
from iga.meshes import (
    _DEFAULT_CHUNK,
    METHOD,
    Normalization,
    PathLike,
    _check_margin,
    _check_resolution,
    _classify,
    _grid_axis,
    _one_line,
    cache_dir_default,
    file_sha256,
    load_mesh,
    normalize,
)

if TYPE_CHECKING:
    import trimesh

__all__ = ["OccupancyGrid", "cache_dir_default", "grid_bytes", "occupancy_grid"]

#: Bumped whenever the cache file's layout or meaning changes.
_FORMAT_VERSION = 1


# Working memory per query point in a chunk: flat index and i, j, k (int64), coordinates and
# winding number (float64) and temporaries; a generous round figure.
_BYTES_PER_QUERY = 128


# Occupancy must leave room for training (targets, model, batches): refuse grids whose
# computation alone would need more than this fraction of the machine's memory.
_MEMORY_FRACTION = 0.5


@dataclass
class OccupancyGrid:
    """An occupancy grid and where it came from.

    Attributes:
        occupancy: bool ``[R, R, R]``; ``occupancy[i, j, k]`` is the point
            ``grid_points(R)[i, j, k]``.
        mesh: the normalised mesh (in [-1, 1]³).
        normalization: how ``mesh`` was obtained from the file's coordinates.
        watertight: whether the mesh is closed (every edge shared by exactly two faces).
        source: the path given.
        sha256: hex digest of the file's bytes.
        cached: True when the occupancy was read from the cache rather than computed.
    """

    occupancy: np.ndarray
    mesh: trimesh.Trimesh
    normalization: Normalization
    watertight: bool
    source: str
    sha256: str
    cached: bool


def grid_bytes(resolution: int) -> int:
    """Estimated peak memory (bytes) of :func:`occupancy_grid` at resolution R.

    The bool grid (R³), its bit-packed copy for the cache (R³/8) and one chunk of queries;
    the mesh and its BVH (tens of MB for 10⁵ faces) come on top.
    """
    r = _check_resolution(resolution)
    n = r**3
    return n + (n + 7) // 8 + min(n, _DEFAULT_CHUNK) * _BYTES_PER_QUERY


def _check_memory(resolution: int) -> None:
    total = _physical_memory_bytes()  # a module name, so tests can stand in a small machine
    if total is None:
        return
    budget = total * _MEMORY_FRACTION
    need = grid_bytes(resolution)
    if need <= budget:
        return
    largest = max(2, int(round((budget / 1.125) ** (1 / 3))))
    while largest > 2 and grid_bytes(largest) > budget:
        largest -= 1
    gib = 1024**3
    raise ValueError(
        f"--resolution {resolution} needs about {need / gib:.1f} GiB for the occupancy grid, "
        f"more than half of this machine's {total / gib:.1f} GiB; use a smaller --resolution "
        f"(at most {largest})"
    )


def _cache_key(sha256: str, resolution: int, margin: float) -> str:
    fields = {
        "sha256": sha256,
        "resolution": resolution,
        "margin": repr(float(margin)),
        "method": METHOD,
        "format": _FORMAT_VERSION,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"occupancy-{key[:16]}.npz"


def _read_cache(path: Path, key: str, resolution: int, norm: Normalization) -> np.ndarray | None:
    """The cached grid, or None when absent, unreadable, or not for these inputs."""
    n = resolution**3
    try:
        with np.load(path, allow_pickle=False) as data:
            ok = (
                str(data["key"]) == key
                and int(data["resolution"]) == resolution
                and float(data["margin"]) == norm.margin
                # The same file read by another trimesh version could be normalised
                # differently; the grid is only valid for the same transform.
                and np.allclose(data["center"], norm.center, rtol=1e-9, atol=1e-12)
                and math.isclose(float(data["scale"]), norm.scale, rel_tol=1e-9)
                and data["occupancy"].shape == ((n + 7) // 8,)
            )
            if not ok:
                return None
            packed = data["occupancy"]
    except Exception:  # any failure to read a cache file means "recompute"
        return None
    # unpackbits gives 0/1 bytes: viewing them as bool avoids a second R³ copy.
    return np.unpackbits(packed, count=n).view(bool).reshape((resolution,) * 3)


def _write_cache(
    path: Path, key: str, resolution: int, norm: Normalization, occupancy: np.ndarray
) -> None:
    """Write atomically (:func:`iga.io.atomic_open`), so readers or a concurrent run never
    see a half-written file. Failure only warns."""
    try:
        with atomic_open(path) as f:
            np.savez_compressed(
                f,
                occupancy=np.packbits(occupancy.reshape(-1)),
                resolution=np.int64(resolution),
                margin=np.float64(norm.margin),
                center=np.asarray(norm.center, dtype=np.float64),
                scale=np.float64(norm.scale),
                key=np.str_(key),
                method=np.str_(METHOD),
            )
    except OSError as exc:
        warnings.warn(
            f"could not write the occupancy cache {path} ({exc.strerror or _one_line(exc)}); "
            "set IGA_CACHE_DIR to a writable folder to reuse the grid next time",
            stacklevel=3,
        )


def _grid_chunks(resolution: int, chunk: int) -> Iterator[tuple[int, np.ndarray]]:
    # Coordinates are generated per chunk from flat indices instead of materialising
    # grid_points(R) (12 bytes per point, 1.6 GB at R = 512).
    lin = _grid_axis(resolution)
    n, r2 = resolution**3, resolution * resolution
    for start in range(0, n, chunk):
        index = np.arange(start, min(start + chunk, n), dtype=np.int64)
        yield start, np.stack((lin[index // r2], lin[(index // resolution) % resolution],
                               lin[index % resolution]), axis=1)  # fmt: skip


def occupancy_grid(
    path: PathLike,
    resolution: int,
    margin: float = 0.05,
    cache_dir: PathLike | None = None,
    progress: bool = False,
) -> OccupancyGrid:
    """The occupancy of the mesh in ``path`` on the R³ grid of :func:`grid_points`.

    The mesh is loaded (:func:`load_mesh`), normalised (:func:`normalize`) and classified
    (:func:`inside`). Results are cached in ``cache_dir`` (default :func:`cache_dir_default`)
    under a key made of the file's SHA-256, R, margin, the method and a format version; an
    unreadable cache file is recomputed and rewritten, an unwritable folder only warns.

    Args:
        path: the mesh file.
        resolution: R, points per axis (>= 2).
        margin: gap between the shape and the cube's faces, in [0, 1).
        cache_dir: folder for cached grids.
        progress: show a progress bar (tqdm) while computing.

    Raises:
        ValueError: bad resolution or margin, a grid too large for this machine's memory,
            or a bad mesh (see :func:`load_mesh`); FileNotFoundError: no such file.
    """
    r = _check_resolution(resolution)
    margin = _check_margin(margin)
    _check_memory(r)
    source = str(path)
    mesh, norm = normalize(load_mesh(path), margin)
    watertight = bool(mesh.is_watertight)
    if not watertight:
        warnings.warn(
            f"{source}: the mesh is not watertight (it has holes or open edges); inside/outside "
            "uses the generalised winding number, which tolerates this, but check the result",
            stacklevel=2,
        )
    sha256 = file_sha256(Path(path))
    key = _cache_key(sha256, r, margin)
    cache_file = _cache_path(Path(cache_dir) if cache_dir else cache_dir_default(), key)
    occupancy = _read_cache(cache_file, key, r, norm)
    cached = occupancy is not None
    if occupancy is None:
        from tqdm.auto import tqdm

        flat = np.zeros(r**3, dtype=bool)
        with tqdm(
            total=r**3, desc="occupancy", unit="pt", unit_scale=True, disable=not progress
        ) as bar:
            _classify(mesh, _grid_chunks(r, _DEFAULT_CHUNK), flat, bar)
        occupancy = flat.reshape(r, r, r)
        _write_cache(cache_file, key, r, norm, occupancy)
    return OccupancyGrid(
        occupancy=occupancy,
        mesh=mesh,
        normalization=norm,
        watertight=watertight,
        source=source,
        sha256=sha256,
        cached=cached,
    )

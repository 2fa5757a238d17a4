"""Oriented points (positions and unit normals) for SIREN's loss (``iga fit sdf --loss siren``),
from a mesh or from a user's point cloud, and the surface metrics of a fit without a mesh.

Inputs (:func:`oriented_points`):

* a **mesh** (anything :func:`iga.meshes.load_mesh` reads): ``count`` points sampled
  area-uniformly on the normalised mesh with their faces' normals; the signed distance on the
  evaluation grid (for the IoU, as the regression path has it) is cached as
  ``<cache_dir>/sdf-grid-<key>.npz``;
* a **point cloud with normals**: a PLY with vertices and ``nx, ny, nz`` and no faces, or an
  ``.xyz``/``.txt`` file of six columns ``x y z nx ny nz`` (SIREN's own input). All its points
  are used; a seeded tenth (at most :data:`HELDOUT_MAX`) is held out for validation.

Either is normalised as the mesh path does (:func:`iga.meshes.normalize`: the bounding box
centred, the largest half-extent ``1 - margin``), the normals scaled to unit length, and the
training points put in Morton order (:func:`iga.tasks.sdf.data.morton_order`), so that
consecutive runs of points are spatial blocks: IGA's groups. Bad input (no normals, zero-length
normals, NaN, too few points, an unreadable file) is a one-line ``ValueError`` naming the fix.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from iga.io import atomic_open
from iga.meshes import (
    Normalization,
    PathLike,
    cache_dir_default,
    file_sha256,
    grid_points,
    load_mesh,
    normalize,
    sample_surface,
)
from iga.tasks.sdf.data import _key, level_set_metrics, morton_order, signed_distance

__all__ = [
    "CLOUD_SUFFIXES",
    "HELDOUT_MAX",
    "OrientedPoints",
    "cloud_surface_metrics",
    "oriented_points",
    "read_point_cloud",
]

CLOUD_SUFFIXES = (".xyz", ".txt")
"""Text point clouds (six columns); a PLY is a point cloud when it has no faces."""
HELDOUT_FRACTION, HELDOUT_MAX = 0.1, 2048
"""A point cloud's points held out for validation: a seeded tenth, at most 2048."""
_FIX = "export the points with their normals (PLY with nx, ny, nz, or x y z nx ny nz text)"


@dataclass
class OrientedPoints:
    """Training points ``[N, 3]`` (normalised, Morton order) with unit normals ``[N, 3]``; the
    held-out points and normals (a point cloud's; empty for a mesh); the normalised mesh and
    the signed distance on the evaluation grid ``[R, R, R]`` (both None for a point cloud)."""

    points: np.ndarray
    normals: np.ndarray
    heldout_points: np.ndarray
    heldout_normals: np.ndarray
    mesh: Any
    grid: np.ndarray | None
    watertight: bool | None
    sha256: str
    normalization: Normalization

    @property
    def all_points(self) -> tuple[np.ndarray, np.ndarray]:
        """Every given point and its normal (training and held out)."""
        return (
            np.concatenate([self.points, self.heldout_points]),
            np.concatenate([self.normals, self.heldout_normals]),
        )


def _suffix(path: PathLike) -> str:
    return Path(path).suffix.lower()


def _ply_cloud(p: Path) -> np.ndarray | None:
    """A faceless PLY's ``[N, 6]`` columns (x y z nx ny nz); None when the PLY has faces (a
    mesh). trimesh keeps a point cloud's vertex properties in ``metadata['_ply_raw']``."""
    import trimesh

    try:
        loaded = trimesh.load(p, process=False)
    except Exception as exc:  # trimesh's parsers raise anything on malformed files
        text = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ValueError(f"cannot read {p} (PLY): {text}; check the file or re-export it") from None
    if isinstance(loaded, trimesh.Trimesh) and len(loaded.faces):
        return None
    if not isinstance(loaded, trimesh.PointCloud):
        return None  # a scene or anything else: load_mesh reads it (or says why not)
    raw = loaded.metadata.get("_ply_raw", {}).get("vertex", {}).get("data", {})
    if isinstance(raw, np.ndarray) and raw.dtype.names:  # binary PLY: a structured array
        raw = {k: raw[k] for k in raw.dtype.names}
    if not all(k in raw for k in ("x", "y", "z")):
        raw = {"x": loaded.vertices[:, 0], "y": loaded.vertices[:, 1], "z": loaded.vertices[:, 2]}
    names = ("x", "y", "z", "nx", "ny", "nz")
    if not all(k in raw for k in names):
        raise ValueError(f"{p} is a point cloud without normals (nx, ny, nz); {_FIX}")
    return np.stack([np.asarray(raw[k], dtype=np.float64).reshape(-1) for k in names], axis=1)


def _text_cloud(p: Path) -> np.ndarray:
    try:
        data = np.loadtxt(p, dtype=np.float64, ndmin=2, comments="#")
    except (ValueError, OSError) as exc:
        text = " ".join(str(exc).split())[:200]
        raise ValueError(f"cannot read {p} as x y z nx ny nz text: {text}; {_FIX}") from None
    if data.size == 0:
        raise ValueError(f"{p} holds no points; {_FIX}")
    if data.shape[1] == 3:
        raise ValueError(f"{p} has 3 columns (points without normals); {_FIX}")
    if data.shape[1] != 6:
        raise ValueError(f"{p} has {data.shape[1]} columns, not 6 (x y z nx ny nz); {_FIX}")
    return data


def read_point_cloud(path: PathLike) -> tuple[np.ndarray, np.ndarray] | None:
    """``(points, normals)`` ``[N, 3]`` float64 of a point cloud file as written (normals not
    yet normalised), or None when ``path`` is a mesh. Raises a one-line ``ValueError`` for a
    cloud without normals, with non-finite values or zero-length normals."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"point cloud file not found: {p}; check the path")
    if p.is_dir() or p.stat().st_size == 0:
        kind = "a directory" if p.is_dir() else "empty (0 bytes)"
        raise ValueError(f"{p} is {kind}; name a mesh or a point cloud with normals")
    if _suffix(p) in CLOUD_SUFFIXES:
        data = _text_cloud(p)
    elif _suffix(p) == ".ply":
        found = _ply_cloud(p)
        if found is None:
            return None
        data = found
    else:
        return None
    bad = int((~np.isfinite(data).all(axis=1)).sum())
    if bad:
        raise ValueError(
            f"{p} has {bad} points with NaN or infinite coordinates or normals; remove them"
        )
    points, normals = data[:, :3], data[:, 3:]
    zero = int((np.linalg.norm(normals, axis=1) <= 1e-12).sum())
    if zero:
        raise ValueError(
            f"{p} has {zero} points with zero-length normals (no orientation); remove them "
            "or recompute the normals"
        )
    return points, normals


def _normalization(points: np.ndarray, margin: float, p: Path) -> Normalization:
    import trimesh

    lo, hi = points.min(axis=0), points.max(axis=0)
    if not float((hi - lo).max()) > 0:
        raise ValueError(f"{p}: all points coincide; a surface needs points that span it")
    # the mesh path's normalisation, on the points' bounding box
    _, norm = normalize(trimesh.PointCloud(np.stack([lo, hi])), margin)
    return norm


def _grid_truth(
    mesh: Any, sha: str, resolution: int, margin: float, cache_dir: PathLike | None
) -> np.ndarray:
    folder = Path(cache_dir) if cache_dir else cache_dir_default()
    file = folder / f"sdf-grid-{_key(sha, {'resolution': resolution, 'margin': margin})}.npz"
    if file.is_file():
        try:
            with np.load(file) as data:
                grid = data["grid"]
            if grid.shape == (resolution,) * 3:
                return grid
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is recomputed and rewritten
    grid, _ = signed_distance(mesh, grid_points(resolution).reshape(-1, 3))
    grid = grid.reshape((resolution,) * 3)
    try:
        with atomic_open(file) as f:
            np.savez_compressed(f, grid=grid)
    except OSError as e:
        warnings.warn(f"could not cache the SDF grid in {folder} ({e.strerror})", stacklevel=3)
    return grid


def oriented_points(
    path: PathLike,
    count: int,
    margin: float,
    resolution: int,
    seed: int,
    cache_dir: PathLike | None = None,
) -> OrientedPoints:
    """The oriented points of the module docstring: ``count`` samples on a mesh, or every
    point of a point cloud (``count`` unused)."""
    p = Path(path)
    cloud = read_point_cloud(p)
    sha = file_sha256(p)
    empty = np.zeros((0, 3), np.float32)
    if cloud is None:
        mesh, norm = normalize(load_mesh(p), margin)
        watertight = bool(mesh.is_watertight)
        if not watertight:
            warnings.warn(
                f"{p}: the mesh is not watertight (it has holes or open edges); the sampled "
                "normals follow its faces' orientation, check the result",
                stacklevel=2,
            )
        pts, faces = sample_surface(mesh, count, seed)
        normals = np.asarray(mesh.face_normals, dtype=np.float64)[faces]
        grid = _grid_truth(mesh, sha, resolution, margin, cache_dir)
        held = (empty, empty)
    else:
        raw, normals = cloud
        norm = _normalization(raw, margin, p)
        pts = norm.apply(raw)
        mesh, grid, watertight = None, None, None
        rng = np.random.default_rng(seed)
        n_held = min(HELDOUT_MAX, int(math.floor(len(pts) * HELDOUT_FRACTION)))
        order = rng.permutation(len(pts))
        hold, keep = np.sort(order[:n_held]), np.sort(order[n_held:])
        unit = normals / np.linalg.norm(normals, axis=1, keepdims=True)
        held = (pts[hold].astype(np.float32), unit[hold].astype(np.float32))
        pts, normals = pts[keep], normals[keep]
    normals = normals / np.linalg.norm(normals, axis=1, keepdims=True)
    pts = np.asarray(pts, dtype=np.float32)
    order = morton_order(pts)
    return OrientedPoints(
        points=pts[order],
        normals=normals[order].astype(np.float32),
        heldout_points=held[0],
        heldout_normals=held[1],
        mesh=mesh,
        grid=grid,
        watertight=watertight,
        sha256=sha,
        normalization=norm,
    )


def cloud_surface_metrics(
    pred_grid: np.ndarray, points: np.ndarray, normals: np.ndarray, count: int, seed: int
) -> dict[str, Any]:
    """The zero level set of a predicted SDF grid against a point cloud: Chamfer-L1 between
    ``count`` points sampled on the level set and ``count`` of the cloud's points (all when it
    has fewer), and normal consistency, the mean ``|n·n'|`` of the level set's face normals
    and the normal of each sample's nearest cloud point; ``surface`` None (and a ``note``)
    when the field never crosses 0."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    pick = rng.choice(len(points), size=min(count, len(points)), replace=False)
    tree = cKDTree(points)
    return level_set_metrics(
        pred_grid,
        points[np.sort(pick)],
        count,
        seed,
        lambda pts: normals[tree.query(pts, workers=1)[1]],
    )

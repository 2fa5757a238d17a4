"""Training and evaluation samples of a mesh's signed distance field, cached.

The mesh is read and normalised to [-1, 1]³ as for occupancy (:mod:`iga.meshes`). Samples:
``near_fraction`` of ``points`` are surface points (area-uniform) moved by Gaussian noise of
std ``near_std``, the rest uniform in the cube; the evaluation grid is
:func:`iga.meshes.grid_points` of ``resolution``. Signed distances: libigl's exact
distance with the fast winding number's sign (:func:`signed_distance`; negative inside; the
same inside test as occupancy, so open meshes get a sensible sign). The samples are put in Morton
(Z-curve) order, so that consecutive runs of points are spatial blocks: the IGA groups.
Cached as ``<cache_dir>/sdf-<key>.npz`` (key: the file's SHA-256 and every parameter).
"""

from __future__ import annotations

import hashlib
import json
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

__all__ = ["SDFSamples", "level_set_metrics", "morton_order", "sdf_samples", "signed_distance"]

_FORMAT_VERSION = 1


@dataclass
class SDFSamples:
    """Points ``[N, 3]`` (Morton order) with their signed distances ``[N]``, the signed
    distance on the evaluation grid ``[R, R, R]`` and the normalised mesh."""

    points: np.ndarray
    sdf: np.ndarray
    grid: np.ndarray
    mesh: Any
    watertight: bool
    sha256: str
    cached: bool
    normalization: Normalization | None = None
    """How the mesh file's units were mapped to [-1, 1]³ (what :func:`iga.load` undoes)."""


def signed_distance(mesh: Any, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance of ``points`` ``[N, 3]`` to ``mesh`` (negative inside) and the index of
    each point's closest face.

    The distance is libigl's exact point-to-mesh distance (``sign_type`` unsigned); the sign
    is the fast winding number of :func:`iga.meshes.inside`. libigl's combined
    ``FAST_WINDING_NUMBER`` mode approximates the distance too: on a sphere of radius 0.5
    (icosphere, 5 subdivisions; 200k points in [-1, 1]³) its largest error is 2.7e-3 against
    1.4e-4 (the facets' sag) for the exact distance (``docs/sdf.md``).
    """
    import igl

    from iga.meshes import inside

    p = np.ascontiguousarray(points, dtype=np.float64)
    d, face, _, _ = igl.signed_distance(
        p,
        np.ascontiguousarray(mesh.vertices, dtype=np.float64),
        np.ascontiguousarray(mesh.faces, dtype=np.int64),
        sign_type=igl.SignedDistanceType.SIGNED_DISTANCE_TYPE_UNSIGNED,
    )
    sign = np.where(inside(mesh, p), -1.0, 1.0)
    return (np.abs(d) * sign).astype(np.float32), np.asarray(face, dtype=np.int64)


def morton_order(points: np.ndarray, bits: int = 10) -> np.ndarray:
    """The permutation that sorts ``points`` in [-1, 1]³ along the Z-order curve of a
    ``2^bits``-per-axis grid: consecutive points are close in space."""
    q = np.clip(((points + 1.0) / 2.0 * (1 << bits)).astype(np.int64), 0, (1 << bits) - 1)
    code = np.zeros(len(points), dtype=np.int64)
    for b in range(bits):
        for axis in range(3):
            code |= ((q[:, axis] >> b) & 1) << (3 * b + axis)
    return np.argsort(code, kind="stable")


def _key(sha: str, params: dict[str, Any]) -> str:
    text = json.dumps({"sha256": sha, "v": _FORMAT_VERSION, **params}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def sdf_samples(
    path: PathLike,
    points: int,
    near_fraction: float,
    near_std: float,
    resolution: int,
    margin: float,
    seed: int,
    cache_dir: str | Path | None = None,
) -> SDFSamples:
    """The samples of the module docstring, from the cache when they are there."""
    mesh, norm = normalize(load_mesh(path), margin)
    watertight = bool(mesh.is_watertight)
    if not watertight:
        warnings.warn(
            f"{path}: the mesh is not watertight (it has holes or open edges); the sign uses "
            "the generalised winding number, which tolerates this, but check the result",
            stacklevel=2,
        )
    sha = file_sha256(Path(path))
    params = {
        "points": points,
        "near_fraction": near_fraction,
        "near_std": near_std,
        "resolution": resolution,
        "margin": margin,
        "seed": seed,
    }
    folder = Path(cache_dir) if cache_dir else cache_dir_default()
    file = folder / f"sdf-{_key(sha, params)}.npz"
    if file.is_file():
        try:
            with np.load(file) as data:
                got = (data["points"], data["sdf"], data["grid"])
            if got[0].shape == (points, 3) and got[2].shape == (resolution,) * 3:
                return SDFSamples(*got, mesh, watertight, sha, cached=True, normalization=norm)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is recomputed and rewritten
    rng = np.random.default_rng(seed)
    n_near = int(round(points * near_fraction))
    surface, _ = sample_surface(mesh, n_near, seed)
    near = surface + rng.normal(scale=near_std, size=surface.shape)
    uniform = rng.uniform(-1.0, 1.0, size=(points - n_near, 3))
    pts = np.clip(np.concatenate([near, uniform]), -1.0, 1.0).astype(np.float32)
    pts = pts[morton_order(pts)]
    sdf, _ = signed_distance(mesh, pts)
    grid, _ = signed_distance(mesh, grid_points(resolution).reshape(-1, 3))
    grid = grid.reshape((resolution,) * 3)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_open(file) as f:
            np.savez_compressed(f, points=pts, sdf=sdf, grid=grid)
    except OSError as e:
        warnings.warn(f"could not cache SDF samples in {folder} ({e.strerror})", stacklevel=2)
    return SDFSamples(pts, sdf, grid, mesh, watertight, sha, cached=False, normalization=norm)


def level_set_metrics(
    pred_grid: np.ndarray,
    target_points: np.ndarray,
    count: int,
    seed: int,
    target_normals: Any,
) -> dict[str, Any]:
    """The zero level set of a predicted SDF grid (marching cubes), its Chamfer-L1 to
    ``target_points`` and its normal consistency, the mean ``|n·n'|`` of the level set's face
    normals and ``target_normals(points)`` at ``count`` points sampled on it; ``surface`` None
    (and a ``note``) when the field never crosses 0."""
    from iga.meshes import surface_chamfer

    surface, chamfer = surface_chamfer(0.5 - pred_grid, target_points, count, seed + 1)
    if surface is None:
        lo, hi = float(pred_grid.min()), float(pred_grid.max())
        return {
            "surface": None,
            "chamfer": None,
            "normal_consistency": None,
            "note": f"no surface: the predicted SDF does not cross 0 (range {lo:.3g}..{hi:.3g})",
        }
    pts, faces = sample_surface(surface, count, seed + 2)
    dots = np.abs((surface.face_normals[faces] * target_normals(pts)).sum(axis=1))
    return {"surface": surface, "chamfer": chamfer, "normal_consistency": float(dots.mean())}

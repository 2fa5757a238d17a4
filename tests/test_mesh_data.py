"""Meshes -> occupancy grids: inside test against analytic shapes, normalisation, cache, errors."""

from __future__ import annotations

import os
import re
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

trimesh = pytest.importorskip("trimesh")
pytest.importorskip("igl")

from iga.meshes import (  # noqa: E402
    Normalization,
    cache_dir_default,  # noqa: E402
    grid_points,
    inside,
    load_mesh,
    normalize,
)
from iga.tasks.occupancy import grid as grid_module  # noqa: E402
from iga.tasks.occupancy.grid import grid_bytes, occupancy_grid  # noqa: E402


def _export(mesh, path: Path) -> Path:
    mesh.export(path)
    return path


def _one_line(exc_info: pytest.ExceptionInfo) -> str:
    message = str(exc_info.value)
    assert "\n" not in message and message.strip() == message and message
    return message


@pytest.fixture
def box_file(tmp_path: Path) -> Path:
    return _export(trimesh.creation.box(extents=(2.0, 1.2, 0.8)), tmp_path / "box.obj")


# ----------------------------------------------------------------------------- inside test


def test_icosphere_inside_matches_ball() -> None:
    radius = 0.8
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=radius)
    # The polyhedron is inscribed in the sphere: its faces dip below the radius by at most
    # the distance to the nearest face centre.
    facet = radius - np.linalg.norm(mesh.triangles_center, axis=1).min()
    assert 0 < facet < 0.01
    pts = np.random.default_rng(0).uniform(-1, 1, size=(20000, 3))
    dist = np.linalg.norm(pts, axis=1)
    got = inside(mesh, pts)
    assert got.dtype == bool and got.shape == (20000,)
    inner, outer = dist < radius - 2 * facet, dist > radius + 1e-6
    assert inner.sum() > 3000 and outer.sum() > 10000
    assert got[inner].all()
    assert not got[outer].any()


def test_box_inside_is_exact(box_file: Path, tmp_path: Path) -> None:
    r = 24
    grid = occupancy_grid(box_file, r, cache_dir=tmp_path / "cache")
    half = grid.mesh.bounds[1]
    np.testing.assert_allclose(grid.mesh.bounds[0], -half)
    np.testing.assert_allclose(half, [0.95, 0.57, 0.38])
    lin = np.linspace(-1, 1, r).astype(np.float32).astype(np.float64)
    # No grid coordinate lies on a face, so the exact answer is unambiguous.
    assert np.abs(np.abs(lin)[:, None] - half[None, :]).min() > 1e-3
    x, y, z = np.meshgrid(lin, lin, lin, indexing="ij")
    expected = (np.abs(x) < half[0]) & (np.abs(y) < half[1]) & (np.abs(z) < half[2])
    assert grid.occupancy.shape == (r, r, r) and grid.occupancy.dtype == bool
    np.testing.assert_array_equal(grid.occupancy, expected)
    assert grid.watertight


def test_torus_inside_matches_analytic_torus() -> None:
    major, minor = 0.6, 0.25
    mesh = trimesh.creation.torus(major, minor, major_sections=64, minor_sections=32)
    lo, hi = mesh.bounds
    # trimesh revolves around z: the torus is flat in z.
    np.testing.assert_allclose(hi[2] - lo[2], 2 * minor, rtol=1e-3)
    pts = np.random.default_rng(1).uniform(-1, 1, size=(20000, 3)) * [1, 1, 0.4]
    # Signed distance to the analytic torus; polygons deviate from it by far less than 0.02.
    sdf = np.hypot(np.hypot(pts[:, 0], pts[:, 1]) - major, pts[:, 2]) - minor
    got = inside(mesh, pts)
    band = 0.02
    assert (sdf < -band).sum() > 2000 and (sdf > band).sum() > 2000
    assert got[sdf < -band].all()
    assert not got[sdf > band].any()
    assert not inside(mesh, np.zeros((1, 3)))[0]  # the hole is outside


def test_inside_shapes_chunks_and_orientation() -> None:
    mesh = trimesh.creation.icosphere(subdivisions=2)
    pts = np.random.default_rng(2).uniform(-1.2, 1.2, size=(1000, 3)).astype(np.float32)
    ref = inside(mesh, pts)
    np.testing.assert_array_equal(inside(mesh, pts, chunk=7), ref)
    assert inside(mesh, pts.reshape(10, 100, 3)).shape == (10, 100)
    np.testing.assert_array_equal(inside(mesh, pts.reshape(10, 100, 3)).reshape(-1), ref)
    assert inside(mesh, np.zeros((0, 3))).shape == (0,)
    # A mesh whose faces all point inwards has w = -1 inside: still inside.
    flipped = mesh.copy()
    flipped.invert()
    np.testing.assert_array_equal(inside(flipped, pts), ref)
    with pytest.raises(ValueError, match=r"\[M, 3\]"):
        inside(mesh, np.zeros((5, 2)))


@pytest.mark.parametrize("api", ["fast_winding_number", "fast_winding_number_for_meshes"])
def test_inside_with_older_libigl_bindings(monkeypatch: pytest.MonkeyPatch, api: str) -> None:
    # Bindings without FastWindingNumberBVH (libigl 2.5 names the function differently).
    import igl

    mesh = trimesh.creation.icosphere(subdivisions=2)
    pts = np.random.default_rng(4).uniform(-1.2, 1.2, size=(500, 3))
    ref = inside(mesh, pts)
    monkeypatch.setitem(sys.modules, "igl", types.SimpleNamespace(**{api: igl.fast_winding_number}))
    np.testing.assert_array_equal(inside(mesh, pts, chunk=100), ref)
    monkeypatch.setitem(sys.modules, "igl", types.SimpleNamespace())
    with pytest.raises(ImportError, match="pip install -U 'libigl>=2.5'"):
        inside(mesh, pts)


# ----------------------------------------------------------------------------- normalising


def test_normalize() -> None:
    mesh = trimesh.creation.box(extents=(4.0, 2.0, 1.0))
    mesh.apply_translation([10.0, -3.0, 5.0])
    before = mesh.vertices.copy()
    out, norm = normalize(mesh, margin=0.1)
    np.testing.assert_array_equal(mesh.vertices, before)  # input untouched
    assert out is not mesh
    lo, hi = out.bounds
    np.testing.assert_allclose((lo + hi) / 2, 0, atol=1e-12)
    np.testing.assert_allclose((hi - lo) / 2, [0.9, 0.45, 0.225])
    assert isinstance(norm, Normalization)
    assert norm.center == pytest.approx((10.0, -3.0, 5.0))
    assert norm.scale == pytest.approx(0.9 / 2.0) and norm.margin == 0.1
    np.testing.assert_allclose(norm.apply(mesh.vertices), out.vertices)
    np.testing.assert_allclose(norm.invert(norm.apply(before)), before, atol=1e-12)
    default, _ = normalize(mesh)
    assert np.abs(default.vertices).max() == pytest.approx(0.95)
    for bad in (-0.1, 1.0, float("nan"), "x"):
        with pytest.raises(ValueError, match="--margin") as exc:
            normalize(mesh, margin=bad)
        _one_line(exc)


def test_grid_points_layout() -> None:
    r = 5
    pts = grid_points(r)
    assert pts.shape == (r, r, r, 3) and pts.dtype == np.float32
    lin = np.linspace(-1, 1, r).astype(np.float32)
    i, j, k = 1, 3, 4
    np.testing.assert_array_equal(pts[i, j, k], [lin[i], lin[j], lin[k]])
    np.testing.assert_array_equal(pts.reshape(-1, 3)[i * r * r + j * r + k], pts[i, j, k])
    assert pts.min() == -1 and pts.max() == 1
    np.testing.assert_array_equal(pts[:, 0, 0, 0], lin)  # axis 0 is x
    np.testing.assert_array_equal(pts[0, :, 0, 1], lin)
    np.testing.assert_array_equal(pts[0, 0, :, 2], lin)


# ----------------------------------------------------------------------------- loading


@pytest.mark.parametrize("suffix", ["obj", "ply", "stl", "off"])
def test_load_formats(tmp_path: Path, suffix: str) -> None:
    sphere = trimesh.creation.icosphere(subdivisions=2)
    mesh = load_mesh(_export(sphere, tmp_path / f"sphere.{suffix}"))
    assert len(mesh.faces) == len(sphere.faces) and mesh.is_watertight
    np.testing.assert_allclose(mesh.bounds, sphere.bounds, atol=1e-5)


def test_load_scene_concatenates(tmp_path: Path) -> None:
    a = trimesh.creation.box()
    b = trimesh.creation.box()
    b.apply_translation([3.0, 0.0, 0.0])
    mesh = load_mesh(_export(trimesh.Scene([a, b]), tmp_path / "two.glb"))
    assert len(mesh.faces) == 24
    np.testing.assert_allclose(mesh.bounds, [[-0.5, -0.5, -0.5], [3.5, 0.5, 0.5]])


def test_non_watertight_warns_and_works(tmp_path: Path) -> None:
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    holed = trimesh.Trimesh(box.vertices, box.faces[1:], process=False)
    assert not holed.is_watertight
    path = _export(holed, tmp_path / "holed.obj")
    with pytest.warns(UserWarning, match="not watertight") as record:
        grid = occupancy_grid(path, 17, cache_dir=tmp_path / "cache")
    assert all("\n" not in str(w.message) for w in record)
    assert "winding number" in str(record[0].message)
    assert not grid.watertight
    assert grid.occupancy[8, 8, 8]  # the centre
    lin = np.linspace(-1, 1, 17)
    x, y, z = np.meshgrid(lin, lin, lin, indexing="ij")
    box_truth = np.maximum(np.maximum(abs(x), abs(y)), abs(z)) < 0.95
    assert (grid.occupancy == box_truth).mean() > 0.97


# ----------------------------------------------------------------------------- cache


def _cache_files(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def test_cache_hit_miss_and_atomic_write(box_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = occupancy_grid(box_file, 16, cache_dir=cache)
    assert not first.cached
    files = _cache_files(cache)
    assert len(files) == 1 and re.fullmatch(r"occupancy-[0-9a-f]{16}\.npz", files[0])
    second = occupancy_grid(box_file, 16, cache_dir=cache)
    assert second.cached
    np.testing.assert_array_equal(second.occupancy, first.occupancy)
    assert second.normalization == first.normalization and second.sha256 == first.sha256
    assert second.source == str(box_file) and len(second.sha256) == 64
    # Also what the inside test gives on grid_points, bit for bit.
    np.testing.assert_array_equal(first.occupancy, inside(first.mesh, grid_points(16)))
    # Different R, margin or file bytes: misses.
    assert not occupancy_grid(box_file, 17, cache_dir=cache).cached
    assert not occupancy_grid(box_file, 16, margin=0.1, cache_dir=cache).cached
    changed = _export(trimesh.creation.box(extents=(2.0, 1.2, 0.9)), tmp_path / "box2.obj")
    assert not occupancy_grid(changed, 16, cache_dir=cache).cached
    files = _cache_files(cache)
    # No temporary files left behind: only the four grids.
    assert len(files) == 4 and all(re.fullmatch(r"occupancy-[0-9a-f]{16}\.npz", f) for f in files)


def test_corrupt_cache_is_recomputed(box_file: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = occupancy_grid(box_file, 12, cache_dir=cache)
    (path,) = cache.iterdir()
    path.write_bytes(b"not a zip file")
    again = occupancy_grid(box_file, 12, cache_dir=cache)
    assert not again.cached
    np.testing.assert_array_equal(again.occupancy, first.occupancy)
    assert occupancy_grid(box_file, 12, cache_dir=cache).cached  # rewritten
    # A valid file for other inputs under this name (e.g. a truncated key clash) is ignored.
    np.savez(path, occupancy=np.zeros(3, np.uint8), resolution=12, margin=0.05, key="x")
    assert not occupancy_grid(box_file, 12, cache_dir=cache).cached


def test_failed_cache_write_warns_and_leaves_nothing(
    box_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"

    def broken(file, **arrays):
        file.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", broken)
    with pytest.warns(UserWarning, match="could not write the occupancy cache") as record:
        grid = occupancy_grid(box_file, 10, cache_dir=cache)
    assert "\n" not in str(record[0].message) and "IGA_CACHE_DIR" in str(record[0].message)
    assert grid.occupancy.any() and not grid.cached
    assert _cache_files(cache) == []


def test_unwritable_cache_dir_only_warns(box_file: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.warns(UserWarning, match="could not write the occupancy cache"):
        grid = occupancy_grid(box_file, 10, cache_dir=blocker / "cache")
    assert grid.occupancy.any()


def test_default_cache_dir(box_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IGA_CACHE_DIR", str(tmp_path / "env-cache"))
    assert cache_dir_default() == tmp_path / "env-cache"
    occupancy_grid(box_file, 8, progress=True)
    assert len(_cache_files(tmp_path / "env-cache")) == 1
    monkeypatch.delenv("IGA_CACHE_DIR")
    assert cache_dir_default() == Path.home() / ".cache" / "iga"


# ----------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.obj"
    with pytest.raises(FileNotFoundError) as exc:
        load_mesh(path)
    assert str(path) in _one_line(exc) and "check the path" in str(exc.value)
    with pytest.raises(FileNotFoundError):
        occupancy_grid(path, 8, cache_dir=tmp_path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.obj"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="empty") as exc:
        load_mesh(path)
    assert str(path) in _one_line(exc) and "re-export" in str(exc.value)


@pytest.mark.parametrize("suffix", ["obj", "ply", "stl"])
def test_garbage_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"garbage.{suffix}"
    path.write_bytes(np.random.default_rng(3).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError) as exc:
        load_mesh(path)
    message = _one_line(exc)
    assert str(path) in message and "re-export" in message


def test_garbage_stl_names_the_file_not_a_missing_module(tmp_path: Path) -> None:
    path = tmp_path / "garbage.stl"
    path.write_bytes(np.random.default_rng(5).integers(0, 256, 3000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError) as exc:
        load_mesh(path)
    message = _one_line(exc)
    assert "not a valid STL mesh" in message and "module" not in message


@pytest.mark.parametrize("suffix", ["ply", "obj"])
def test_a_nan_vertex_is_an_error_not_a_dropped_face(tmp_path: Path, suffix: str) -> None:
    ball = trimesh.creation.icosphere(subdivisions=1)
    vertices = ball.vertices.copy()
    vertices[0, 0] = np.nan
    path = _export(trimesh.Trimesh(vertices, ball.faces, process=False), tmp_path / f"n.{suffix}")
    with pytest.raises(ValueError, match="NaN or infinite coordinates") as exc:
        load_mesh(path)
    assert str(path) in _one_line(exc)


def test_unsupported_format(tmp_path: Path) -> None:
    path = tmp_path / "shape.qqq"
    path.write_text("hello\n")
    with pytest.raises(ValueError, match="unsupported mesh format 'qqq'") as exc:
        load_mesh(path)
    assert "convert it to OBJ" in _one_line(exc)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is a directory") as exc:
        load_mesh(tmp_path)
    _one_line(exc)


def test_vertices_without_faces(tmp_path: Path) -> None:
    path = tmp_path / "points.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\n")
    with pytest.raises(ValueError, match="4 vertices but no faces") as exc:
        load_mesh(path)
    assert str(path) in _one_line(exc) and "export a triangle mesh" in str(exc.value)


@pytest.mark.parametrize("shape", ["triangle", "square", "tilted"])
def test_flat_mesh(tmp_path: Path, shape: str) -> None:
    if shape == "triangle":
        mesh = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]])
    else:
        mesh = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], [[0, 1, 2], [0, 2, 3]])
        if shape == "tilted":  # flat, but not along an axis: the bounding box has volume
            mesh.apply_transform(trimesh.transformations.rotation_matrix(0.7, [1, 1, 0]))
            assert (mesh.extents > 0.1).all()
    path = _export(mesh, tmp_path / f"{shape}.obj")
    with pytest.raises(ValueError, match="is flat") as exc:
        load_mesh(path)
    assert str(path) in _one_line(exc) and "export a closed mesh" in str(exc.value)


@pytest.mark.parametrize("resolution", [1, 0, -4, 2.5, True, "64"])
def test_bad_resolution(box_file: Path, tmp_path: Path, resolution) -> None:
    with pytest.raises(ValueError, match="--resolution must be an integer >= 2") as exc:
        occupancy_grid(box_file, resolution, cache_dir=tmp_path)
    assert "e.g. --resolution 128" in _one_line(exc)
    with pytest.raises(ValueError, match="--resolution"):
        grid_points(resolution)


def test_resolution_too_large_for_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grid_module, "_physical_memory_bytes", lambda: 64 << 20)
    # Checked before the mesh is even read (the file does not exist).
    with pytest.raises(ValueError, match="use a smaller --resolution") as exc:
        occupancy_grid(tmp_path / "never-read.obj", 512, cache_dir=tmp_path)
    message = _one_line(exc)
    assert "--resolution 512" in message and "GiB" in message
    largest = int(re.search(r"at most (\d+)", message).group(1))
    assert 2 <= largest < 512 and grid_bytes(largest) <= (64 << 20) * 0.5
    assert grid_bytes(largest + 1) > (64 << 20) * 0.5


def test_grid_bytes_grows_with_r() -> None:
    assert grid_bytes(256) > 256**3 and grid_bytes(512) > 8 * 256**3
    assert grid_bytes(512) < 2 * 512**3


def test_no_warnings_for_a_good_mesh(box_file: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        occupancy_grid(box_file, 8, cache_dir=tmp_path / "cache")

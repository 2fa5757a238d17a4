"""iga.figures.plots3d: projection, shaded mesh renders, error slices, crops, comparisons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import trimesh
from matplotlib.figure import Figure
from PIL import Image

from iga.figures import plots3d

VIEWS = [(20.0, -60.0), (0.0, 0.0), (35.0, 120.0), (-50.0, 10.0), (90.0, 0.0)]


def _toward(view: tuple[float, float]) -> np.ndarray:
    """Unit vector from the origin to the camera, written out independently of the module."""
    e, a = np.deg2rad(view[0]), np.deg2rad(view[1])
    return np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])


def _read(path: Path) -> np.ndarray:
    """The PNG as float RGB in [0, 1]."""
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0


def _sphere(subdivisions: int = 3, radius: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    m = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return np.asarray(m.vertices), np.asarray(m.faces)


# --- project --------------------------------------------------------------------------------


@pytest.mark.parametrize("view", VIEWS)
def test_project_view_axis_goes_to_centre(view):
    pts = np.outer([-2.0, -0.5, 0.0, 0.7, 3.0], _toward(view))
    uv, _ = plots3d.project(pts, view)
    np.testing.assert_allclose(uv, 0.0, atol=1e-12)


def test_project_known_rotation():
    # Camera on +x (elevation 0, azimuth 0): u along +y, v along +z, depth along -x.
    pts = np.array([[0.3, -0.2, 0.9], [-1.0, 0.5, -0.4]])
    uv, depth = plots3d.project(pts, (0.0, 0.0))
    np.testing.assert_allclose(uv, [[-0.2, 0.9], [0.5, -0.4]], atol=1e-12)
    np.testing.assert_allclose(depth, [-0.3, 1.0], atol=1e-12)


@pytest.mark.parametrize("view", VIEWS)
def test_project_is_orthographic(view):
    rng = np.random.default_rng(0)
    p = rng.uniform(-1, 1, size=(50, 3))
    uv, depth = plots3d.project(p, view)
    # A rotation: all distances are preserved by (u, v, depth) ...
    cam = np.column_stack([uv, depth])
    d3 = np.linalg.norm(p[:, None] - p[None], axis=-1)
    np.testing.assert_allclose(np.linalg.norm(cam[:, None] - cam[None], axis=-1), d3, atol=1e-12)
    # ... so distances perpendicular to the view direction survive in the image plane, and
    # moving along the view direction changes only the depth.
    t = _toward(view)
    perp = p - np.outer(p @ t, t)
    uv_perp, _ = plots3d.project(perp, view)
    np.testing.assert_allclose(uv_perp, uv, atol=1e-12)
    dperp = np.linalg.norm(perp[:, None] - perp[None], axis=-1)
    np.testing.assert_allclose(np.linalg.norm(uv[:, None] - uv[None], axis=-1), dperp, atol=1e-12)


@pytest.mark.parametrize("view", VIEWS)
def test_project_depth_increases_away_from_camera(view):
    t = _toward(view)
    base = np.array([0.1, -0.2, 0.3])
    _, depth = plots3d.project(np.stack([base + 0.5 * t, base - 0.5 * t]), view)
    assert depth[0] < depth[1]
    assert depth[1] - depth[0] == pytest.approx(1.0)


def test_project_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"\[N, 3\]"):
        plots3d.project(np.zeros((4, 2)))
    uv, depth = plots3d.project(np.zeros((0, 3)))
    assert uv.shape == (0, 2) and depth.shape == (0,)


# --- render ---------------------------------------------------------------------------------


def test_save_render_sphere_is_a_round_centred_shaded_blob(tmp_path):
    v, f = _sphere()
    out = plots3d.save_render(tmp_path / "s.png", v, f, size=3.0)
    assert out == tmp_path / "s.png"
    img = _read(out)
    h, w, _ = img.shape
    assert (h, w) == (450, 450)  # 3 in at 150 dpi
    mask = img.min(axis=-1) < 0.97
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    bh, bw = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert 0.95 < bh / bw < 1.05  # round: square bounding box ...
    assert mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].mean() == pytest.approx(
        np.pi / 4, abs=0.03
    )  # ... filled like a disc
    cy, cx = (rows[0] + rows[-1]) / 2, (cols[0] + cols[-1]) / 2
    assert abs(cy - h / 2) < 0.04 * h and abs(cx - w / 2) < 0.04 * w
    # Lit from the upper left: that side of the blob is brighter (constant shading fails).
    grey = img.mean(axis=-1)
    left = grey[:, : int(cx)][mask[:, : int(cx)]].mean()
    right = grey[:, int(cx) :][mask[:, int(cx) :]].mean()
    top = grey[: int(cy)][mask[: int(cy)]].mean()
    bottom = grey[int(cy) :][mask[int(cy) :]].mean()
    assert left - right > 0.05
    assert top - bottom > 0.05


def test_render_ignores_face_winding(tmp_path):
    v, f = _sphere(subdivisions=2)
    a = _read(plots3d.save_render(tmp_path / "a.png", v, f, size=2.0))
    b = _read(plots3d.save_render(tmp_path / "b.png", v, f[:, ::-1], size=2.0))
    # The same picture (up to silhouette pixels and rounding): not the mesh seen inside out.
    diff = np.abs(a - b).max(axis=-1)
    assert (diff > 0.05).mean() < 0.002
    assert np.abs(a - b).mean() < 1e-3


def test_render_mesh_axes_and_crop():
    v, f = _sphere(subdivisions=2)
    fig = Figure()
    ax = fig.add_subplot()
    plots3d.render_mesh(ax, v, f, crop=(-0.2, 0.3, 0.0, 0.5))
    assert ax.get_xlim() == (-0.2, 0.3) and ax.get_ylim() == (0.0, 0.5)
    assert not ax.axison and ax.get_aspect() == 1.0
    (coll,) = ax.collections
    assert 0 < len(coll.get_paths()) < len(plots3d.visible_faces(v, f))
    # An empty mesh draws nothing but still sets up the axes.
    ax2 = fig.add_subplot(2, 1, 2)
    plots3d.render_mesh(ax2, np.zeros((0, 3)), np.zeros((0, 3), dtype=int))
    assert not ax2.collections and not ax2.axison


def test_render_mesh_rejects_bad_faces():
    v, f = _sphere(subdivisions=1)
    ax = Figure().add_subplot()
    with pytest.raises(ValueError, match="indices"):
        plots3d.render_mesh(ax, v, f + len(v))
    with pytest.raises(TypeError, match="integer"):
        plots3d.render_mesh(ax, v, f.astype(float))
    with pytest.raises(ValueError, match="u0 < u1"):
        plots3d.render_mesh(ax, v, f, crop=(1.0, 0.0, 0.0, 1.0))


@pytest.mark.parametrize("flip", [False, True])
def test_visible_faces_of_a_cube(flip):
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    v, f = np.asarray(box.vertices), np.asarray(box.faces)
    if flip:
        f = f[:, ::-1]
    assert len(f) == 12
    # A generic view sees three sides of the cube: 3 faces' worth (two triangles each).
    vis = plots3d.visible_faces(v, f, (20.0, -60.0))
    assert len(vis) == 6
    # The three sides facing the camera (outward normals of the unflipped box).
    assert np.all(np.asarray(box.face_normals)[vis] @ _toward((20.0, -60.0)) > 0)
    for view in VIEWS:
        assert len(plots3d.visible_faces(v, f, view)) <= 6
    # Head on, only the front side is seen.
    vis = plots3d.visible_faces(v, f, (0.0, 0.0))
    assert len(vis) == 2 and np.allclose(v[f[vis]][..., 0], 0.5)


# --- error slices ---------------------------------------------------------------------------


def _grids() -> tuple[np.ndarray, np.ndarray]:
    r = 9  # middle index 4, coordinate 0.0
    true = np.zeros((r, r, r), dtype=bool)
    true[4, 4, 4] = True  # inside in both: in all three middle slices
    true[6:8, 4, 4] = True  # missed by pred (false outside): y and z middle slices only
    pred = np.zeros_like(true)
    pred[4, 4, 4] = True
    pred[4, 1:3, 4] = True  # false inside: x and z middle slices only
    pred[0, 0, 0] = True  # false inside, in no middle slice
    return pred, true


def test_slice_error_counts_exact():
    pred, true = _grids()
    counts = plots3d.slice_error_counts(pred, true)
    assert counts == [
        {
            "axis": "x",
            "index": 4,
            "coord": 0.0,
            "false_inside": 2,
            "false_outside": 0,
            "both_inside": 1,
        },
        {
            "axis": "y",
            "index": 4,
            "coord": 0.0,
            "false_inside": 0,
            "false_outside": 2,
            "both_inside": 1,
        },
        {
            "axis": "z",
            "index": 4,
            "coord": 0.0,
            "false_inside": 2,
            "false_outside": 2,
            "both_inside": 1,
        },
    ]


def test_error_slices_writes_png(tmp_path):
    pred, true = _grids()
    out = plots3d.error_slices(pred, true.astype(np.float32), tmp_path / "e.png", title="t")
    img = _read(out)
    assert img.shape[1] > img.shape[0] > 100
    # The red and blue of the error voxels are drawn.
    red = (img[..., 0] > 0.7) & (img[..., 1] < 0.3) & (img[..., 2] < 0.3)
    blue = (img[..., 2] > 0.7) & (img[..., 0] < 0.3)
    assert red.sum() > 50 and blue.sum() > 50
    with pytest.raises(ValueError, match="same shape"):
        plots3d.error_slices(pred, true[:-1], tmp_path / "bad.png")


# --- crops and comparisons ------------------------------------------------------------------


@pytest.mark.parametrize("view", [(20.0, -60.0), (35.0, 120.0)])
def test_choose_crop_finds_the_cluster(view):
    rng = np.random.default_rng(1)
    centre = np.array([0.55, -0.35, 0.4])
    cluster = centre + rng.normal(scale=0.03, size=(300, 3))
    noise = rng.uniform(-1, 1, size=(100, 3))
    u0, u1, v0, v1 = plots3d.choose_crop(np.concatenate([cluster, noise]), view, frac=0.2)
    cu, cv = plots3d.project(centre[None], view)[0][0]
    assert u0 < cu < u1 and v0 < cv < v1
    cube = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)])
    cuv, _ = plots3d.project(cube, view)
    side = 0.2 * np.ptp(cuv, axis=0).max()
    assert u1 - u0 == pytest.approx(side) and v1 - v0 == pytest.approx(side)


def test_choose_crop_without_points_is_centred():
    u0, u1, v0, v1 = plots3d.choose_crop(np.zeros((0, 3)))
    assert u0 == pytest.approx(-u1) and v0 == pytest.approx(-v1) and u1 - u0 == v1 - v0 > 0


def test_compare_surfaces_with_a_missing_surface(tmp_path):
    v, f = _sphere(subdivisions=2)
    crop = plots3d.choose_crop(v[v[:, 0] > 0.5])
    surfaces = {"reference": (v, f), "vanilla": None, "iga": (v * 0.9, f)}
    out = plots3d.compare_surfaces(
        surfaces, tmp_path / "c.png", crop=crop, titles_extra={"iga": "IoU 0.99"}
    )
    img = _read(out)
    assert img.shape[1] > img.shape[0]  # three columns, two rows
    one_row = _read(plots3d.compare_surfaces(surfaces, tmp_path / "c1.png"))
    assert one_row.shape[0] < img.shape[0]
    with pytest.raises(ValueError, match="at least one"):
        plots3d.compare_surfaces({}, tmp_path / "none.png")

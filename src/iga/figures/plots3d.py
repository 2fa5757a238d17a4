"""Figures of 3D occupancy results: shaded surface renders, error slices, zoomed comparisons.

The surfaces come from marching cubes on a fitted occupancy field (vertices in [-1, 1]³,
triangle faces). They are drawn with matplotlib only -- no OpenGL, no display -- so every figure
renders headless (CI, a compute node). A render is a small software rasteriser built on
:class:`matplotlib.collections.PolyCollection`: vertices are projected orthographically onto the
image plane of a camera at ``(elevation, azimuth)`` (matplotlib's 3D convention, in degrees),
back faces are culled, the rest are flat-shaded (ambient plus Lambert from a fixed light) and
painted far to near (painter's algorithm). All numpy work is vectorised, so a 200k-face mesh
takes about a second.

Like :mod:`iga.figures.plots`, figures are ``matplotlib.figure.Figure`` objects, never ``pyplot``:
importing this module does not change the process-wide backend, and saving goes through
:func:`iga.io.save_figure` (atomic, figure closed afterwards), which returns the path.

Image-plane coordinates ``(u, v)``: ``u`` to the right, ``v`` up, both in the units of the
vertices. :func:`project` is public so that a caller can choose a crop window ``(u0, u1, v0,
v1)`` in the same plane (:func:`choose_crop` does it from points where two surfaces disagree).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from iga.io import save_figure

__all__ = [
    "View",
    "choose_crop",
    "compare_surfaces",
    "error_slices",
    "project",
    "render_mesh",
    "save_render",
    "slice_error_counts",
    "visible_faces",
]

PathLike = str | os.PathLike[str]
View = tuple[float, float]
"""``(elevation, azimuth)`` in degrees: the camera looks at the origin from this direction."""
Crop = tuple[float, float, float, float]
"""``(u0, u1, v0, v1)``: a window in the image plane of :func:`project`."""

DEFAULT_VIEW: View = (20.0, -60.0)
_DPI = 150
# Shading: intensity = AMBIENT + DIFFUSE * max(n·L, 0) + HEAD * n·w. The key light L comes
# from the upper left, in front of the surface, fixed in the camera frame (u right, v up, w
# toward the camera) so every view is lit alike; a weak headlight (along w) keeps the faces
# turned away from L from being a flat ambient grey.
_AMBIENT = 0.2
_DIFFUSE = 0.6
_HEAD = 0.25
_LIGHT = np.array([-0.5, 0.6, 1.0]) / np.linalg.norm([-0.5, 0.6, 1.0])
_CUBE = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float)

# error_slices colours (RGB).
_WHITE = (1.0, 1.0, 1.0)
_GREY = (0.8, 0.8, 0.8)
_RED = (0.86, 0.12, 0.12)
_BLUE = (0.12, 0.32, 0.86)
_CROP_EDGE = (0.9, 0.15, 0.1)


def _basis(view: View) -> np.ndarray:
    """Rows ``right, up, toward``: an orthonormal, right-handed camera frame (right × up =
    toward, the unit vector from the origin to the camera)."""
    elev, azim = np.deg2rad(float(view[0])), np.deg2rad(float(view[1]))
    ce, se, ca, sa = np.cos(elev), np.sin(elev), np.cos(azim), np.sin(azim)
    right = [-sa, ca, 0.0]
    up = [-se * ca, -se * sa, ce]
    toward = [ce * ca, ce * sa, se]
    return np.array([right, up, toward], dtype=np.float64)


def _as_points(points: Any, name: str) -> np.ndarray:
    arr = np.asarray(points, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 3)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name} must have shape [N, 3], got {tuple(arr.shape)}")
    return arr


def _as_mesh(vertices: Any, faces: Any) -> tuple[np.ndarray, np.ndarray]:
    v = _as_points(vertices, "vertices")
    f = np.asarray(faces)
    if f.size == 0:
        return v, np.zeros((0, 3), dtype=np.int64)
    if f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"faces must have shape [F, 3] (triangles), got {tuple(f.shape)}")
    if not np.issubdtype(f.dtype, np.integer):
        raise TypeError(f"faces must be integer vertex indices, got dtype {f.dtype}")
    f = f.astype(np.int64, copy=False)
    if f.min() < 0 or f.max() >= len(v):
        raise ValueError(
            f"faces index vertices 0..{len(v) - 1} but hold indices {f.min()}..{f.max()}"
        )
    return v, f


def project(points: np.ndarray, view: View = DEFAULT_VIEW) -> tuple[np.ndarray, np.ndarray]:
    """Orthographic projection of ``points [M, 3]`` for a camera at ``view``.

    Returns ``(uv [M, 2], depth [M])``: image-plane coordinates (``u`` right, ``v`` up, in the
    units of the points; the origin projects to ``(0, 0)``) and the depth along the viewing
    direction, increasing away from the camera (a larger depth is hidden by a smaller one).
    Distances perpendicular to the viewing direction are preserved.
    """
    pts = _as_points(points, "points")
    cam = pts @ _basis(view).T
    return cam[:, :2].copy(), -cam[:, 2]


def _camera_triangles(vertices: np.ndarray, faces: np.ndarray, view: View) -> np.ndarray:
    """``[F, 3, 3]`` triangle corners in camera coordinates (u, v, toward the camera)."""
    return (vertices @ _basis(view).T)[faces]


def _normals(tri: np.ndarray) -> np.ndarray:
    """Unnormalised face normals ``[F, 3]``, outward for the mesh's dominant orientation.

    The winding of a mesh is not always known (marching cubes orients faces by the gradient of
    the field, which flips with its sign convention), so the normals are flipped when the
    signed volume of the mesh is negative, i.e. when most faces wind inward.
    """
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    signed_volume = float(np.einsum("ij,ij->", tri[:, 0], n))
    return -n if signed_volume < 0 else n


def _select(tri: np.ndarray, n: np.ndarray, crop: Crop | None, cull: bool) -> np.ndarray:
    keep = n[:, 2] > 0 if cull else np.any(n != 0, axis=1)
    if crop is not None:
        u0, u1, v0, v1 = (float(c) for c in crop)
        u, v = tri[:, :, 0], tri[:, :, 1]
        keep &= (u.max(axis=1) >= u0) & (u.min(axis=1) <= u1)
        keep &= (v.max(axis=1) >= v0) & (v.min(axis=1) <= v1)
    return np.flatnonzero(keep)


def visible_faces(
    vertices: np.ndarray,
    faces: np.ndarray,
    view: View = DEFAULT_VIEW,
    *,
    crop: Crop | None = None,
) -> np.ndarray:
    """Indices into ``faces`` of the triangles :func:`render_mesh` draws: those facing the
    camera (back faces and degenerate triangles culled) whose projected bounding box meets the
    ``crop`` window when one is given. Occlusion is left to the painter's algorithm."""
    v, f = _as_mesh(vertices, faces)
    if len(f) == 0:
        return np.zeros(0, dtype=np.int64)
    tri = _camera_triangles(v, f, view)
    return _select(tri, _normals(tri), _check_crop(crop), cull=True)


def _check_crop(crop: Crop | None) -> Crop | None:
    if crop is None:
        return None
    if len(crop) != 4:
        raise ValueError(f"crop must be (u0, u1, v0, v1), got {crop!r}")
    u0, u1, v0, v1 = (float(c) for c in crop)
    if not (u0 < u1 and v0 < v1):
        raise ValueError(f"crop must be (u0, u1, v0, v1) with u0 < u1 and v0 < v1, got {crop!r}")
    return (u0, u1, v0, v1)


def _extent(view: View, extra: np.ndarray | None = None) -> Crop:
    """The image-plane bounding box of [-1, 1]³ (and of ``extra`` uv points), 3% margin."""
    uv, _ = project(_CUBE, view)
    if extra is not None and len(extra):
        uv = np.concatenate([uv, extra])
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    pad = 0.03 * float((hi - lo).max())
    return (lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad)


def render_mesh(
    ax: Any,
    vertices: np.ndarray,
    faces: np.ndarray,
    view: View = DEFAULT_VIEW,
    *,
    crop: Crop | None = None,
    color: Any = (0.75, 0.78, 0.85),
    cull: bool = True,
) -> None:
    """Draw a flat-shaded picture of a triangle mesh into a 2D matplotlib ``Axes``.

    ``vertices [N, 3]`` (float) and ``faces [F, 3]`` (int) as marching cubes returns them.
    Faces are projected with :func:`project`, back faces culled (``cull=False`` keeps them, for
    meshes whose faces are not consistently wound), shaded ``color × (ambient + Lambert)`` from
    their normals (ambient, a key light from the upper left and a weak headlight), and
    painted far to near without edges. The axes show the image plane with an
    equal aspect and no axis: the projected extent of [-1, 1]³ (grown to the mesh if it sticks
    out), or the ``crop`` window ``(u0, u1, v0, v1)`` (a zoom; faces outside it are skipped).
    """
    crop = _check_crop(crop)
    v, f = _as_mesh(vertices, faces)
    base = np.asarray(to_rgb(color), dtype=np.float64)
    ax.set_axis_off()
    ax.set_aspect("equal")
    if crop is None:
        uv_all = project(v, view)[0] if len(f) else None
        u0, u1, v0, v1 = _extent(view, uv_all)
    else:
        u0, u1, v0, v1 = crop
    ax.set_xlim(u0, u1)
    ax.set_ylim(v0, v1)
    if len(f) == 0:
        return
    tri = _camera_triangles(v, f, view)
    n = _normals(tri)
    idx = _select(tri, n, crop, cull)
    if len(idx) == 0:
        return
    tri, n = tri[idx], n[idx]
    order = np.argsort(tri[:, :, 2].sum(axis=1), kind="stable")  # far (small w) first
    tri, n = tri[order], n[order]
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    lambert = n @ _LIGHT
    if not cull:  # two-sided lighting for faces seen from behind
        lambert = np.where(n[:, 2] < 0, -lambert, lambert)
    shade = _AMBIENT + _DIFFUSE * np.clip(lambert, 0.0, None) + _HEAD * np.abs(n[:, 2])
    colors = np.clip(base[None, :] * shade[:, None], 0.0, 1.0)
    coll = PolyCollection(
        np.ascontiguousarray(tri[:, :, :2]),
        closed=False,
        facecolors=colors,
        edgecolors="none",
        linewidths=0.0,
        antialiaseds=False,
    )
    ax.add_collection(coll, autolim=False)


def save_render(
    path: PathLike,
    vertices: np.ndarray,
    faces: np.ndarray,
    *,
    view: View = DEFAULT_VIEW,
    title: str | None = None,
    size: float = 5.0,
) -> Path:
    """Save one shaded picture of a mesh (:func:`render_mesh`) as a ``size``-inch square PNG
    at 150 dpi, with an optional title. Returns ``path``."""
    fig = Figure(figsize=(size, size), dpi=_DPI)
    top = 0.9 if title else 0.98
    ax = fig.add_axes((0.02, 0.02, 0.96, top - 0.02))
    render_mesh(ax, vertices, faces, view)
    if title:
        fig.suptitle(title, fontsize=10, y=0.98, va="top")
    return save_figure(fig, path)


def slice_error_counts(pred: np.ndarray, true: np.ndarray) -> list[dict[str, Any]]:
    """Per-axis counts in the middle slice of two occupancy grids (what :func:`error_slices`
    shows).

    ``pred`` and ``true`` are boolean ``[R0, R1, R2]`` grids (axis 0 = x, 1 = y, 2 = z, coords
    ``linspace(-1, 1, R)``). For each axis the slice at index ``R // 2`` gives a dict with
    ``axis`` ("x", "y", "z"), ``index``, ``coord`` (its coordinate), and the voxel counts
    ``false_inside`` (pred & ~true), ``false_outside`` (~pred & true) and ``both_inside``.
    """
    p, t = _as_grids(pred, true)
    out = []
    for a, name in enumerate("xyz"):
        m = p.shape[a] // 2
        ps, ts = np.take(p, m, axis=a), np.take(t, m, axis=a)
        out.append(
            {
                "axis": name,
                "index": m,
                "coord": float(np.linspace(-1.0, 1.0, p.shape[a])[m]),
                "false_inside": int(np.count_nonzero(ps & ~ts)),
                "false_outside": int(np.count_nonzero(~ps & ts)),
                "both_inside": int(np.count_nonzero(ps & ts)),
            }
        )
    return out


def _as_grids(pred: Any, true: Any) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(pred).astype(bool), np.asarray(true).astype(bool)
    if p.ndim != 3 or p.shape != t.shape:
        raise ValueError(
            f"pred and true must be occupancy grids [R, R, R] of the same shape, got "
            f"{tuple(p.shape)} and {tuple(t.shape)}"
        )
    return p, t


def error_slices(
    pred: np.ndarray, true: np.ndarray, path: PathLike, *, title: str | None = None
) -> Path:
    """Save a 1×3 figure of the middle x, y and z slices of two occupancy grids.

    White: outside in both; light grey: inside in both; red: false inside (``pred & ~true``);
    blue: false outside (``~pred & true``). Each panel gives its slice's error counts
    (:func:`slice_error_counts`); the title gives the totals over the whole grid. Returns
    ``path``.
    """
    p, t = _as_grids(pred, true)
    counts = slice_error_counts(p, t)
    fig = Figure(figsize=(11.0, 4.3), dpi=_DPI, layout="constrained")
    axes = fig.subplots(1, 3)
    names = "xyz"
    for a, (ax, c) in enumerate(zip(axes, counts, strict=True)):
        ps, ts = np.take(p, c["index"], axis=a), np.take(t, c["index"], axis=a)
        img = np.empty((*ps.shape, 3))
        img[...] = _WHITE
        img[ps & ts] = _GREY
        img[ps & ~ts] = _RED
        img[~ps & ts] = _BLUE
        # Rows of the slice follow the first remaining axis: show it horizontally.
        ax.imshow(
            img.transpose(1, 0, 2),
            origin="lower",
            extent=(-1.0, 1.0, -1.0, 1.0),
            interpolation="nearest",
        )
        h, w = (names[i] for i in range(3) if i != a)
        ax.set_xlabel(h)
        ax.set_ylabel(w)
        ax.set_title(
            f"{c['axis']} = {c['coord']:+.3f} (slice {c['index']})\n"
            f"false inside {c['false_inside']}, false outside {c['false_outside']}",
            fontsize=9,
        )
    fi = int(np.count_nonzero(p & ~t))
    fo = int(np.count_nonzero(~p & t))
    head = f"{title}\n" if title else ""
    fig.suptitle(
        f"{head}errors: {fi} false inside, {fo} false outside ({fi + fo} of {p.size} voxels)",
        fontsize=10,
    )
    handles = [
        Patch(facecolor=_WHITE, edgecolor="0.5", label="both outside"),
        Patch(facecolor=_GREY, edgecolor="0.5", label="both inside"),
        Patch(facecolor=_RED, edgecolor="0.5", label="false inside"),
        Patch(facecolor=_BLUE, edgecolor="0.5", label="false outside"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=9, frameon=False)
    return save_figure(fig, path)


def choose_crop(error_points: np.ndarray, view: View = DEFAULT_VIEW, frac: float = 0.25) -> Crop:
    """A square window ``(u0, u1, v0, v1)`` where the projected ``error_points [K, 3]`` are
    densest, for the zoom row of :func:`compare_surfaces`.

    The side is ``frac`` × the larger side of the projected [-1, 1]³; the centre is the argmax
    of a 64×64 histogram of the projected points smoothed at a quarter of the window, and the
    window is then shifted to lie within the projected cube where it fits. With no points, the
    window is centred on the origin.
    """
    if not frac > 0:
        raise ValueError(f"frac must be > 0, got {frac}")
    pts = _as_points(error_points, "error_points")
    cube_uv, _ = project(_CUBE, view)
    lo, hi = cube_uv.min(axis=0), cube_uv.max(axis=0)
    side = float(frac) * float((hi - lo).max())
    half = side / 2
    if len(pts) == 0:
        return (-half, half, -half, half)
    from scipy.ndimage import gaussian_filter

    uv, _ = project(pts, view)
    rlo, rhi = np.minimum(lo, uv.min(axis=0)), np.maximum(hi, uv.max(axis=0))
    bins = 64
    hist, ue, ve = np.histogram2d(
        uv[:, 0], uv[:, 1], bins=bins, range=[[rlo[0], rhi[0]], [rlo[1], rhi[1]]]
    )
    widths = (rhi - rlo) / bins
    sigma = tuple(max(side / 4 / w, 0.5) for w in widths)
    smooth = gaussian_filter(hist, sigma=sigma, mode="constant")
    i, j = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
    centre = np.array([(ue[i] + ue[i + 1]) / 2, (ve[j] + ve[j + 1]) / 2])
    for k in range(2):
        if side <= hi[k] - lo[k]:
            centre[k] = np.clip(centre[k], lo[k] + half, hi[k] - half)
    cu, cv = float(centre[0]), float(centre[1])
    return (cu - half, cu + half, cv - half, cv + half)


def compare_surfaces(
    surfaces: Mapping[str, tuple[np.ndarray, np.ndarray] | None],
    path: PathLike,
    *,
    view: View = DEFAULT_VIEW,
    crop: Crop | None = None,
    titles_extra: Mapping[str, str] | None = None,
) -> Path:
    """Save the paper's Fig. 5 layout: one column per surface, the whole surface on the first
    row and, when ``crop`` is given, the zoom into that window on a second row (the window is
    outlined on the first row).

    ``surfaces`` maps labels (e.g. "reference", "vanilla", "iga") to ``(vertices, faces)``; a
    ``None`` value or an empty mesh (e.g. a failed run) gives panels saying "no surface".
    Column titles are the label plus ``titles_extra[label]`` on a second line. Returns ``path``.
    """
    if not surfaces:
        raise ValueError("compare_surfaces needs at least one surface; pass {label: (v, f)}")
    crop = _check_crop(crop)
    extra = dict(titles_extra or {})
    n = len(surfaces)
    nrows = 1 if crop is None else 2
    panel = 2.8
    fig = Figure(figsize=(panel * n, panel * nrows + 0.5), dpi=_DPI, layout="constrained")
    axes = fig.subplots(nrows, n, squeeze=False)
    for col, (label, mesh) in enumerate(surfaces.items()):
        top = axes[0, col]
        top.set_title(str(label) + (f"\n{extra[label]}" if label in extra else ""), fontsize=10)
        empty = mesh is None or np.asarray(mesh[1]).size == 0
        for row in range(nrows):
            ax = axes[row, col]
            if empty:
                ax.set_axis_off()
                ax.text(
                    0.5,
                    0.5,
                    "no surface",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    fontsize=10,
                    color="0.4",
                )
                continue
            assert mesh is not None
            render_mesh(ax, mesh[0], mesh[1], view, crop=crop if row == 1 else None)
            if row == 1:  # frame the zoom in the colour of the window it shows
                ax.set_axis_on()
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_edgecolor(_CROP_EDGE)
        if crop is not None and not empty:
            u0, u1, v0, v1 = crop
            top.add_patch(
                Rectangle(
                    (u0, v0), u1 - u0, v1 - v0, fill=False, edgecolor=_CROP_EDGE, linewidth=1.2
                )
            )
    return save_figure(fig, path)

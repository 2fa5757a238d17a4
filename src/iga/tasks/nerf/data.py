"""Blender (NeRF synthetic) scenes: ``transforms_{train,val,test}.json`` and RGBA PNGs.

Layout (any scene in it works, e.g. the eight NeRF synthetic scenes)::

    SCENE/transforms_train.json   {"camera_angle_x": …, "frames": [{"file_path": "./train/r_0",
    SCENE/train/r_0.png ...                                        "transform_matrix": 4×4}, …]}

As nerf-pytorch's ``load_blender``: images are RGBA in [0, 1], resized (box filter, i.e. area
averaging, as its ``cv2.INTER_AREA``) *before* compositing onto white,
``rgb · a + (1 − a)``; the focal length is ``0.5·W / tan(0.5·camera_angle_x)`` with W the
width actually used (so down-scaling scales it); near 2, far 6.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

__all__ = ["BLENDER_FAR", "BLENDER_NEAR", "BlenderScene", "SPLITS", "load_blender"]

SPLITS = ("train", "val", "test")
BLENDER_NEAR, BLENDER_FAR = 2.0, 6.0


@dataclass
class BlenderScene:
    """One split of a scene: ``images`` [V, H, W, 3] (composited), ``poses`` [V, 4, 4]
    camera-to-world, ``focal`` in pixels, and the frame names (``file_path`` in the JSON)."""

    images: torch.Tensor
    poses: torch.Tensor
    focal: float
    near: float
    far: float
    names: list[str]

    @property
    def height(self) -> int:
        return int(self.images.shape[1])

    @property
    def width(self) -> int:
        return int(self.images.shape[2])


def _fail(msg: str) -> NoReturn:
    raise ValueError(msg)


def _read_json(path: Path) -> dict:
    if not path.is_file():
        _fail(
            f"scene folder {path.parent} has no {path.name}: is it a Blender (NeRF synthetic) "
            "scene?"
        )
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _fail(f"{path} is not valid JSON ({exc}); re-export the scene")
    if not isinstance(meta, dict) or "camera_angle_x" not in meta or "frames" not in meta:
        _fail(f"{path} needs the keys camera_angle_x and frames")
    if not isinstance(meta["frames"], list) or not meta["frames"]:
        _fail(f"{path} lists no frames")
    return meta


def _frame_file(scene: Path, frame: dict, json_path: Path) -> Path:
    name = frame.get("file_path") if isinstance(frame, dict) else None
    if not isinstance(name, str):
        _fail(f"a frame in {json_path} has no file_path")
    path = (scene / name).resolve()
    if path.suffix == "":
        path = path.with_suffix(".png")
    if not path.is_file():
        _fail(f"image {path} named in {json_path.name} is missing")
    return path


def _pose(frame: dict, json_path: Path) -> np.ndarray:
    try:
        m = np.asarray(frame["transform_matrix"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        m = None
    if m is None or m.shape != (4, 4) or not np.isfinite(m).all():
        _fail(
            f"frame {frame.get('file_path')} in {json_path.name} needs a finite 4×4 "
            "transform_matrix"
        )
    # camera-to-world: its 3×3 part is a rotation (orthonormal, det 1); an all-zero or
    # otherwise degenerate matrix gives rays with no direction
    rot = m[:3, :3]
    if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-3) or abs(np.linalg.det(rot) - 1) > 1e-3:
        _fail(
            f"frame {frame.get('file_path')} in {json_path.name} has a transform_matrix whose "
            "3×3 part is not a rotation (a camera-to-world pose); fix the file"
        )
    return m


def _read_rgba(path: Path, size: int | None) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img = img.convert("RGBA")
            if size is not None and img.size != (size, size):
                if img.size[0] != img.size[1]:
                    _fail(
                        f"image {path} is not square; resizing it to {size}×{size} would distort it"
                    )
                img = img.resize((size, size), Image.Resampling.BOX)
            return np.asarray(img, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        _fail(f"cannot read image {path} ({exc})")


def load_blender(
    scene: str | Path,
    split: str = "train",
    size: int | None = None,
    views: int | list[int] | None = None,
    white_background: bool = True,
) -> BlenderScene:
    """Load one split of a Blender scene.

    Args:
        scene: the scene folder (holding ``transforms_<split>.json``).
        split: ``train``, ``val`` or ``test``.
        size: resize every view to ``size × size`` pixels (None: as stored). The images must be
            square (as in the NeRF synthetic scenes) when resized.
        views: the first ``views`` frames, or these frame indices (None: all).
        white_background: composite RGBA onto white (otherwise black).

    Raises:
        ValueError: one line naming the problem: a missing folder, JSON file or image, bad
            JSON, images of different sizes, a view index out of range, a bad size.
    """
    root = Path(scene)
    if split not in SPLITS:
        _fail(f"split must be one of {', '.join(SPLITS)}; got {split!r}")
    if not root.is_dir():
        _fail(f"scene folder {root} does not exist")
    json_path = root / f"transforms_{split}.json"
    meta = _read_json(json_path)
    frames = meta["frames"]
    if views is None:
        chosen = list(range(len(frames)))
    elif isinstance(views, int):
        if views < 1:
            _fail(f"the number of views must be at least 1; got {views}")
        chosen = list(range(min(views, len(frames))))
    else:
        chosen = list(views)
        bad = [i for i in chosen if not 0 <= i < len(frames)]
        if bad:
            _fail(f"view indices {bad} out of range: {json_path.name} has {len(frames)} frames")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 2):
        _fail(f"the image size must be an int >= 2; got {size!r}")
    try:
        angle = float(meta["camera_angle_x"])
    except (TypeError, ValueError):
        angle = math.nan
    if not 0 < angle < math.pi:
        _fail(f"camera_angle_x in {json_path.name} must be an angle in (0, π) radians")

    images, poses, names = [], [], []
    shape = None
    for i in chosen:
        frame = frames[i]
        path = _frame_file(root, frame, json_path)
        rgba = _read_rgba(path, size)
        if shape is None:
            shape = rgba.shape
        elif rgba.shape != shape:
            _fail(
                f"image {path} is {rgba.shape[1]}×{rgba.shape[0]} but the first view is "
                f"{shape[1]}×{shape[0]}: every view of a scene must have one size"
            )
        images.append(rgba)
        poses.append(_pose(frame, json_path))
        names.append(str(frame["file_path"]))
    rgba = torch.from_numpy(np.stack(images))
    bg = 1.0 if white_background else 0.0
    rgb = rgba[..., :3] * rgba[..., 3:] + bg * (1.0 - rgba[..., 3:])
    width = rgb.shape[2]
    focal = 0.5 * width / math.tan(0.5 * angle)
    return BlenderScene(
        images=rgb.contiguous(),
        poses=torch.from_numpy(np.stack(poses)).float(),
        focal=focal,
        near=BLENDER_NEAR,
        far=BLENDER_FAR,
        names=names,
    )

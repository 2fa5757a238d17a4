"""A tiny Blender-layout scene written by the tests (random RGBA views on turntable cameras)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from iga.models.render import pose_spherical


def write_scene(root: Path, size: int = 8, views: int = 3, splits=("train", "val", "test")) -> Path:
    rng = np.random.default_rng(0)
    for split in splits:
        (root / split).mkdir(parents=True, exist_ok=True)
        frames = []
        for i in range(views):
            rgba = rng.integers(0, 256, size=(size, size, 4), dtype=np.uint8)
            Image.fromarray(rgba, "RGBA").save(root / split / f"r_{i}.png")
            c2w = pose_spherical(-180 + 120 * i, -30, 4.0)
            frames.append({"file_path": f"./{split}/r_{i}", "transform_matrix": c2w.tolist()})
        (root / f"transforms_{split}.json").write_text(
            json.dumps({"camera_angle_x": 0.69, "frames": frames})
        )
    return root

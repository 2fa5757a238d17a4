"""Fixtures shared by the test files: tiny images written on the fly (the suite reads no
real data). A test file that needs another image defines its own fixture of the same name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _save(rgb: np.ndarray, path: Path) -> Path:
    Image.fromarray((rgb * 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def tiny_png(tmp_path: Path) -> Path:
    """A 24x16 RGB image with low and high frequencies."""
    y, x = np.mgrid[0:16, 0:24] / 8.0
    rgb = np.stack(
        [0.5 + 0.4 * np.sin(2 * x), 0.5 + 0.3 * np.cos(3 * y), 0.5 + 0.4 * np.sin(5 * (x + y))],
        axis=-1,
    )
    return _save(rgb, tmp_path / "tiny.png")


@pytest.fixture(scope="module")
def png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 16x16 RGB image with a few frequencies (one per module)."""
    y, x = np.mgrid[0:16, 0:16] / 8.0
    rgb = np.stack([0.5 + 0.4 * np.sin(3 * x), 0.5 + 0.3 * np.cos(2 * y), 0.5 + 0.2 * x], -1)
    return _save(rgb, tmp_path_factory.mktemp("png") / "tiny.png")


@pytest.fixture(autouse=True)
def _private_grid_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> None:
    """Occupancy grids made by a test go to a temporary cache, not the user's ~/.cache/iga."""
    monkeypatch.setenv("IGA_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "iga-cache"))

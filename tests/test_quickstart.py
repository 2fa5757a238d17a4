"""The README's Quickstart runs as written and does what it says.

The snippet is taken from README.md, shrunk (fewer steps, a smaller image) by replacing two
literal lines, and executed; the test fails if the snippet breaks, stops learning, or no
longer matches what ``iga fit image`` does with the same settings.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import iga
from iga.cli import main
from iga.tasks.image.data import ImageData, image_coords
from iga.tasks.image.task import BUNDLED_IMAGE

README = Path(__file__).resolve().parents[1] / "README.md"
STEPS = 60
SIZE = (64, 48)  # (width, height): 8 x 6 = 48 patches of 8x8, more than end = 20


def quickstart_source() -> str:
    """The one ```python block of the README's Quickstart section."""
    text = README.read_text(encoding="utf-8")
    assert "## Quickstart" in text, "README.md has no Quickstart section"
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, f"expected one python block in the Quickstart, found {len(blocks)}"
    return blocks[0]


def shrink(source: str, steps: int, size: tuple[int, int]) -> str:
    """Replace the step count and the image size; each must occur exactly once."""
    for pattern, repl in (
        (r"^steps = \d+$", f"steps = {steps}"),
        (r"size=\(\d+, \d+\)", f"size={size}"),
    ):
        source, n = re.subn(pattern, repl, source, flags=re.MULTILINE)
        assert n == 1, f"Quickstart: expected one match of {pattern!r}, found {n}; update the test"
    return source


@pytest.fixture(scope="module")
def quickstart() -> dict[str, Any]:
    """Run the shrunk snippet once; its namespace afterwards."""
    code = compile(shrink(quickstart_source(), STEPS, SIZE), "README.md:Quickstart", "exec")
    namespace: dict[str, Any] = {"__name__": "__quickstart__"}
    torch.manual_seed(1234)  # the snippet must not depend on the global RNG state
    exec(code, namespace)
    return namespace


def test_quickstart_runs_and_learns(quickstart: dict[str, Any]) -> None:
    psnr = quickstart["psnr"]
    assert len(psnr) == STEPS
    assert all(math.isfinite(p) for p in psnr)
    # About 8 dB at the start and 22 dB after 60 steps (measured); demand a clear gain.
    assert max(psnr) > psnr[0] + 8.0, f"PSNR did not improve enough: {psnr[0]:.2f} -> {psnr}"
    assert psnr[-1] > psnr[0] + 8.0
    assert quickstart["coords"].shape == (SIZE[0] * SIZE[1], 2)
    assert (quickstart["H"], quickstart["W"]) == (SIZE[1], SIZE[0])
    # The lr schedule: the paper's 5e-3, x0.1 after 30% of the steps.
    assert quickstart["opt"].param_groups[0]["lr"] == pytest.approx(5e-4)


def test_quickstart_matches_the_cli(quickstart: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "run"
    argv = ["fit", "image", BUNDLED_IMAGE, "--size", f"{SIZE[0]}x{SIZE[1]}"]
    assert main([*argv, "--steps", str(STEPS), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    psnr = quickstart["psnr"]
    assert summary["psnr_best"] == pytest.approx(max(psnr), abs=1e-3)
    assert summary["best_step"] == int(np.argmax(psnr))


def test_image_points_conventions() -> None:
    coords, target, (h, w) = iga.image_points(BUNDLED_IMAGE, size=(24, 16))
    data = ImageData.from_file(BUNDLED_IMAGE, size=(24, 16))
    assert (h, w) == (16, 24)
    assert torch.equal(coords, data.coords) and torch.equal(target, data.target)
    assert torch.equal(coords, image_coords(16, 24))
    # (y, x) in [-1, 1], row-major: point 1 is one column right of point 0, point w one row down.
    assert coords[0].tolist() == [-1.0, -1.0] and coords[-1].tolist() == [1.0, 1.0]
    assert coords[1, 0] == -1.0 and coords[1, 1] > -1.0
    assert coords[w, 0] > -1.0 and coords[w, 1] == -1.0
    assert target.dtype == torch.float32 and target.shape == (16 * 24, 3)
    assert torch.equal(target[w + 2], data.image[1, 2])
    # "WIDTHxHEIGHT" strings work like the CLI's --size.
    assert torch.equal(iga.image_points(BUNDLED_IMAGE, size="24x16")[1], target)


def test_image_points_arrays() -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    coords, target, shape = iga.image_points(gray)
    assert shape == (3, 4) and coords.shape == (12, 2) and target.shape == (12, 3)
    assert torch.allclose(target[:, 0], torch.arange(12) / 255.0)
    image = torch.rand(8, 10, 3)
    _, target, shape = iga.image_points(image, size=(5, 4))
    assert shape == (4, 5) and target.shape == (20, 3)
    assert torch.equal(iga.image_points(image)[1], image.reshape(80, 3))
    with pytest.raises(TypeError, match="path or a numpy array"):
        iga.image_points(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size"):
        iga.image_points(image, size=(0, 4))
    with pytest.raises(FileNotFoundError):
        iga.image_points("no/such/image.png")

"""Tests for iga.tasks.image.data: loading images, sizes, coordinates and ImageData."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from iga.tasks.image.data import ImageData, image_coords, load_image, parse_size


def _save(tmp_path: Path, name: str, image: Image.Image) -> Path:
    path = tmp_path / name
    image.save(path)
    return path


def test_rgb_png(tmp_path: Path) -> None:
    pixels = np.zeros((2, 3, 3), dtype=np.uint8)
    pixels[0, 0] = (255, 0, 0)
    pixels[1, 2] = (0, 51, 255)
    img = load_image(_save(tmp_path, "rgb.png", Image.fromarray(pixels)))
    assert img.shape == (2, 3, 3) and img.dtype == torch.float32
    assert torch.allclose(img[0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(img[1, 2], torch.tensor([0.0, 0.2, 1.0]))


def test_grayscale_l(tmp_path: Path) -> None:
    pixels = np.array([[0, 255], [51, 102]], dtype=np.uint8)
    img = load_image(_save(tmp_path, "l.png", Image.fromarray(pixels)))
    assert img.shape == (2, 2, 3)
    assert torch.allclose(img[1, 0], torch.full((3,), 0.2))
    assert torch.equal(img[..., 0], img[..., 2])


def test_grayscale_16_bit(tmp_path: Path) -> None:
    pixels = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16)
    source = Image.fromarray(pixels)
    assert source.mode.startswith("I")
    img = load_image(_save(tmp_path, "g16.png", source))
    assert img.shape == (2, 2, 3)
    assert float(img[0, 1, 0]) == pytest.approx(1.0)
    assert float(img[1, 0, 1]) == pytest.approx(32768 / 65535, abs=1e-6)
    assert float(img[1, 1, 2]) == pytest.approx(1000 / 65535, abs=1e-6)  # not clipped to 8 bits


def test_rgba_transparent_becomes_white(tmp_path: Path) -> None:
    pixels = np.zeros((1, 3, 4), dtype=np.uint8)
    pixels[0, 0] = (0, 0, 0, 0)  # fully transparent black
    pixels[0, 1] = (255, 0, 0, 255)  # opaque red
    pixels[0, 2] = (0, 0, 0, 128)  # half-transparent black
    img = load_image(_save(tmp_path, "rgba.png", Image.fromarray(pixels, mode="RGBA")))
    assert torch.allclose(img[0, 0], torch.ones(3))
    assert torch.allclose(img[0, 1], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(img[0, 2], torch.full((3,), 1 - 128 / 255), atol=1e-6)


def test_palette_with_and_without_transparency(tmp_path: Path) -> None:
    pal = Image.new("P", (2, 1))
    pal.putpalette([10, 20, 30, 200, 100, 0] + [0] * 762)
    pal.putpixel((0, 0), 0)
    pal.putpixel((1, 0), 1)
    img = load_image(_save(tmp_path, "p.png", pal))
    assert torch.allclose(img[0, 1], torch.tensor([200, 100, 0]) / 255.0)

    pal.info["transparency"] = 0
    path = tmp_path / "pt.png"
    pal.save(path, transparency=0)
    img = load_image(path)
    assert torch.allclose(img[0, 0], torch.ones(3))
    assert torch.allclose(img[0, 1], torch.tensor([200, 100, 0]) / 255.0)


def test_resize_by_size_and_scale(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = _save(tmp_path, "big.png", Image.fromarray(rng.integers(0, 256, (20, 30, 3), np.uint8)))
    resized = load_image(path, size=(12, 8))  # (width, height)
    assert resized.shape == (8, 12, 3)
    assert float(resized.min()) >= 0.0 and float(resized.max()) <= 1.0
    assert load_image(path, scale=0.5).shape == (10, 15, 3)
    assert load_image(path, size=(30, 20)).shape == (20, 30, 3)


def test_bad_size_and_scale(tmp_path: Path) -> None:
    path = _save(tmp_path, "x.png", Image.new("RGB", (4, 4)))
    with pytest.raises(ValueError, match="not both"):
        load_image(path, size=(2, 2), scale=0.5)
    with pytest.raises(ValueError, match="size must be"):
        load_image(path, size=(0, 2))
    with pytest.raises(ValueError, match="scale must be"):
        load_image(path, scale=-1.0)
    with pytest.raises(ValueError, match="below 1 pixel"):
        load_image(path, scale=0.01)


def test_missing_corrupt_and_truncated_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match="image file not found: .*nope.png"):
        load_image(missing)

    corrupt = tmp_path / "noise.png"
    corrupt.write_bytes(np.random.default_rng(0).bytes(256))
    with pytest.raises(ValueError, match=r"cannot read image .*noise\.png: .*PNG/JPEG"):
        load_image(corrupt)

    rng = np.random.default_rng(1)
    full = _save(tmp_path, "full.png", Image.fromarray(rng.integers(0, 256, (64, 64, 3), np.uint8)))
    truncated = tmp_path / "truncated.png"
    data = full.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cannot read image .*truncated\.png") as info:
        load_image(truncated)
    assert "\n" not in str(info.value)


def test_parse_size() -> None:
    assert parse_size("192x128") == (192, 128)
    assert parse_size(" 4X3 ") == (4, 3)
    for bad in ("192", "0x5", "axb", "-3x4", "1.5x2"):
        with pytest.raises(ValueError, match="WIDTHxHEIGHT|>= 1"):
            parse_size(bad)


def test_image_coords_layout() -> None:
    h, w = 3, 4
    coords = image_coords(h, w)
    assert coords.shape == (h * w, 2) and coords.dtype == torch.float32
    assert coords[0].tolist() == [-1.0, -1.0]  # top-left, (y, x)
    assert coords[w - 1].tolist() == [-1.0, 1.0]  # top-right
    assert coords[-1].tolist() == [1.0, 1.0]  # bottom-right
    assert coords[(h - 1) * w].tolist() == [1.0, -1.0]  # bottom-left
    # Row-major: point i = row * W + col.
    row, col = 1, 2
    assert torch.allclose(coords[row * w + col], torch.tensor([0.0, 2 * col / (w - 1) - 1]))
    assert image_coords(1, 2)[:, 0].tolist() == [0.0, 0.0]


def test_image_data_consistency(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (3, 5, 3), np.uint8)
    data = ImageData.from_file(_save(tmp_path, "d.png", Image.fromarray(pixels)))
    assert (data.height, data.width) == (3, 5)
    assert data.coords.shape == (15, 2) and data.target.shape == (15, 3)
    row, col = 2, 3
    i = row * data.width + col
    assert torch.equal(data.target[i], data.image[row, col])
    assert data.coords[i].tolist() == pytest.approx([1.0, 0.5])
    assert torch.equal(data.as_image(data.target), data.image)
    with pytest.raises(ValueError, match="does not fit"):
        data.as_image(torch.zeros(14, 3))
    moved = data.to("cpu")
    assert moved is not data and torch.equal(moved.target, data.target)
    assert data.path is not None and data.path.name == "d.png"


def test_image_data_from_array() -> None:
    data = ImageData.from_array(np.full((2, 3), 255, dtype=np.uint8))
    assert data.image.shape == (2, 3, 3) and float(data.image.min()) == 1.0
    assert data.path is None
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ImageData.from_array(np.full((2, 3, 3), 2.0))

"""Images as data for implicit neural representations: loading, coordinates, targets.

Conventions used throughout:

* Images are float32 tensors ``[H, W, 3]`` with values in [0, 1].
* Sizes are given as ``(width, height)``, like Pillow and like the CLI's ``"192x128"``
  (192 pixels wide, 128 high). Tensor shapes are ``[height, width, ...]``.
* Coordinates are in [-1, 1]^2 with columns ``(y, x)`` and points in row-major order, so point
  ``i = row * W + col`` matches ``image.reshape(H * W, 3)[i]``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import operator
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ImageData", "image_coords", "image_points", "load_image", "parse_size"]

PathLike = str | os.PathLike[str]

_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
_GRAY16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``"WIDTHxHEIGHT"`` (e.g. ``"192x128"``) into ``(width, height)``."""
    match = _SIZE_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"invalid size {text!r}: expected WIDTHxHEIGHT with positive integers, e.g. 192x128"
        )
    width, height = int(match.group(1)), int(match.group(2))
    if width < 1 or height < 1:
        raise ValueError(f"invalid size {text!r}: width and height must be >= 1, e.g. 192x128")
    return width, height


def _check_size(size: Any) -> tuple[int, int]:
    error = ValueError(
        f"size must be (width, height) with positive integers, got {size!r}; e.g. (192, 128)"
    )
    if not isinstance(size, tuple | list) or len(size) != 2:
        raise error
    try:
        width, height = (operator.index(v) for v in size)
    except TypeError:
        raise error from None
    if isinstance(size[0], bool) or isinstance(size[1], bool) or width < 1 or height < 1:
        raise error
    return width, height


def _check_scale(scale: Any) -> float:
    try:
        value = float(scale)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(scale, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"scale must be a positive number, got {scale!r}; e.g. 0.5")
    return value


def _normalise_float(values: np.ndarray) -> np.ndarray:
    # Float images have no canonical range: keep data already in [0, 1], otherwise stretch the
    # finite values min-max to [0, 1]. NaN/inf become 0.
    finite = np.isfinite(values)
    clean = np.where(finite, values, 0.0)
    if not finite.any():
        return clean
    lo, hi = float(clean[finite].min()), float(clean[finite].max())
    if lo >= 0.0 and hi <= 1.0:
        return clean
    if hi == lo:
        return np.zeros_like(clean)
    return np.where(finite, (clean - lo) / (hi - lo), 0.0)


def _decode(img: Image.Image) -> np.ndarray:
    """Convert a loaded PIL image to float64 RGB ``[H, W, 3]`` in [0, 1]."""
    # Honour camera orientation tags so the image is fitted the way viewers display it; a
    # malformed EXIF block should not make an otherwise readable image unusable.
    with contextlib.suppress(Exception):
        img = ImageOps.exif_transpose(img)
    mode = img.mode
    if mode in _GRAY16_MODES:
        gray = np.asarray(img).astype(np.float64) / 65535.0
    elif mode == "I":
        # Pillow opens 16-bit grayscale PNG/TIFF data as 32-bit "I" in some versions; treat the
        # values as 16-bit and clip anything outside that range.
        gray = np.clip(np.asarray(img).astype(np.float64) / 65535.0, 0.0, 1.0)
    elif mode == "F":
        gray = _normalise_float(np.asarray(img).astype(np.float64))
    elif mode in ("1", "L") and "transparency" not in img.info:
        gray = np.asarray(img.convert("L")).astype(np.float64) / 255.0
    elif mode in _ALPHA_MODES or "transparency" in img.info:
        # Transparent pixels are composited on white, matching how most viewers show them
        # and giving the network a defined target where the colour channels are meaningless.
        rgba = np.asarray(img.convert("RGBA")).astype(np.float64) / 255.0
        alpha = rgba[..., 3:4]
        return rgba[..., :3] * alpha + (1.0 - alpha)
    else:  # RGB, CMYK, YCbCr, LAB, HSV, P without transparency, ...
        return np.asarray(img.convert("RGB")).astype(np.float64) / 255.0
    return np.repeat(gray[..., None], 3, axis=-1)


def _resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Lanczos-resize float RGB data channel by channel in 32-bit float (no 8-bit rounding)."""
    channels = [
        np.asarray(
            Image.fromarray(rgb[..., c].astype(np.float32)).resize(
                (width, height), Image.Resampling.LANCZOS
            )
        )
        for c in range(rgb.shape[-1])
    ]
    # Lanczos rings (overshoots) at sharp edges; clip back into the valid range.
    return np.clip(np.stack(channels, axis=-1), 0.0, 1.0)


def load_image(
    path: PathLike,
    size: tuple[int, int] | None = None,
    scale: float | None = None,
) -> torch.Tensor:
    """Load an image file as a float32 tensor ``[H, W, 3]`` with values in [0, 1].

    Args:
        path: image file (anything Pillow reads: PNG, JPEG, TIFF, ...). Multi-frame files use
            their first frame; EXIF orientation is applied.
        size: target ``(width, height)`` in pixels (note: width first, as in ``"192x128"``).
        scale: resize factor applied to both sides (rounded to whole pixels). At most one of
            ``size`` and ``scale`` may be given; resizing uses Lanczos, then clips to [0, 1].

    Colour handling: grayscale ("1", "L", 16-bit "I;16"/"I", float "F") is replicated to three
    channels, with 16-bit data divided by 65535 and float data kept if already in [0, 1] or
    min-max stretched otherwise. Images with transparency (RGBA, LA, palette or grayscale with a
    transparent colour) are composited on a WHITE background. Other modes (CMYK, YCbCr, ...) are
    converted to RGB by Pillow.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable image (unknown format, corrupt, truncated), or
            ``size``/``scale`` are invalid, both given, or would shrink the image below 1 pixel.
    """
    if size is not None and scale is not None:
        raise ValueError("pass either size or scale to load_image, not both")
    new_size = _check_size(size) if size is not None else None
    factor = _check_scale(scale) if scale is not None else None

    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"image file not found: {file}")
    if file.is_dir():
        raise ValueError(f"cannot read image {file}: it is a directory; pass an image file")

    try:
        with Image.open(file) as img:
            # Decoding happens lazily in Pillow; load() here makes truncated files fail inside
            # this try instead of somewhere later.
            img.load()
            rgb = _decode(img)
    except PermissionError as exc:
        raise ValueError(
            f"cannot read image {file}: {exc.strerror or 'permission denied'}; "
            "check the file's permissions"
        ) from None
    except UnidentifiedImageError:
        raise ValueError(
            f"cannot read image {file}: unrecognised image format; is it a PNG/JPEG file?"
        ) from None
    except (OSError, SyntaxError, EOFError, ValueError, Image.DecompressionBombError) as exc:
        # Pillow signals corrupt data with several exception types (SyntaxError for broken PNG
        # chunks, OSError for truncation); all mean the same thing to the user.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot read image {file}: {reason}; is it a PNG/JPEG file?") from None

    height, width = rgb.shape[:2]
    if factor is not None:
        new_size = (round(width * factor), round(height * factor))
        if new_size[0] < 1 or new_size[1] < 1:
            raise ValueError(
                f"scale {scale} shrinks {file} ({width}x{height}) below 1 pixel; use a larger scale"
            )
    if new_size is not None and new_size != (width, height):
        rgb = _resize(rgb, *new_size)
    return torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32))


def image_coords(
    height: int,
    width: int,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Pixel coordinates in [-1, 1]^2 as a ``[H * W, 2]`` tensor.

    Columns are ``(y, x)``: ``y`` goes from -1 (top row) to +1 (bottom row), ``x`` from -1 (left
    column) to +1 (right column), endpoints included (pixel centres on a ``linspace`` grid). Rows
    are row-major, so point ``i = row * width + col``, matching ``image.reshape(H * W, 3)``.
    A dimension of size 1 sits at 0, the centre of the domain.
    """
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def axis(n: int) -> torch.Tensor:
        if n == 1:
            return torch.zeros(1, device=device, dtype=dtype)
        return torch.linspace(-1.0, 1.0, n, device=device, dtype=dtype)

    ys, xs = torch.meshgrid(axis(height), axis(width), indexing="ij")
    return torch.stack([ys, xs], dim=-1).reshape(height * width, 2)


def _array_to_image(array: Any) -> torch.Tensor:
    if isinstance(array, np.ndarray):
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    elif isinstance(array, torch.Tensor):
        tensor = array.detach()
    else:
        raise TypeError(f"image must be a numpy array or torch tensor, got {type(array).__name__}")
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(-1)
    if tensor.ndim != 3 or tensor.shape[-1] not in (1, 3) or tensor.shape[0] * tensor.shape[1] == 0:
        raise ValueError(
            f"image must have shape [H, W, 3], [H, W, 1] or [H, W], got {tuple(tensor.shape)}"
        )
    if tensor.dtype == torch.uint8:
        tensor = tensor.to(torch.float32) / 255.0
    elif tensor.is_floating_point():
        tensor = tensor.to(torch.float32)
        if not torch.isfinite(tensor).all():
            raise ValueError("image contains NaN or infinite values; clean the data first")
        lo, hi = float(tensor.min()), float(tensor.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"image values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]; "
                "divide 8-bit data by 255 or pass a uint8 array"
            )
    else:
        raise ValueError(
            f"image dtype {tensor.dtype} is not supported; pass floats in [0, 1] or uint8"
        )
    if tensor.shape[-1] == 1:
        tensor = tensor.expand(-1, -1, 3)
    return tensor.contiguous()


def image_points(
    image: PathLike | np.ndarray | torch.Tensor,
    size: tuple[int, int] | str | None = None,
    *,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Coordinates and colours of an image, ready for an INR training loop.

    ``coords, target, (H, W) = iga.image_points("photo.png", size=(192, 128))`` gives what
    ``iga fit image`` trains on: ``model(coords)`` should approach ``target``, and
    ``iga.groups.grid((H, W), block)`` groups the points into patches.

    Args:
        image: an image file (anything :func:`load_image` reads: PNG, JPEG, ...) or an image in
            memory: numpy array or tensor ``[H, W, 3]``, ``[H, W, 1]`` or ``[H, W]`` with floats
            in [0, 1] or ``uint8``. Grayscale is replicated to three channels.
        size: optional resize (Lanczos) to ``(width, height)`` or ``"WIDTHxHEIGHT"``; width
            first, like the CLI's ``--size 192x128``.
        device: where to put the returned tensors (default: CPU).

    Returns:
        ``(coords, target, (H, W))`` with ``(H, W)`` the shape after resizing, ``coords`` a
        float32 ``[H * W, 2]`` tensor in [-1, 1] with columns ``(y, x)`` (see
        :func:`image_coords`) and ``target`` the float32 ``[H * W, 3]`` colours in [0, 1]. Both
        are row-major: row ``i = row * W + col`` of each belongs to pixel ``(row, col)``.

    Raises:
        FileNotFoundError: the file does not exist.
        TypeError: ``image`` is neither a path nor an array/tensor.
        ValueError: unreadable file, invalid array, or invalid ``size``.
    """
    new_size = parse_size(size) if isinstance(size, str) else size
    if isinstance(image, str | os.PathLike):
        data = ImageData.from_file(image, size=new_size)
    elif isinstance(image, np.ndarray | torch.Tensor):
        pixels = _array_to_image(image)
        if new_size is not None:
            width, height = _check_size(new_size)
            if (width, height) != (pixels.shape[1], pixels.shape[0]):
                resized = _resize(pixels.cpu().numpy().astype(np.float64), width, height)
                pixels = torch.from_numpy(np.ascontiguousarray(resized, dtype=np.float32))
        data = ImageData._from_tensor(pixels.cpu())
    else:
        raise TypeError(
            "image must be a path or a numpy array / torch tensor [H, W, 3], "
            f"got {type(image).__name__}"
        )
    if device is not None:
        data = data.to(device)
    return data.coords, data.target, (data.height, data.width)


@dataclass(eq=False)
class ImageData:
    """An image prepared for INR fitting.

    Attributes:
        image: float32 ``[H, W, 3]`` in [0, 1].
        coords: ``[H * W, 2]`` coordinates from :func:`image_coords` (columns ``(y, x)``).
        target: ``[H * W, 3]`` colours, ``image.reshape(H * W, 3)``; row ``i`` belongs to
            ``coords[i]``.
        height: H.
        width: W.
        path: the source file, or ``None`` for in-memory images.
    """

    image: torch.Tensor
    coords: torch.Tensor
    target: torch.Tensor
    height: int
    width: int
    path: Path | None = None

    @classmethod
    def _from_tensor(cls, image: torch.Tensor, path: PathLike | None = None) -> ImageData:
        """Build from a float32 ``[H, W, 3]`` tensor already in [0, 1] (no validation copy)."""
        height, width = int(image.shape[0]), int(image.shape[1])
        coords = image_coords(height, width, device=image.device)
        target = image.reshape(height * width, 3)
        return cls(image, coords, target, height, width, Path(path) if path is not None else None)

    @classmethod
    def from_file(
        cls,
        path: PathLike,
        size: tuple[int, int] | None = None,
        scale: float | None = None,
    ) -> ImageData:
        """Load an image file with :func:`load_image` (``size`` is ``(width, height)``)."""
        return cls._from_tensor(load_image(path, size=size, scale=scale), path=path)

    @classmethod
    def from_array(cls, array: Any, path: PathLike | None = None) -> ImageData:
        """Build from a numpy array or tensor: ``[H, W, 3]``, ``[H, W, 1]`` or ``[H, W]``.

        Floats must lie in [0, 1]; ``uint8`` is divided by 255; grayscale is replicated.
        """
        return cls._from_tensor(_array_to_image(array), path=path)

    @property
    def num_pixels(self) -> int:
        """Number of pixels, ``H * W``."""
        return self.height * self.width

    def to(self, device: torch.device | str) -> ImageData:
        """Return a copy with all tensors on ``device``."""
        image = self.image.to(device)
        return dataclasses.replace(
            self,
            image=image,
            coords=self.coords.to(device),
            target=image.reshape(self.num_pixels, 3),
        )

    def as_image(self, flat_pred: torch.Tensor) -> torch.Tensor:
        """Reshape a per-pixel prediction ``[H * W, 3]`` (or ``[H, W, 3]``) to ``[H, W, 3]``."""
        if tuple(flat_pred.shape) not in ((self.num_pixels, 3), (self.height, self.width, 3)):
            raise ValueError(
                f"prediction shape {tuple(flat_pred.shape)} does not fit a "
                f"{self.width}x{self.height} image; expected [{self.num_pixels}, 3]"
            )
        return flat_pred.reshape(self.height, self.width, 3)

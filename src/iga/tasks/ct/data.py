"""CT data: a grey slice, its parallel-beam sinogram, and the projector the INR is fitted
through.

**Geometry** (scikit-image's ``radon(image, theta, circle=False)``, which makes the
measurements): the N×N slice is zero-padded to an M×M square, ``M = N + ceil(√2·N − N)``, and
for the angle θ the detector cell ``c`` (0..M−1) integrates the slice along the line of
points, for ``r = 0..M−1`` (unit spacing, in pixels of the slice, ``o = N // 2``,
``c' = c − M // 2``, ``r' = r − M // 2``)::

    column = cos θ · c' + sin θ · r' + o,      row = −sin θ · c' + cos θ · r' + o.

:func:`ray_points` gives those points in the INR's coordinates (``(y, x)`` in [-1, 1], the image
task's convention: -1/+1 are the first/last pixel centres) with a mask of the points inside
the slice's square; :func:`project` sums any field over them. Applied to the bilinear
interpolation of the pixels it reproduces ``radon`` (``tests/test_ct.py``); applied to the INR
it is the forward model trained through. Sinograms are divided by M (the mean attenuation along
a ray, in the slice's [0, 1] units) so the loss is on the scale of the pixels.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from iga.io import PathLike

__all__ = [
    "PHANTOM",
    "angles_deg",
    "fbp",
    "load_slice",
    "padded_size",
    "project",
    "ray_points",
    "sinogram",
]

PHANTOM = "phantom"
"""The slice name that means scikit-image's Shepp–Logan phantom (no file needed)."""


def padded_size(n: int) -> int:
    """M, the side of the square ``radon(circle=False)`` pads an N×N slice to (detector cells
    per angle and samples per ray)."""
    return n + int(math.ceil(math.sqrt(2) * n - n))


def angles_deg(count: int) -> np.ndarray:
    """``count`` projection angles evenly spaced in [0°, 180°)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"--angles must be an integer >= 1; got {count!r}")
    return np.arange(count) * (180.0 / count)


def load_slice(path: PathLike, size: int) -> tuple[np.ndarray, str]:
    """A grey slice as float64 ``[size, size]`` in [0, 1], and a note on any conversion.

    ``path`` is an image file (8- or 16-bit grey; colour is converted to luminance, with a
    note; a non-square image is centre-cropped, with a note) or :data:`PHANTOM`. The slice is
    resized (area-weighted) to ``size``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unreadable or empty image, or a bad size.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ValueError(f"--size must be an integer >= 8 (pixels per side); got {size!r}")
    notes = []
    if str(path) == PHANTOM:
        from skimage.data import shepp_logan_phantom

        grey = shepp_logan_phantom().astype(np.float64)
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"no CT slice {p}; name an image file or 'phantom'")
        try:
            with Image.open(p) as img:
                img.load()
                mode = img.mode
                raw = np.asarray(img)
        except (UnidentifiedImageError, OSError) as e:
            raise ValueError(f"cannot read {p} as an image ({type(e).__name__})") from None
        if raw.size == 0:
            raise ValueError(f"{p} is an empty image")
        if raw.ndim == 3:
            rgb = raw[..., :3].astype(np.float64)
            scale = 65535.0 if raw.dtype == np.uint16 else 255.0
            grey = (rgb @ np.array([0.299, 0.587, 0.114])) / scale
            notes.append(f"{p.name} is a colour image ({mode}); converted to grey (luminance)")
        elif raw.dtype == np.uint8:
            grey = raw.astype(np.float64) / 255.0
        elif raw.dtype in (np.uint16, np.int32, np.uint32) or mode.startswith("I"):
            grey = raw.astype(np.float64)
            top = 65535.0 if grey.max() <= 65535 else float(grey.max())
            grey = grey / top
        else:
            grey = raw.astype(np.float64)
            lo, hi = float(grey.min()), float(grey.max())
            grey = (grey - lo) / (hi - lo) if hi > lo else grey * 0
    h, w = grey.shape
    if h != w:
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        grey = grey[top : top + s, left : left + s]
        notes.append(f"the slice is {w}x{h}; its centre {s}x{s} square is used")
    if grey.shape[0] != size:
        from PIL import Image as _Image

        img = _Image.fromarray(grey.astype(np.float32), mode="F")
        grey = np.asarray(img.resize((size, size), _Image.Resampling.BOX), dtype=np.float64)
    return np.clip(grey, 0.0, 1.0), "; ".join(notes)


def sinogram(slice_: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """``radon(slice, angles, circle=False) / M``: ``[M, n_angles]``, detector cell by angle."""
    from skimage.transform import radon

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sino = radon(slice_, theta=angles, circle=False)
    return sino / padded_size(slice_.shape[0])


def fbp(sino: np.ndarray, angles: np.ndarray, size: int) -> np.ndarray:
    """Filtered back-projection (scikit-image's ``iradon``, ramp filter) of a sinogram of
    :func:`sinogram`'s scale (``[M, n_angles]``) at ``angles`` (degrees): the ``[size, size]``
    slice, clipped to [0, 1]. The classical baseline, and FreSh's stand-in for the slice."""
    from skimage.transform import iradon

    with np.errstate(all="ignore"):
        out = iradon(
            sino * padded_size(size),
            theta=angles,
            circle=False,
            filter_name="ramp",
            output_size=size,
        )
    return np.clip(out, 0.0, 1.0)


def ray_points(rays: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The sample points of rays ``[R, 2]`` = (θ in radians, detector offset ``c'`` in pixels)
    through an N×N slice: ``(points [R, M, 2] as (y, x) in [-1, 1], inside [R, M])``."""
    m = padded_size(n)
    r = torch.arange(m, dtype=rays.dtype, device=rays.device) - (m // 2)
    theta, c = rays[:, :1], rays[:, 1:2]
    cos, sin = torch.cos(theta), torch.sin(theta)
    o = float(n // 2)
    col = cos * c + sin * r + o  # [R, M]
    row = -sin * c + cos * r + o
    inside = (col >= 0) & (col <= n - 1) & (row >= 0) & (row <= n - 1)
    scale = 2.0 / (n - 1)
    return torch.stack([row * scale - 1.0, col * scale - 1.0], dim=-1), inside


def project(
    field: Callable[[torch.Tensor], torch.Tensor], rays: torch.Tensor, n: int
) -> torch.Tensor:
    """Mean of ``field`` (points ``[P, 2]`` -> values ``[P, C]``) along each ray, counting
    points outside the slice as 0: ``[R, C]``, the sinogram's scale (:func:`sinogram`)."""
    pts, inside = ray_points(rays, n)
    values = field(pts.reshape(-1, 2))
    values = values.reshape(*inside.shape, -1) * inside[..., None].to(values.dtype)
    return values.sum(dim=1) / inside.shape[1]


def all_rays(n: int, angles: np.ndarray) -> torch.Tensor:
    """Every (θ, c') of the sinogram, angle-major: ``[n_angles · M, 2]``; row ``a·M + c``
    is ``sinogram[c, a]``."""
    m = padded_size(n)
    theta = torch.from_numpy(np.deg2rad(angles)).to(torch.float32)
    c = torch.arange(m, dtype=torch.float32) - (m // 2)
    t, cc = torch.meshgrid(theta, c, indexing="ij")
    return torch.stack([t.reshape(-1), cc.reshape(-1)], dim=1)

"""FreSh: choose an INR's embedding frequency before training by matching spectra.

Kania, Mihajlovic, Prokudin, Tabor & Spurek, "FreSh: Frequency Shifting for Accelerated Neural
Representation Learning", ICLR 2025 (code: ``gmum/FreSh``). For each candidate value of the
arch's frequency hyperparameter, build the untrained model a few times, render its output
on the training grid, and compare the output's spectrum with the target's by the
1-Wasserstein distance between the two spectra read as distributions over frequency index;
keep the candidate with the smallest mean distance. No training run is spent on the choice.

The spectrum follows the authors' ``get_spectrum`` (``src/spectum_utils.py``) for images:

1. resize to a square of the shorter side (at most 1024), bilinear with antialiasing;
2. |2-D DFT|, summed over channels;
3. sum along anti-diagonals ``i + j = s`` of the (unshifted) DFT, over the authors' mask of
   entries that are not redundant under conjugate symmetry; drop ``s = 0`` (the mean);
4. keep the first ``crop`` entries (their image recipe: 64).

``probes/fresh_authors_side_by_side.py`` checks these spectra, distances and choices
against the authors' functions.

Which hyperparameter (:data:`FRESH_PARAMS`): SIREN's and FINER's first-layer ω₀ (their
``omega_0`` grid 10…200, which sets the first layer only), and, for ``pe``, the number of
positional-encoding levels: the authors' Fourier-feature model draws random frequencies of
scale σ, ours uses the fixed frequencies 2⁰…2^(L−1), whose only frequency knob is L.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "FRESH_PARAMS",
    "FreshChoice",
    "image_spectrum",
    "parse_values",
    "select",
    "spectrum_mask",
    "wasserstein",
]

FRESH_PARAMS: dict[str, tuple[str, tuple[float, ...]]] = {
    "siren": ("first_omega0", tuple(float(v) for v in range(10, 201, 10))),
    "finer": ("first_omega0", tuple(float(v) for v in range(10, 201, 10))),
    "pe": ("pe_levels", tuple(float(v) for v in range(1, 11))),
}
"""Per arch: the model option FreSh chooses and its default candidates (the authors'
``siren_best_omega.yaml`` grid for the sine archs; L = 1…10 for ``pe``)."""

CROP = 64
"""Spectrum entries compared (the authors' ``cropped_64`` selection for images)."""
INITS = 10
"""Initialisations averaged per candidate (the authors' ``initial_evals``)."""
MAX_SIDE = 1024


def spectrum_mask(n: int) -> torch.Tensor:
    """The authors' mask of an ``n × n`` DFT: entry (i, j) counts when ``i + j ≤ n − 1``, or
    ``i + j = n`` with ``1 ≤ i ≤ n // 2``; except row 0 and column 0 past ``n // 2``."""
    i = torch.arange(n)[:, None]
    j = torch.arange(n)[None, :]
    half = n // 2
    keep = (i + j <= n - 1) | ((i + j == n) & (i >= 1) & (i <= half))
    keep &= ~((i == 0) & (j > half)) & ~((j == 0) & (i > half))
    return keep.to(torch.float64)


def _square(img: torch.Tensor) -> torch.Tensor:
    """``img`` [C, H, W] as a square of the shorter side (≤ MAX_SIDE), as the authors'
    ``resize_to_square`` (torchvision's bilinear, antialiased resize = this interpolate)."""
    h, w = img.shape[-2:]
    if h == w and h <= MAX_SIDE:
        return img
    side = min(h, w, MAX_SIDE)
    out = F.interpolate(
        img[None].float(), size=(side, side), mode="bilinear", align_corners=False, antialias=True
    )
    return out[0]


def image_spectrum(img: torch.Tensor, crop: int | None = CROP) -> np.ndarray:
    """FreSh's spectrum of an image ``img`` [C, H, W] (or [H, W]): summed |DFT| per
    anti-diagonal index 1 … 2n−2 of the square-resized image, the first ``crop`` of them."""
    if img.ndim == 2:
        img = img[None]
    sq = _square(img.detach().to(torch.float32).cpu())
    n = sq.shape[-1]
    mag = torch.fft.fftn(sq, dim=(-2, -1)).abs().sum(0).double() * spectrum_mask(n)
    index = (torch.arange(n)[:, None] + torch.arange(n)[None, :]).flatten()
    spec = torch.zeros(2 * n - 1, dtype=torch.float64).index_add_(0, index, mag.flatten())
    out = spec[1:].numpy()
    return out if crop is None else out[:crop]


def wasserstein(u: np.ndarray, v: np.ndarray) -> float:
    """1-Wasserstein distance between two spectra read as distributions over their index
    (each normalised to sum 1; scipy's ``wasserstein_distance``, as the authors)."""
    from scipy.stats import wasserstein_distance

    idx = np.arange(len(u))
    return float(wasserstein_distance(idx, idx, u_weights=u, v_weights=v))


@dataclass(frozen=True)
class FreshChoice:
    """The outcome of :func:`select`."""

    param: str
    value: float | int
    distances: dict[float | int, tuple[float, float]]
    """Per candidate: (mean distance, its standard error over the initialisations)."""

    def as_dict(self) -> dict[str, object]:
        return {
            "param": self.param,
            "chosen": self.value,
            "distances": {
                str(k): [round(m, 6), round(s, 6)] for k, (m, s) in self.distances.items()
            },
        }


def parse_values(arch: str, text: str) -> tuple[float, ...]:
    """The candidates of ``--fresh``: ``auto`` (:data:`FRESH_PARAMS`) or a comma list."""
    if arch not in FRESH_PARAMS:
        raise ValueError(
            f"--fresh works with --arch {', '.join(FRESH_PARAMS)} (the archs with an embedding "
            f"frequency); {arch} has none: leave --fresh out"
        )
    if text.strip() == "auto":
        return FRESH_PARAMS[arch][1]
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(
            f"--fresh takes 'auto' or comma-separated numbers such as 20,30,60; got {text!r}"
        ) from None
    if not values or any(not np.isfinite(v) or v <= 0 for v in values):
        raise ValueError(f"--fresh values must be positive numbers; got {text!r}")
    if FRESH_PARAMS[arch][0] == "pe_levels" and any(v != int(v) for v in values):
        raise ValueError(f"--fresh values for pe are whole numbers of levels; got {text!r}")
    return values


def select(
    arch: str,
    make_model: Callable[[dict[str, object], int], torch.nn.Module],
    coords: torch.Tensor,
    target: torch.Tensor,
    shape: tuple[int, int],
    values: Sequence[float] | None = None,
    *,
    crop: int = CROP,
    inits: int = INITS,
    seed: int = 0,
) -> FreshChoice:
    """FreSh's choice of ``arch``'s frequency option for an image.

    Args:
        arch: a key of :data:`FRESH_PARAMS`.
        make_model: ``(options, seed) -> model``: the untrained model with ``options`` (the
            candidate's ``{param: value}``) merged into its own, initialised from ``seed``.
        coords: [N, 2] inputs of the image's pixels, row-major over ``shape``.
        target: [N, C] the image's values at ``coords``.
        shape: (height, width).
        values: candidates (default: :data:`FRESH_PARAMS`).
        crop: spectrum entries compared; inits: initialisations per candidate (seeds
            ``seed … seed + inits − 1``; the authors draw them from one seeded stream).
    """
    if arch not in FRESH_PARAMS:
        parse_values(arch, "auto")  # raises the user-facing error
    param, default = FRESH_PARAMS[arch]
    values = tuple(default if values is None else values)
    h, w = shape

    def as_image(flat: torch.Tensor) -> torch.Tensor:
        return flat.detach().reshape(h, w, -1).permute(2, 0, 1)

    gt = image_spectrum(as_image(target), crop)
    distances: dict[float | int, tuple[float, float]] = {}
    for v in values:
        value: float | int = int(v) if param == "pe_levels" else float(v)
        d = []
        for k in range(inits):
            model = make_model({param: value}, seed + k)
            with torch.no_grad():
                out = model(coords)
            d.append(wasserstein(gt, image_spectrum(as_image(out), crop)))
        distances[value] = (float(np.mean(d)), float(np.std(d) / np.sqrt(len(d))))
    best = min(distances, key=lambda k: distances[k][0])
    return FreshChoice(param, best, distances)

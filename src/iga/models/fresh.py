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
scale σ, ours uses the fixed frequencies 2⁰…2^(L−1), whose only frequency knob is L. A task
whose signal needs other candidates (audio: SIREN's ω₀ of 3000) passes its own.

Other dimensions (:func:`spectrum`, chosen by the length of ``shape`` in :func:`select`):

* **3-D** (occupancy, SDF on an ``n³`` grid): the authors' own 3-D spectrum (their video
  path of ``get_spectrum``): summed |DFT| of the cube per index ``i + j + k`` over their
  3-D mask (:func:`volume_mask`, their ``get_3d_fft_mask``), the mean dropped, first 64.
* **1-D** (audio): not in the authors' code; iga's extension (:func:`signal_spectrum`): the
  |DFT| summed over channels at bins 1 … n//2 (the non-redundant half, the mean dropped),
  the whole of it by default, because an audio clip's content lies far above any fixed first
  64 bins.
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
    "signal_spectrum",
    "spectrum",
    "spectrum_mask",
    "volume_mask",
    "volume_spectrum",
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
DEFAULT_CROP: dict[int, int | None] = {1: None, 2: CROP, 3: CROP}
"""Per signal dimension: the entries compared unless ``crop`` says otherwise."""
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


def volume_mask(n: int) -> torch.Tensor:
    """The authors' mask of an ``n × n × n`` DFT (``get_3d_fft_mask``): the 2-D mask
    (:func:`spectrum_mask`) on the three faces through the origin; inside (``i, j, k ≥ 1``),
    ``j + k < n + d(i)`` with ``d(i) = n // 2 − i``, plus 1 where ``i < n // 2`` or ``n`` is
    odd; for even ``n`` the slice ``i = n / 2`` also keeps ``j + k = n`` with ``k ≥ n / 2``."""
    m = torch.zeros(n, n, n, dtype=torch.float64)
    face = spectrum_mask(n)
    m[0], m[:, 0], m[:, :, 0] = face, face, face
    j = torch.arange(1, n)[:, None]
    k = torch.arange(1, n)[None, :]
    for i in range(1, n):
        d = n // 2 - i + (1 if (i < n // 2 or n % 2) else 0)
        inner = j + k < n + d
        if 2 * i == n:
            inner |= (j + k == n) & (k >= n // 2)
        m[i, 1:, 1:] = inner.to(torch.float64)
    return m


def volume_spectrum(vol: torch.Tensor, crop: int | None = CROP) -> np.ndarray:
    """The authors' spectrum of a cube ``vol`` [C, n, n, n] (or [n, n, n]): summed |DFT| per
    index ``i + j + k`` = 1 … 3n−3 over :func:`volume_mask`, the first ``crop`` of them."""
    if vol.ndim == 3:
        vol = vol[None]
    n = vol.shape[-1]
    if tuple(vol.shape[-3:]) != (n, n, n):
        raise ValueError(f"a 3-D FreSh spectrum needs a cube; got {tuple(vol.shape[-3:])}")
    x = vol.detach().to(torch.float32).cpu()
    mag = torch.fft.fftn(x, dim=(-3, -2, -1)).abs().sum(0).double() * volume_mask(n)
    r = torch.arange(n)
    index = (r[:, None, None] + r[None, :, None] + r[None, None, :]).flatten()
    spec = torch.zeros(3 * n - 2, dtype=torch.float64).index_add_(0, index, mag.flatten())
    out = spec[1:].numpy()
    return out if crop is None else out[:crop]


def signal_spectrum(sig: torch.Tensor, crop: int | None = None) -> np.ndarray:
    """iga's 1-D spectrum of ``sig`` [C, n] (or [n]): |DFT| summed over channels at bins
    1 … n//2 (the non-redundant half, the mean dropped), the first ``crop`` of them."""
    if sig.ndim == 1:
        sig = sig[None]
    mag = torch.fft.rfft(sig.detach().to(torch.float32).cpu(), dim=-1).abs().sum(0).double()
    out = mag[1 : sig.shape[-1] // 2 + 1].numpy()
    return out if crop is None else out[:crop]


def spectrum(values: torch.Tensor, crop: int | None = CROP) -> np.ndarray:
    """FreSh's spectrum of ``values`` [C, *grid] by the grid's dimension: 1-D
    (:func:`signal_spectrum`), 2-D (:func:`image_spectrum`), 3-D (:func:`volume_spectrum`)."""
    fn = {2: signal_spectrum, 3: image_spectrum, 4: volume_spectrum}.get(values.ndim)
    if fn is None:
        raise ValueError(f"FreSh spectra are 1-, 2- or 3-D; got a {values.ndim - 1}-D grid")
    return fn(values, crop)


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


def parse_values(
    arch: str, text: str, defaults: Sequence[float] | None = None
) -> tuple[float, ...]:
    """The candidates of ``--fresh``: ``auto`` (``defaults``, else :data:`FRESH_PARAMS`) or a
    comma list."""
    if arch not in FRESH_PARAMS:
        raise ValueError(
            f"--fresh works with --arch {', '.join(FRESH_PARAMS)} (the archs with an embedding "
            f"frequency); {arch} has none: leave --fresh out"
        )
    if text.strip() == "auto":
        return tuple(FRESH_PARAMS[arch][1] if defaults is None else defaults)
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
    shape: Sequence[int],
    values: Sequence[float] | None = None,
    *,
    crop: int | None | str = "default",
    inits: int = INITS,
    seed: int = 0,
) -> FreshChoice:
    """FreSh's choice of ``arch``'s frequency option for a signal on a grid.

    Args:
        arch: a key of :data:`FRESH_PARAMS`.
        make_model: ``(options, seed) -> model``: the untrained model with ``options`` (the
            candidate's ``{param: value}``) merged into its own, initialised from ``seed``.
        coords: [N, d] inputs of the grid's points, row-major over ``shape``.
        target: [N, C] the signal's values at ``coords``.
        shape: the grid: (samples,) for a 1-D signal, (height, width) for an image, (n, n, n)
            for a volume (:func:`spectrum`).
        values: candidates (default: :data:`FRESH_PARAMS`).
        crop: spectrum entries compared (``"default"``: :data:`DEFAULT_CROP` of the grid's
            dimension; None: all); inits: initialisations per candidate (seeds
            ``seed … seed + inits − 1``; the authors draw them from one seeded stream).
    """
    if arch not in FRESH_PARAMS:
        parse_values(arch, "auto")  # raises the user-facing error
    param, default = FRESH_PARAMS[arch]
    values = tuple(default if values is None else values)
    shape = tuple(int(s) for s in shape)
    if len(shape) not in DEFAULT_CROP:
        raise ValueError(f"FreSh spectra are 1-, 2- or 3-D; got a grid of shape {shape}")
    entries = DEFAULT_CROP[len(shape)] if crop == "default" else crop
    assert entries is None or isinstance(entries, int)

    def as_grid(flat: torch.Tensor) -> torch.Tensor:  # [N, C] -> [C, *shape]
        grid = flat.detach().reshape(*shape, -1)
        return grid.permute(grid.ndim - 1, *range(grid.ndim - 1))

    gt = spectrum(as_grid(target), entries)
    distances: dict[float | int, tuple[float, float]] = {}
    for v in values:
        value: float | int = int(v) if param == "pe_levels" else float(v)
        d = []
        for k in range(inits):
            model = make_model({param: value}, seed + k)
            with torch.no_grad():
                out = model(coords)
            d.append(wasserstein(gt, spectrum(as_grid(out), entries)))
        distances[value] = (float(np.mean(d)), float(np.std(d) / np.sqrt(len(d))))
    best = min(distances, key=lambda k: distances[k][0])
    return FreshChoice(param, best, distances)

"""Metrics: MSE, PSNR, SSIM and (optional) LPIPS for images; IoU and Chamfer distance for shapes.

All metrics take torch tensors or numpy arrays and return plain Python floats, so results can
go straight into JSON/CSV without device or dtype surprises.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray

__all__ = ["chamfer", "iou", "lpips_metric", "lpips_status", "mse", "psnr", "ssim"]


def _to_numpy(x: ArrayLike, name: str) -> np.ndarray:
    """Return ``x`` as a float64 numpy array (float64 so MSE of near-identical images is exact)."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(device="cpu", dtype=torch.float64).numpy()
    if isinstance(x, np.ndarray):
        return x.astype(np.float64, copy=False)
    raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")


def _pair(pred: ArrayLike, target: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p = _to_numpy(pred, "pred")
    t = _to_numpy(target, "target")
    if p.shape != t.shape:
        raise ValueError(
            f"pred shape {tuple(p.shape)} does not match target shape {tuple(t.shape)}; "
            "reshape the prediction to the target's shape"
        )
    if p.size == 0:
        raise ValueError("pred and target are empty; pass at least one pixel")
    return p, t


def mse(pred: ArrayLike, target: ArrayLike) -> float:
    """Mean squared error of ``pred`` against ``target`` (any equal shapes), in float64."""
    p, t = _pair(pred, target)
    return float(np.mean((p - t) ** 2))


def psnr(pred: ArrayLike, target: ArrayLike, data_range: float = 1.0, clip: bool = True) -> float:
    """Peak signal-to-noise ratio in dB: ``10 * log10(data_range**2 / MSE)``.

    Args:
        pred: prediction, torch tensor or numpy array of any shape.
        target: reference with the same shape as ``pred``.
        data_range: the largest possible value (1.0 for images in [0, 1]).
        clip: clamp ``pred`` to ``[0, data_range]`` first (default). Images are displayed
            clipped, and common INR practice reports PSNR on the clipped prediction, so an
            overshooting network is not penalised for values nobody can see.

    Returns:
        PSNR as a float; ``float('inf')`` when the inputs are identical (MSE of zero).
        The MSE is computed in float64.
    """
    try:
        peak = float(data_range)
    except (TypeError, ValueError):
        peak = float("nan")
    if not (math.isfinite(peak) and peak > 0):
        raise ValueError(f"data_range must be a positive number, got {data_range!r}; use 1.0")
    p, t = _pair(pred, target)
    if clip:
        p = np.clip(p, 0.0, peak)
    err = float(np.mean((p - t) ** 2))
    if err == 0.0:
        return float("inf")
    return float(10.0 * math.log10(peak**2 / err))


def ssim(pred: ArrayLike, target: ArrayLike, clip: bool = True) -> float:
    """Structural similarity of two images, computed by ``skimage.metrics.structural_similarity``.

    Images are ``[H, W, C]`` (colour, ``channel_axis=-1``) or ``[H, W]`` (grayscale) with
    values in [0, 1]; ``data_range=1.0`` and scikit-image's default 7x7 window are used, so
    both sides must be at least 7 pixels. ``pred`` is clamped to [0, 1] first when ``clip``
    is true, for the same reason as in :func:`psnr`.
    """
    # Imported lazily: scikit-image is slow to import and only this metric needs it.
    from skimage.metrics import structural_similarity

    p, t = _pair(pred, target)
    if p.ndim not in (2, 3):
        raise ValueError(
            f"ssim expects [H, W] or [H, W, C] images, got shape {tuple(p.shape)}; "
            "reshape flat predictions to the image shape first"
        )
    if min(p.shape[0], p.shape[1]) < 7:
        raise ValueError(
            f"ssim needs images of at least 7x7 pixels, got {p.shape[0]}x{p.shape[1]}; "
            "use a larger image"
        )
    if clip:
        p = np.clip(p, 0.0, 1.0)
    channel_axis = -1 if p.ndim == 3 else None
    return float(structural_similarity(p, t, channel_axis=channel_axis, data_range=1.0))


# --- LPIPS (optional) -----------------------------------------------------------------------

# Outcome of the one-time LPIPS set-up: (model or None, reason). Cached so repeated metric
# calls neither rebuild the network nor re-probe the environment.
_LPIPS_STATE: tuple[Any | None, str] | None = None


def _alexnet_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


def _load_lpips() -> tuple[Any | None, str]:
    """Build the LPIPS(AlexNet) model once; never downloads, never raises."""
    global _LPIPS_STATE
    if _LPIPS_STATE is not None:
        return _LPIPS_STATE
    try:
        import lpips  # type: ignore[import-not-found]
    except ImportError:
        _LPIPS_STATE = (None, "lpips not installed: pip install 'iga[lpips]'")
        return _LPIPS_STATE
    except Exception as exc:  # e.g. a torchvision build that does not match torch
        _LPIPS_STATE = (None, f"lpips failed to import: {_first_line(exc)}")
        return _LPIPS_STATE

    # torchvision would silently try to download AlexNet when its checkpoint is missing, which
    # hangs or fails on offline machines; only proceed when the file is already cached.
    ckpt_dir = _alexnet_checkpoint_dir()
    found = ckpt_dir.is_dir() and any(
        p.name.startswith("alexnet-") and p.is_file() for p in ckpt_dir.iterdir()
    )
    if not found:
        _LPIPS_STATE = (
            None,
            f"AlexNet weights not in {ckpt_dir}; LPIPS needs them offline (see docs)",
        )
        return _LPIPS_STATE

    try:
        model = lpips.LPIPS(net="alex", verbose=False)
        model.eval()
        for param in model.parameters():
            param.requires_grad_(False)
    except Exception as exc:
        _LPIPS_STATE = (None, f"LPIPS could not be built: {_first_line(exc)}")
        return _LPIPS_STATE
    _LPIPS_STATE = (model, "LPIPS (AlexNet) available")
    return _LPIPS_STATE


def _reset_lpips_cache() -> None:
    """Forget the cached LPIPS outcome (for tests, or after installing weights)."""
    global _LPIPS_STATE
    _LPIPS_STATE = None


def lpips_status() -> tuple[bool, str]:
    """Return ``(available, reason)`` for LPIPS; never raises and never downloads anything.

    ``reason`` is one line: why LPIPS is unavailable (package missing, AlexNet weights not in
    the torch hub cache, construction error) or a confirmation that it is available.
    """
    model, reason = _load_lpips()
    return model is not None, reason


def _lpips_input(x: ArrayLike, name: str) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(
            f"lpips expects [H, W, 3] images, got {name} shape {tuple(x.shape)}; "
            "reshape flat predictions to the image shape first"
        )
    x = x.detach().to(device="cpu", dtype=torch.float32).clamp(0.0, 1.0)
    # LPIPS networks were trained on [-1, 1] NCHW inputs.
    return (x.permute(2, 0, 1).unsqueeze(0) * 2.0 - 1.0).contiguous()


def lpips_metric(pred: ArrayLike, target: ArrayLike) -> float | None:
    """LPIPS (AlexNet) distance between two ``[H, W, 3]`` images in [0, 1]; lower is better.

    Returns ``None`` when LPIPS is unavailable (see :func:`lpips_status`) or when the network
    fails on these inputs (a warning says why), so callers can report it as missing instead of
    crashing. ``pred`` is clamped to [0, 1]; computation runs on the CPU without gradients.
    """
    p = _lpips_input(pred, "pred")
    t = _lpips_input(target, "target")
    if p.shape != t.shape:
        raise ValueError(
            f"pred shape {tuple(p.shape)} does not match target shape {tuple(t.shape)}; "
            "reshape the prediction to the target's shape"
        )
    model, _ = _load_lpips()
    if model is None:
        return None
    try:
        with torch.no_grad():
            value = model(p, t)
        return float(value.reshape(-1)[0].item())
    except Exception as exc:  # e.g. images too small for AlexNet's strides
        warnings.warn(f"LPIPS failed, reporting it as missing: {_first_line(exc)}", stacklevel=2)
        return None


def iou(pred: ArrayLike, target: ArrayLike, threshold: float = 0.5) -> float:
    """Intersection over union of two occupancies (any equal shapes).

    ``pred`` is inside where ``pred >= threshold`` (occupancy values or probabilities);
    ``target`` where it is true or ``>= 0.5``. Two empty occupancies have IoU 1. Computed in
    torch on the inputs' device (numpy arrays without a copy), so it also serves as a
    per-step training score.
    """
    p = torch.as_tensor(pred) >= threshold
    t = torch.as_tensor(target, device=p.device)
    t = t if t.dtype == torch.bool else t >= 0.5
    if p.shape != t.shape:
        raise ValueError(
            f"pred {tuple(p.shape)} and target {tuple(t.shape)} must have the same shape"
        )
    union = int((p | t).sum())
    return 1.0 if union == 0 else int((p & t).sum()) / union


def chamfer(a: ArrayLike, b: ArrayLike) -> float:
    """Symmetric Chamfer-L1 distance of two point sets ``[M, d]`` and ``[K, d]``.

    The mean Euclidean distance from each point to the nearest point of the other set,
    averaged over both directions (Occupancy Networks' "Chamfer-L1"); in the points' units.
    Nearest neighbours come from ``scipy.spatial.cKDTree``.
    """
    from scipy.spatial import cKDTree

    pa, pb = _to_numpy(a, "a"), _to_numpy(b, "b")
    if pa.ndim != 2 or pb.ndim != 2 or pa.shape[1] != pb.shape[1]:
        raise ValueError(f"point sets must be [M, d] and [K, d]; got {pa.shape} and {pb.shape}")
    if len(pa) == 0 or len(pb) == 0:
        return math.inf
    d_ab = cKDTree(pb).query(pa, workers=1)[0]
    d_ba = cKDTree(pa).query(pb, workers=1)[0]
    return 0.5 * (float(d_ab.mean()) + float(d_ba.mean()))

"""Where the eNTK is evaluated: one representative point per patch, and the saved weights of
an ``iga fit image`` run.

Representative points for image runs default to the centre pixel of each patch
(:func:`patch_centres`), a choice that does not depend on the weights: spectra of different
runs or checkpoints are then taken on the same inputs, so their differences come from the
weights alone. ``sampling="max_residual"`` instead takes, per patch, the pixel with the
largest residual under the weights being studied (what IGA's default sampling does while
training), which moves the points as the weights change.

The kernel and its statistics are computed by :mod:`iga.analysis.spectrum_kernel`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch

from iga.analysis.spectrum_kernel import SpectrumResult, kernel_spectrum
from iga.core import Grouping, max_residual_points
from iga.core import groups as groups_mod
from iga.tasks.image.data import ImageData, parse_size

__all__ = [
    "SAMPLINGS",
    "patch_centres",
    "representatives",
    "spectrum_of_checkpoint",
]

PathLike = str | os.PathLike[str]

SAMPLINGS = ("center", "max_residual")
"""Representative point per patch for :func:`spectrum_of_checkpoint`."""

_WEIGHTS = ("best", "final")


def patch_centres(height: int, width: int, patch: int) -> torch.Tensor:
    """Index (row-major pixel index) of the centre pixel of each ``patch × patch`` patch.

    Patches are in the order of :func:`iga.core.groups.grid` (row-major blocks); an edge patch
    cut by the image border is centred on its visible part. For an even side the centre falls
    on a pixel corner and the pixel below and to the right of it is taken
    (``row0 + h // 2``, ``col0 + w // 2``).
    """
    if min(height, width, patch) < 1:
        raise ValueError(f"height, width and patch must be >= 1; got {height}, {width}, {patch}")
    if patch > min(height, width):
        raise ValueError(f"patch {patch} is larger than the {width}x{height} image")

    def centres(n: int) -> list[int]:
        return [s + min(patch, n - s) // 2 for s in range(0, n, patch)]

    rows = torch.tensor(centres(height))
    cols = torch.tensor(centres(width))
    return (rows[:, None] * width + cols[None, :]).reshape(-1)


def representatives(
    height: int,
    width: int,
    patch: int,
    sampling: str = "center",
    residual: torch.Tensor | None = None,
) -> torch.Tensor:
    """One pixel index per patch: the centre (``"center"``) or the largest ``Σ_c |r_c|``
    (``"max_residual"``, needs ``residual`` [H·W, C] of the weights under study)."""
    if sampling == "center":
        return patch_centres(height, width, patch)
    if sampling == "max_residual":
        if residual is None:
            raise ValueError("sampling='max_residual' needs the residual of the weights")
        grouping = Grouping(groups_mod.grid((height, width), patch), height * width)
        return max_residual_points(residual.detach().cpu(), grouping)
    raise ValueError(f"unknown sampling {sampling!r}; choose one of {', '.join(SAMPLINGS)}")


def _read_run(run_dir: Path) -> dict[str, Any]:
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{run_dir} has no config.json; is it a run of `iga fit image`?")
    try:
        data = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{cfg_path} is not valid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{cfg_path} does not hold a run config")
    return data


def spectrum_of_checkpoint(
    run_dir: PathLike,
    x: torch.Tensor | None = None,
    *,
    weights: str = "best",
    sampling: str = "center",
    end: int | None = None,
    image: PathLike | None = None,
) -> SpectrumResult:
    """The eNTK spectrum of the saved weights of an ``iga fit image`` run.

    Rebuilds the model from the run's ``config.json``, loads ``best.pt`` (or ``final.pt``) and
    evaluates the kernel on ``x`` or, by default, on one representative pixel per ``--patch``
    patch of the run's image (see the module docstring for ``sampling``). An FR model keeps
    its own parameterisation (the kernel its training followed); a BN model is merged with the
    full pixel grid first (the kernel of the plain network computing the same function).

    Args:
        run_dir: the run directory (``config.json`` and the weights file).
        x: points [n, 2] to use instead of the patch representatives.
        weights: ``"best"`` or ``"final"``.
        sampling: ``"center"`` or ``"max_residual"`` (ignored with ``x``).
        end: also the K·S spectrum for this ``end``.
        image: the image file, when the run's recorded path no longer resolves (relative paths
            are relative to the directory the run was started from).

    Raises:
        FileNotFoundError: no such run, no config.json, no weights, or the image is missing.
        ValueError: not an image run, or bad ``weights``/``sampling``/``end``.
    """
    from iga.tasks.image.task import ImageFitConfig, build_model

    if weights not in _WEIGHTS:
        raise ValueError(f"weights must be 'best' or 'final'; got {weights!r}")
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}; choose one of {', '.join(SAMPLINGS)}")
    run = Path(run_dir)
    data = _read_run(run)
    names = {f.name for f in dataclasses.fields(ImageFitConfig)}
    if "model" not in data or "patch" not in data:
        raise ValueError(f"{run} is not a run of `iga fit image` (its config has no patch/model)")
    try:
        cfg = ImageFitConfig.from_dict({k: v for k, v in data.items() if k in names})
    except TypeError as e:
        raise ValueError(f"{run}/config.json does not describe an image run ({e})") from None
    state_path = run / f"{weights}.pt"
    if not state_path.is_file():
        raise FileNotFoundError(f"{run} has no {weights}.pt; has the run finished?")
    path = Path(image) if image is not None else Path(cfg.path)
    if not path.is_file():
        raise FileNotFoundError(
            f"the image of run {run} ({path}) is not found; pass image= (--image) to locate it"
        )
    size = parse_size(cfg.size) if cfg.size else None
    img = ImageData.from_file(path, size=size, scale=cfg.scale)
    model = build_model(cfg)
    model.load_state_dict(torch.load(state_path, map_location="cpu", weights_only=True))
    info: dict[str, Any] = {
        "run": str(run),
        "arch": cfg.model.arch,
        "method": cfg.method.method,
        "weights": weights,
        "patch": cfg.patch,
        "image_size": [img.width, img.height],
    }
    if x is None:
        residual = None
        if sampling == "max_residual":
            with torch.no_grad():
                # BN models compute with full-grid statistics; so does this full-grid pass.
                residual = model(img.coords) - img.target
        idx = representatives(img.height, img.width, cfg.patch, sampling, residual)
        x = img.coords[idx]
        info["sampling"] = sampling
    info["n"] = int(x.shape[0])
    return kernel_spectrum(model, x, end, grid=img.coords, info=info)

"""Inverse problems on the image task, where the data underdetermine the image:

* **inpainting** (``--keep p``): train on a seeded random fraction ``p`` of the pixels; IGA's
  groups are the patches' kept pixels (a patch with none is dropped); scored on the held-out
  pixels and on the whole image.
* **super-resolution** (``--downsample k``): train on the image reduced ``k``× by area
  averaging (``k×k`` blocks), at the coordinates of the blocks' centres in the full image's
  frame (so the INR sees exactly where each low-resolution value comes from); scored on the
  full image against the original, beside bicubic upsampling (Pillow) as the classical row.

For both, the held-out PSNR (inpainting: the held-out pixels; super-resolution: the whole
full-resolution image) is logged every ``--heldout-every`` steps as ``psnr_heldout``; the
summary gives its last value and its best with the step, because overfitting shows as a peak
and a decline. The best weights are those of the best *training* PSNR (a user without ground
truth cannot pick by the held-out score), or, for inpainting with ``--val-fraction q``, those
that score best on a seeded fraction ``q`` of the kept pixels set aside from training
(``psnr_val``, every ``--heldout-every`` steps): the early stop a user can make with their own
pixels. The held-out pixels scored against the truth are the same with or without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from iga import metrics
from iga.tasks.base import Fit
from iga.tasks.image.data import ImageData, image_coords

__all__ = ["KEEP_NO_FRESH", "adapt", "is_inverse", "low_resolution", "scores"]

KEEP_NO_FRESH = (
    "matches the network's output spectrum to the whole image's, which --keep holds out in part"
)
"""Why ``--fresh`` is refused on inpainting: its spectrum would see the held-out pixels."""


def is_inverse(cfg: Any) -> bool:
    return cfg.keep < 1.0 or cfg.downsample > 1


def _keep_mask(n: int, keep: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1_000_003 * seed + 17)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=g)[: max(1, int(round(keep * n)))]] = True
    return mask


def _val_mask(kept: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """A seeded ``fraction`` of the ``kept`` pixels (at least one; at least one left)."""
    idx = torch.nonzero(kept.cpu()).reshape(-1)
    n = int(idx.numel())
    count = min(max(1, int(round(fraction * n))), n - 1)
    if count < 1:
        raise ValueError(
            f"--val-fraction {fraction} leaves no kept pixel to train on ({n} kept); "
            "raise --keep or use a larger --size"
        )
    g = torch.Generator().manual_seed(1_000_033 * seed + 29)
    val = torch.zeros_like(kept, device="cpu")
    val[idx[torch.randperm(n, generator=g)[:count]]] = True
    return val.to(kept.device)


def _psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    return float(-10.0 * torch.log10(((pred.clamp(0, 1) - target) ** 2).mean()))


def low_resolution(data: ImageData, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Super-resolution's training pixels: ``(coords [N, 2], values [N, 3])`` of the image
    reduced ``k``× by area averaging, at the blocks' centres in the full image's frame
    (row-major over the ``h/k × w/k`` grid); one line naming ``--downsample`` when ``k`` does
    not divide both sides."""
    h, w = data.height, data.width
    if h % k or w % k:
        raise ValueError(
            f"--downsample {k} does not divide the {w}x{h} image; choose a --size whose "
            f"sides are multiples of {k}"
        )
    low = data.image.reshape(h // k, k, w // k, k, 3).mean(dim=(1, 3))
    centre = image_coords(h, w, device=data.coords.device).reshape(h // k, k, w // k, k, 2)
    return centre.mean(dim=(1, 3)).reshape(-1, 2), low.reshape(-1, 3)


def adapt(cfg: Any, job: Fit, data: ImageData, groups: torch.Tensor) -> Fit:
    """Turn the full-image ``job`` into the inverse problem of ``cfg`` (in place; returned)."""
    if cfg.keep < 1.0 and cfg.downsample > 1:
        raise ValueError("--keep and --downsample are two problems; choose one of them")
    h, w, device = data.height, data.width, data.coords.device
    every = cfg.heldout_every
    coords, target = data.coords, data.target
    if cfg.keep < 1.0:
        mask = _keep_mask(h * w, cfg.keep, cfg.train.seed).to(device)
        held = ~mask
        if cfg.val_fraction:
            val = _val_mask(mask, cfg.val_fraction, cfg.train.seed)
            mask = mask & ~val
            val_x, val_y = coords[val], target[val]

            def validate(m: torch.nn.Module) -> dict[str, Any]:
                # A BN model (batch statistics, full-batch images) normalises these pixels by
                # their own statistics here: a uniform random share of the image, like the
                # training pixels, so close to but not exactly the function trained.
                return {"psnr_val": _psnr(m(val_x), val_y)}

            job.validate, job.validate_every, job.validate_key = validate, every, "psnr_val"
            job.resolved["val_pixels"] = int(val.sum())
        row = torch.full((h * w,), -1, dtype=torch.long, device=device)
        row[mask] = torch.arange(int(mask.sum()), device=device)
        g = row[groups.to(device).clamp(min=0)]
        g[groups.to(device) < 0] = -1
        g = g[(g >= 0).any(dim=1)]

        def heldout(pred_full: torch.Tensor) -> float:
            return _psnr(pred_full[held], target[held])

        job.inputs, job.target = coords[mask], target[mask]
        job.groups = torch.sort(g, dim=1, descending=True).values  # -1 padding last
        job.resolved.update({"kept_pixels": int(mask.sum()), "n_groups": int(g.shape[0])})
    else:
        k = cfg.downsample
        job.inputs, job.target = low_resolution(data, k)
        from iga.core import groups as groups_mod

        job.groups = groups_mod.grid((h // k, w // k), cfg.patch)
        job.resolved.update({"train_size": [w // k, h // k], "n_groups": int(job.groups.shape[0])})

        def heldout(pred_full: torch.Tensor) -> float:
            return _psnr(pred_full, target)

    job.resolved["points_per_group"] = int(job.groups.shape[1])

    def extra(step: int, pred: torch.Tensor) -> dict[str, Any]:
        del pred  # the training rows; the held-out score needs the whole image
        if step % every:
            return {}
        model = job.model
        buffers = {k: v.clone() for k, v in model.named_buffers()}
        with torch.no_grad():
            score = heldout(model(coords))
            for k, v in model.named_buffers():  # BN's running statistics stay as training left them
                if not torch.equal(v, buffers[k]):  # FR's bases are in the graph: left untouched
                    v.copy_(buffers[k])
        return {"psnr_heldout": score}

    job.extra, job.extra_every = extra, 1
    job.columns = ("step", "mse", "psnr", "lr", "time", "psnr_heldout") + (
        ("psnr_val",) if job.validate is not None else ()
    )
    return job


def scores(
    cfg: Any, data: ImageData, best: torch.Tensor, final: torch.Tensor, history: list[dict]
) -> dict[str, Any]:
    """The inverse problem's summary numbers (module docstring)."""
    target = data.image.cpu()
    out: dict[str, Any] = {
        "psnr_full": _psnr(best, target),
        "psnr_full_final": _psnr(final, target),
    }
    rows = [r for r in history if r.get("psnr_heldout") is not None]
    if rows:
        top = max(rows, key=lambda r: r["psnr_heldout"])
        out.update(
            {
                "heldout_last": rows[-1]["psnr_heldout"],
                "heldout_best": top["psnr_heldout"],
                "heldout_best_step": top["step"],
            }
        )
    if cfg.keep < 1.0:
        held = ~_keep_mask(data.height * data.width, cfg.keep, cfg.train.seed)
        flat_b, flat_t = best.reshape(-1, 3), target.reshape(-1, 3)
        out["psnr_heldout"] = _psnr(flat_b[held], flat_t[held])
        out["keep"] = cfg.keep
        out["val_fraction"] = cfg.val_fraction
        out["picked_by"] = "psnr_val" if cfg.val_fraction else "psnr"
    else:
        from PIL import Image

        k = cfg.downsample
        h, w = data.height, data.width
        low = target.reshape(h // k, k, w // k, k, 3).mean(dim=(1, 3)).numpy()
        img = Image.fromarray(np.round(low * 255).astype(np.uint8))
        up = np.asarray(img.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32) / 255
        out["psnr_heldout"] = out["psnr_full"]
        out["psnr_bicubic"] = _psnr(torch.from_numpy(up), target)
        out["ssim_bicubic"] = metrics.ssim(torch.from_numpy(up), target)
        out["downsample"] = k
    return out

"""Fitting one image with an INR (paper Sec. 6.1), vanilla or with IGA, into a run directory.

A run directory holds: ``config.json`` (resolved), ``metrics.csv`` (per step), ``summary.json``
(written last: a directory without it holds an unfinished run), ``reconstruction.png`` (the
best weights), ``reconstruction_final.png``, ``psnr.png``, ``best.pt`` and ``final.pt``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import torch

from iga import metrics
from iga.core import groups as groups_mod
from iga.figures import plots
from iga.io import read_csv, save_png, save_torch
from iga.methods import model_method
from iga.models import build, fresh
from iga.models.config import ModelConfig
from iga.optim import recipe_lr
from iga.tasks import registry
from iga.tasks.base import (
    Fit,
    TrainingDiverged,
    TrainingInterrupted,
    check_ints,
    config_from_dict,
    fit,
)
from iga.tasks.common import fresh_options
from iga.tasks.image import inverse
from iga.tasks.image.data import ImageData, parse_size
from iga.train import MethodConfig, TrainConfig, TrainResult

__all__ = [
    "BUNDLED_IMAGE",
    "ImageFitConfig",
    "ImageTask",
    "TrainingDiverged",
    "TrainingInterrupted",
    "build_model",
    "default_lr",
    "fit_image",
    "fresh_choice",
    "run_key",
]

BUNDLED_IMAGE = str(resources.files("iga") / "data" / "kodim03.png")
"""Kodak image 3, shipped with the package (provenance in ``iga/data/README.md``)."""


def default_lr(method: str, arch: str) -> float:
    """The paper's learning rates (Sec. 6.1): IGA 5e-3 for ReLU/PE, otherwise 1e-3.

    "Otherwise" includes the FR and BN baselines, as the paper states (the authors' scripts
    deviate in places: relu+fr 5e-3, pe+bn 3e-3).
    """
    return 5e-3 if method == "iga" and arch in ("relu", "pe") else 1e-3


@dataclass
class ImageFitConfig:
    """Everything that defines an image-fitting run."""

    path: str = field(default=BUNDLED_IMAGE, metadata={"help": "PNG/JPEG image to fit"})
    size: str | None = field(
        default=None, metadata={"help": "resize to WIDTHxHEIGHT, e.g. 192x128 (default: no resize)"}
    )
    scale: float | None = field(default=None, metadata={"help": "resize factor (default: none)"})
    patch: int = field(default=8, metadata={"help": "IGA group = patch x patch pixels"})
    keep: float = field(
        default=1.0,
        metadata={"help": "inpainting: train on this seeded random fraction of the pixels"},
    )
    downsample: int = field(
        default=1,
        metadata={"help": "super-resolution: train on the image reduced this many times"},
    )
    heldout_every: int = field(
        default=50, metadata={"help": "with --keep/--downsample: log the held-out PSNR every k"}
    )
    val_fraction: float = field(
        default=0.0,
        metadata={
            "help": "with --keep: set this seeded fraction of the kept pixels aside (not "
            "trained on) and keep the weights that score best on them, every --heldout-every "
            "steps (0: keep the best training PSNR's)"
        },
    )
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    out: str = field(default="runs/image", metadata={"help": "run directory"})
    overwrite: bool = field(default=False, metadata={"help": "replace a run already in --out"})

    def __post_init__(self) -> None:
        if self.patch < 1:
            raise ValueError(f"patch must be >= 1; got {self.patch}")
        if not 0 < self.keep <= 1:
            raise ValueError(f"--keep must be in (0, 1]; got {self.keep}")
        check_ints(("--downsample", self.downsample, 1), ("--heldout-every", self.heldout_every, 1))
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"--val-fraction must be in [0, 1); got {self.val_fraction}")
        if self.val_fraction and self.keep == 1.0:
            raise ValueError(
                "--val-fraction sets kept pixels aside for inpainting; use it with --keep"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageFitConfig:
        """Rebuild a config from its ``asdict`` / ``config.json`` form (extra keys refused)."""
        return config_from_dict(cls, data)

    @property
    def lr(self) -> float:
        """The learning rate actually used."""
        return (
            self.train.lr
            or recipe_lr(self.train.optimizer, self.model.arch)
            or default_lr(self.method.method, self.model.arch)
        )


def _reconstruct(model: torch.nn.Module, state: dict[str, torch.Tensor], data: ImageData) -> Any:
    model.load_state_dict(state)
    with torch.no_grad():
        return data.as_image(model(data.coords)).clamp(0, 1).cpu()


def _clipped_psnr(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return -10.0 * torch.log10(((p.clamp(0, 1) - t) ** 2).mean())


def build_with(cfg: ImageFitConfig, options: dict[str, Any], seed: int) -> torch.nn.Module:
    """The model of ``cfg`` with these model ``options`` and ``seed`` instead of its own."""
    return build(
        cfg.model.arch,
        2,
        3,
        hidden_features=cfg.model.width,
        hidden_layers=cfg.model.hidden_layers,
        seed=seed,
        # fr/bn change the model (W = ΛB, batch norm); vanilla and iga use the plain INR.
        method=model_method(cfg.method.method),
        **options,
    )


def fresh_choice(cfg: ImageFitConfig) -> fresh.FreshChoice | None:
    """FreSh's choice for ``cfg`` (None without ``--fresh``): computed once per image, model
    and seed (cached), so the run and its key (:func:`run_key`) see the same model. With
    ``--downsample`` it matches the low-resolution image the run trains on; with ``--keep``
    it is refused (the spectrum would see the held-out pixels)."""
    if cfg.model.fresh and cfg.keep < 1.0:
        raise ValueError(f"--fresh {inverse.KEEP_NO_FRESH}: leave --fresh out")

    def signal() -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]:
        size = parse_size(cfg.size) if cfg.size else None
        data = ImageData.from_file(cfg.path, size=size, scale=cfg.scale)
        k = cfg.downsample
        if k <= 1:
            return data.coords, data.target, (data.height, data.width)
        return (*inverse.low_resolution(data, k), (data.height // k, data.width // k))

    def make(extra: dict[str, object], seed: int) -> torch.nn.Module:
        return build_with(cfg, {**cfg.model.options, **extra}, seed)

    what = (cfg.path, cfg.size, cfg.scale, cfg.downsample, cfg.method.method)
    return fresh_options(cfg.model, cfg.train.seed, what, signal, make)[1]


def build_model(cfg: ImageFitConfig) -> torch.nn.Module:
    """The INR of ``cfg`` on the CPU, initialised from ``cfg.train.seed`` (2 -> 3 channels);
    with ``--fresh``, at FreSh's choice of the embedding frequency (:func:`fresh_choice`)."""
    choice = fresh_choice(cfg)
    extra = {} if choice is None else {choice.param: choice.value}
    return build_with(cfg, {**cfg.model.options, **extra}, cfg.train.seed)


class ImageTask:
    """Image fitting on the task contract (:mod:`iga.tasks.base`): pixels (y, x) -> RGB."""

    name: ClassVar[str] = "image"

    def method(self, cfg: ImageFitConfig) -> MethodConfig:
        return cfg.method

    def lr(self, cfg: ImageFitConfig) -> float:
        return cfg.lr

    def describe_model(self, cfg: ImageFitConfig) -> str:
        """The model's description (every resolved option): part of the run's key."""
        return build_model(cfg).describe()

    def setup(self, cfg: ImageFitConfig, device: torch.device) -> Fit:
        size = parse_size(cfg.size) if cfg.size else None
        data = ImageData.from_file(cfg.path, size=size, scale=cfg.scale)
        groups = groups_mod.grid((data.height, data.width), cfg.patch)
        model = build_model(cfg).to(device)
        self.data = data.to(device)
        choice = fresh_choice(cfg)
        job = Fit(
            model=model,
            inputs=self.data.coords,
            target=self.data.target,
            groups=groups,
            score=_clipped_psnr,
            score_name="psnr",
            resolved={
                "image_size": [data.width, data.height],
                "n_groups": int(groups.shape[0]),
                "points_per_group": int(groups.shape[1]),
                "model": model.describe(),
                **({} if choice is None else {"fresh": choice.as_dict()}),
            },
        )
        return inverse.adapt(cfg, job, self.data, groups) if inverse.is_inverse(cfg) else job

    def evaluate(
        self, cfg: ImageFitConfig, fit: Fit, result: TrainResult, out: Path
    ) -> dict[str, Any]:
        data, model = self.data, fit.model
        best = _reconstruct(model, result.best_state, data)
        final = _reconstruct(model, result.final_state, data)
        target = data.image.cpu()
        save_png(out / "reconstruction.png", best.numpy())
        save_png(out / "reconstruction_final.png", final.numpy())
        save_torch(out / "best.pt", result.best_state)
        save_torch(out / "final.pt", result.final_state)
        label = f"{cfg.model.arch}/{cfg.method.method}"
        rows = [r for r in result.history if "psnr" in r]  # not the final validation row
        plots.psnr_curves(
            {label: ([r["step"] for r in rows], [r["psnr"] for r in rows])},
            out / "psnr.png",
            title=f"{Path(cfg.path).name} {data.width}x{data.height}",
        )
        lpips_ok, lpips_reason = metrics.lpips_status()
        choice = fresh_choice(cfg)
        extra = (
            inverse.scores(cfg, data, best, final, result.history)
            if inverse.is_inverse(cfg)
            else {}
        )
        return {
            "image": str(cfg.path),
            "arch": cfg.model.arch,
            "method": cfg.method.method,
            "psnr_best": result.best_score,
            "best_step": result.best_step,
            "psnr_final": metrics.psnr(final, target),
            "ssim": metrics.ssim(best, target),
            "ssim_final": metrics.ssim(final, target),
            "lpips": metrics.lpips_metric(best, target) if lpips_ok else None,
            "lpips_status": "ok" if lpips_ok else lpips_reason,
            **({} if choice is None else {"fresh": f"{choice.param}={choice.value:g}"}),
            **extra,
        }


def run_key(cfg: ImageFitConfig) -> str:
    """The key of the run ``cfg`` describes, without running it
    (:func:`iga.tasks.registry.run_key`)."""
    return registry.run_key(ImageTask(), cfg)


def fit_image(
    cfg: ImageFitConfig, progress: bool = True, desc: str = "", resume: bool | str = False
) -> dict[str, Any]:
    """Run one fit and write its directory; returns the summary (also in summary.json).

    ``resume``: see :func:`iga.tasks.base.fit`.

    Raises:
        TrainingDiverged: after writing the outputs of the best step before the divergence.
        TrainingInterrupted: SIGINT/SIGTERM; ``--resume`` continues from the checkpoint.
    """
    return fit(ImageTask(), cfg, progress=progress, desc=desc, resume=resume)


def compare(
    configs: dict[str, ImageFitConfig], out: str | Path, progress: bool = True
) -> dict[str, dict[str, Any]]:
    """Fit the same image with several configs; write a side-by-side PNG and PSNR curves.

    Each config runs into ``out/<label>``; returns ``{label: summary}``. The figures are
    ``out/comparison.png`` (target and best reconstructions), ``out/spectra.png`` (detail crops
    and Fourier residual heatmaps, as the paper's Figure 4) and ``out/psnr.png``.
    """
    out = Path(out)
    summaries: dict[str, dict[str, Any]] = {}
    for label, cfg in configs.items():
        summaries[label] = fit_image(cfg, progress=progress, desc=label)
    first = next(iter(configs.values()))
    size = parse_size(first.size) if first.size else None
    target = ImageData.from_file(first.path, size=size, scale=first.scale).image
    images: dict[str, Any] = {"target": target}
    extra: dict[str, str] = {}
    curves: dict[str, tuple[list[int], list[float]]] = {}
    for label, cfg in configs.items():
        run = Path(cfg.out)
        images[label] = ImageData.from_file(run / "reconstruction.png").image
        extra[label] = f"best {summaries[label]['psnr_best']:.2f} dB"
        rows = read_csv(run / "metrics.csv")
        curves[label] = ([int(r["step"]) for r in rows], [float(r["psnr"]) for r in rows])
    plots.side_by_side(images, out / "comparison.png", titles_extra=extra)
    # The paper's Figure 4 view: detail crops and Fourier-domain residuals per method.
    recons = {k: v for k, v in images.items() if k != "target"}
    plots.method_comparison(target, recons, out / "spectra.png", titles_extra=extra)
    plots.psnr_curves(curves, out / "psnr.png", title=Path(first.path).name)
    return summaries


def format_table(summaries: dict[str, dict[str, Any]]) -> str:
    """A Markdown table of the key numbers of several runs."""
    lines = [
        "| run | PSNR best (dB) | PSNR final (dB) | SSIM | LPIPS | ms/step | lr |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, s in summaries.items():
        lp = f"{s['lpips']:.3f}" if s.get("lpips") is not None else "n/a"
        lines.append(
            f"| {label} | {s['psnr_best']:.2f} | {s['psnr_final']:.2f} | {s['ssim']:.4f} | "
            f"{lp} | {1000 * s['seconds_per_step']:.1f} | {s['lr']:g} |"
        )
    return "\n".join(lines)

"""eNTK spectra of INRs: summary statistics, architecture comparisons, trained checkpoints.

The kernel is :func:`iga.entk` (``K = J Jᵀ`` of ``g = Σ_c f_c / sqrt(C)``) evaluated on one
representative point per group, the same matrix IGA balances during training. Its spectrum
governs how fast each eigen-direction of the residual decays under gradient descent, so a
spread-out spectrum means some directions are learned orders of magnitude more slowly.

Statistics (:func:`eigenvalue_stats`) on the eigenvalues λ_1 ≥ … ≥ λ_n of a kernel:

``condition``
    λ_max / λ_min over the *positive* eigenvalues (IGA's logged ``cond_before`` with the
    default ``rtol=0``).
``variance_normalised``
    Var(λ) / mean(λ)², the squared coefficient of variation of the eigenvalues. Ou & Zhuang
    (2025, "Understanding NTK Variance in Implicit Neural Representations", as summarised in
    the project's reference notes) explain PE, spherical normalisation and Hadamard modulation
    as reductions of NTK eigenvalue variance. The raw variance grows with the kernel's overall
    scale (which an arch's ω₀ or a parameterisation changes freely), so it is divided by the
    squared mean to compare kernels of different scales. Equivalently
    ``n Σλ² / (Σλ)² − 1 = n ‖K‖_F² / tr(K)² − 1``.
``effective_rank``
    exp of the Shannon entropy of p_i = λ_i / Σλ (Roy & Vetterli, 2007): n for a flat
    spectrum, 1 when one eigenvalue holds all the trace.

Representative points for image runs default to the centre pixel of each patch
(:func:`patch_centres`), a choice that does not depend on the weights: spectra of different
runs or checkpoints are then taken on the same inputs, so their differences come from the
weights alone. ``sampling="max_residual"`` instead takes, per patch, the pixel with the
largest residual under the weights being studied (what IGA's default sampling does while
training), which moves the points as the weights change.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from iga.core import Grouping, balance, entk, max_residual_points
from iga.core import groups as groups_mod
from iga.io import save_figure, write_json
from iga.models import ARCHS, BNINR, build
from iga.tasks.image.data import ImageData, parse_size

__all__ = [
    "SAMPLINGS",
    "STAT_KEYS",
    "SpectrumOptions",
    "SpectrumResult",
    "analyze_spectrum",
    "arch_spec",
    "compare_archs",
    "eigenvalue_stats",
    "kernel_spectrum",
    "patch_centres",
    "representatives",
    "spectra_figure",
    "spectrum_of_checkpoint",
]

PathLike = str | os.PathLike[str]

STAT_KEYS = (
    "lambda_max",
    "lambda_min",
    "condition",
    "variance_normalised",
    "effective_rank",
    "n_positive",
)
"""The keys of :func:`eigenvalue_stats`, in order."""

SAMPLINGS = ("center", "max_residual")
"""Representative point per patch for :func:`spectrum_of_checkpoint`."""

_WEIGHTS = ("best", "final")


def _as_float64(eigs: Any) -> np.ndarray:
    if isinstance(eigs, torch.Tensor):
        return eigs.detach().cpu().to(torch.float64).numpy().ravel()
    return np.asarray(eigs, dtype=np.float64).ravel()


def eigenvalue_stats(
    eigs: torch.Tensor | np.ndarray | Sequence[float], rtol: float = 0.0
) -> dict[str, float]:
    """Summary statistics of a kernel's eigenvalues (any order); see the module docstring.

    Args:
        eigs: the eigenvalues of a symmetric positive semi-definite matrix.
        rtol: eigenvalues at most ``rtol · λ_max`` count as zero (not positive). The default 0
            keeps every strictly positive eigenvalue, as IGA's logged condition numbers do; a
            kernel computed in float32 has round-off eigenvalues near ``1e-7 · n · λ_max``.

    Returns:
        ``{"lambda_max", "lambda_min" (smallest positive), "condition" (λ_max / λ_min),
        "variance_normalised" (Var(λ)/mean(λ)², population variance over all n eigenvalues),
        "effective_rank" (exp entropy of λ/Σλ over the positive ones), "n_positive"}``; a value
        with no positive eigenvalue to define it is NaN. Negative eigenvalues (round-off of a
        PSD matrix) count as zero.

    Raises:
        ValueError: no eigenvalues, a non-finite one, or a negative ``rtol``.
    """
    ev = _as_float64(eigs)
    if ev.size == 0:
        raise ValueError("eigenvalue_stats needs at least one eigenvalue")
    if not np.isfinite(ev).all():
        raise ValueError("eigenvalues must be finite (the kernel has NaN/inf entries)")
    if not rtol >= 0:
        raise ValueError(f"rtol must be >= 0; got {rtol}")
    ev = np.clip(ev, 0.0, None)
    lam_max = float(ev.max())
    pos = ev[ev > rtol * lam_max] if lam_max > 0 else ev[:0]
    mean = float(ev.mean())
    nan = float("nan")
    if pos.size:
        p = pos / pos.sum()
        erank = float(np.exp(-(p * np.log(p)).sum()))
        lam_min = float(pos.min())
    else:
        erank = lam_min = nan
    return {
        "lambda_max": lam_max,
        "lambda_min": lam_min,
        "condition": lam_max / lam_min if pos.size else nan,
        "variance_normalised": float(ev.var()) / mean**2 if mean > 0 else nan,
        "effective_rank": erank,
        "n_positive": int(pos.size),
    }


@dataclass
class SpectrumResult:
    """The eNTK spectrum of one model on one set of points, with and without IGA's S."""

    eigenvalues: torch.Tensor
    """All eigenvalues of K, descending, float64 on the CPU."""
    stats: dict[str, float]
    """:func:`eigenvalue_stats` of :attr:`eigenvalues`."""
    adjusted: torch.Tensor | None = None
    """Eigenvalues of K·S for ``end`` (:func:`iga.core.balance`), descending; None without."""
    stats_adjusted: dict[str, float] | None = None
    """:func:`eigenvalue_stats` of :attr:`adjusted`."""
    end: int | None = None
    """The ``end`` S was built with (None: no S)."""
    info: dict[str, Any] = field(default_factory=dict)
    """Where the spectrum came from (arch, seed, run directory, sampling, ...)."""

    def balanced(self) -> SpectrumResult:
        """The K·S spectrum as a result of its own (to plot it beside K's).

        Raises:
            ValueError: the result was computed without ``end``.
        """
        if self.adjusted is None or self.stats_adjusted is None:
            raise ValueError("this spectrum has no K·S eigenvalues; compute it with end=...")
        return SpectrumResult(
            self.adjusted, dict(self.stats_adjusted), info={**self.info, "kernel": "K·S"}
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (eigenvalues as lists)."""
        return {
            "info": self.info,
            "end": self.end,
            "stats": self.stats,
            "stats_adjusted": self.stats_adjusted,
            "eigenvalues": self.eigenvalues.tolist(),
            "adjusted": None if self.adjusted is None else self.adjusted.tolist(),
        }


def _kernel_model(model: nn.Module, grid: torch.Tensor | None) -> nn.Module:
    # A BN model normalises with the statistics of the batch, so one point on its own has no
    # defined output; its function on the training grid is a plain INR once they are folded.
    if isinstance(model, BNINR):
        if grid is None:
            raise ValueError(
                "a batch-norm model's eNTK needs the grid its statistics come from; pass grid="
            )
        return model.merge(grid)
    return model


def kernel_spectrum(
    model: nn.Module,
    x: torch.Tensor,
    end: int | None = None,
    *,
    dtype: torch.dtype | None = torch.float64,
    grid: torch.Tensor | None = None,
    info: Mapping[str, Any] | None = None,
) -> SpectrumResult:
    """The eNTK spectrum of ``model`` on the points ``x`` [n, d], and of K·S with ``end``.

    Args:
        model: any model :func:`iga.entk` accepts (on the CPU or a GPU); a
            :class:`~iga.models.BNINR` is first merged on ``grid`` (its batch statistics).
        x: the points, one per row (e.g. one representative per group).
        end: when given, also the eigenvalues of K·S with S from
            :func:`iga.core.balance` (``ref="end"``: the top ``end`` become λ_end).
        dtype: the kernel is computed on a copy of the model in this dtype. float64 (default)
            resolves eigenvalues far below λ_max, which float32 round-off (about
            ``1e-7 · λ_max``) would swamp; ``None`` keeps the model's dtype (the kernel IGA
            itself computes while training).
        grid: the full input grid, for batch-norm models only.
        info: recorded in :attr:`SpectrumResult.info`.

    Raises:
        ValueError: ``end`` out of range for n points, or a batch-norm model without ``grid``.
    """
    net = _kernel_model(model, grid)
    if dtype is not None:
        net = copy.deepcopy(net).to(dtype)
        x = x.to(dtype)
    K = entk(net, x.to(next(net.parameters()).device))
    if end is not None:
        bal = balance(K, end)
        eigenvalues, adjusted = bal.eigenvalues, bal.adjusted
        # With ref="end" the balanced values stay in order; sorting only guards round-off ties.
        adjusted = adjusted.sort(descending=True).values
    else:
        K64 = K.detach().to("cpu", torch.float64)
        eigenvalues, adjusted = torch.linalg.eigvalsh((K64 + K64.T) / 2).flip(0), None
    return SpectrumResult(
        eigenvalues=eigenvalues,
        stats=eigenvalue_stats(eigenvalues),
        adjusted=adjusted,
        stats_adjusted=None if adjusted is None else eigenvalue_stats(adjusted),
        end=end,
        info=dict(info or {}),
    )


def arch_spec(text: str) -> tuple[str, dict[str, Any]]:
    """``"pe:pe_levels=8:spherical_norm"`` -> ``("pe", {"pe_levels": 8, "spherical_norm": True})``.

    An arch name followed by ``:``-separated model options for :func:`iga.models.build`
    (``key=value``, values read as numbers, true/false or text; a bare ``key`` means true).
    Lets one comparison hold variants of the same arch.

    Raises:
        ValueError: unknown arch or an empty option.
    """
    from iga.configcli import parse_scalar

    name, *parts = str(text).strip().split(":")
    if name not in ARCHS:
        raise ValueError(f"unknown arch {name!r} in {text!r}; choose from {', '.join(ARCHS)}")
    options: dict[str, Any] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not key.strip():
            raise ValueError(
                f"empty option in {text!r}; write arch:key=value, e.g. relu:hadamard=all"
            )
        options[key.strip()] = parse_scalar(value.strip()) if sep else True
    return name, options


def compare_archs(
    archs: Sequence[str],
    x: torch.Tensor,
    *,
    width: int = 64,
    hidden_layers: int = 3,
    seeds: Sequence[int] = (0, 1, 2),
    end: int | None = None,
    in_features: int | None = None,
    out_features: int = 3,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    grid: torch.Tensor | None = None,
    on_arch: Callable[[str, list[SpectrumResult]], None] | None = None,
) -> dict[str, list[SpectrumResult]]:
    """eNTK spectra at initialisation of several archs on the same points, one per seed.

    Args:
        archs: names for :func:`iga.models.build` (relu, pe, siren, finer, wire, gauss), or
            :func:`arch_spec` strings with model options (``relu:spherical_norm``); each is
            also the key of its results.
        x: the points [n, in_features].
        width, hidden_layers, out_features: the networks' shape (as ``iga fit image``).
        seeds: initialisation seeds; each gives one :class:`SpectrumResult`.
        end: also the K·S spectra (see :func:`kernel_spectrum`).
        in_features: default ``x.shape[1]``.
        options: per arch, extra keyword arguments of :func:`~iga.models.build` (arch options
            such as ``pe_levels``, or ``method="fr"``/``"bn"`` for those variants).
        grid: the full input grid, used only by batch-norm variants (default ``x``).
        on_arch: called with each arch's results as soon as they are computed (progress).

    Returns:
        ``{arch: [result per seed]}`` in the order of ``archs``.
    """
    if not archs:
        raise ValueError("compare_archs needs at least one arch")
    if not seeds:
        raise ValueError("compare_archs needs at least one seed")
    d = x.shape[1] if in_features is None else in_features
    opts = options or {}
    out: dict[str, list[SpectrumResult]] = {}
    for label in archs:
        arch, spec_kw = arch_spec(label)
        results = []
        for seed in seeds:
            kw = {**opts.get(label, {}), **spec_kw}
            model = build(
                arch,
                d,
                out_features,
                hidden_features=width,
                hidden_layers=hidden_layers,
                seed=int(seed),
                **kw,
            )
            info = {"arch": arch, "seed": int(seed), "width": width, **kw}
            info["parameters"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
            results.append(
                kernel_spectrum(model, x, end, grid=x if grid is None else grid, info=info)
            )
        out[label] = results
        if on_arch is not None:
            on_arch(label, results)
    return out


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


def _stack(results: SpectrumResult | Sequence[SpectrumResult]) -> list[SpectrumResult]:
    items = [results] if isinstance(results, SpectrumResult) else list(results)
    if not items or not all(isinstance(r, SpectrumResult) for r in items):
        raise TypeError("spectra_figure takes {label: SpectrumResult or a list of them}")
    return items


def _median_stat(items: Sequence[SpectrumResult], key: str) -> float:
    values = [r.stats[key] for r in items if math.isfinite(r.stats[key])]
    return float(np.median(values)) if values else float("nan")


def spectra_figure(
    results: Mapping[str, SpectrumResult | Sequence[SpectrumResult]],
    path: PathLike,
    title: str | None = None,
) -> Path:
    """Eigenvalues against index on a log axis, one line per label, saved to ``path``.

    A list of results (e.g. one per seed) is drawn as the median per index with a min-max
    band; lists of different lengths are cut to the shortest. Non-positive eigenvalues are
    left out (a log axis cannot show them). The legend gives the median normalised variance
    Var(λ)/mean(λ)² and condition number of each label.
    """
    if not results:
        raise ValueError("spectra_figure needs at least one spectrum; pass {label: result}")
    many = len(results) > 10  # beyond the default colour cycle: 20 colours, two line styles
    fig = Figure(figsize=(7.6, 4.8) if many else (6.4, 4.2), dpi=120, layout="constrained")
    ax = fig.add_subplot()
    palette = matplotlib.colormaps["tab20"].colors
    for k, (label, res) in enumerate(results.items()):
        items = _stack(res)
        n = min(r.eigenvalues.numel() for r in items)
        ev = np.stack([r.eigenvalues[:n].numpy() for r in items])
        ev = np.where(ev > 0, ev, np.nan)
        index = np.arange(1, n + 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: drawn as gaps
            mid = np.nanmedian(ev, axis=0)
            lo, hi = np.nanmin(ev, axis=0), np.nanmax(ev, axis=0)
        var = _median_stat(items, "variance_normalised")
        cond = _median_stat(items, "condition")
        style = {"color": palette[k % 20], "linestyle": ("-", "--")[k // 20 % 2]} if many else {}
        (line,) = ax.plot(
            index,
            mid,
            linewidth=1.5,
            label=f"{label}: Var/mean² {var:.3g}, cond {cond:.2e}",
            **style,
        )
        if len(items) > 1:
            ax.fill_between(index, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue index")
    ax.set_ylabel("eigenvalue of the eNTK")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7 if many else 8, ncol=2 if many else 1)
    if title:
        ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


# --- ``iga analyze spectrum`` ------------------------------------------------------------------


def _check_arch(name: str) -> None:
    arch, kw = arch_spec(name)
    try:  # a tiny build checks the options now, not after the first archs have run
        build(arch, 2, 1, 2, 1, **kw)
    except TypeError as e:
        raise ValueError(str(e)) from None


@dataclass
class SpectrumOptions:
    """The options of ``iga analyze spectrum`` (each field is a flag)."""

    out: str = field(metadata={"help": "output directory (spectra_*.png, spectra.json)"})
    archs: list[str] = field(
        default_factory=lambda: ["relu", "pe", "siren", "finer"],
        metadata={
            "help": f"archs to compare at initialisation ({'|'.join(ARCHS)}), each optionally "
            "with model options: relu:spherical_norm, pe:hadamard=all",
            "check": _check_arch,
        },
    )
    image: str | None = field(
        default=None,
        metadata={
            "help": "image whose patch centres are the points (default: the bundled "
            "Kodak image; with --run: each run's own image)"
        },
    )
    size: str | None = field(
        default="48x32",
        metadata={"help": "resize to WIDTHxHEIGHT (without --run)", "check": parse_size},
    )
    patch: int = field(
        default=4, metadata={"help": "one point per patch x patch pixels (without --run)", "min": 1}
    )
    width: int = field(default=64, metadata={"help": "hidden features per layer", "min": 1})
    hidden_layers: int = field(
        default=3, metadata={"help": "activations between linears", "min": 1}
    )
    seeds: list[int] = field(
        default_factory=lambda: [0, 1, 2], metadata={"help": "initialisation seeds"}
    )
    end: int = field(
        default=20, metadata={"help": "IGA: number of top eigenvalues balanced in K·S", "min": 0}
    )
    runs: list[str] = field(
        default_factory=list, metadata={"help": "run directories of `iga fit image`"}
    )
    weights: str = field(
        default="best",
        metadata={"help": "with --run: best or final weights", "choices": _WEIGHTS},
    )
    sampling: str = field(
        default="center",
        metadata={
            "help": "with --run: point per patch, center or max_residual (of the weights)",
            "choices": SAMPLINGS,
        },
    )
    signal: str = field(
        default="image",
        metadata={
            "help": "image (patch centres of --image) or 1d (the middle sample of each group "
            "of --patch consecutive samples of `iga fit function`'s line); without --run",
            "choices": ("image", "1d"),
        },
    )
    fit_steps: int = field(
        default=0,
        metadata={
            "help": "also fit the image with each arch for this many steps and report the "
            "best PSNR beside the spectrum (0: no fits; without --run)",
            "min": 0,
        },
    )
    fit_methods: list[str] = field(
        default_factory=lambda: ["vanilla"],
        metadata={"help": "with --fit-steps: the methods each arch is fitted with"},
    )

    def __post_init__(self) -> None:
        if not str(self.out).strip():
            raise ValueError("--out is empty; name an output directory")
        if not self.archs and not self.runs:
            raise ValueError("--archs is empty; name at least one arch")
        for arch in self.archs:
            try:
                _check_arch(arch)
            except ValueError as e:
                raise ValueError(f"--archs: {e}") from None
        if self.size is not None:
            parse_size(self.size)
        if not self.seeds:
            raise ValueError("--seeds is empty; give at least one seed, e.g. 0,1,2")
        if len(set(self.seeds)) < len(self.seeds):
            raise ValueError("--seeds lists a seed more than once; give each seed once")
        for flag, value, low in (
            ("--patch", self.patch, 1),
            ("--width", self.width, 1),
            ("--hidden-layers", self.hidden_layers, 1),
            ("--end", self.end, 0),
        ):
            if value < low:
                raise ValueError(f"{flag} must be >= {low}; got {value}")
        if self.fit_steps < 0:
            raise ValueError(f"--fit-steps must be >= 0; got {self.fit_steps}")
        if self.signal not in ("image", "1d"):
            raise ValueError(f"--signal must be image or 1d; got {self.signal!r}")
        if self.signal == "1d" and (self.fit_steps or self.runs):
            raise ValueError("--signal 1d analyses archs at initialisation: drop --fit-steps/--run")
        from iga.train import METHODS

        for method in self.fit_methods:
            if method not in METHODS:
                raise ValueError(
                    f"--fit-methods: unknown method {method!r}; choose from {', '.join(METHODS)}"
                )
        if self.weights not in _WEIGHTS:
            raise ValueError(f"--weights must be best or final; got {self.weights!r}")
        if self.sampling not in SAMPLINGS:
            raise ValueError(
                f"--sampling must be one of {', '.join(SAMPLINGS)}; got {self.sampling!r}"
            )
        for run in self.runs:
            if not Path(run).is_dir():
                raise FileNotFoundError(f"--run {run}: no such run directory")
            if not (Path(run) / "config.json").is_file():
                raise FileNotFoundError(
                    f"--run {run}: no config.json there; is it a run of `iga fit image`?"
                )
            if not (Path(run) / f"{self.weights}.pt").is_file():
                raise FileNotFoundError(
                    f"--run {run}: no {self.weights}.pt there; has the run finished?"
                )


def _median_stats(items: Sequence[SpectrumResult], adjusted: bool = False) -> dict[str, float]:
    """Per statistic, the median over ``items`` (seeds) of its finite values."""
    tables = [r.stats_adjusted if adjusted else r.stats for r in items]
    out = {}
    for key in STAT_KEYS:
        finite = [t[key] for t in tables if t is not None and math.isfinite(t[key])]
        out[key] = float(np.median(finite)) if finite else float("nan")
    return out


def _describe(stats: Mapping[str, float]) -> str:
    return (
        f"Var/mean² {stats['variance_normalised']:.3g}, condition {stats['condition']:.3g}, "
        f"effective rank {stats['effective_rank']:.3g}"
    )


def _run_labels(runs: Sequence[str], results: Sequence[SpectrumResult]) -> list[str]:
    names = [Path(r).name or str(r) for r in runs]
    # Two runs of the same name in different places: fall back to the paths as given.
    use = names if len(set(names)) == len(names) else [str(r) for r in runs]
    return [f"{n} ({r.info['arch']}/{r.info['method']})" for n, r in zip(use, results, strict=True)]


def analyze_spectrum(
    opts: SpectrumOptions, log: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run ``iga analyze spectrum``: write the figures and ``spectra.json`` into ``opts.out``.

    Without runs: the archs at initialisation on the image's patch centres (one result per
    seed; ``spectra_archs.png``) and, for the first arch, K against K·S (``spectra_iga.png``).
    With runs: each run's saved weights (``spectra_runs.png``). Returns what ``spectra.json``
    holds.

    Raises:
        ValueError: ``--end`` not below the number of points, or ``--patch`` larger than the
            image (messages name the flag).
    """
    from iga.tasks.base import check_groups

    say = log or (lambda _: None)
    out = Path(opts.out)
    record: dict[str, Any] = {"options": asdict(opts)}
    if opts.runs:
        # A directory named twice (e.g. by --run and in a comma list) is analysed once.
        by_path: dict[Path, str] = {}
        for r in opts.runs:
            by_path.setdefault(Path(r).resolve(), r)
        runs = list(by_path.values())
        results = []
        for run in runs:
            # The run recorded its number of groups, so a bad --end fails before any work.
            n_groups = _read_run(Path(run)).get("resolved", {}).get("n_groups")
            if opts.end and isinstance(n_groups, int) and opts.end >= n_groups:
                raise ValueError(
                    f"--end {opts.end} must be smaller than the number of groups of --run {run} "
                    f"({n_groups}); lower --end"
                )
            results.append(
                spectrum_of_checkpoint(
                    run,
                    weights=opts.weights,
                    sampling=opts.sampling,
                    end=opts.end or None,
                    image=opts.image,
                )
            )
        labels = _run_labels(runs, results)
        for label, res in zip(labels, results, strict=True):
            say(f"{label}: {_describe(res.stats)} ({res.info['n']} points)")
        out.mkdir(parents=True, exist_ok=True)
        spectra_figure(
            dict(zip(labels, results, strict=True)),
            out / "spectra_runs.png",
            title=f"eNTK spectra of trained weights ({opts.weights}, {opts.sampling} points)",
        )
        record["mode"] = "runs"
        record["results"] = {
            label: [res.to_dict()] for label, res in zip(labels, results, strict=True)
        }
    else:
        if opts.signal == "1d":
            return _spectrum_1d(opts, record, say)
        image, data = analysis_image(opts.image, opts.size, opts.patch)
        idx = patch_centres(data.height, data.width, opts.patch)
        n = int(idx.numel())
        where = (
            f"{n} points: a {data.width}x{data.height} image in {opts.patch}x{opts.patch} patches"
        )
        if opts.end >= n:
            raise ValueError(
                f"--end {opts.end} must be smaller than the number of groups ({where}); "
                "lower --end or use a smaller --patch"
            )
        check_groups(n, torch.device("cpu"), "--patch")
        x = data.coords[idx]

        def progress(arch: str, items: list[SpectrumResult]) -> None:
            with_s = _describe(_median_stats(items, adjusted=True)) if opts.end else "-"
            say(
                f"{arch}: {_describe(_median_stats(items))}; K·S (end {opts.end}): {with_s} "
                f"(median of {len(items)} seeds)"
            )

        say(f"eNTK at initialisation on the patch centres ({where})")
        results_by_arch = compare_archs(
            opts.archs,
            x,
            width=opts.width,
            hidden_layers=opts.hidden_layers,
            seeds=opts.seeds,
            end=opts.end or None,
            on_arch=progress,
        )
        out.mkdir(parents=True, exist_ok=True)
        name = Path(image).name
        spectra_figure(
            results_by_arch,
            out / "spectra_archs.png",
            title=f"eNTK at init, {name} {data.width}x{data.height}, {n} patch centres, "
            f"width {opts.width}",
        )
        record.update(
            image=image_label(image),
            image_size=[data.width, data.height],
            **_archs_record(opts, results_by_arch, n, out),
        )
        if opts.fit_steps:
            record["fits"] = _short_fits(opts, image, say)
    write_json(out / "spectra.json", record)
    return record


def _archs_record(
    opts: SpectrumOptions, results: Mapping[str, list[SpectrumResult]], n: int, out: Path
) -> dict[str, Any]:
    """Draw the first arch's K against K·S (``spectra_iga.png``) and return the JSON record
    of an arch comparison."""
    first = opts.archs[0]
    pair: dict[str, Any] = {f"{first}: K": results[first]}
    if opts.end:
        pair[f"{first}: K·S (IGA, end {opts.end})"] = [r.balanced() for r in results[first]]
    spectra_figure(pair, out / "spectra_iga.png", title=f"{first} at init: K vs K·S")
    return {
        "mode": "archs",
        "n_points": n,
        "results": {a: [r.to_dict() for r in rs] for a, rs in results.items()},
        "summary": {
            a: {
                "stats": _median_stats(rs),
                "stats_adjusted": _median_stats(rs, adjusted=True) if opts.end else None,
            }
            for a, rs in results.items()
        },
    }


def _spectrum_1d(
    opts: SpectrumOptions, record: dict[str, Any], say: Callable[[str], None]
) -> dict[str, Any]:
    """``--signal 1d``: the archs at initialisation on the middle sample of each group of
    ``--patch`` consecutive samples of the 1D task's line (``iga fit function``'s default
    signal: 2048 samples of [-1, 1], one output)."""
    from iga.tasks.function1d.task import SignalConfig, make_signal

    inputs = make_signal(SignalConfig()).inputs
    idx = torch.arange(opts.patch // 2, inputs.shape[0], opts.patch)
    n = int(idx.numel())
    if opts.end >= n:
        raise ValueError(
            f"--end {opts.end} must be smaller than the number of groups ({n} groups of "
            f"{opts.patch} of the {inputs.shape[0]} samples); lower --end or --patch"
        )
    say(f"eNTK at initialisation on {n} points of [-1, 1] (one per {opts.patch} samples)")
    results = compare_archs(
        opts.archs,
        inputs[idx],
        width=opts.width,
        hidden_layers=opts.hidden_layers,
        seeds=opts.seeds,
        end=opts.end or None,
        out_features=1,
        on_arch=lambda a, items: say(f"{a}: {_describe(_median_stats(items))}"),
    )
    out = Path(opts.out)
    spectra_figure(
        results,
        out / "spectra_archs.png",
        title=f"eNTK at init, 1D line, {n} points, width {opts.width}",
    )
    record.update(signal="1d", **_archs_record(opts, results, n, out))
    write_json(out / "spectra.json", record)
    return record


def _short_fits(
    opts: SpectrumOptions, image: PathLike, say: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    """``--fit-steps``: each arch spec × method fitted on the image (first seed, the image
    task's default lrs) into ``out/fits/<spec>/<method>``; their best PSNRs."""
    from iga.tasks.image.task import ImageFitConfig, ModelConfig, fit_image
    from iga.train import MethodConfig, TrainConfig

    fits: dict[str, dict[str, Any]] = {}
    for label in opts.archs:
        arch, kw = arch_spec(label)
        for method in opts.fit_methods:
            cfg = ImageFitConfig(
                path=str(image),
                size=opts.size,
                patch=opts.patch,
                model=ModelConfig(
                    arch=arch, width=opts.width, hidden_layers=opts.hidden_layers, options=kw
                ),
                method=MethodConfig(method=method, end=opts.end),
                train=TrainConfig(steps=opts.fit_steps, seed=int(opts.seeds[0])),
                out=str(Path(opts.out) / "fits" / label.replace(":", "_") / method),
                overwrite=True,
            )
            summary = fit_image(cfg, progress=False)
            fits.setdefault(label, {})[method] = {
                "psnr_best": summary["psnr_best"],
                "lr": summary["lr"],
                "seconds": summary.get("seconds"),
            }
            say(
                f"{label} {method}: best PSNR {summary['psnr_best']:.2f} dB "
                f"({opts.fit_steps} steps)"
            )
    return fits


def analysis_image(image: PathLike | None, size: str | None, patch: int) -> tuple[str, ImageData]:
    """The image an analysis runs on (default: the bundled one), resized, with ``--patch``
    checked against it: ``(path, data)``.

    Raises:
        ValueError: ``--patch`` larger than the image (the message names the flag).
    """
    from iga.tasks.image.task import BUNDLED_IMAGE

    path = str(image or BUNDLED_IMAGE)
    data = ImageData.from_file(path, size=parse_size(size) if size else None)
    if patch > min(data.height, data.width):
        raise ValueError(
            f"--patch {patch} is larger than the {data.width}x{data.height} image; "
            "use a smaller --patch"
        )
    return path, data


def image_label(path: object) -> str:
    """How an image is named in results: the bundled image by name (no machine path in
    committed JSON), any other as given."""
    from iga.tasks.image.task import BUNDLED_IMAGE

    return "bundled:kodim03.png" if str(path) == str(BUNDLED_IMAGE) else str(path)

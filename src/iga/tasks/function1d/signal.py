"""The 1D signal: a sum of sines Σ sin(c·π·t) on N points, its DFT bins and the relative error
Δ_k at each (the paper's Sec. 5, App. C)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

COORDS = ("line", "circle")
"""How t is fed to the network: as is (``line``) or as (cos t, sin t) (``circle``)."""


def _parse_number(text: str) -> float:
    """``"2"``, ``"-0.5"``, ``"pi"``, ``"2pi"``, ``"-1.5pi"`` -> float."""
    t = text.strip().lower().replace(" ", "")
    m = re.fullmatch(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)?(\*?pi)?", t)
    if not t or m is None or (m.group(1) is None and m.group(2) is None):
        raise ValueError(f"cannot read {text!r} as a number; write e.g. 0.5, -1 or 2pi")
    value = float(m.group(1)) if m.group(1) not in (None, "+", "-") else 1.0
    return value * math.pi if m.group(2) else value


def _parse_list(text: str, name: str) -> list[float]:
    items = [s for s in text.split(",") if s.strip()]
    if not items:
        raise ValueError(f"{name} is empty; give comma-separated numbers, e.g. 20,40,60")
    try:
        return [_parse_number(s) for s in items]
    except ValueError as e:
        raise ValueError(f"{name} {text}: {e}") from None


@dataclass
class SignalConfig:
    """The target ``Σ_j sin(c_j π t)`` on N samples of a domain."""

    freqs: str = field(
        default="10,20,30,40,50,60",
        metadata={"help": "comma-separated c_j of the target Σ sin(c_j·π·t)"},
    )
    domain: str = field(
        default="-1,1", metadata={"help": "sampled interval of t as 'lo,hi' (e.g. 0,2pi)"}
    )
    points: int = field(default=2048, metadata={"help": "number of samples N"})
    coords: str = field(
        default="line",
        metadata={"help": "network input: line (x = t) or circle (x = (cos t, sin t))"},
    )

    def __post_init__(self) -> None:
        if self.coords not in COORDS:
            raise ValueError(f"unknown --coords {self.coords!r}; choose one of {', '.join(COORDS)}")
        if isinstance(self.points, bool) or not isinstance(self.points, int) or self.points < 8:
            raise ValueError(f"--points must be an int >= 8; got {self.points!r}")
        lo_hi = _parse_list(self.domain, "--domain")
        if len(lo_hi) != 2 or not lo_hi[0] < lo_hi[1]:
            raise ValueError(f"--domain must be 'lo,hi' with lo < hi; got {self.domain!r}")
        dft_bins(self)  # the frequencies: positive, on DFT bins, below Nyquist, distinct

    @property
    def coefficients(self) -> list[float]:
        """The c_j (target term j is sin(c_j π t))."""
        return _parse_list(self.freqs, "--freqs")

    @property
    def bounds(self) -> tuple[float, float]:
        lo, hi = _parse_list(self.domain, "--domain")
        return lo, hi


@dataclass
class Signal:
    """Sampled target and network inputs."""

    t: torch.Tensor
    """[N] sample positions in the domain."""
    inputs: torch.Tensor
    """[N, 1] (line) or [N, 2] (circle) network inputs."""
    target: torch.Tensor
    """[N, 1] target values."""
    bins: list[int]
    """DFT bin of each target frequency, ascending."""


BIN_TOLERANCE = 1e-6
"""How far (in bins) a line signal's cycle count may be from a whole number (round-off)."""


def dft_bins(cfg: SignalConfig) -> list[int]:
    """The DFT bin of each target frequency, in ascending order.

    sin(c π t) has c/2 cycles per unit of t. With sample spacing h the N-point DFT bin k
    sits at k/(N h) cycles per unit, so the bin is ``c/2 · N h`` rounded.

    Frequencies must be positive (sin(−cπt) = −sin(cπt) would be relabelled), below Nyquist
    and in distinct bins. With ``coords="line"`` each must also make a whole number of cycles
    over the domain, ``c·(hi − lo)/2`` (within :data:`BIN_TOLERANCE`), so that Δ_k is read at
    the bin that holds it rather than at a neighbour of an in-between frequency. On the
    circle, frequencies between bins are read at the nearest bin: the paper's Exp. 1 uses
    0.4, 0.8, 1.6, 3.2 on [0, 2π), which are not whole cycles (bins 1, 3, 5, 10).
    """
    lo, hi = cfg.bounds
    n = cfg.points
    coefficients = cfg.coefficients
    negative = [c for c in coefficients if c <= 0]
    if negative:
        raise ValueError(
            f"--freqs {cfg.freqs}: frequencies must be positive; got {negative[0]:g} "
            "(sin(-cπt) = -sin(cπt): drop the sign)"
        )
    if cfg.coords == "line":
        for c in coefficients:
            cycles = c * (hi - lo) / 2
            if abs(cycles - round(cycles)) > BIN_TOLERANCE * max(1.0, cycles):
                k = math.floor(cycles)
                raise ValueError(
                    f"--freqs {cfg.freqs}: {c:g} makes {cycles:.4g} cycles over --domain "
                    f"{cfg.domain}, between DFT bins {k} and {k + 1}; choose frequencies with "
                    f"whole cycles (c·(hi-lo)/2 an integer, e.g. {2 * max(k, 1) / (hi - lo):g})"
                )
    h = (hi - lo) / (n if cfg.coords == "circle" else n - 1)
    bins = [round(c / 2 * n * h) for c in coefficients]
    if any(b < 1 for b in bins):
        raise ValueError(
            f"--freqs {cfg.freqs}: a frequency is below one cycle over the domain; "
            "raise it or widen --domain"
        )
    if any(b >= n // 2 for b in bins):
        raise ValueError(
            f"--freqs {cfg.freqs}: a frequency is at or above Nyquist for {n} points; "
            "use more --points"
        )
    if len(set(bins)) != len(bins):
        raise ValueError(
            f"--freqs {cfg.freqs}: frequencies fall into the same DFT bins {bins}; "
            "separate them more"
        )
    return sorted(bins)


def make_signal(cfg: SignalConfig, dtype: torch.dtype = torch.float32) -> Signal:
    """Sample the target and build the network inputs (see the module docstring)."""
    lo, hi = cfg.bounds
    n = cfg.points
    t64 = (
        lo + (hi - lo) * torch.arange(n, dtype=torch.float64) / n
        if cfg.coords == "circle"
        else torch.linspace(lo, hi, n, dtype=torch.float64)
    )
    y = sum(torch.sin(c * math.pi * t64) for c in cfg.coefficients)
    assert isinstance(y, torch.Tensor)
    if cfg.coords == "circle":
        x = torch.stack([torch.cos(t64), torch.sin(t64)], dim=1)
    else:
        x = t64[:, None]
    return Signal(t64.to(dtype), x.to(dtype), y[:, None].to(dtype), dft_bins(cfg))


def relative_errors(pred: torch.Tensor, target: torch.Tensor, bins: Sequence[int]) -> torch.Tensor:
    """Δ_k = |F[target](k) − F[pred](k)| / |F[target](k)| for each DFT bin k (float64 [K]).

    ``pred`` and ``target`` are [N] or [N, 1] samples; F is the N-point DFT.
    """
    p = pred.detach().reshape(-1).to("cpu", torch.float64)
    g = target.detach().reshape(-1).to("cpu", torch.float64)
    if p.shape != g.shape:
        raise ValueError(
            f"pred has {p.numel()} samples but target {g.numel()}; pass the same N points"
        )
    idx = torch.as_tensor(list(bins), dtype=torch.long)
    if idx.numel() and (idx.min() < 0 or idx.max() > g.numel() // 2):
        raise ValueError(f"bins {list(bins)} must lie in [0, {g.numel() // 2}] for N={g.numel()}")
    G = torch.fft.rfft(g)[idx]
    R = torch.fft.rfft(g - p)[idx]
    if (G.abs() == 0).any():
        raise ValueError("the target has no energy at some requested bin; choose other bins")
    return R.abs() / G.abs()

"""Balancing the eNTK spectrum: the transformation matrix S of the paper (Eq. 5, Sec. 3.3).

With ``K = Σ λ_i v_i v_iᵀ`` (λ_0 ≥ λ_1 ≥ …), gradient descent on ``Jᵀ S r`` makes the residual
evolve under ``K S``, whose eigenvalues are ``λ_i s_i``. Balancing sets the top eigenvalues to
one reference value:

    S = I − Σ_{start ≤ i < end, λ_i > 0} (1 − λ_ref / λ_i) v_i v_iᵀ

``ref="end"`` (λ_ref = λ_end): the top ``end`` eigenvalues are lowered to λ_end. This is what
the paper uses with Adam (Sec. 3.3) and what the authors' image code does.
``ref="start"`` (λ_ref = λ_start): Eq. 5 as written for plain gradient descent: eigenvalues
start+1 … end−1 are raised to λ_start.

The eigendecomposition runs in float64: the n × n matrix is small and the smallest balanced
eigenvalues can be many orders of magnitude below λ_0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import scipy.linalg
import torch
from threadpoolctl import ThreadpoolController

__all__ = ["Balanced", "balance", "balance_matrix", "ntk_two_layer_relu"]

TargetFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Balanced:
    """S and what it did to the spectrum (kept by :class:`iga.IGA` for logging).

    Only the top eigenpairs are computed to build S (LAPACK's subset driver is faster than a
    full decomposition); the full spectrum for logging is computed on first access.
    """

    S: torch.Tensor
    """The transformation matrix [n, n], in the dtype of K."""
    top: torch.Tensor
    """The eigenvalues used to build S, descending, float64 on the CPU."""
    scale: torch.Tensor
    """Factor s_i applied to each of those eigenvalues (K S has eigenvalues λ_i s_i)."""
    lambda_ref: float
    """The value the balanced eigenvalues were set to (nan for a custom target)."""
    K: torch.Tensor = field(repr=False)
    _full: torch.Tensor | None = field(default=None, repr=False)

    @property
    def eigenvalues(self) -> torch.Tensor:
        """All eigenvalues of K, descending, float64 on the CPU."""
        if self._full is None:
            K64 = self.K.detach().to("cpu", torch.float64)
            self._full = torch.linalg.eigvalsh((K64 + K64.T) / 2).flip(0)
        return self._full

    @property
    def adjusted(self) -> torch.Tensor:
        """Eigenvalues of K S, in the order of :attr:`eigenvalues`."""
        ev = self.eigenvalues.clone()
        k = self.scale.numel()
        ev[:k] = self.top * self.scale
        return ev

    @property
    def cond_before(self) -> float:
        """λ_max / λ_min of K over its positive eigenvalues."""
        return _cond(self.eigenvalues)

    @property
    def cond_after(self) -> float:
        """λ_max / λ_min of K S over its positive eigenvalues."""
        return _cond(self.adjusted)


def _cond(ev: torch.Tensor) -> float:
    pos = ev[ev > 0]
    if pos.numel() == 0:
        return float("nan")
    return float(pos.max() / pos.min())


def _check_index(name: str, value: int, n: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int; got {value!r}")
    if value < 0 or value >= n:
        raise ValueError(
            f"{name}={value} is out of range for {n} sampled points (groups); "
            f"use 0 <= {name} < {n}, or use more groups (smaller blocks)"
        )


_BLAS = ThreadpoolController()


def _eigh_desc(K: torch.Tensor, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Top ``k`` (default all) eigenpairs of K in float64, eigenvalues descending."""
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"K must be a square matrix; got shape {tuple(K.shape)}")
    if not torch.isfinite(K).all():
        raise ValueError("K has non-finite entries (the model produced NaN/inf gradients)")
    n = K.shape[0]
    K64 = K.detach().to(torch.float64)
    # eigh reads one triangle only; symmetrise so round-off asymmetry cannot bias it.
    K64 = (K64 + K64.T) / 2
    if k is not None and k < n and K.device.type == "cpu":
        # One BLAS thread: on a few cores, OpenBLAS threads spinning beside torch's OpenMP
        # pool made the whole training step twice as slow (measured on 2 cores).
        with _BLAS.limit(limits=1, user_api="blas"):
            ev, V = scipy.linalg.eigh(
                K64.numpy(), subset_by_index=[n - k, n - 1], driver="evr", check_finite=False
            )
        return torch.from_numpy(ev).flip(0), torch.from_numpy(V).flip(1)
    ev, V = torch.linalg.eigh(K64)
    ev, V = ev.flip(0), V.flip(1)
    return (ev, V) if k is None else (ev[:k], V[:, :k])


def balance(
    K: torch.Tensor,
    end: int,
    start: int = 0,
    ref: str = "end",
    target: TargetFn | None = None,
) -> Balanced:
    """Build S from K and return it with the spectra before and after (see module doc).

    Args:
        K: a symmetric positive semi-definite matrix [n, n] (an eNTK).
        end: balance eigenvalues with index ``start ≤ i < end``; ``end=0`` gives S = I.
        start: first balanced index (the paper fixes it to the top eigenvalue, 0 here).
        ref: ``"end"`` (λ_ref = λ_end, lower the top ones; default, for Adam) or
            ``"start"`` (λ_ref = λ_start, raise the others; the paper's SGD variant).
        target: optional research hook: a callable g(λ) mapping the descending eigenvalues
            (float64 [n]) to the desired ones; then S = Σ (g(λ_i)/λ_i) v_i v_iᵀ over λ_i > 0
            (directions with λ_i ≤ 0 are left unscaled) and ``end``/``start``/``ref`` are
            ignored.
    """
    if not isinstance(K, torch.Tensor):
        raise TypeError(f"K must be a torch.Tensor; got {type(K).__name__}")
    if K.is_complex():
        raise TypeError(f"K must be a real matrix; got {K.dtype}")
    if not K.is_floating_point():  # an integer (or bool) K: S is float64, not truncated
        K = K.to(torch.float64)
    n = K.shape[0] if K.ndim == 2 else -1
    if target is None:
        if ref not in ("end", "start"):
            raise ValueError(f"ref must be 'end' or 'start'; got {ref!r}")
        if end == 0 and start == 0:
            _eigh_desc(K, 1)  # validates K
            empty = torch.zeros(0, dtype=torch.float64)
            eye = torch.eye(n, dtype=K.dtype, device=K.device)
            return Balanced(eye, empty, empty, float("nan"), K)
        _check_index("end", end, n)
        _check_index("start", start, n)
        if start > end:
            raise ValueError(f"start={start} must not exceed end={end}")
        ev, V = _eigh_desc(K, end + 1)
        # A tiny negative λ_end (round-off on a singular K) must not flip gradient signs.
        lam_ref = ev[end if ref == "end" else start].clamp_min(0.0)
        scale = torch.ones_like(ev)
        idx = torch.arange(ev.numel(), device=ev.device)
        sel = (idx >= start) & (idx < end) & (ev > 0)
        scale[sel] = lam_ref / ev[sel]
        lam_ref_f = float(lam_ref)
    else:
        ev, V = _eigh_desc(K)
        want = torch.as_tensor(target(ev.clone()), dtype=torch.float64, device=ev.device)
        if want.shape != ev.shape or not torch.isfinite(want).all():
            raise ValueError(
                f"target spectrum must return {n} finite values; got shape {tuple(want.shape)}"
            )
        pos = ev > 0
        scale = torch.ones_like(ev)
        scale[pos] = want[pos] / ev[pos]
        lam_ref_f = float("nan")
    # S = I + V diag(scale − 1) Vᵀ: only directions that change contribute.
    S = torch.eye(n, dtype=torch.float64, device=ev.device) + (V * (scale - 1)) @ V.T
    full = ev.cpu() if target is not None else None
    return Balanced(S.to(K.device, K.dtype), ev.cpu(), scale.cpu(), lam_ref_f, K.detach(), full)


def balance_matrix(
    K: torch.Tensor,
    end: int,
    start: int = 0,
    ref: str = "end",
    target: TargetFn | None = None,
) -> torch.Tensor:
    """The transformation matrix S [n, n] (see :func:`balance` for the arguments)."""
    return balance(K, end, start, ref, target).S


def ntk_two_layer_relu(x: torch.Tensor) -> torch.Tensor:
    """Exact NTK of the two-layer ReLU network of Arora et al. (2019) on unit-norm inputs.

    f(x) = (1/√m) Σ_r a_r ReLU(w_rᵀx/√2 + b_r/√2), a_r = ±1 fixed, (w, b) ~ N(0, I), m → ∞:
    ``K_ij = (x_iᵀx_j + 1)(π − arccos(x_iᵀx_j)) / (4π)``. Rows of ``x`` must have unit norm.
    """
    G = (x @ x.T).clamp(-1.0, 1.0)
    return (G + 1) * (torch.pi - torch.arccos(G)) / (4 * torch.pi)

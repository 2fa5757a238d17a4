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

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import scipy.linalg
import torch
from threadpoolctl import ThreadpoolController

__all__ = [
    "COLD_START_ITERS",
    "COLD_START_MIN",
    "LARGE_N",
    "SOLVERS",
    "Balanced",
    "NonFiniteKernel",
    "balance",
    "balance_matrix",
    "eigh_desc",
    "ntk_two_layer_relu",
    "spectrum_scales",
    "subspace_eigs",
    "top_eigh",
]


class NonFiniteKernel(ValueError):
    """K holds NaN or inf: the model's gradients blew up (training loops report divergence)."""


SOLVERS = ("exact", "subspace")
"""How :func:`balance` finds the top eigenpairs (see :func:`top_eigh`)."""

TargetFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class Balanced:
    """S and what it did to the spectrum (kept by :class:`iga.IGA` for logging).

    S is kept in low-rank form, ``S = I + V diag(scale − 1) Vᵀ`` over the top eigenpairs
    (``V``), and applied as such (:meth:`apply`); the dense matrix is formed only when
    :attr:`S` is read. Only the top eigenpairs are computed; the full spectrum for logging is
    computed on first access.
    """

    top: torch.Tensor
    """The eigenvalues used to build S, descending, float64 on the CPU."""
    scale: torch.Tensor
    """Factor s_i applied to each of those eigenvalues (K S has eigenvalues λ_i s_i)."""
    lambda_ref: float
    """The value the balanced eigenvalues were set to (nan for a custom target)."""
    K: torch.Tensor = field(repr=False)
    V: torch.Tensor | None = field(default=None, repr=False)
    """The eigenvectors of :attr:`top` [n, k], float64, on K's device (None: S = I, or a
    spectrum restored from an old checkpoint that kept only the dense S)."""
    info: dict[str, Any] = field(default_factory=dict)
    """How the eigenpairs were found: ``solver``, and for ``"subspace"`` the ``residual``
    measure and whether it ``fell_back`` to the exact solver."""
    block: torch.Tensor | None = field(default=None, repr=False)
    """The eigenvector block the solver ended with [n, k + oversample] (the warm start of
    the next ``solver="subspace"`` call), or None."""
    _S: torch.Tensor | None = field(default=None, repr=False)
    _full: torch.Tensor | None = field(default=None, repr=False)
    _cast: dict[tuple[torch.dtype, torch.device], tuple[torch.Tensor, torch.Tensor]] = field(
        default_factory=dict, repr=False
    )

    @property
    def S(self) -> torch.Tensor:  # noqa: N802 - the paper's name
        """The transformation matrix [n, n], in the dtype of K (formed on first access)."""
        if self._S is None:
            n = self.K.shape[0]
            eye = torch.eye(n, dtype=torch.float64, device=self.K.device)
            if self.V is None:
                self._S = eye.to(self.K.dtype)
            else:
                V = self.V.to(eye.device, torch.float64)
                w = (self.scale - 1).to(eye.device)
                self._S = (eye + (V * w) @ V.T).to(self.K.dtype)
        return self._S

    def apply(self, R: torch.Tensor) -> torch.Tensor:
        """``S @ R`` for ``R`` [n, m], in R's dtype: ``R + V (diag(scale − 1) (Vᵀ R))``, two
        thin products instead of an n × n one (the dense S when V holds most of the
        eigenvectors, or when only the dense S is known)."""
        n = R.shape[0]
        if self.V is None or 2 * self.V.shape[1] > n:
            return self.S.to(R.dtype) @ R
        key = (R.dtype, R.device)
        if key not in self._cast:
            self._cast[key] = (
                self.V.to(R.device, R.dtype),
                (self.scale - 1).to(R.device, R.dtype)[:, None],
            )
        V, w = self._cast[key]
        return R + V @ (w * (V.T @ R))

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


def eigh_desc(K: torch.Tensor, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Top ``k`` (default all) eigenpairs of K in float64, eigenvalues descending."""
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"K must be a square matrix; got shape {tuple(K.shape)}")
    if not torch.isfinite(K).all():
        raise NonFiniteKernel("K has non-finite entries (the model produced NaN/inf gradients)")
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


def subspace_eigs(
    K64: torch.Tensor, block: torch.Tensor, iters: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Block subspace iteration from ``block`` and a Rayleigh-Ritz step: Ritz values
    (descending), Ritz vectors and their residual norms ``‖K v − θ v‖``.

    The block and everything small are float64; the products ``K V`` run in K's own dtype
    (a float32 K at :data:`LARGE_N` points and more: see :func:`top_eigh`)."""
    V = block

    def product(V: torch.Tensor) -> torch.Tensor:
        return (K64 @ V.to(K64.dtype)).to(torch.float64)

    for i in range(iters):
        V = product(V)
        # Two products between orthonormalisations: the columns' norms spread by at most
        # (λ_0/λ_b)², which float64 carries for any kernel we balance; one QR saved per pair.
        if i % 2 == 1 or i == iters - 1:
            V = torch.linalg.qr(V).Q
    W = product(V)
    H = V.T @ W
    theta, U = torch.linalg.eigh((H + H.T) / 2)
    theta, U = theta.flip(0), U.flip(1)
    V, W = V @ U, W @ U
    return theta, V, torch.linalg.vector_norm(W - V * theta, dim=0)


def top_eigh(
    K: torch.Tensor,
    k: int,
    warm: torch.Tensor | None = None,
    iters: int = 2,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The top eigenpairs of a symmetric K in float64, eigenvalues descending.

    Without ``warm``: the exact top ``k`` (LAPACK's subset driver on the CPU, ``eigh`` on a
    GPU); the residuals returned are None. With ``warm`` [n, b] (b ≥ k, e.g. the previous
    step's eigenvectors plus a few more): ``iters`` block subspace iterations from it and a
    Rayleigh-Ritz step, about ``2 (iters + 1) n² b`` flops instead of a decomposition; the
    residual norms ``‖K v_i − θ_i v_i‖`` of all b Ritz pairs come back so that the caller can
    judge them (:func:`balance` does), and the b vectors are the next warm start. From
    :data:`LARGE_N` points on, the products ``K V`` use K as it is (float32 for an eNTK),
    neither copied to float64 nor symmetrised: at 6,144 points those copies cost more than
    the iterations, and the eigenpairs' error is that of the iteration, not of float32
    (measured in docs/speed.md).

    Returns:
        ``(eigenvalues [k or b], eigenvectors [n, k or b], residuals [b] or None)``.
    """
    if warm is None:
        ev, V = eigh_desc(K, k)
        return ev, V, None
    if warm.ndim != 2 or warm.shape[0] != K.shape[0] or warm.shape[1] < k:
        raise ValueError(
            f"warm must be [n, b] with b >= k = {k} for a {K.shape[0]}-point K; got "
            f"{tuple(warm.shape)}"
        )
    if K.shape[0] >= LARGE_N:
        Kw = K.detach()
    else:
        Kw = K.detach().to(torch.float64)
        Kw = (Kw + Kw.T) / 2
    return subspace_eigs(Kw, warm.to(Kw.device, torch.float64), max(1, int(iters)))


def _finite(K: torch.Tensor) -> bool:
    """Whether K has no NaN or inf entries; from :data:`LARGE_N` points on, by its sum first
    (a sum that overflows falls back to the entry-wise test)."""
    if K.shape[0] >= LARGE_N and bool(torch.isfinite(K.sum())):
        return True
    return bool(torch.isfinite(K).all())


def spectrum_scales(
    ev: torch.Tensor, end: int, start: int, ref: str
) -> tuple[torch.Tensor, torch.Tensor]:
    # A tiny negative λ_end (round-off on a singular K) must not flip gradient signs.
    lam_ref = ev[end if ref == "end" else start].clamp_min(0.0)
    scale = torch.ones_like(ev)
    idx = torch.arange(ev.numel(), device=ev.device)
    sel = (idx >= start) & (idx < end) & (ev > 0)
    scale[sel] = lam_ref / ev[sel]
    return scale, lam_ref


LARGE_N = 1024
"""From this many points (groups) on, the subspace solver works on K as it is (float32 for an
eNTK; :func:`top_eigh`), checks K's finiteness by its sum (one pass, no boolean n × n copy),
and its first refresh starts cold (:data:`COLD_START_MIN`); above it :meth:`IGA.stats` logs no
condition numbers (they need the whole spectrum: 7 s at 6,144 points). Below it every path
is as it was, so the committed runs keep their results bit for bit."""

COLD_START_MIN = LARGE_N
"""From this many groups on, the subspace solver's first refresh (no previous block to start
from) starts from a random block instead of an exact decomposition (measured on PE width 64,
kodim01 at 768×512, 6,144 groups: 1.5 s for 4 iterations, residual 0.025, against 36 s for the
exact top 31 on one thread; ``probes/cold_start_probe.py``). Below it the exact solve costs
milliseconds, and runs made before this rule keep their results."""
COLD_START_ITERS = 4
"""Subspace iterations of a cold start (at least ``iters``); the residual test still decides,
and the exact solver still runs when it fails."""


def balance(
    K: torch.Tensor,
    end: int,
    start: int = 0,
    ref: str = "end",
    target: TargetFn | None = None,
    *,
    solver: str = "exact",
    warm: torch.Tensor | None = None,
    oversample: int = 10,
    iters: int = 2,
    tol: float = 0.2,
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
            ignored (always solved exactly).
        solver: ``"exact"`` (default; a subset eigendecomposition) or ``"subspace"``: with
            ``warm`` (the :attr:`Balanced.block` of the previous call), ``iters`` warm-started
            subspace iterations (:func:`top_eigh`) on ``end + 1 + oversample`` vectors,
            accepted when ``max_i w_i ‖K v_i − θ_i v_i‖ / θ_i ≤ tol`` over ``i ≤ end`` with
            ``w_i = 1 − s_i`` (how much direction i changes S) and ``w_end = 1`` (λ_end sets
            every s_i); otherwise the exact solver runs (on ``end + 1 + oversample``
            vectors, to seed the next call). Without ``warm``: from :data:`COLD_START_MIN`
            points on, :data:`COLD_START_ITERS` iterations from a random block, under the
            same test; below it, the exact solver. See docs/speed.md.
        oversample: the subspace solver's extra vectors beyond ``end + 1``.
        iters: the subspace solver's iterations.
        tol: the subspace solver's residual tolerance.
    """
    if not isinstance(K, torch.Tensor):
        raise TypeError(f"K must be a torch.Tensor; got {type(K).__name__}")
    if K.is_complex():
        raise TypeError(f"K must be a real matrix; got {K.dtype}")
    if not K.is_floating_point():  # an integer (or bool) K: S is float64, not truncated
        K = K.to(torch.float64)
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(SOLVERS)}; got {solver!r}")
    n = K.shape[0] if K.ndim == 2 else -1
    info: dict[str, Any] = {"solver": "exact"}
    block = None
    if target is None:
        if ref not in ("end", "start"):
            raise ValueError(f"ref must be 'end' or 'start'; got {ref!r}")
        if end == 0 and start == 0:
            eigh_desc(K, 1)  # validates K
            empty = torch.zeros(0, dtype=torch.float64)
            return Balanced(empty, empty, float("nan"), K.detach(), info=info)
        _check_index("end", end, n)
        _check_index("start", start, n)
        if start > end:
            raise ValueError(f"start={start} must not exceed end={end}")
        k = end + 1
        if solver == "subspace":
            b = min(n, k + max(0, int(oversample)))
            ev = V = None
            usable = warm is not None and warm.shape == (n, b) and b < n
            cold = not usable and n >= COLD_START_MIN and b < n
            if usable or cold:
                if not _finite(K):
                    raise NonFiniteKernel(
                        "K has non-finite entries (the model produced NaN/inf gradients)"
                    )
                if cold:  # no previous block: a random one, deterministic (resume bit for bit)
                    g = torch.Generator().manual_seed(n)
                    start_block = torch.randn(n, b, generator=g, dtype=torch.float64)
                    warm = torch.linalg.qr(start_block).Q.to(K.device)
                steps = max(COLD_START_ITERS, int(iters)) if cold else iters
                th, Vb, res = top_eigh(K, k, warm, steps)
                scale, lam_ref = spectrum_scales(th[:k], end, start, ref)
                weight = torch.ones_like(scale)
                weight[:end] = 1 - scale[:end]
                rel = res[:k] / th[:k].abs().clamp_min(torch.finfo(torch.float64).tiny)
                err = float((weight * rel).max())
                info = {"solver": "subspace", "residual": err, "fell_back": False, "cold": cold}
                if math.isfinite(err) and err <= tol and float(th[end]) > 0:
                    ev, V, block = th[:k], Vb[:, :k], Vb
                else:
                    info["fell_back"] = True
            if ev is None:
                evb, Vb = eigh_desc(K, b)
                ev, V, block = evb[:k], Vb[:, :k], Vb
        else:
            ev, V = eigh_desc(K, k)
        scale, lam_ref = spectrum_scales(ev, end, start, ref)
        lam_ref_f = float(lam_ref)
        full = None
    else:
        ev, V = eigh_desc(K)
        want = torch.as_tensor(target(ev.clone()), dtype=torch.float64, device=ev.device)
        if want.shape != ev.shape or not torch.isfinite(want).all():
            raise ValueError(
                f"target spectrum must return {n} finite values; got shape {tuple(want.shape)}"
            )
        pos = ev > 0
        scale = torch.ones_like(ev)
        scale[pos] = want[pos] / ev[pos]
        lam_ref_f = float("nan")
        full = ev.cpu()
    return Balanced(
        ev.cpu(),
        scale.cpu(),
        lam_ref_f,
        K.detach(),
        V=V,
        info=info,
        block=block,
        _full=full,
    )


def balance_matrix(
    K: torch.Tensor,
    end: int,
    start: int = 0,
    ref: str = "end",
    target: TargetFn | None = None,
) -> torch.Tensor:
    """The transformation matrix S [n, n] (see :func:`balance` for the arguments). ``K``
    must be symmetric, as an eNTK ``J Jᵀ`` is (checked here, not in the training loop's
    :func:`balance`, which forms K itself)."""
    square = isinstance(K, torch.Tensor) and K.ndim == 2 and K.shape[0] == K.shape[1]
    if square and K.numel() and not K.is_complex():  # complex: balance() names the problem
        Kf = K.detach().to(torch.float64)
        gap = float((Kf - Kf.T).abs().max())
        if gap > 1e-6 * max(float(Kf.abs().max()), 1e-300):
            raise ValueError(
                f"K must be symmetric (an eNTK is J Jᵀ); max |K − Kᵀ| is {gap:.3g}: pass "
                "(K + K.T) / 2 if the asymmetry is rounding"
            )
    return balance(K, end, start, ref, target).S


def ntk_two_layer_relu(x: torch.Tensor) -> torch.Tensor:
    """Exact NTK of the two-layer ReLU network of Arora et al. (2019) on unit-norm inputs.

    f(x) = (1/√m) Σ_r a_r ReLU(w_rᵀx/√2 + b_r/√2), a_r = ±1 fixed, (w, b) ~ N(0, I), m → ∞:
    ``K_ij = (x_iᵀx_j + 1)(π − arccos(x_iᵀx_j)) / (4π)``. Rows of ``x`` must have unit norm.
    """
    G = (x @ x.T).clamp(-1.0, 1.0)
    return (G + 1) * (torch.pi - torch.arccos(G)) / (4 * torch.pi)

"""Inductive gradient adjustment: sample -> eNTK -> S -> adjusted loss.

The adjusted gradient ``(2/(N·C)) Jᵀ (S ⊗ I_p) r`` is obtained without touching autograd: the
residual r = f(X) − Y, arranged [n groups, p points, C], is mixed across groups with the
constant S and the loss ``(2/(N·C)) Σ f(X) ⊙ r'.detach()`` is minimised. Its gradient with
respect to θ is exactly the adjusted gradient, and with S = I it is the gradient of the MSE.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any

import torch
from torch import nn

from iga.core.entk import OutputFn, entk, linear_entk_supported
from iga.core.groups import Grouping
from iga.core.sampling import Sampler
from iga.core.spectrum import LARGE_N, SOLVERS, Balanced, TargetFn, balance

__all__ = ["IGA", "adjusted_loss"]


def _as_2d(t: torch.Tensor) -> torch.Tensor:
    return t[:, None] if t.ndim == 1 else t.reshape(t.shape[0], -1)


def _shape(t: torch.Tensor) -> list[int]:
    return list(t.shape)


def _float64_copy(model: nn.Module) -> nn.Module:
    """A float64 copy of ``model`` for :meth:`IGA.kernel`'s cross-check, or ``model`` itself
    where it is float64 already or cannot be copied (then the check runs at its precision)."""
    if all(p.dtype == torch.float64 for p in model.parameters()):
        return model
    try:
        return copy.deepcopy(model).double()
    except (RuntimeError, TypeError, AttributeError, copy.Error):  # e.g. no float64 device
        return model


def _kernels_agree(fast: torch.Tensor, slow: torch.Tensor) -> bool:
    """Whether the closed-form eNTK ``fast`` matches the generic one ``slow`` (the tolerance of
    :meth:`IGA.kernel`'s cross-check)."""
    return torch.allclose(fast, slow, rtol=1e-3, atol=1e-5 * float(slow.abs().max()))


def _check_inputs(
    pred: torch.Tensor, target: torch.Tensor, n_points: int, values: bool = True
) -> None:
    """Shapes and (``values``) the target's values, in the caller's terms; the value check is
    one reduction over the target and a device sync."""
    if pred.ndim == 0 or target.ndim == 0 or _as_2d(pred).shape != _as_2d(target).shape:
        raise ValueError(
            f"pred {_shape(pred)} and target {_shape(target)} must have the same shape "
            "([N] and [N, 1] also go together)"
        )
    if pred.shape[0] != n_points:
        raise ValueError(
            f"groups cover {n_points} points but pred has {pred.shape[0]} rows; "
            "build the groups for this signal's size"
        )
    if values and not bool(torch.isfinite(target).all()) and bool(torch.isfinite(pred).all()):
        # (A non-finite pred is a diverged model, which the training loop reports itself.)
        bad = int((~torch.isfinite(target)).sum())
        raise ValueError(
            f"target has {bad} non-finite values (NaN or inf) among {target.numel()}; "
            "clean the target data (the adjusted gradient would be NaN)"
        )


def _mixed_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    S: torch.Tensor | Balanced | None,
    grouping: Grouping,
) -> torch.Tensor:
    p2 = _as_2d(pred)
    r = (p2 - _as_2d(target)).detach()
    if S is not None:
        n = grouping.n_groups
        shape = tuple(S.K.shape if isinstance(S, Balanced) else S.shape)
        if shape != (n, n):
            raise ValueError(f"S must be [{n}, {n}] for {n} groups; got {shape}")
        rg = grouping.gather(r)  # [n, p, C]; padding rows are zero so they mix nothing in
        R = rg.reshape(n, -1)
        mixed = S.apply(R) if isinstance(S, Balanced) else S.to(r.dtype) @ R
        r = grouping.scatter(mixed.reshape(rg.shape))
    return (2.0 / r.numel()) * (p2 * r).sum()


def adjusted_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    S: torch.Tensor | Balanced | None,
    groups: torch.Tensor | Grouping,
) -> torch.Tensor:
    """``(2/(N·C)) Σ pred ⊙ (S ⊗ I_p) (pred − target)``, the mixed residual detached.

    Args:
        pred: [N, C] (or [N]) predictions, row i belonging to point i of ``groups``.
        target: same shape as ``pred`` ([N] and [N, 1] go together); finite.
        S: [n_groups, n_groups] transformation matrix, a :class:`~iga.core.Balanced` (applied
            in its low-rank form, cheaper), or None for S = I (plain MSE gradient).
        groups: index tensor [n_groups, p] (or a prebuilt :class:`Grouping`, cheaper).

    Raises:
        ValueError: mismatched shapes, groups built for another number of points, or a
            non-finite target.
    """
    if isinstance(groups, Grouping):
        grouping = groups
    else:
        if not isinstance(groups, torch.Tensor) or groups.ndim != 2:
            raise ValueError("groups must be a LongTensor [n_groups, points_per_group]")
        covered = int((groups >= 0).sum())
        if pred.ndim > 0 and covered != pred.shape[0]:
            raise ValueError(
                f"groups cover {covered} points but pred has {pred.shape[0]} rows; "
                "build the groups for this signal's size"
            )
        grouping = Grouping(groups, covered)
    _check_inputs(pred, target, grouping.n_points)
    return _mixed_loss(pred, target, S, grouping)


class IGA:
    """Inductive Gradient Adjustment for any model and any training loop.

    >>> adjuster = IGA(model, groups=iga.groups.grid((H, W), block=8), end=20)
    >>> loss = adjuster.loss(model(coords), target, coords)   # then backward / step

    Args:
        model: the network being trained (its current parameters define the eNTK).
        groups: LongTensor [n_groups, p] of point indices (-1 = padding), see
            :mod:`iga.groups`, or a :class:`Grouping`.
        end: number of top eNTK eigenvalues to balance; 0 disables the adjustment (MSE).
        start: first balanced eigenvalue index.
        ref: ``"end"`` (lower the top eigenvalues to λ_end; the paper with Adam) or
            ``"start"`` (raise them to λ_start; the paper's Eq. 5 for SGD).
        sampling: representative per group, see :mod:`iga.core.sampling`.
        every: recompute S every ``every`` calls (1 = every step, as in the paper).
        output_fn: maps an output row to the scalar whose gradients form J (default
            ``Σ_c f_c / sqrt(C)``).
        target: custom target spectrum g(λ) (overrides end/start/ref), see :func:`balance`.
        entk_method: ``"auto"``, ``"linear"`` or ``"functorch"`` (see :func:`iga.entk`).
        seed: seed of the random sampling modes.
        solver: ``"exact"`` (default) or ``"subspace"``: the top eigenpairs by a few subspace
            iterations warm-started from the previous refresh, checked, with the exact solver
            as fallback (see :func:`~iga.core.balance`; ``oversample``, ``iters``, ``tol`` are
            its settings).

    After each refresh, :attr:`spectrum` holds the last :class:`Balanced` (eigenvalues before
    and after, λ_ref, condition numbers) and :meth:`stats` a flat dict for logging.
    """

    def __init__(
        self,
        model: nn.Module,
        groups: torch.Tensor | Grouping,
        end: int,
        start: int = 0,
        ref: str = "end",
        sampling: str = "max_residual",
        every: int = 1,
        output_fn: OutputFn | None = None,
        target: TargetFn | None = None,
        entk_method: str = "auto",
        seed: int | None = None,
        solver: str = "exact",
        oversample: int = 10,
        iters: int = 2,
        tol: float = 0.2,
    ) -> None:
        if isinstance(groups, Grouping):
            grouping = groups
        else:
            if not isinstance(groups, torch.Tensor) or groups.ndim != 2:
                raise ValueError("groups must be a LongTensor [n_groups, points_per_group]")
            grouping = Grouping(groups, int((groups >= 0).sum()))
        n = grouping.n_groups
        for name, v in (("end", end), ("start", start)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{name} must be an int; got {v!r}")
        if end < 0 or start < 0:
            raise ValueError(f"end={end} and start={start} must be >= 0")
        if end >= n:
            raise ValueError(
                f"end={end} must be smaller than the number of groups ({n}); "
                "lower end or use smaller groups"
            )
        if start > end:
            raise ValueError(f"start={start} must not exceed end={end}")
        if ref not in ("end", "start"):
            raise ValueError(f"ref must be 'end' or 'start'; got {ref!r}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an int >= 1; got {every!r}")
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {', '.join(SOLVERS)}; got {solver!r}")
        self.model = model
        self.grouping = grouping
        self.end, self.start, self.ref = end, start, ref
        self.every = every
        self.output_fn = output_fn
        self.target = target
        self.entk_method = entk_method
        self.sampler = Sampler(sampling, grouping, seed)
        self.solver, self.oversample, self.iters, self.tol = solver, oversample, iters, tol
        self.spectrum: Balanced | None = None
        self.calls = 0
        self.fallbacks = 0
        """How many subspace refreshes fell back to the exact solver."""
        self._checked = entk_method != "auto"
        self._target: torch.Tensor | None = None  # the last target whose values were checked

    @property
    def S(self) -> torch.Tensor | None:  # noqa: N802 - the paper's name
        """The current S as a dense [n, n] matrix (formed on first access; training applies
        it in low-rank form), or None before the first refresh."""
        return None if self.spectrum is None else self.spectrum.S

    @property
    def active(self) -> bool:
        """False when the adjustment is the identity (end=0 and no custom target)."""
        return self.end > 0 or self.target is not None

    def kernel(self, x: torch.Tensor) -> torch.Tensor:
        """eNTK on the representatives ``x`` with the configured method.

        With ``entk_method="auto"`` the first call cross-checks the closed form against the
        generic path on a few points and falls back to the generic path (with a warning) if
        they disagree, e.g. for a model that mixes rows without parameters. The check runs on
        a float64 copy of the model: it asks whether the closed form applies to the model's
        structure, and at float32 a high-frequency first layer (SIREN's audio ω₀ = 3000)
        makes both paths differ from the exact kernel, and from each other, by more than its
        tolerance.
        """
        if not self._checked:
            self._check_closed_form(x[:8])
        return entk(self.model, x, self.output_fn, method=self.entk_method)

    def _check_closed_form(self, xs: torch.Tensor) -> None:
        """:meth:`kernel`'s cross-check on the points ``xs``, on a float64 copy of the model."""
        self._checked = True
        if xs.ndim != 2 or not linear_entk_supported(self.model):
            return
        model = _float64_copy(self.model)
        if model is not self.model and xs.is_floating_point():
            xs = xs.double()
        fast = entk(model, xs, self.output_fn, method="auto")
        slow = entk(model, xs, self.output_fn, method="functorch")
        if not bool(torch.isfinite(slow).all()):
            # NaN/inf weights: nothing to compare (balance() reports the kernel); check later
            self._checked = False
        elif not _kernels_agree(fast, slow):
            warnings.warn(
                "closed-form eNTK disagrees with autograd for this model; "
                "using the generic (slower) path",
                stacklevel=4,
            )
            self.entk_method = "functorch"

    def refresh(self, residual: torch.Tensor, inputs: torch.Tensor) -> Balanced:
        """Pick representatives, compute their eNTK and a new S."""
        idx = self.sampler(residual)
        xs = inputs[idx]
        if xs.is_floating_point() and not bool(torch.isfinite(xs).all()):
            raise ValueError(
                "inputs have non-finite values (NaN or inf) at the sampled points; clean the "
                "coordinates (the eNTK would be NaN)"
            )
        K = self.kernel(xs)
        warm = self.spectrum.block if self.spectrum is not None else None
        self.spectrum = balance(
            K,
            self.end,
            self.start,
            self.ref,
            self.target,
            solver=self.solver,
            warm=warm,
            oversample=self.oversample,
            iters=self.iters,
            tol=self.tol,
        )
        self.fallbacks += int(bool(self.spectrum.info.get("fell_back")))
        return self.spectrum

    def loss(self, pred: torch.Tensor, target: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """The adjusted loss for predictions ``pred`` [N, C] at ``inputs`` [N, d].

        Its gradient is ``(2/(N·C)) Jᵀ (S ⊗ I) r``; its value is *not* the MSE (log the MSE
        separately).
        """
        if inputs.shape[0] != pred.shape[0]:
            raise ValueError(
                f"inputs ({inputs.shape[0]} rows) and pred ({pred.shape[0]} rows) must align"
            )
        # A training loop passes the same target tensor every step: check its values once.
        _check_inputs(pred, target, self.grouping.n_points, values=target is not self._target)
        self._target = target
        if self.active and self.calls % self.every == 0:
            self.refresh(_as_2d(pred).detach() - _as_2d(target), inputs)
        self.calls += 1
        return _mixed_loss(pred, target, self.spectrum if self.active else None, self.grouping)

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue exactly: call count, S, the last
        spectrum, the sampler's state and the eNTK path chosen (tensors and plain values only,
        so ``torch.load(weights_only=True)`` reads it)."""
        s = self.spectrum
        spectrum = None
        if s is not None:
            spectrum = {
                "top": s.top,
                "scale": s.scale,
                "lambda_ref": s.lambda_ref,
                "K": s.K,
                "V": s.V,
                "info": s.info,
                "block": s.block,
            }
            if s.V is None:  # only the dense S is known (identity, or an old checkpoint)
                spectrum["S"] = s.S
        return {
            "calls": self.calls,
            "fallbacks": self.fallbacks,
            "spectrum": spectrum,
            "sampler": self.sampler.state_dict(),
            "entk_method": self.entk_method,
            "checked": self._checked,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.calls = int(state["calls"])
        self.fallbacks = int(state.get("fallbacks", 0))
        spec = state["spectrum"]
        if spec is None:
            self.spectrum = None
        else:
            spec = dict(spec)
            dense = spec.pop("S", None)  # checkpoints before the low-rank S kept only this
            self.spectrum = Balanced(**spec)
            if self.spectrum.V is None and dense is not None:
                self.spectrum._S = dense
        self.sampler.load_state_dict(state["sampler"])
        self.entk_method = state["entk_method"]
        self._checked = bool(state["checked"])

    def stats(self) -> dict[str, Any]:
        """Last spectrum as flat numbers (empty before the first refresh). The condition
        numbers need K's whole spectrum, a full eigendecomposition: with more than
        :data:`~iga.core.spectrum.LARGE_N` groups (7 s at 6,144) they are left out, and
        ``lambda_max`` is the top eigenvalue S was built from."""
        s = self.spectrum
        if s is None:
            return {}
        if s.K.shape[0] > LARGE_N and s.top.numel():
            return {"lambda_max": float(s.top[0]), "lambda_ref": s.lambda_ref}
        return {
            "lambda_max": float(s.eigenvalues[0]),
            "lambda_ref": s.lambda_ref,
            "cond_before": s.cond_before,
            "cond_after": s.cond_after,
        }

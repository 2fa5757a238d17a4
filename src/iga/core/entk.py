"""The empirical neural tangent kernel (eNTK) of a model on a few inputs.

``K = J Jᵀ`` with ``J[i] = ∂g(x_i)/∂θ`` over every trainable parameter θ. By default
``g(x) = Σ_c f_c(x) / sqrt(C)`` (the paper's "sum of logits" approximation for C outputs).

Two algorithms, chosen by ``method``:

``"linear"``  (closed form, fast)
    Valid when every trainable parameter sits in an ``nn.Linear`` that is called once per
    forward and rows are processed independently (all MLP INRs in :mod:`iga.models`). The
    per-sample gradient of a linear layer's weight is the outer product ``δ aᵀ`` of the
    gradient at its output and its input, so ``K = Σ_layers (D Dᵀ) ⊙ (A Aᵀ + 1)``. One forward
    and one backward pass over the n inputs, then two small ``n × n`` matrix products per
    layer: no per-sample gradients are ever materialised.

``"functorch"``  (generic)
    ``torch.func.vmap(grad(g))`` over the inputs with ``functional_call``: works for any
    ``nn.Module`` (buffers included), costs one backward per sample and holds J, an
    ``n × P`` matrix (P = number of parameters). ``chunk_size`` bounds the memory of the
    vmapped backward passes.

``"auto"`` (default) takes the closed form when the model's structure allows it and the
generic path otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, grad, vmap

__all__ = ["entk", "jacobian", "linear_entk_supported"]

OutputFn = Callable[[torch.Tensor], torch.Tensor]

_METHODS = ("auto", "linear", "functorch")
LARGE_ROWS = 1024
"""From this many points on, the closed form builds K in blocks of :data:`ROW_BLOCK` rows."""
ROW_BLOCK = 256


def _scalar_output(out: torch.Tensor, output_fn: OutputFn | None) -> torch.Tensor:
    """g for one sample's output row (any shape) -> 0-d tensor."""
    if output_fn is not None:
        return output_fn(out)
    flat = out.reshape(-1)
    return flat.sum() / math.sqrt(flat.numel())


def _rowwise_scalar(out: torch.Tensor, output_fn: OutputFn | None) -> torch.Tensor:
    """g for a batch of output rows [n, ...] -> [n]."""
    if out.ndim == 1:
        out = out[:, None]
    if output_fn is not None:
        return vmap(output_fn)(out)
    flat = out.reshape(out.shape[0], -1)
    return flat.sum(dim=1) / math.sqrt(flat.shape[1])


def _trainable(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: p for k, p in model.named_parameters() if p.requires_grad}


_BATCH_COUPLED = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)


def linear_entk_supported(model: nn.Module) -> bool:
    """Whether the closed form can apply: all trainable parameters belong to ``nn.Linear``.

    This is a structural pre-check; :func:`entk` additionally verifies during the forward
    pass that each linear layer runs exactly once on the n input rows. Parameter-free
    operations that mix rows (e.g. ``x - x.mean(0)``) cannot be detected: pass
    ``method="functorch"`` for such models.
    """
    linear_params = set()
    for m in model.modules():
        if isinstance(m, _BATCH_COUPLED) and m.training:
            return False
        if isinstance(m, nn.Linear):
            linear_params.update(id(p) for p in m.parameters())
    params = [p for p in model.parameters() if p.requires_grad]
    return bool(params) and all(id(p) in linear_params for p in params)


class _Unsupported(RuntimeError):
    pass


def _entk_linear(model: nn.Module, x: torch.Tensor, output_fn: OutputFn | None) -> torch.Tensor:
    n = x.shape[0]
    records: list[tuple[nn.Linear, torch.Tensor, torch.Tensor]] = []

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        records.append((module, inputs[0], output))  # type: ignore[arg-type]

    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    handles = [m.register_forward_hook(hook) for m in linears]
    try:
        with torch.enable_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    if len(records) != len(linears) or len({id(m) for m, _, _ in records}) != len(linears):
        raise _Unsupported("each nn.Linear must run exactly once per forward")
    used = [(m, a, z) for m, a, z in records if any(p.requires_grad for p in m.parameters())]
    for _, a, z in used:
        if a.ndim != 2 or a.shape[0] != n or z.ndim != 2 or not z.requires_grad:
            raise _Unsupported("linear layers must see the n input rows as a 2-D batch")
    g = _rowwise_scalar(out, output_fn)
    # Rows are independent, so the gradient of Σ_i g(x_i) at a layer's output row i is
    # exactly the per-sample δ_i of that row.
    deltas = torch.autograd.grad(g.sum(), [z for _, _, z in used])
    terms = []
    for (m, a, _), d in zip(used, deltas, strict=True):
        weight = m.weight.requires_grad
        bias = m.bias is not None and m.bias.requires_grad
        if weight or bias:
            terms.append((d, a.detach() if weight else None, bias))
    if not terms:
        return x.new_zeros((n, n))
    # K is built in place from work buffers of `rows` rows: at thousands of points each fresh
    # n × n tensor costs more in page faults than its arithmetic, and from LARGE_ROWS points
    # on, blocks of rows keep the buffers in cache (6,144 points, PE width 64: 0.93 s -> 0.30
    # s; docs/speed.md). The operations, and so the bits, are those of
    # ``K += (d dᵀ) * (a aᵀ + 1)`` layer by layer.
    rows = n if n < LARGE_ROWS else ROW_BLOCK
    K = x.new_empty((n, n))
    dd = x.new_empty((rows, n))
    aa = x.new_empty((rows, n)) if any(a is not None for _, a, _ in terms) else None
    for i0 in range(0, n, rows):
        i1 = min(n, i0 + rows)
        Kb, ddb = K[i0:i1], dd[: i1 - i0]
        for i, (d, a, bias) in enumerate(terms):
            torch.mm(d[i0:i1], d.T, out=ddb)
            if a is not None:
                assert aa is not None
                aab = aa[: i1 - i0]
                torch.mm(a[i0:i1], a.T, out=aab)
                if bias:
                    aab.add_(1.0)
                ddb.mul_(aab)
            if i == 0:
                Kb.copy_(ddb)
            else:
                Kb.add_(ddb)
    return K


def jacobian(
    model: nn.Module,
    x: torch.Tensor,
    output_fn: OutputFn | None = None,
    chunk_size: int | None = None,
) -> torch.Tensor:
    """Per-sample gradients ``J`` [n, P] of g over all trainable parameters (generic path).

    ``x`` is [n, d] (one sample per row), or [n, m, d] where sample i is the *set* of m
    points ``x[i]`` and g sums over them (used by the authors'-kernel "reference" sampling).
    Columns follow ``model.named_parameters()`` order, each parameter flattened.
    """
    params = {k: p.detach() for k, p in _trainable(model).items()}
    if not params:
        raise ValueError("model has no trainable parameters; the eNTK is empty")
    frozen = {k: p.detach() for k, p in model.named_parameters() if not p.requires_grad}
    buffers = dict(model.named_buffers())

    def g(p: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        batch = xi.unsqueeze(0) if xi.ndim == 1 else xi
        out = functional_call(model, (p, frozen, buffers), (batch,))
        if xi.ndim == 1:
            return _scalar_output(out[0], output_fn)
        return _rowwise_scalar(out, output_fn).sum()

    grads = vmap(grad(g), in_dims=(None, 0), chunk_size=chunk_size)(params, x)
    return torch.cat([grads[k].reshape(x.shape[0], -1) for k in params], dim=1)


def entk(
    model: nn.Module,
    x: torch.Tensor,
    output_fn: OutputFn | None = None,
    *,
    method: str = "auto",
    chunk_size: int | None = 64,
) -> torch.Tensor:
    """Empirical NTK ``K = J Jᵀ`` [n, n] of ``model`` on the n inputs ``x`` [n, d].

    Args:
        model: any ``nn.Module`` mapping [n, d] to [n, C] (or [n]).
        x: the inputs, one per row; [n, m, d] treats each row as a set of m points whose
            g values are summed (generic path only).
        output_fn: maps one output row [C] to the scalar g; default ``Σ_c f_c / sqrt(C)``.
            Must be vmappable (plain tensor ops).
        method: ``"auto"``, ``"linear"`` (closed form; raises if the model does not fit it)
            or ``"functorch"`` (generic). See the module docstring for costs.
        chunk_size: samples per vmapped backward in the generic path (bounds memory).

    Returns:
        K in the dtype of ``x``; no graph is attached (the kernel is a constant for IGA).
    """
    if method not in _METHODS:
        raise ValueError(f"unknown eNTK method {method!r}; choose one of {', '.join(_METHODS)}")
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be [n, d] (or [n, m, d]); got shape {tuple(x.shape)}")
    x = x.detach()
    if method == "linear" and not linear_entk_supported(model):
        raise ValueError(
            "closed-form eNTK does not apply: some trainable parameters are outside nn.Linear "
            "(or a batch norm couples rows); use method='functorch'"
        )
    if method != "functorch" and x.ndim == 2:
        if linear_entk_supported(model):
            try:
                return _entk_linear(model, x, output_fn).detach()
            except _Unsupported as e:
                if method == "linear":
                    raise ValueError(f"closed-form eNTK does not apply: {e}") from None
    elif method == "linear":
        raise ValueError("closed-form eNTK takes x of shape [n, d]; use method='functorch'")
    J = jacobian(model, x, output_fn, chunk_size)
    return (J @ J.T).detach()

"""The method's math against independent, explicit computations."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn

import iga
from iga.core.adjust import _kernels_agree
from iga.core.groups import Grouping
from iga.models import build

torch.set_default_dtype(torch.float32)


# --- independent references ------------------------------------------------------------


def explicit_jacobian(model: nn.Module, x: torch.Tensor, output_fn=None) -> torch.Tensor:
    """J[i] = ∂g(x_i)/∂θ by one autograd call per sample (no vmap, no closed form)."""
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(x.shape[0]):
        out = model(x[i : i + 1])[0]
        g = output_fn(out) if output_fn else out.sum() / math.sqrt(out.numel())
        grads = torch.autograd.grad(g, params, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (gr if gr is not None else torch.zeros_like(p)).reshape(-1)
                    for gr, p in zip(grads, params, strict=True)
                ]
            )
        )
    return torch.stack(rows)


class WithBuffer(nn.Module):
    """Fourier-feature encoding held in a buffer, then an MLP."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("B", torch.randn(2, 8))
        self.net = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x @ self.B
        return self.net(torch.cat([torch.sin(z), torch.cos(z)], dim=-1))


class NonLinearParams(nn.Module):
    """Parameters outside nn.Linear (a learned input scale): only the generic path applies."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([1.5, 0.5]))
        self.net = nn.Sequential(nn.Linear(2, 16), nn.SiLU(), nn.Linear(16, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * self.scale)


class RowMixing(nn.Module):
    """Only nn.Linear parameters but rows are coupled (centering): the closed form is wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(2, 16)
        self.b = nn.Linear(16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.a(x))
        return self.b(h - h.mean(dim=0, keepdim=True))


def mlp(act: nn.Module, c_out: int = 3, width: int = 24) -> nn.Module:
    return nn.Sequential(
        nn.Linear(2, width), act, nn.Linear(width, width), act, nn.Linear(width, c_out)
    )


def make(name: str) -> nn.Module:
    torch.manual_seed(0)
    return {
        "relu": lambda: mlp(nn.ReLU()),
        "sine": lambda: mlp(nn.Tanh(), c_out=1),
        "buffer": WithBuffer,
        "nonlinear": NonLinearParams,
    }[name]()


# --- eNTK ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["relu", "sine", "buffer", "nonlinear"])
@pytest.mark.parametrize("method", ["auto", "functorch"])
def test_entk_matches_explicit_loop(name: str, method: str) -> None:
    model = make(name)
    x = torch.rand(9, 2) * 2 - 1
    J = explicit_jacobian(model, x)
    K = iga.entk(model, x, method=method)
    torch.testing.assert_close(K, J @ J.T, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["relu", "sine", "buffer"])
def test_closed_form_equals_generic(name: str) -> None:
    model = make(name)
    x = torch.rand(17, 2) * 2 - 1
    assert iga.linear_entk_supported(model) if hasattr(iga, "linear_entk_supported") else True
    fast = iga.entk(model, x, method="linear")
    slow = iga.entk(model, x, method="functorch", chunk_size=4)
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-5)


def test_closed_form_in_row_blocks_equals_generic_and_one_block() -> None:
    """From LARGE_ROWS points on K is built in blocks of rows: the same kernel as the
    per-sample gradients give, and the same bits as one block of all rows."""
    import importlib

    entk_mod = importlib.import_module("iga.core.entk")

    model = make("relu")
    model[2].bias.requires_grad_(False)  # a layer with a weight only
    model[4].weight.requires_grad_(False)  # and one with a bias only
    n = entk_mod.LARGE_ROWS + entk_mod.ROW_BLOCK // 2  # a partial last block
    x = torch.rand(n, 2) * 2 - 1
    blocked = iga.entk(model, x, method="linear")
    slow = iga.entk(model, x, method="functorch", chunk_size=256)
    torch.testing.assert_close(blocked, slow, rtol=1e-4, atol=1e-5 * float(slow.abs().max()))
    old = entk_mod.LARGE_ROWS
    try:
        entk_mod.LARGE_ROWS = n + 1  # one block of every row
        whole = iga.entk(model, x, method="linear")
    finally:
        entk_mod.LARGE_ROWS = old
    torch.testing.assert_close(blocked, whole, rtol=1e-6, atol=1e-6 * float(whole.abs().max()))


def test_entk_custom_output_fn_and_frozen_params() -> None:
    model = make("relu")
    model[0].weight.requires_grad_(False)  # frozen weights are not in θ
    x = torch.rand(6, 2)

    def fn(o: torch.Tensor) -> torch.Tensor:
        return o[0] - 2 * o[2]

    J = explicit_jacobian(model, x, fn)
    for method in ("linear", "functorch"):
        torch.testing.assert_close(iga.entk(model, x, fn, method=method), J @ J.T)


def test_closed_form_refuses_unsupported_models() -> None:
    with pytest.raises(ValueError, match="closed-form"):
        iga.entk(make("nonlinear"), torch.rand(4, 2), method="linear")
    assert not iga.core.linear_entk_supported(make("nonlinear"))
    with pytest.raises(ValueError, match="unknown eNTK method"):
        iga.entk(make("relu"), torch.rand(4, 2), method="fast")


def test_iga_auto_falls_back_for_row_mixing_model() -> None:
    torch.manual_seed(0)
    model = RowMixing()
    x = torch.rand(12, 2)
    adj = iga.IGA(model, iga.groups.grid(12, 1), end=2)
    with pytest.warns(UserWarning, match="generic"):
        K = adj.kernel(x)
    assert adj.entk_method == "functorch"
    torch.testing.assert_close(K, iga.entk(model, x, method="functorch"))


def test_iga_auto_keeps_the_closed_form_for_a_high_frequency_siren() -> None:
    """SIREN's audio ω₀ = 3000 makes float32 eNTKs imprecise on both paths alike (a rounding
    of the first layer's output moves sin(3000·z)); the cross-check must not mistake that for
    a model the closed form cannot handle, which would switch to the slower generic path."""

    def disagree(model: nn.Module, x: torch.Tensor) -> bool:
        k, k_generic = (iga.entk(model, x[:8], method=m) for m in ("linear", "functorch"))
        return not _kernels_agree(k, k_generic)

    # the premise: a draw where, at float32, the two paths differ by more than the check's
    # tolerance (2 of the first 8 seeds here; rounding depends on the machine's kernels)
    for seed in range(32):
        torch.manual_seed(seed)
        model = build("siren", 1, 1, 64, 3, seed=seed, first_omega0=3000.0)
        x = torch.rand(64, 1) * 2 - 1
        if disagree(model, x):
            break
    else:
        raise AssertionError("no draw where float32 rounding makes the two eNTK paths differ")
    before = [p.detach().clone() for p in model.parameters()]
    adj = iga.IGA(model, iga.groups.grid(64, 1), end=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        K = adj.kernel(x)
    assert adj.entk_method == "auto"
    torch.testing.assert_close(K, iga.entk(model, x, method="linear"), rtol=0, atol=0)
    assert K.dtype == torch.float32
    for p, q in zip(model.parameters(), before, strict=True):  # the check used a copy
        assert p.dtype == torch.float32 and torch.equal(p.detach(), q)


def test_iga_cross_check_runs_on_a_model_that_cannot_be_copied() -> None:
    """The float64 copy is a convenience: a model deepcopy refuses keeps the float32 check."""

    class NoCopy(nn.Sequential):
        def __deepcopy__(self, memo: dict) -> NoCopy:
            raise TypeError("cannot copy")

    torch.manual_seed(0)
    model = NoCopy(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    x = torch.rand(12, 2)
    adj = iga.IGA(model, iga.groups.grid(12, 1), end=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        K = adj.kernel(x)
    assert adj.entk_method == "auto"
    torch.testing.assert_close(K, iga.entk(model, x, method="functorch"))


def test_entk_is_psd_and_detached() -> None:
    K = iga.entk(make("relu"), torch.rand(10, 2))
    assert not K.requires_grad
    torch.testing.assert_close(K, K.T)
    assert torch.linalg.eigvalsh(K.double()).min() > -1e-4 * K.abs().max()


def test_closed_form_ntk_matches_wide_two_layer_relu() -> None:
    torch.manual_seed(0)
    m = 20000
    theta = torch.linspace(0, 2 * math.pi, 7)[:-1]
    x = torch.stack([theta.cos(), theta.sin()], dim=1).double()
    w = torch.randn(m, 2, dtype=torch.float64)
    b = torch.zeros(m, dtype=torch.float64)
    a = torch.randint(0, 2, (m,), dtype=torch.float64) * 2 - 1
    # f(x) = (1/√m) Σ a_r relu(w_rᵀx/√2 + b_r/√2): per-sample gradients in closed form.
    pre = (x @ w.T + b) / math.sqrt(2)
    act = (pre > 0).double() * a / math.sqrt(m)  # ∂f/∂pre
    Jw = act[:, :, None] * x[:, None, :] / math.sqrt(2)
    Jb = act / math.sqrt(2)
    K = Jw.reshape(6, -1) @ Jw.reshape(6, -1).T + Jb @ Jb.T
    torch.testing.assert_close(K, iga.ntk_two_layer_relu(x), rtol=0, atol=0.02)


# --- S ---------------------------------------------------------------------------------


def random_psd(n: int, seed: int = 0) -> torch.Tensor:
    """Float64 PSD matrix with a known, spread spectrum (like an eNTK's)."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    return (Q * torch.logspace(2, -2, n, dtype=torch.float64)) @ Q.T


def S_by_definition(K: torch.Tensor, end: int, start: int, ref: str) -> torch.Tensor:
    ev, V = torch.linalg.eigh(K.double())
    order = torch.argsort(ev, descending=True)
    ev, V = ev[order], V[:, order]
    lam = ev[end] if ref == "end" else ev[start]
    S = torch.eye(K.shape[0], dtype=torch.float64)
    for i in range(start, end):
        if ev[i] > 0:
            S -= (1 - lam / ev[i]) * torch.outer(V[:, i], V[:, i])
    return S


@pytest.mark.parametrize(("end", "start", "ref"), [(5, 0, "end"), (12, 0, "start"), (7, 2, "end")])
def test_balance_matrix_matches_definition(end: int, start: int, ref: str) -> None:
    K = random_psd(30)
    S = iga.balance_matrix(K, end, start=start, ref=ref)
    want = S_by_definition(K, end, start, ref)
    torch.testing.assert_close(S, want, atol=1e-9 * float(want.abs().max()), rtol=0)
    torch.testing.assert_close(S, S.T)


def test_balance_eigenstructure() -> None:
    K = random_psd(25)
    end = 6
    b = iga.balance(K, end)
    ev, V = torch.linalg.eigh(K)
    ev, V = ev.flip(0), V.flip(1)
    KS = K @ b.S
    for i in range(25):
        want = ev[end] if i < end else ev[i]
        torch.testing.assert_close(KS @ V[:, i], want * V[:, i], atol=1e-8, rtol=1e-6)
    torch.testing.assert_close(b.eigenvalues, ev)
    assert b.lambda_ref == pytest.approx(float(ev[end]))
    assert b.cond_after == pytest.approx(float(ev[end] / ev[-1]))
    assert b.cond_before == pytest.approx(float(ev[0] / ev[-1]))


def test_balance_end_zero_identity_and_errors() -> None:
    K = random_psd(10).float()
    torch.testing.assert_close(iga.balance_matrix(K, 0), torch.eye(10))
    with pytest.raises(ValueError, match="end=10 is out of range"):
        iga.balance_matrix(K, 10)
    with pytest.raises(ValueError, match="end=-1"):
        iga.balance_matrix(K, -1)
    with pytest.raises(ValueError, match="ref"):
        iga.balance_matrix(K, 3, ref="middle")
    with pytest.raises(ValueError, match="non-finite"):
        iga.balance_matrix(torch.full((3, 3), float("nan")), 1)


def test_balance_custom_target() -> None:
    K = random_psd(12)
    torch.testing.assert_close(
        iga.balance_matrix(K, 0, target=lambda lam: lam), torch.eye(12, dtype=torch.float64)
    )
    S = iga.balance_matrix(K, 0, target=lambda lam: torch.full_like(lam, 2.0))
    torch.testing.assert_close(
        K @ S, 2.0 * torch.eye(12, dtype=torch.float64), atol=1e-6, rtol=1e-6
    )


# --- groups ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "block"),
    [((10,), (3,)), ((7, 9), (4, 4)), ((8, 8), (8, 2)), ((5, 6, 7), (2, 3, 4)), ((4,), 4)],
)
def test_grid_covers_every_point_once(shape, block) -> None:
    g = iga.groups.grid(shape, block)
    flat = g[g >= 0]
    assert flat.numel() == math.prod(shape)
    assert torch.equal(flat.sort().values, torch.arange(math.prod(shape)))
    Grouping(g, math.prod(shape))  # validates


def test_grid_groups_are_spatial_blocks() -> None:
    H, W = 7, 9
    g = iga.groups.grid((H, W), (4, 4))
    assert g.shape == (2 * 3, 16)
    for row in g:
        pts = row[row >= 0]
        r, c = pts // W, pts % W
        assert r.max() - r.min() < 4 and c.max() - c.min() < 4
        assert len(set((r // 4).tolist())) == 1 and len(set((c // 4).tolist())) == 1
    # edge block at the bottom right holds 3 x 1 points
    assert int((g[-1] >= 0).sum()) == 3


def test_grid_and_grouping_errors() -> None:
    with pytest.raises(ValueError, match="larger than the signal"):
        iga.groups.grid((4, 4), (8, 2))
    with pytest.raises(ValueError, match="exactly once"):
        Grouping(torch.tensor([[0, 1], [1, 2]]), 3)
    with pytest.raises(ValueError, match="outside"):
        Grouping(torch.tensor([[0, 5]]), 3)
    with pytest.raises(ValueError, match="exactly once"):
        Grouping(torch.tensor([[0, -1], [2, -1]]), 3)


def test_grouping_gather_scatter_roundtrip() -> None:
    g = Grouping(iga.groups.grid((5, 7), (2, 3)), 35)
    v = torch.randn(35, 3)
    grouped = g.gather(v)
    assert grouped.shape == (g.n_groups, 6, 3)
    assert torch.all(grouped[~g.valid] == 0)
    torch.testing.assert_close(g.scatter(grouped), v)


# --- sampling --------------------------------------------------------------------------


def test_max_residual_picks_largest_point() -> None:
    torch.manual_seed(0)
    groups = iga.groups.grid((6, 5), (3, 2))
    g = Grouping(groups, 30)
    r = torch.randn(30, 3) * 0.1
    picks = []
    for row in groups:
        valid = row[row >= 0]
        j = valid[torch.randint(len(valid), (1,))].item()
        r[j, 1] = 5.0 + j  # make it the largest |r| sum in its group
        picks.append(j)
    assert iga.max_residual_points(r, g).tolist() == picks
    assert iga.Sampler("max_residual", g)(r).tolist() == picks


def test_random_sampling_modes() -> None:
    groups = iga.groups.grid((7,), (3,))  # last group has 1 valid point
    g = Grouping(groups, 7)
    s = iga.Sampler("random", g, seed=0)
    draws = torch.stack([s(torch.zeros(7, 1)) for _ in range(50)])
    for j, row in enumerate(groups):
        assert set(draws[:, j].tolist()) == set(row[row >= 0].tolist())  # all valid, no -1
    once = iga.Sampler("random_once", g, seed=0)
    first = once(torch.zeros(7, 1))
    assert torch.equal(first, once(torch.randn(7, 1)))
    with pytest.raises(ValueError, match="unknown sampling"):
        iga.Sampler("best", g)


def test_reference_sampling_reproduces_authors_kernel() -> None:
    """Row j of the authors' J sums g over the chosen offsets of all groups, inside group j."""
    torch.manual_seed(0)
    model = make("relu")
    groups = iga.groups.grid((4, 6), (2, 3))  # 4 groups of 6
    x = torch.rand(24, 2)
    r = torch.randn(24, 3)
    idx = iga.Sampler("reference", Grouping(groups, 24))(r)
    offsets = [int(r[row].abs().sum(1).argmax()) for row in groups]
    assert idx.shape == (4, 4)
    J_pts = explicit_jacobian(model, x)
    J_ref = torch.stack([sum(J_pts[groups[j, o]] for o in offsets) for j in range(4)])
    torch.testing.assert_close(iga.entk(model, x[idx]), J_ref @ J_ref.T, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="equal size"):
        iga.Sampler("reference", Grouping(iga.groups.grid(7, 3), 7))


# --- the adjusted loss -----------------------------------------------------------------


def full_jacobian(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """∂f_c(x_i)/∂θ for every (i, c), rows ordered i-major: [N*C, P]."""
    params = list(model.parameters())
    out = model(x)
    rows = []
    for i in range(out.shape[0]):
        for c in range(out.shape[1]):
            gr = torch.autograd.grad(out[i, c], params, retain_graph=True)
            rows.append(torch.cat([t.reshape(-1) for t in gr]))
    return torch.stack(rows)


@pytest.mark.parametrize("shape_block", [((4, 6), (2, 2)), ((5, 5), (2, 3))])
def test_adjusted_gradient_equals_JT_S_r(shape_block) -> None:
    torch.manual_seed(1)
    shape, block = shape_block
    N, C = math.prod(shape), 3
    model = mlp(nn.Tanh(), c_out=C, width=8)
    x, y = torch.rand(N, 2), torch.rand(N, C)
    groups = iga.groups.grid(shape, block)
    n = groups.shape[0]
    A = torch.randn(n, n)
    S = A + A.T  # any constant matrix; symmetric like a real S

    loss = iga.adjusted_loss(model(x), y, S, groups)
    got = torch.autograd.grad(loss, list(model.parameters()))
    got = torch.cat([g.reshape(-1) for g in got])

    # Independent: r' = (S ⊗ I_p) r with explicit loops over groups and slots.
    with torch.no_grad():
        r = model(x) - y
    r_mixed = torch.zeros_like(r)
    for j in range(n):
        for k in range(groups.shape[1]):
            i = int(groups[j, k])
            if i < 0:
                continue
            for jj in range(n):
                ii = int(groups[jj, k])
                if ii >= 0:
                    r_mixed[i] += S[j, jj] * r[ii]
    want = (2.0 / (N * C)) * full_jacobian(model, x).T @ r_mixed.reshape(-1)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_iga_gradient_uses_entk_S_and_no_grad_through_it() -> None:
    torch.manual_seed(2)
    N, C = 24, 3
    model = mlp(nn.Tanh(), c_out=C, width=16)
    x, y = torch.rand(N, 2), torch.rand(N, C)
    groups = iga.groups.grid((4, 6), (2, 2))
    adj = iga.IGA(model, groups, end=2)
    loss = adj.loss(model(x), y, x)
    got = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(model.parameters()))])
    # Independent: representatives, their eNTK from the explicit loop, S by definition.
    with torch.no_grad():
        r = model(x) - y
    reps = [int(row[r[row].abs().sum(1).argmax()]) for row in groups]
    J = explicit_jacobian(model, x[reps])
    S = S_by_definition(J @ J.T, 2, 0, "end").float()
    assert not adj.S.requires_grad
    want = torch.cat(
        [
            g.reshape(-1)
            for g in torch.autograd.grad(
                iga.adjusted_loss(model(x), y, S, groups), list(model.parameters())
            )
        ]
    )
    torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-6)
    stats = adj.stats()
    assert stats["cond_after"] < stats["cond_before"]


def test_end_zero_is_exactly_mse_gradient() -> None:
    torch.manual_seed(3)
    model = make("relu")
    x, y = torch.rand(30, 2), torch.rand(30, 3)
    adj = iga.IGA(model, iga.groups.grid((5, 6), (2, 4)), end=0)
    g1 = torch.autograd.grad(adj.loss(model(x), y, x), list(model.parameters()))
    g2 = torch.autograd.grad(nn.functional.mse_loss(model(x), y), list(model.parameters()))
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)
    assert adj.spectrum is None  # no eNTK work at all


def test_every_k_refreshes_S_every_k_steps() -> None:
    torch.manual_seed(4)
    model = make("relu")
    x, y = torch.rand(16, 2), torch.rand(16, 3)
    adj = iga.IGA(model, iga.groups.grid(16, 2), end=2, every=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []
    for _ in range(7):
        before = adj.S
        opt.zero_grad()
        adj.loss(model(x), y, x).backward()
        opt.step()
        seen.append(adj.S is not before)
    assert seen == [True, False, False, True, False, False, True]


def test_iga_argument_errors() -> None:
    model = make("relu")
    groups = iga.groups.grid(16, 4)  # 4 groups
    with pytest.raises(ValueError, match=r"end=4 must be smaller than the number of groups \(4\)"):
        iga.IGA(model, groups, end=4)
    with pytest.raises(ValueError, match="end=-1"):
        iga.IGA(model, groups, end=-1)
    with pytest.raises(ValueError, match="every"):
        iga.IGA(model, groups, end=1, every=0)
    adj = iga.IGA(model, groups, end=1)
    with pytest.raises(ValueError, match="groups cover 16 points"):
        adj.loss(torch.zeros(15, 3), torch.zeros(15, 3), torch.zeros(15, 2))
    with pytest.raises(ValueError, match="same shape"):
        iga.adjusted_loss(torch.zeros(16, 3), torch.zeros(16, 2), None, groups)

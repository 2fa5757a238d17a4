"""The warm-started subspace eigensolver and the low-rank S, against ``eigh`` and the dense S."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import iga
from iga.core.spectrum import top_eigh
from iga.overhead import parse_variant
from iga.runs import config_key


def kernel(n: int = 60, p: int = 400, decay: float = 3.0, seed: int = 0) -> torch.Tensor:
    """A PSD kernel with a spread-out spectrum (like an eNTK's)."""
    g = torch.Generator().manual_seed(seed)
    J = torch.randn(n, p, generator=g, dtype=torch.float64)
    J = J * torch.logspace(0, -decay, p, dtype=torch.float64)
    return J @ J.T


def exact_pairs(K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    ev, V = torch.linalg.eigh(K)
    return ev.flip(0), V.flip(1)


def test_top_eigh_from_the_true_subspace_is_exact() -> None:
    K = kernel()
    ev, V = exact_pairs(K)
    th, U, res = top_eigh(K, 5, warm=V[:, :12], iters=1)
    torch.testing.assert_close(th, ev[:12], rtol=1e-10, atol=1e-12)
    assert res is not None and float(res.max()) < 1e-8 * float(ev[0])
    # Same vectors up to sign.
    torch.testing.assert_close((U * V[:, :12]).sum(0).abs(), torch.ones(12, dtype=torch.float64))


def test_top_eigh_converges_from_a_perturbed_start() -> None:
    K = kernel()
    ev, V = exact_pairs(K)
    g = torch.Generator().manual_seed(1)
    start = V[:, :15] + 0.05 * torch.randn(60, 15, generator=g, dtype=torch.float64)
    errors = []
    for iters in (1, 2, 4):
        th, _, _ = top_eigh(K, 6, warm=start, iters=iters)
        errors.append(float(((th[:6] - ev[:6]) / ev[:6]).abs().max()))
    assert errors[2] < errors[1] < errors[0] and errors[2] < 1e-4, errors
    with pytest.raises(ValueError, match="warm must be"):
        top_eigh(K, 6, warm=start[:, :4])


def test_balanced_apply_is_the_dense_S() -> None:
    K = kernel()
    b = iga.balance(K.float(), 8)
    R = torch.randn(60, 7)
    torch.testing.assert_close(b.apply(R), b.S @ R, rtol=1e-5, atol=1e-5)
    assert b.V is not None and b.V.shape == (60, 9)
    # S from the low-rank form matches S by definition (I - Σ (1 - λ_end/λ_i) v vᵀ).
    ev, V = exact_pairs(K)
    S = torch.eye(60, dtype=torch.float64)
    for i in range(8):
        S -= (1 - ev[8] / ev[i]) * torch.outer(V[:, i], V[:, i])
    torch.testing.assert_close(b.S.double(), S, rtol=1e-5, atol=1e-6)


def test_subspace_balance_matches_exact_and_falls_back() -> None:
    K = kernel()
    first = iga.balance(K, 8, solver="subspace")  # no warm start yet: exact, seeds the block
    assert first.info == {"solver": "exact"} and first.block is not None
    assert first.block.shape == (60, 19)
    K2 = K + 1e-3 * kernel(seed=5)  # the next step's kernel: close, not equal
    exact = iga.balance(K2, 8)
    sub = iga.balance(K2, 8, solver="subspace", warm=first.block)
    assert sub.info["solver"] == "subspace" and not sub.info["fell_back"]
    R = torch.randn(60, 5, dtype=torch.float64)
    err = torch.linalg.norm(sub.apply(R) - exact.apply(R)) / torch.linalg.norm(exact.apply(R))
    assert float(err) < 1e-3
    # An impossible tolerance: the exact solver takes over, with the same S as exact.
    strict = iga.balance(K2, 8, solver="subspace", warm=first.block, tol=0.0)
    assert strict.info["fell_back"]
    torch.testing.assert_close(strict.S, exact.S)
    # A warm start of the wrong width (e.g. end changed): solved exactly, a new block kept.
    other = iga.balance(K2, 8, solver="subspace", warm=first.block[:, :10])
    assert other.info == {"solver": "exact"} and other.block.shape == (60, 19)
    with pytest.raises(ValueError, match="solver must be"):
        iga.balance(K, 8, solver="lanczos")


def test_cold_start_from_a_random_block_above_the_threshold() -> None:
    from iga.core.spectrum import COLD_START_MIN

    n = COLD_START_MIN + 76
    K = kernel(n=n, p=600)
    exact = iga.balance(K, 8)
    cold = iga.balance(K, 8, solver="subspace")  # no warm block: a random one, tested
    assert cold.info["solver"] == "subspace" and cold.info["cold"] and not cold.info["fell_back"]
    assert cold.info["residual"] <= 0.2 and cold.block is not None and cold.block.shape == (n, 19)
    R = torch.randn(n, 3, dtype=torch.float64)
    err = torch.linalg.norm(cold.apply(R) - exact.apply(R)) / torch.linalg.norm(exact.apply(R))
    assert float(err) < 1e-2
    # deterministic (a run resumes bit for bit), and the exact solver when the test fails
    again = iga.balance(K, 8, solver="subspace")
    torch.testing.assert_close(again.apply(R), cold.apply(R), rtol=0, atol=0)
    strict = iga.balance(K, 8, solver="subspace", tol=0.0)
    assert strict.info["cold"] and strict.info["fell_back"]
    torch.testing.assert_close(strict.apply(R), exact.apply(R))
    # below the threshold the first solve stays exact (the committed runs' behaviour)
    small = iga.balance(kernel(n=COLD_START_MIN - 1, p=600), 8, solver="subspace")
    assert small.info == {"solver": "exact"}


def test_large_kernels_iterate_in_float32_and_keep_the_accuracy() -> None:
    """From LARGE_N points on the subspace products use a float32 K as it is (no float64
    copy, no symmetrising); S·r stays as close to the exact S·r as float64 iteration gets."""
    from iga.core.spectrum import LARGE_N

    n = LARGE_N + 40
    K64 = kernel(n=n, p=700)
    K32 = K64.float()
    exact = iga.balance(K64, 8)
    R = torch.randn(n, 3, dtype=torch.float64)

    def err(b: iga.Balanced) -> float:
        return float(torch.linalg.norm(b.apply(R) - exact.apply(R)) / torch.linalg.norm(R))

    cold32 = iga.balance(K32, 8, solver="subspace")
    cold64 = iga.balance(K64, 8, solver="subspace")
    assert not cold32.info["fell_back"] and cold32.block.dtype == torch.float64
    assert err(cold32) < 2 * err(cold64) + 1e-5, (err(cold32), err(cold64))
    warm32 = iga.balance(K32, 8, solver="subspace", warm=cold32.block, iters=4)
    warm64 = iga.balance(K64, 8, solver="subspace", warm=cold64.block, iters=4)
    assert not warm32.info["fell_back"] and err(warm32) < err(cold32) / 2
    assert err(warm32) < 2 * err(warm64) + 1e-5, (err(warm32), err(warm64))
    # a NaN anywhere is still found (the sum check) and a sum that overflows is not taken
    # for a NaN (the entry-wise check decides)
    bad = K32.clone()
    bad[5, 7] = float("nan")
    with pytest.raises(iga.core.spectrum.NonFiniteKernel):
        iga.balance(bad, 8, solver="subspace")
    huge = torch.full((n, n), 1e35)
    assert not torch.isfinite(huge.sum()) and iga.core.spectrum._finite(huge)
    huge[3, 3] = float("inf")
    assert not iga.core.spectrum._finite(huge)


def test_stats_skip_the_full_spectrum_of_large_kernels() -> None:
    """IGA.stats() is logged every few steps: above LARGE_N groups it leaves out the
    condition numbers (a full eigendecomposition) and reads λ_max from the top eigenpairs."""
    from iga.core.spectrum import LARGE_N

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    for n, full in ((LARGE_N, True), (LARGE_N + 1, False)):
        x, y = torch.rand(n, 2), torch.rand(n, 1)
        adj = iga.IGA(model, torch.arange(n)[:, None], end=4, solver="subspace")
        adj.loss(model(x), y, x)
        stats = adj.stats()
        assert ("cond_before" in stats) is full and (adj.spectrum._full is not None) is full
        ev = torch.linalg.eigvalsh(adj.spectrum.K.double())
        assert stats["lambda_max"] == pytest.approx(float(ev[-1]), rel=1e-3)


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 3)
    )


def train(adj: iga.IGA, model: nn.Module, steps: int, x: torch.Tensor, y: torch.Tensor) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = adj.loss(model(x), y, x)
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_iga_subspace_trains_like_exact_and_resumes_exactly() -> None:
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(256, 2, generator=g), torch.rand(256, 3, generator=g)
    groups = iga.groups.grid((16, 16), 2)  # 64 groups
    runs = {}
    for solver in ("exact", "subspace"):
        model = mlp()
        adj = iga.IGA(model, groups, end=6, solver=solver)
        train(adj, model, 30, x, y)
        runs[solver] = nn.functional.mse_loss(model(x), y).item()
        assert adj.spectrum is not None and adj.spectrum.info["solver"] == solver
    assert runs["subspace"] == pytest.approx(runs["exact"], rel=0.05)
    # Stop after 10 steps, restore into a fresh adjuster, continue: the same as 20 straight.
    model = mlp()
    adj = iga.IGA(model, groups, end=6, solver="subspace")
    train(adj, model, 20, x, y)
    straight = [p.detach().clone() for p in model.parameters()]
    model = mlp()
    opt_state = None
    adj = iga.IGA(model, groups, end=6, solver="subspace")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(10):
        loss = adj.loss(model(x), y, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    state = adj.state_dict()
    opt_state = opt.state_dict()
    adj2 = iga.IGA(model, groups, end=6, solver="subspace")
    adj2.load_state_dict(state)
    opt2 = torch.optim.Adam(model.parameters(), lr=1e-2)
    opt2.load_state_dict(opt_state)
    for _ in range(10):
        loss = adj2.loss(model(x), y, x)
        opt2.zero_grad()
        loss.backward()
        opt2.step()
    for a, b in zip(straight, model.parameters(), strict=True):
        torch.testing.assert_close(a, b.detach())


def test_old_checkpoints_with_a_dense_S_still_load() -> None:
    g = torch.Generator().manual_seed(4)
    x, y = torch.rand(64, 2, generator=g), torch.rand(64, 3, generator=g)
    model = mlp()
    adj = iga.IGA(model, iga.groups.grid((8, 8), 2), end=3)
    adj.loss(model(x), y, x)
    s = adj.spectrum
    assert s is not None
    old = {  # the layout written before S was kept in low-rank form
        "calls": 1,
        "S": s.S,
        "spectrum": {
            "S": s.S,
            "top": s.top,
            "scale": s.scale,
            "lambda_ref": s.lambda_ref,
            "K": s.K,
        },
        "sampler": adj.sampler.state_dict(),
        "entk_method": adj.entk_method,
        "checked": True,
    }
    fresh = iga.IGA(model, iga.groups.grid((8, 8), 2), end=3, every=5)
    fresh.load_state_dict(old)
    assert fresh.S is not None
    torch.testing.assert_close(fresh.S, s.S)
    R = torch.randn(16, 4)
    torch.testing.assert_close(fresh.spectrum.apply(R), s.apply(R), rtol=1e-5, atol=1e-6)


def test_adjusted_loss_takes_a_balanced() -> None:
    g = torch.Generator().manual_seed(5)
    x, y = torch.rand(64, 2, generator=g), torch.rand(64, 3, generator=g)
    model = mlp()
    groups = iga.groups.grid((8, 8), 2)
    b = iga.balance(iga.entk(model, x[::4]), 4)
    params = list(model.parameters())
    g1 = torch.autograd.grad(iga.adjusted_loss(model(x), y, b, groups), params)
    g2 = torch.autograd.grad(iga.adjusted_loss(model(x), y, b.S, groups), params)
    for a, c in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, c, rtol=1e-4, atol=1e-7)


def test_the_solver_field_keeps_old_run_keys() -> None:
    old = {"path": "a.png", "method": {"method": "iga", "end": 20}, "train": {"steps": 5}}
    new = {**old, "method": {**old["method"], "solver": "exact"}}
    assert config_key(new, {"model": "m"}) == config_key(old, {"model": "m"})
    sub = {**old, "method": {**old["method"], "solver": "subspace"}}
    assert config_key(sub, {"model": "m"}) != config_key(old, {"model": "m"})


def test_overhead_variants_parse() -> None:
    assert parse_variant("exact") == {"solver": "exact", "every": 1}
    assert parse_variant("subspace/e4") == {"solver": "subspace", "every": 4}
    assert parse_variant("subspace/i3/e2") == {"solver": "subspace", "every": 2, "iters": 3}
    for bad in ("lanczos", "exact/4", "exact/e0", "subspace/e2/e3"):
        with pytest.raises(ValueError, match="--variants"):
            parse_variant(bad)


def test_peak_memory_runs_the_steps_in_a_fresh_process() -> None:
    from iga.overhead import OverheadConfig, peak_memory

    cfg = OverheadConfig(size="16x16", width=8, patch=4, end=3, repeats=2, warmup=1, threads=1)
    vanilla = peak_memory(cfg, "relu", "vanilla")
    sub = peak_memory(cfg, "relu", "subspace/e2")
    assert 50 * 2**20 < vanilla < 8 * 2**30 and 50 * 2**20 < sub < 8 * 2**30


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="Linux's /proc only")
def test_peak_memory_is_the_child_own_not_the_parent() -> None:
    """ru_maxrss survives exec on Linux: a child of a large process used to report the
    parent's RSS. With 800 MB held here the tiny run must still measure far below that."""
    from iga.overhead import OverheadConfig, peak_memory

    ballast = torch.ones(200 * 2**20)  # 800 MB, touched
    parent = (
        int(
            next(
                line.split()[1]
                for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmRSS:")
            )
        )
        * 1024
    )
    cfg = OverheadConfig(size="16x16", width=8, patch=4, end=3, repeats=1, warmup=1, threads=1)
    child = peak_memory(cfg, "relu", "vanilla")
    assert float(ballast[-1]) == 1.0 and child < parent - 600 * 2**20, (child, parent)


def test_many_groups_with_the_exact_solver_warn_with_the_fast_flags() -> None:
    from iga.core.spectrum import LARGE_N
    from iga.train import MethodConfig
    from iga.train import make_adjuster as build_iga

    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1))
    groups = torch.arange(LARGE_N)[:, None]
    with pytest.warns(UserWarning, match="--solver subspace --solver-iters 3 --every 4"):
        build_iga(model, groups, MethodConfig(method="iga"))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        build_iga(model, groups, MethodConfig(method="iga", solver="subspace"))
        build_iga(model, groups, MethodConfig(method="iga", every=4))
        build_iga(model, groups[:-1], MethodConfig(method="iga"))

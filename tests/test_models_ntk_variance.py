"""Spherical normalisation and Hadamard modulation as model options of every arch."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import iga
from iga.models import ARCHS, Hadamard, SphericalNorm, build


def test_spherical_norm_puts_rows_on_the_sphere_of_radius_sqrt_m() -> None:
    h = torch.randn(7, 16) * torch.rand(7, 1) * 10
    out = SphericalNorm()(h)
    torch.testing.assert_close(out.norm(dim=1), torch.full((7,), math.sqrt(16)))
    torch.testing.assert_close(out / out.norm(dim=1, keepdim=True), h / h.norm(dim=1, keepdim=True))
    assert torch.isfinite(SphericalNorm()(torch.zeros(2, 4))).all()


def test_hadamard_layer_is_the_product_of_two_halves() -> None:
    torch.manual_seed(0)
    model = build("siren", 2, 3, 8, 2, seed=1, hadamard="first")
    first, act = model.net[0], model.net[1]
    assert isinstance(act, Hadamard) and first.out_features == 16
    x = torch.rand(5, 2)
    z = x @ first.weight.T + first.bias
    want = torch.sin(30.0 * z[:, :8]) * torch.sin(30.0 * z[:, 8:])
    torch.testing.assert_close(act(z), want)
    h = want
    for m in list(model.net)[2:]:
        h = m(h)
    torch.testing.assert_close(model(x), h)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize(
    "opts", [{"spherical_norm": True}, {"hadamard": "first"}, {"hadamard": "all"}]
)
def test_options_on_every_arch(arch: str, opts: dict) -> None:
    model = build(arch, 2, 3, 8, 3, seed=0, **opts)
    x = torch.rand(6, 2)
    out = model(x)
    assert out.shape == (6, 3)
    torch.testing.assert_close(model(x[2:3]), out[2:3])  # rows stay independent
    key, value = next(iter(opts.items()))
    assert f"{key}={value!r}" in model.describe()
    doubled = sum(1 for m in model.linears[:-1] if m.out_features == 16)
    assert doubled == {"first": 1, "all": 3}.get(opts.get("hadamard"), 0)
    assert model.hidden_features == 8


@pytest.mark.parametrize("arch", ["relu", "pe", "siren"])
@pytest.mark.parametrize("opts", [{"spherical_norm": True}, {"hadamard": "all"}])
def test_closed_form_entk_still_exact(arch: str, opts: dict) -> None:
    model = build(arch, 2, 3, 8, 2, seed=0, dtype=torch.float64, **opts)
    x = torch.rand(9, 2, dtype=torch.float64)
    fast = iga.entk(model, x, method="linear")
    slow = iga.entk(model, x, method="functorch")
    torch.testing.assert_close(fast, slow, rtol=1e-9, atol=1e-12)


def test_defaults_leave_descriptions_and_parameters_unchanged() -> None:
    for arch in ARCHS:
        plain = build(arch, 2, 3, 16, 3, seed=0)
        explicit = build(arch, 2, 3, 16, 3, seed=0, spherical_norm=False, hadamard="none")
        assert plain.describe() == explicit.describe()
        assert "spherical_norm" not in plain.describe() and "hadamard" not in plain.describe()
        for a, b in zip(plain.parameters(), explicit.parameters(), strict=True):
            assert torch.equal(a, b)
    # hadamard="all" doubles each hidden linear's outputs: 2*(2*8+8) + 2*(8*16+16)... counted
    m = build("relu", 2, 3, 8, 2, hadamard="all")
    assert sum(p.numel() for p in m.parameters()) == (2 * 16 + 16) + (8 * 16 + 16) + (8 * 3 + 3)


def test_bad_values_and_fr_bn_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="hadamard must be one of none, first, all"):
        build("relu", 2, 3, 8, 2, hadamard="some")
    with pytest.raises(ValueError, match="spherical_norm must be true or false"):
        build("relu", 2, 3, 8, 2, spherical_norm="yes")
    for method in ("fr", "bn"):
        with pytest.raises(ValueError, match=f"not combined with method '{method}'"):
            build("pe", 2, 3, 8, 2, method=method, spherical_norm=True)
    with pytest.raises(TypeError, match="it accepts: .*spherical_norm, hadamard"):
        build("relu", 2, 3, 8, 2, pe_levels=3)


def test_iga_trains_a_modulated_model() -> None:
    torch.manual_seed(0)
    model = build("relu", 2, 3, 16, 2, seed=0, hadamard="first", spherical_norm=True)
    x, y = torch.rand(64, 2), torch.rand(64, 3)
    adj = iga.IGA(model, iga.groups.grid((8, 8), 2), end=3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        pred = model(x)
        losses.append(nn.functional.mse_loss(pred, y).item())
        loss = adj.loss(pred, y, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.5 * losses[0]
    assert adj.entk_method == "auto"  # the closed form agreed with autograd

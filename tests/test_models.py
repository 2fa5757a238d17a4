"""Tests for the INR model zoo (``iga.models``)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from iga.models import (
    ARCH_OPTIONS,
    ARCHS,
    INR,
    OPTION_HELP,
    Finer,
    Gaussian,
    PositionalEncoding,
    RealGabor,
    Sine,
    build,
    count_parameters,
)

WIDTH = 32


def _small(arch: str, **kw: object) -> INR:
    kw.setdefault("seed", 0)
    return build(arch, 2, 3, hidden_features=WIDTH, hidden_layers=2, **kw)  # type: ignore[arg-type]


def _coords(n: int, d: int = 2, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g) * 2 - 1


# --------------------------------------------------------------------------------------------
# Registry


def test_arch_registry_lists_every_arch_and_option_help() -> None:
    assert ARCHS == ("relu", "pe", "siren", "finer", "wire", "gauss")
    assert tuple(ARCH_OPTIONS) == ARCHS
    assert ARCH_OPTIONS["pe"]["pe_levels"] == 6
    assert ARCH_OPTIONS["siren"]["omega0"] == 30.0
    assert ARCH_OPTIONS["finer"]["first_bias_scale"] == 1.0
    assert ARCH_OPTIONS["wire"] == {"omega0": 20.0, "scale0": 10.0}
    assert ARCH_OPTIONS["gauss"] == {"scale": 10.0}
    for opts in ARCH_OPTIONS.values():
        for key in opts:
            assert key in OPTION_HELP
    with pytest.raises(TypeError):
        ARCH_OPTIONS["pe"]["pe_levels"] = 3  # type: ignore[index]


# --------------------------------------------------------------------------------------------
# Properties shared by every arch


@pytest.mark.parametrize("arch", ARCHS)
def test_output_shape_and_unbatched_row(arch: str) -> None:
    model = _small(arch)
    x = _coords(7)
    y = model(x)
    assert y.shape == (7, 3)
    assert y.dtype == torch.float32
    # A single row without batch dim is what vmap feeds the model in per-sample eNTK code.
    torch.testing.assert_close(model(x[4]), y[4])


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("hidden_layers", [1, 3])
def test_structure_linears_and_parameter_ownership(arch: str, hidden_layers: int) -> None:
    model = build(arch, 2, 3, hidden_features=WIDTH, hidden_layers=hidden_layers)
    assert model.arch == arch
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == hidden_layers + 1
    assert linears == model.linears
    assert isinstance(model.net[-1], nn.Linear)
    assert model.hidden_layers == hidden_layers
    assert linears[-1].out_features == 3
    assert all(lin.out_features == WIDTH for lin in linears[:-1])
    # Every trainable parameter must belong to an nn.Linear (the eNTK path relies on it).
    linear_params = {id(p) for lin in linears for p in lin.parameters()}
    assert {id(p) for p in model.parameters()} == linear_params
    for module in model.modules():
        if not isinstance(module, nn.Linear):
            assert not list(module.parameters(recurse=False))
    assert count_parameters(model) == sum(p.numel() for lin in linears for p in lin.parameters())


@pytest.mark.parametrize("arch", ARCHS)
def test_each_linear_called_once_per_forward(arch: str) -> None:
    model = _small(arch)
    calls: dict[int, int] = {}
    handles = [
        lin.register_forward_hook(lambda m, i, o: calls.__setitem__(id(m), calls.get(id(m), 0) + 1))
        for lin in model.linears
    ]
    model(_coords(5))
    for h in handles:
        h.remove()
    assert sorted(calls.values()) == [1] * len(model.linears)


@pytest.mark.parametrize("arch", ARCHS)
def test_rows_are_independent_and_vmap_friendly(arch: str) -> None:
    model = _small(arch)
    x = _coords(6)
    y = model(x)
    rows = torch.cat([model(x[i : i + 1]) for i in range(6)])
    torch.testing.assert_close(rows, y)
    torch.testing.assert_close(torch.func.vmap(model)(x), y)


@pytest.mark.parametrize("arch", ARCHS)
def test_gradients_flow_to_every_parameter(arch: str) -> None:
    model = _small(arch)
    x = _coords(64)
    loss = model(x).pow(2).mean()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().max() > 0, name


@pytest.mark.parametrize("arch", ARCHS)
def test_seed_reproducible_and_global_rng_untouched(arch: str) -> None:
    state = torch.get_rng_state()
    a = _small(arch, seed=123)
    b = _small(arch, seed=123)
    c = _small(arch, seed=124)
    assert torch.equal(torch.get_rng_state(), state)
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert na == nb
        assert torch.equal(pa, pb), na
    weights_a = [lin.weight for lin in a.linears]
    weights_c = [lin.weight for lin in c.linears]
    assert all(not torch.equal(wa, wc) for wa, wc in zip(weights_a, weights_c, strict=True))


@pytest.mark.parametrize("arch", ARCHS)
def test_adam_reduces_mse_on_tiny_1d_target(arch: str) -> None:
    model = build(arch, 1, 1, hidden_features=WIDTH, hidden_layers=2, seed=0)
    x = torch.linspace(-1, 1, 64).unsqueeze(-1)
    target = torch.sin(3 * math.pi * x) + 0.5 * x
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    with torch.no_grad():
        before = (model(x) - target).pow(2).mean().item()
    for _ in range(50):
        opt.zero_grad()
        loss = (model(x) - target).pow(2).mean()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = (model(x) - target).pow(2).mean().item()
    assert after < 0.8 * before, (before, after)


@pytest.mark.parametrize("arch", ARCHS)
def test_describe_and_repr_mention_arch(arch: str) -> None:
    model = _small(arch)
    text = model.describe()
    assert text.startswith(f"{arch}:")
    assert f"{count_parameters(model):,} parameters" in text
    for key in ARCH_OPTIONS[arch]:
        assert key in text
    assert f"arch='{arch}'" in repr(model)


def test_dtype_and_device_arguments() -> None:
    model = build("pe", 2, 1, hidden_features=8, hidden_layers=1, seed=0, dtype=torch.float64)
    ref = build("pe", 2, 1, hidden_features=8, hidden_layers=1, seed=0)
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert model.encoding.freqs.dtype == torch.float64  # type: ignore[union-attr]
    torch.testing.assert_close(model.linears[0].weight.float(), ref.linears[0].weight)
    y = model(_coords(4).double())
    assert y.dtype == torch.float64
    assert build("relu", 2, 1, hidden_features=8, device="cpu").linears[0].weight.device.type == (
        "cpu"
    )


def test_count_parameters_exact() -> None:
    model = build("relu", 2, 3, hidden_features=4, hidden_layers=1)
    assert count_parameters(model) == (2 * 4 + 4) + (4 * 3 + 3)
    model.linears[0].weight.requires_grad_(False)
    assert count_parameters(model) == 4 + 15
    assert count_parameters(model, trainable_only=False) == 27


# --------------------------------------------------------------------------------------------
# relu / pe


def test_relu_uses_pytorch_default_init_bounds() -> None:
    model = build("relu", 2, 3, hidden_features=WIDTH, hidden_layers=2, seed=0)
    for lin in model.linears:
        bound = 1 / math.sqrt(lin.in_features)
        assert lin.weight.abs().max() <= bound
        assert lin.bias.abs().max() <= bound
    assert sum(isinstance(m, nn.ReLU) for m in model.net) == 2


def test_positional_encoding_matches_hand_computation() -> None:
    enc = PositionalEncoding(2, levels=2)
    x = torch.tensor([[0.25, -0.5]])
    a, b = 0.25 * math.pi, -0.5 * math.pi
    expected = torch.tensor(
        [
            [
                0.25,
                -0.5,
                math.sin(a),
                math.sin(b),
                math.cos(a),
                math.cos(b),
                math.sin(2 * a),
                math.sin(2 * b),
                math.cos(2 * a),
                math.cos(2 * b),
            ]
        ]
    )
    torch.testing.assert_close(enc(x), expected)
    assert enc.out_features == 2 * (1 + 2 * 2)
    assert not list(enc.parameters())
    assert "freqs" in dict(enc.named_buffers())


@pytest.mark.parametrize(("d", "levels"), [(1, 6), (2, 6), (3, 4), (2, 0)])
def test_pe_model_width(d: int, levels: int) -> None:
    model = build("pe", d, 1, hidden_features=8, hidden_layers=1, pe_levels=levels)
    assert model.linears[0].in_features == d * (1 + 2 * levels)
    assert model.encoded_features == d * (1 + 2 * levels)
    assert model(_coords(5, d)).shape == (5, 1)


def test_pe_default_levels_is_six() -> None:
    model = build("pe", 2, 3, hidden_features=8)
    assert isinstance(model.encoding, PositionalEncoding)
    assert model.encoding.levels == 6
    torch.testing.assert_close(
        model.encoding.freqs, torch.tensor([math.pi * 2.0**i for i in range(6)])
    )


# --------------------------------------------------------------------------------------------
# siren / finer


def _check_uniform(w: torch.Tensor, bound: float) -> None:
    assert w.abs().max() <= bound * (1 + 1e-6)
    # U(-b, b) has std b / sqrt(3); 1000s of samples give a few-percent estimate.
    std = w.std().item()
    assert std == pytest.approx(bound / math.sqrt(3), rel=0.08)


@pytest.mark.parametrize("arch", ["siren", "finer"])
def test_sine_family_init_bounds(arch: str) -> None:
    omega0 = 30.0
    model = build(arch, 2, 3, hidden_features=64, hidden_layers=3, seed=0)
    first, *rest = model.linears
    assert first.weight.abs().max() <= 1 / 2  # U(-1/in, 1/in) with in = 2
    for lin in rest:  # hidden layers and the output layer alike
        bound = math.sqrt(6 / lin.in_features) / omega0
        assert lin.weight.abs().max() <= bound * (1 + 1e-6)
        if lin.weight.numel() >= 1000:  # enough draws for a meaningful std estimate
            _check_uniform(lin.weight, bound)


def test_siren_first_layer_bound_with_wide_input() -> None:
    model = build("siren", 40, 1, hidden_features=64, hidden_layers=1, seed=0)
    _check_uniform(model.linears[0].weight, 1 / 40)


@pytest.mark.parametrize("arch", ["siren", "finer"])
def test_sine_family_omegas_live_in_activations(arch: str) -> None:
    model = build(arch, 2, 1, hidden_features=64, hidden_layers=3, omega0=10.0, first_omega0=50.0)
    acts = [m for m in model.net if not isinstance(m, nn.Linear)]
    cls = Sine if arch == "siren" else Finer
    assert all(isinstance(a, cls) for a in acts)
    assert [a.omega0 for a in acts] == [50.0, 10.0, 10.0]  # type: ignore[union-attr]
    # Hidden bounds use the hidden omega0, not first_omega0.
    bound = math.sqrt(6 / 64) / 10.0
    assert model.linears[1].weight.abs().max() <= bound * (1 + 1e-6)
    assert model.linears[1].weight.abs().max() > 0.9 * bound
    default = build(arch, 2, 1, hidden_features=8, hidden_layers=1)
    assert default.options["first_omega0"] == 30.0


@pytest.mark.parametrize("k", [1.0, 0.2, 3.0])
def test_finer_first_bias_scale(k: float) -> None:
    model = build("finer", 2, 1, hidden_features=256, hidden_layers=1, seed=0, first_bias_scale=k)
    bias = model.linears[0].bias
    assert bias.abs().max() <= k
    # Not all tiny: a uniform on (-k, k) over 256 draws reaches well past k/2.
    assert bias.abs().max() > 0.8 * k
    assert bias.std().item() == pytest.approx(k / math.sqrt(3), rel=0.15)
    # SIREN's model keeps PyTorch's default first bias, bounded by 1/sqrt(in).
    siren = build("siren", 2, 1, hidden_features=256, hidden_layers=1, seed=0)
    assert siren.linears[0].bias.abs().max() <= 1 / math.sqrt(2)


def test_finer_zero_bias_scale_gives_zero_first_bias() -> None:
    model = build("finer", 2, 1, hidden_features=8, hidden_layers=1, first_bias_scale=0)
    assert torch.count_nonzero(model.linears[0].bias) == 0


# --------------------------------------------------------------------------------------------
# Activation formulas (wire, gauss, and the sine family)


def test_activation_formulas() -> None:
    z = torch.linspace(-1.5, 1.5, 31, dtype=torch.float64)
    torch.testing.assert_close(Sine(30.0)(z), torch.sin(30 * z))
    torch.testing.assert_close(Finer(30.0)(z), torch.sin(30 * (z.abs() + 1) * z))
    torch.testing.assert_close(
        RealGabor(20.0, 10.0)(z), torch.cos(20 * z) * torch.exp(-((10 * z) ** 2))
    )
    torch.testing.assert_close(Gaussian(10.0)(z), torch.exp(-((10 * z) ** 2)))
    for act in (Sine(), Finer(), RealGabor(), Gaussian()):
        assert not list(act.parameters())


def test_finer_gradient_flows_through_abs() -> None:
    z = torch.tensor([0.3, -0.7], dtype=torch.float64, requires_grad=True)
    Finer(2.0)(z).sum().backward()
    # d/dz sin(w (|z|+1) z) = cos(.) * w * (2|z| + 1)
    zd = z.detach()
    expected = torch.cos(2.0 * (zd.abs() + 1) * zd) * 2.0 * (2 * zd.abs() + 1)
    assert z.grad is not None
    torch.testing.assert_close(z.grad, expected)


@pytest.mark.parametrize(
    ("arch", "cls", "attrs"),
    [
        ("wire", RealGabor, {"omega0": 20.0, "scale0": 10.0}),
        ("gauss", Gaussian, {"scale": 10.0}),
    ],
)
def test_wire_gauss_activation_defaults_and_options(
    arch: str, cls: type[nn.Module], attrs: dict[str, float]
) -> None:
    model = build(arch, 2, 1, hidden_features=8, hidden_layers=2)
    acts = [m for m in model.net if not isinstance(m, nn.Linear)]
    assert len(acts) == 2 and all(isinstance(a, cls) for a in acts)
    for key, value in attrs.items():
        assert all(getattr(a, key) == value for a in acts)
    custom = build(arch, 2, 1, hidden_features=8, hidden_layers=1, **{k: 2.5 for k in attrs})
    assert all(getattr(custom.net[1], k) == 2.5 for k in attrs)
    # PyTorch default init: weights within 1/sqrt(fan_in).
    for lin in model.linears:
        assert lin.weight.abs().max() <= 1 / math.sqrt(lin.in_features)


# --------------------------------------------------------------------------------------------
# Errors


def test_unknown_arch_message_names_value_and_choices() -> None:
    with pytest.raises(ValueError, match=r"unknown arch 'foo'; choose one of relu, pe, siren"):
        build("foo", 2, 3)
    with pytest.raises(ValueError, match="unknown arch 'SIREN'"):
        build("SIREN", 2, 3)


def test_unknown_option_names_option_and_accepted_ones() -> None:
    with pytest.raises(TypeError, match=r"arch 'siren'.*'omega'.*accepts: omega0, first_omega0"):
        build("siren", 2, 3, omega=30.0)
    with pytest.raises(TypeError, match=r"arch 'relu'.*'pe_levels'.*accepts: spherical_norm"):
        build("relu", 2, 3, pe_levels=4)
    with pytest.raises(TypeError, match=r"arch 'gauss'.*'omega0'.*accepts: scale"):
        build("gauss", 2, 3, omega0=1.0)


@pytest.mark.parametrize(
    ("kwargs", "exc", "pattern"),
    [
        ({"hidden_layers": 0}, ValueError, r"hidden_layers must be >= 1, got 0"),
        ({"hidden_features": 0}, ValueError, r"hidden_features must be >= 1"),
        ({"in_features": 0}, ValueError, r"in_features must be >= 1"),
        ({"out_features": -1}, ValueError, r"out_features must be >= 1"),
        ({"hidden_layers": 2.5}, TypeError, r"hidden_layers must be an integer"),
        ({"hidden_layers": True}, TypeError, r"hidden_layers must be an integer"),
        ({"seed": -1}, ValueError, r"seed must be >= 0"),
    ],
)
def test_bad_sizes_raise(kwargs: dict[str, object], exc: type[Exception], pattern: str) -> None:
    args: dict[str, object] = {"in_features": 2, "out_features": 3, **kwargs}
    with pytest.raises(exc, match=pattern):
        build("relu", **args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("arch", "kwargs", "exc", "pattern"),
    [
        ("siren", {"omega0": 0.0}, ValueError, r"omega0 must be a finite number > 0"),
        ("siren", {"omega0": "30"}, TypeError, r"omega0 must be a real number"),
        ("siren", {"first_omega0": -1.0}, ValueError, r"first_omega0"),
        ("finer", {"first_bias_scale": -0.1}, ValueError, r"first_bias_scale .* >= 0"),
        ("wire", {"scale0": float("nan")}, ValueError, r"scale0"),
        ("gauss", {"scale": float("inf")}, ValueError, r"scale"),
        ("pe", {"pe_levels": -1}, ValueError, r"pe_levels must be >= 0"),
        ("pe", {"pe_levels": 2.0}, TypeError, r"pe_levels must be an integer"),
    ],
)
def test_bad_option_values_raise(
    arch: str, kwargs: dict[str, object], exc: type[Exception], pattern: str
) -> None:
    with pytest.raises(exc, match=pattern):
        build(arch, 2, 3, hidden_features=8, **kwargs)  # type: ignore[arg-type]


def test_inr_rejects_parameters_outside_linears() -> None:
    class LearnedSine(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(()))

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.sin(self.w * z)

    with pytest.raises(ValueError, match=r"net\[1\] \(LearnedSine\) has parameters"):
        INR(nn.Sequential(nn.Linear(2, 4), LearnedSine(), nn.Linear(4, 1)))
    with pytest.raises(ValueError, match="encoding must be parameter-free"):
        INR(nn.Sequential(nn.Linear(4, 1)), encoding=nn.Linear(2, 4))
    with pytest.raises(ValueError, match="last module"):
        INR(nn.Sequential(nn.Linear(2, 4), nn.ReLU()))

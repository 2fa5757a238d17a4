"""The optimiser registry (iga.optim): Muon's parameter split, the Muon + Adam pair, ESGD against
a hand-computed Hessian, ESGD with IGA, schedules, and the errors a user meets."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

import iga
from iga import optim
from iga.cli import main
from iga.train import TrainConfig, train


def _pe(seed: int = 0) -> nn.Module:
    return iga.models.build("pe", 2, 3, hidden_features=16, hidden_layers=3, seed=seed)


def _data(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, 2, generator=g) * 2 - 1
    y = torch.stack([torch.sin(3 * x[:, 0]), torch.cos(2 * x[:, 1]), x.prod(1)], 1)
    return x, y


# --- Muon ----------------------------------------------------------------------------------------


def test_muon_takes_the_hidden_matrices_and_adam_the_rest() -> None:
    model = _pe()
    names = {id(p): n for n, p in model.named_parameters()}
    muon, other = optim.muon_split(model)
    # Muon-INRs' split: layers 1 .. L-2 (their `0 < layer_idx < len(mlp) - 1`), weights only.
    assert sorted(names[id(p)] for p in muon) == ["net.2.weight", "net.4.weight"]
    assert sorted(names[id(p)] for p in other) == [
        "net.0.bias",
        "net.0.weight",
        "net.2.bias",
        "net.4.bias",
        "net.6.bias",
        "net.6.weight",
    ]
    first, _ = optim.muon_split(model, first_layer=True)
    assert sorted(names[id(p)] for p in first) == ["net.0.weight", "net.2.weight", "net.4.weight"]
    # Every trainable parameter is in exactly one of the two.
    assert len(muon) + len(other) == len(list(model.parameters()))


def test_muon_pair_steps_as_muon_plus_adam_with_the_recipe_settings() -> None:
    torch.manual_seed(0)
    x, y = _data()
    ours, ref = _pe(), _pe()
    opt = optim.build_optimizer(ours, "muon", 0.05, {"adam_lr": 2e-3})
    assert isinstance(opt, optim.OptimizerGroup)
    m_ref, o_ref = optim.muon_split(ref)
    ref_muon = torch.optim.Muon(m_ref, lr=0.05, weight_decay=0.0, momentum=0.95, nesterov=True)
    ref_adam = torch.optim.Adam(o_ref, lr=2e-3, eps=1e-10)
    for _ in range(3):
        for model, step in ((ours, [opt]), (ref, [ref_muon, ref_adam])):
            loss = ((model(x) - y) ** 2).mean()
            for o in step:
                o.zero_grad()
            loss.backward()
            for o in step:
                o.step()
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # The schedule sees both groups; Muon's weight decay is off (torch's default is 0.1).
    assert [g["lr"] for g in opt.param_groups] == [0.05, 2e-3]
    assert opt.param_groups[0]["weight_decay"] == 0.0


def test_muon_refuses_a_model_without_hidden_matrices_and_an_old_torch(monkeypatch) -> None:
    tiny = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    with pytest.raises(ValueError, match="no hidden weight matrices"):
        optim.build_optimizer(tiny, "muon", 0.1)
    monkeypatch.setattr(optim, "_torch_version", lambda: (2, 8))
    with pytest.raises(ValueError, match=r"needs PyTorch >= 2\.9 \(this is"):
        TrainConfig(optimizer="muon")


# --- ESGD ----------------------------------------------------------------------------------------


def _tiny_sine() -> nn.Module:
    # Sine activations: the Hessian has its non-Gauss-Newton part too.
    torch.manual_seed(3)
    return nn.Sequential(nn.Linear(1, 3), iga.models.Sine(2.0), nn.Linear(3, 1)).double()


def _flat_hessian(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    params = list(model.parameters())
    shapes = [p.shape for p in params]
    sizes = [p.numel() for p in params]

    def loss_of(flat: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(flat, sizes)
        named = {
            n: c.reshape(s)
            for (n, _), c, s in zip(model.named_parameters(), chunks, shapes, strict=True)
        }
        pred = torch.func.functional_call(model, named, (x,))
        return ((pred - y) ** 2).mean()

    flat = torch.cat([p.detach().reshape(-1) for p in params])
    return torch.autograd.functional.hessian(loss_of, flat)


def test_esgd_first_step_divides_by_the_hessian_vector_product() -> None:
    model = _tiny_sine()
    x = torch.linspace(-1, 1, 9, dtype=torch.float64)[:, None]
    y = torch.sin(4 * x)
    H = _flat_hessian(model, x, y)
    before = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    opt = optim.ESGD(model.parameters(), lr=0.01, eps=1e-4, seed=7)
    # The Rademacher vector the optimiser will draw, drawn here from the same generator state.
    g = torch.Generator().manual_seed(7)
    v = torch.cat(
        [torch.randint(0, 2, p.shape, generator=g).double().reshape(-1) * 2 - 1 for p in
         model.parameters()]
    )  # fmt: skip
    loss = ((model(x) - y) ** 2).mean()
    assert opt.wants_curvature()
    opt.update_curvature(loss)
    loss.backward()
    grad = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    opt.step()
    after = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    hv = H @ v
    # Step 1: m̂ = g and √(D / (1 − β₂)) = |Hv|, so Δθ = −lr · g / (|Hv| + eps).
    torch.testing.assert_close(after - before, -0.01 * grad / (hv.abs() + 1e-4))


def test_esgd_preconditioner_estimates_the_row_norms_of_the_hessian() -> None:
    # E[(Hv)²] over Rademacher v is Σ_j H_ij²: the equilibration preconditioner of ESGD.
    model = _tiny_sine()
    x = torch.linspace(-1, 1, 9, dtype=torch.float64)[:, None]
    y = torch.sin(4 * x)
    H = _flat_hessian(model, x, y)
    opt = optim.ESGD(model.parameters(), lr=0.0, betas=(0.9, 0.999), seed=0, d_warmup=4000)
    draws = []
    for _ in range(4000):
        loss = ((model(x) - y) ** 2).mean()
        opt.update_curvature(loss)
        draws.append(torch.cat([h.reshape(-1) for h in opt._hvps]) ** 2)
        opt._hvps = None
    mean = torch.stack(draws).mean(0)
    expected = (H**2).sum(1)
    assert float(((mean - expected).abs() / expected).max()) < 0.1


def test_esgd_refreshes_on_the_authors_schedule_and_both_bias_corrections() -> None:
    x, y = _data()
    for correction, ramp in (("steps", True), ("updates", False)):
        model = _pe()
        opt = optim.ESGD(
            model.parameters(), lr=1e-3, update_every=3, d_warmup=2, bias_correction=correction
        )
        refreshed = []
        for _ in range(9):
            loss = ((model(x) - y) ** 2).mean()
            opt.zero_grad()
            refreshed.append(opt.wants_curvature())
            if refreshed[-1]:
                opt.update_curvature(loss)
            loss.backward()
            opt.step()
        # Steps 0 and 1 (warm-up), then every 3rd step after the last refresh: 4, 7.
        assert refreshed == [True, True, False, False, True, False, False, True, False]
        st = opt.state[next(iter(model.parameters()))]
        assert st["step"] == 9 and st["d_updates"] == 4
        assert (correction == "steps") is ramp
    model = _pe()
    opt = optim.ESGD(model.parameters())
    with pytest.raises(RuntimeError, match="update_curvature"):
        ((model(x) - y) ** 2).mean().backward()
        opt.step()


def test_esgd_with_iga_takes_the_curvature_of_the_fit_not_of_the_surrogate() -> None:
    # With end = 0, IGA's gradient is the MSE gradient; ESGD must then train exactly as
    # without IGA (its Hessian-vector products come from the MSE, not from IGA's L').
    coords, target, (h, w) = iga.image_points(torch.rand(8, 8, 3), size=None)
    groups = iga.groups.grid((h, w), block=2)
    cfg = TrainConfig(
        steps=12,
        optimizer="esgd",
        optimizer_options={"d_warmup": 3, "update_every": 4},
        device="cpu",
        checkpoint_every=0,
    )
    runs = []
    for use_iga in (False, True):
        model = _pe()
        adj = iga.IGA(model, groups, end=0) if use_iga else None
        runs.append(train(model, coords, target, cfg, 0.01, adj, progress=False))
    for k in runs[0].final_state:
        torch.testing.assert_close(runs[0].final_state[k], runs[1].final_state[k])


# --- schedules, registry, CLI ---------------------------------------------------------------------


def test_cosine_schedule_runs_every_group_to_the_floor() -> None:
    model = _pe()
    opt = optim.build_optimizer(model, "muon", 0.1, {"adam_lr": 1e-3})
    sched = optim.build_schedule(opt, "cosine", steps=10, decay=0.1, decay_at=0.3)
    lrs = []
    for _ in range(11):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx([0.1, 1e-3])
    mid = (1 + math.cos(math.pi / 2)) / 2
    assert lrs[5] == pytest.approx([1e-6 + (0.1 - 1e-6) * mid, 1e-6 + (1e-3 - 1e-6) * mid])
    assert lrs[10] == pytest.approx([1e-6, 1e-6])


def test_a_registered_optimizer_is_a_choice_of_every_task() -> None:
    spec = optim.OptimizerSpec(
        "adamw-test",
        "AdamW (test)",
        lambda model, lr, o, seed: torch.optim.AdamW(model.parameters(), lr=lr),
        lr=lambda arch: 3e-3,
    )
    optim.register_optimizer(spec)
    try:
        cfg = TrainConfig(optimizer="adamw-test")
        assert optim.recipe_lr(cfg.optimizer, "pe") == 3e-3
        opt = optim.build_optimizer(_pe(), "adamw-test", 1e-3)
        assert isinstance(opt, torch.optim.AdamW)
    finally:
        del optim.OPTIMIZERS["adamw-test"]


def test_optimizer_options_are_checked_in_the_users_terms(tmp_path, capsys) -> None:
    with pytest.raises(ValueError, match="--optimizer-opt adam_lr: not an option of --optimizer"):
        TrainConfig(optimizer="esgd", optimizer_options={"adam_lr": 1e-3})
    with pytest.raises(ValueError, match="unknown --optimizer 'lion'"):
        TrainConfig(optimizer="lion")
    for name, opts, what in [
        ("esgd", {"update_every": 0}, "an integer >= 1"),
        ("esgd", {"bias_correction": "none"}, "steps or updates"),
        ("muon", {"adam_lr": -1.0}, "a number > 0"),
        ("muon", {"first_layer": "yes"}, "true or false"),
        ("sgd", {"momentum": 1.5}, r"a number in \[0, 1\)"),
    ]:
        key, value = next(iter(opts.items()))
        with pytest.raises(ValueError, match=f"--optimizer-opt {key}={value}: must be {what}"):
            TrainConfig(optimizer=name, optimizer_options=opts)
    png = tmp_path / "img.png"
    from PIL import Image

    Image.new("RGB", (8, 8), (10, 200, 30)).save(png)
    args = ["fit", "image", str(png), "--steps", "3", "--method", "vanilla", "--quiet"]
    args += ["--out", str(tmp_path / "r")]
    assert main([*args, "--optimizer", "muon", "--optimizer-opt", "nope=1"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--optimizer-opt nope" in err
    assert main([*args, "--optimizer", "muon", "--optimizer-opt", "adam_lr=2e-3"]) == 0
    import json

    cfg = json.loads((tmp_path / "r" / "config.json").read_text())
    assert cfg["resolved"]["lr"] == 0.1  # the Muon-INRs recipe's lr when --lr is not given
    assert cfg["train"]["optimizer_options"] == {"adam_lr": 2e-3}


def test_the_key_of_an_adam_run_is_unchanged_by_the_new_fields() -> None:
    # Committed runs (written before optimizer_options existed) keep their keys.
    from iga.runs import config_key

    a = {"train": {"optimizer": "adam", "lr": 1e-3, "schedule": "step"}}
    b = copy.deepcopy(a)
    b["train"]["optimizer_options"] = {}
    assert config_key(a) == config_key(b)
    b["train"]["optimizer_options"] = {"eps": 1e-10}
    assert config_key(a) != config_key(b)

"""The 1D task and the Sec. 5 experiments: exact NTK, Δ_k, a short adjusted run, CLI, plans."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

import iga
from iga.cli.app import _parser, main
from iga.models.relu2 import TwoLayerReLU
from iga.tasks.function1d.plans import EXPERIMENTS, load_plan, plan_to_dict
from iga.tasks.function1d.signal import SignalConfig, dft_bins, make_signal, relative_errors
from iga.tasks.function1d.task import (
    AdjustConfig,
    FunctionFitConfig,
    NetConfig,
    build_adjuster,
    build_net,
    config_from_dict,
    fit_function,
)
from iga.train import TrainConfig


@pytest.fixture(autouse=True)
def _one_thread():
    # These runs are small: on a busy 2-core machine a second OpenMP thread made them ~10x
    # slower (measured), so pin one thread and restore the caller's setting afterwards.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _circle(n: int, freqs: str = "0.4,0.8,1.6,3.2") -> SignalConfig:
    return SignalConfig(freqs=freqs, domain="0,2pi", points=n, coords="circle")


# --- the exact NTK ----------------------------------------------------------------------------


def test_closed_form_ntk_matches_wide_network_entk():
    sig = make_signal(_circle(48), dtype=torch.float64)
    net = TwoLayerReLU(2, 2**17, torch.Generator().manual_seed(0)).double()
    K_emp = iga.entk(net, sig.inputs, method="linear")
    K = iga.ntk_two_layer_relu(sig.inputs)
    # Monte Carlo error of the eNTK is O(1/sqrt(m)) ~ 3e-3 at m = 2^17; entries are <= 0.5.
    assert torch.allclose(K_emp, K, atol=1.5e-2)
    assert float((K_emp - K).norm() / K.norm()) < 1e-2
    # The closed-form eNTK is the eNTK: check against the generic autograd path too.
    small = TwoLayerReLU(2, 64, torch.Generator().manual_seed(1)).double()
    x = sig.inputs[:10]
    assert torch.allclose(
        iga.entk(small, x, method="linear"), iga.entk(small, x, method="functorch"), atol=1e-10
    )


def test_two_layer_relu_structure():
    net = TwoLayerReLU(2, 16, torch.Generator().manual_seed(0))
    assert torch.all(net.hidden.bias == 0)
    assert not net.out.weight.requires_grad
    assert torch.allclose(net.out.weight.abs(), torch.full((1, 16), 0.25))
    trainable = [p for p in net.parameters() if p.requires_grad]
    assert len(trainable) == 2


# --- signal, bins and Δ_k ---------------------------------------------------------------------


def test_dft_bins_of_the_paper_signals():
    assert dft_bins(_circle(1024)) == [1, 3, 5, 10]
    siren = SignalConfig(freqs="20,40,60,80,100,120", domain="-1,1", points=2048)
    assert dft_bins(siren) == [20, 40, 60, 80, 100, 120]
    assert dft_bins(SignalConfig()) == [10, 20, 30, 40, 50, 60]


def test_relative_error_of_a_known_signal():
    n = 256
    t = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    g = torch.sin(5 * t) + torch.sin(12 * t)
    f = torch.sin(5 * t) + 0.5 * torch.sin(12 * t) + 0.3 * torch.cos(40 * t)
    d = relative_errors(f[:, None], g[:, None], [5, 12])
    assert torch.allclose(d, torch.tensor([0.0, 0.5], dtype=torch.float64), atol=1e-12)
    # A phase error counts: sin -> cos at the same amplitude is |1 - i| = sqrt(2).
    d2 = relative_errors(torch.cos(5 * t), torch.sin(5 * t), [5])
    assert float(d2[0]) == pytest.approx(math.sqrt(2), abs=1e-12)
    # A perfect fit has zero error everywhere.
    assert torch.all(relative_errors(g, g, [5, 12]) == 0)


def test_make_signal_circle_and_line():
    s = make_signal(_circle(64))
    assert s.inputs.shape == (64, 2)
    assert torch.allclose(s.inputs.norm(dim=1), torch.ones(64))
    assert float(s.t[-1]) < 2 * math.pi  # the endpoint would repeat x_0
    line = make_signal(SignalConfig(freqs="2,4", domain="-1,1", points=100))
    assert line.inputs.shape == (100, 1)
    assert float(line.t[0]) == -1.0 and float(line.t[-1]) == 1.0


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"freqs": "1,x"}, "cannot read"),
        ({"domain": "1,0"}, "lo < hi"),
        ({"coords": "sphere"}, "coords"),
        ({"points": 4}, "points"),
    ],
)
def test_signal_config_rejects_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        SignalConfig(**kw)


def test_bins_reject_aliasing_and_collisions():
    with pytest.raises(ValueError, match="Nyquist"):
        dft_bins(SignalConfig(freqs="200", points=64))
    with pytest.raises(ValueError, match="same DFT bins"):  # circle: nearest bins
        dft_bins(SignalConfig(freqs="20,20.1", points=2048, coords="circle"))
    with pytest.raises(ValueError, match="between DFT bins 20 and 21"):  # line: whole cycles
        SignalConfig(freqs="20,20.1", points=2048)
    with pytest.raises(ValueError, match="--freqs -10,20: frequencies must be positive"):
        SignalConfig(freqs="-10,20")


def test_ntk_method_needs_the_arora_network_on_the_circle():
    with pytest.raises(ValueError, match="arora"):
        FunctionFitConfig(adjust=AdjustConfig(method="ntk"), net=NetConfig(arch="relu"))
    with pytest.raises(ValueError, match="unknown method"):
        AdjustConfig(method="fr")


def test_config_round_trip_through_json():
    cfg = FunctionFitConfig(
        signal=_circle(128),
        net=NetConfig(arch="arora", width=32),
        adjust=AdjustConfig(method="ntk", end=5, ref="start"),
        train=TrainConfig(steps=7, lr=0.5, decay_at=1.0, optimizer="sgd"),
    )
    back = config_from_dict(json.loads(json.dumps(dataclasses.asdict(cfg))))
    assert back == cfg
    with pytest.raises(ValueError, match="unknown keys"):
        config_from_dict({"signal": {"nope": 1}})


# --- adjusted training ------------------------------------------------------------------------


def _exp1_small(method: str, out: Path, steps: int = 120) -> dict:
    # The paper's Exp. 1 grid (N = 1024 on the circle, groups of 8: 128 groups, end 15) at the
    # cpu tier's lr, shortened. A coarser grid is not a smaller copy of it: with N = 256 (32
    # groups) and end 15 the S̃_e run spikes at lr 1.0, 0.5 and 0.1, with max-residual and
    # centre sampling alike, and where it ends depends on float summation order (1 vs 2 torch
    # threads; issue 22, docs/function1d.md "How stable is Exp. 1").
    cfg = FunctionFitConfig(
        signal=_circle(1024),
        net=NetConfig(arch="arora", width=1024),
        adjust=AdjustConfig(method=method, end=15, ref="start", group=8),
        train=TrainConfig(steps=steps, lr=1.0, decay_at=1.0, optimizer="sgd", spectrum_every=60),
        eval_every=20,
        out=str(out),
    )
    return fit_function(cfg, progress=False, plots=method == "iga")


def _mse_curve(run: Path) -> list[float]:
    rows = (run / "metrics.csv").read_text().splitlines()
    col = rows[0].split(",").index("mse")
    return [float(r.split(",")[col]) for r in rows[1:]]


@pytest.mark.parametrize("threads", [1, 2])
def test_iga_lowers_high_frequency_error_faster_than_identity(tmp_path, threads):
    # Thresholds hold with a wide margin for seeds 0-4 at 1 and 2 threads (measured: Δ_5
    # 0.26-0.29 against 0.71-0.72, Δ_3 0.17-0.26 against 0.41-0.43, MSE 0.37-0.41 against
    # 0.69-0.70), so they test the method, not the float summation order of one machine.
    torch.set_num_threads(threads)
    base = _exp1_small("vanilla", tmp_path / "identity")
    adj = _exp1_small("iga", tmp_path / "iga")
    assert adj["bins"] == [1, 3, 5, 10]
    # The balanced eigen-directions cover the second and third target frequencies.
    assert adj["delta_final"]["5"] < 0.5 * base["delta_final"]["5"]
    assert adj["delta_final"]["3"] < 0.8 * base["delta_final"]["3"]
    assert adj["mse_final"] < 0.75 * base["mse_final"]
    # A stable run: no logged MSE of the second half rises above the half-way value.
    mse = _mse_curve(tmp_path / "iga")
    half = len(mse) // 2
    assert max(mse[half:]) <= mse[half] * 1.05, mse
    run = tmp_path / "iga"
    for name in ("config.json", "metrics.csv", "summary.json", "mse.png", "delta.png", "fit.png"):
        assert (run / name).is_file(), name
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["step", "mse", "lr", "time"]
    assert "delta_10" in header and "cond_after" in header


def test_exact_ntk_adjuster_balances_the_exact_spectrum():
    sig = make_signal(_circle(128))
    net = build_net(NetConfig(arch="arora", width=64), 2, seed=0)
    adj = build_adjuster(AdjustConfig(method="ntk", end=9, ref="start"), net, sig, 0)
    ev = adj.spectrum.adjusted
    # The top 9 eigenvalues are raised to λ_0; the rest are unchanged.
    assert torch.allclose(ev[:9], ev[:1].expand(9))
    assert torch.allclose(ev[9:], adj.spectrum.eigenvalues[9:], rtol=1e-9, atol=1e-12)
    assert adj.stats()["lambda_ref"] == pytest.approx(float(ev[0]))


# --- CLI and plans ----------------------------------------------------------------------------


def test_cli_fit_function(tmp_path, capsys):
    out = tmp_path / "run"
    ns = _parser().parse_args(
        ["fit", "function", "--freqs", "4,8", "--points", "128", "--width", "16",
         "--hidden-layers", "2", "--steps", "15", "--lr", "1e-3", "--end", "3", "--group", "4",
         "--eval-every", "5", "--out", str(out), "--quiet"]
    )  # fmt: skip
    assert ns.lr == 1e-3 and ns.decay_at == 1.0  # the task's defaults, not the image task's
    assert ns.func(ns) == 0
    assert "final MSE" in capsys.readouterr().out
    s = json.loads((out / "summary.json").read_text())
    assert s["method"] == "iga" and s["group"] == 4 and s["bins"] == [4, 8]


def _tiny_plan_file(tmp_path: Path) -> Path:
    plan = EXPERIMENTS["function1d-exp1"]("cpu")
    keep = ["w1024-identity", "w1024-iga-15"]
    plan.runs = {
        n: dataclasses.replace(
            plan.runs[n],
            signal=_circle(128),
            net=NetConfig(arch="arora", width=64),
            train=dataclasses.replace(plan.runs[n].train, steps=10, spectrum_every=5),
            eval_every=5,
        )
        for n in keep
    }
    plan.labels = {n: plan.labels[n] for n in keep}
    plan.panels = {"tiny": keep}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_to_dict(plan)))
    return path


def test_cli_experiment_runs_resumes_and_reruns_a_changed_run(tmp_path, capsys):
    plan = _tiny_plan_file(tmp_path)
    out = tmp_path / "exp"
    argv = ["experiment", "function1d-exp1", "--tier", str(plan), "--out", str(out), "--quiet"]
    assert main(argv) == 0
    for name in ("table.md", "table.csv", "mse.png", "delta_tiny.png", "aggregate.json"):
        assert (out / name).is_file(), name
    assert "w1024-iga-15" in (out / "table.md").read_text()
    capsys.readouterr()
    # Again: both runs are finished with the same config, nothing runs.
    assert main(argv) == 0
    assert "0 run, 2 already finished" in capsys.readouterr().out
    # A changed plan re-runs the changed run instead of reusing it.
    changed = load_plan(plan)
    changed.runs["w1024-identity"].train.steps = 11
    plan.write_text(json.dumps(plan_to_dict(changed)))
    assert main(argv) == 0
    assert "1 run, 1 already finished" in capsys.readouterr().out
    assert json.loads((out / "w1024-identity" / "summary.json").read_text())["steps"] == 11


def test_print_plan_round_trips(tmp_path, capsys):
    assert main(["experiment", "function1d-exp2", "--print-plan"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed)["tier"] == "cpu"
    path = tmp_path / "p.json"
    path.write_text(printed)
    assert load_plan(path).runs == EXPERIMENTS["function1d-exp2"]("cpu").runs
    assert main(["experiment", "function1d-exp1", "--tier", str(path), "--quiet"]) == 1
    assert "is for function1d-exp2" in capsys.readouterr().err


def test_paper_tiers_follow_the_paper():
    p1 = EXPERIMENTS["function1d-exp1"]("paper")
    widths = sorted({c.net.width for c in p1.runs.values()})
    assert widths == [1024, 2048, 4096, 8192]
    assert {c.adjust.end for c in p1.runs.values() if c.adjust.method != "vanilla"} == {11, 13, 15}
    assert all(c.train.lr == 0.1 and c.train.steps == 20000 for c in p1.runs.values())
    assert all(c.adjust.every == 1 for c in p1.runs.values())
    p2 = EXPERIMENTS["function1d-exp2"]("paper")
    assert all(c.train.lr == 5e-5 and c.train.steps == 10000 for c in p2.runs.values())
    groups = {(c.adjust.group_size, c.adjust.end) for c in p2.runs.values() if c.adjust.end}
    assert groups == {(g, e) for g in (1, 4, 8) for e in range(2, 9)}
    with pytest.raises(ValueError, match="tier"):
        EXPERIMENTS["function1d-exp1"]("gpu")


@pytest.mark.parametrize(("optimizer", "lr"), [("muon", 0.02), ("esgd", 0.05)])
def test_rival_optimizers_fit_a_1d_signal_with_iga(tmp_path, optimizer, lr):
    cfg = FunctionFitConfig(
        signal=SignalConfig(freqs="2,4", domain="-1,1", points=128),
        net=NetConfig(arch="relu", width=32, hidden_layers=3),
        adjust=AdjustConfig(method="iga", end=4, group=4),
        train=TrainConfig(steps=150, lr=lr, decay_at=1.0, optimizer=optimizer),
        eval_every=10,
        out=str(tmp_path / "run"),
    )
    s = fit_function(cfg, progress=False, plots=False)
    mse = _mse_curve(tmp_path / "run")
    assert s["mse_final"] < 0.5 * mse[0]


def test_muon_on_the_arora_network_is_a_one_line_error(tmp_path, capsys):
    argv = ["fit", "function", "--arch", "arora", "--coords", "circle", "--domain", "0,2pi",
            "--freqs", "0.4,0.8", "--points", "64", "--width", "16", "--method", "vanilla",
            "--optimizer", "muon", "--lr", "0.1", "--steps", "3", "--out", str(tmp_path / "r"),
            "--quiet"]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no hidden weight matrices" in err


def test_a_diverged_run_is_reported_not_a_crash(tmp_path) -> None:
    # A plan whose IGA run diverges at once: the experiment still writes its table, naming
    # the step (it used to crash on the missing final MSE).
    from iga import harness
    from iga.tasks.function1d import bench as f1d
    from iga.tasks.function1d import plans

    plan = plans.exp2_plan("cpu")
    keep = ["relu-vanilla", "relu-g8-end2"]
    runs = {}
    for name in keep:
        cfg = plan.runs[name]
        runs[name] = dataclasses.replace(
            cfg,
            signal=dataclasses.replace(cfg.signal, points=256),
            net=dataclasses.replace(cfg.net, width=16),
            train=dataclasses.replace(
                cfg.train, steps=20, spectrum_every=10, lr=1e6 if "g8" in name else 1e-3
            ),
        )
    small = plans.Plan("function1d-exp2", "cpu", "tiny", runs, {k: k for k in keep}, {"p": keep})
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plans.plan_to_dict(small)))
    ro = harness.RunOptions(tier=str(path), out=str(tmp_path / "out"), quiet=True)
    harness.execute(f1d.setup("function1d-exp2", f1d.Options(), ro), ro, log=lambda _: 0)
    table = (tmp_path / "out" / "table.md").read_text()
    assert "relu-g8-end2 (diverged at step 1)" in table
    row = next(line for line in table.splitlines() if line.startswith("| relu-g8-end2 "))
    assert "| — |" in row  # no final MSE

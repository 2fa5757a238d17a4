"""The plans of the 1D experiments (``iga experiment function1d-*``): named runs, their
configs at each tier, and plan files (``--print-plan``, ``--tier FILE``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from iga.io import to_jsonable
from iga.tasks.function1d.signal import SignalConfig, dft_bins
from iga.tasks.function1d.task import AdjustConfig, FunctionFitConfig, NetConfig, config_from_dict
from iga.train import TrainConfig

TIERS = ("cpu", "paper")


@dataclass
class Plan:
    """Named runs and how to group them in figures."""

    experiment: str
    tier: str
    notes: str
    runs: dict[str, FunctionFitConfig]
    labels: dict[str, str]
    """Short legend label per run."""
    panels: dict[str, list[str]]
    """Figure panel title -> run names (a run may appear in several panels)."""
    focus: dict[str, list[int]] = field(default_factory=dict)
    """Panel -> DFT bins whose Δ_k curves get their own figure (the paper's Fig. 3)."""

    def __post_init__(self) -> None:
        for panel, names in self.panels.items():
            missing = [n for n in names if n not in self.runs]
            if missing:
                raise ValueError(f"panel {panel!r} names unknown runs {missing}; fix the plan")
        if set(self.labels) != set(self.runs):
            raise ValueError("the plan needs exactly one label per run")


def exp1_plan(tier: str = "cpu") -> Plan:
    """Experiment 1: identity vs S vs S̃ vs S̃_e for the Arora network (paper Fig. 1, 6, 7)."""
    _check_tier(tier)
    signal = SignalConfig(freqs="0.4,0.8,1.6,3.2", domain="0,2pi", points=1024, coords="circle")
    if tier == "paper":
        widths, ends, lr, steps = [1024, 2048, 4096, 8192], [11, 13, 15], 0.1, 20000
        notes = "paper settings: SGD lr 0.1, 20000 steps, S̃ recomputed every step"
    else:
        widths, ends, lr, steps = [1024, 4096], [15], 1.0, 2000
        notes = (
            "cpu tier: widths 1024 and 4096 (the paper's Fig. 1), end 15; SGD lr 1.0 for 2000 "
            "steps instead of lr 0.1 for 20000 (same ηT = 2000, i.e. the same gradient-flow "
            "time; lr·2λ_max/N = 0.35 keeps every mode stable); S̃ (the full 1024-point eNTK, "
            "0.2-0.6 s per refresh on this busy CPU) recomputed every 5 steps, S̃_e every step. "
            "Check of the ηT swap: identity, S and S̃_e at width 1024 also with the "
            "paper's lr 0.1 × 20000 steps"
        )
    every = 10 if tier == "cpu" else 50
    runs: dict[str, FunctionFitConfig] = {}
    labels: dict[str, str] = {}
    panels: dict[str, list[str]] = {}

    def add(name: str, label: str, width: int, adjust: AdjustConfig, lr_: float, n: int) -> str:
        runs[name] = FunctionFitConfig(
            signal=signal,
            net=NetConfig(arch="arora", width=width),
            adjust=adjust,
            train=TrainConfig(
                steps=n, lr=lr_, decay_at=1.0, optimizer="sgd", spectrum_every=max(n // 20, 1)
            ),
            eval_every=every * n // steps,
        )
        labels[name] = label
        return name

    for w in widths:
        for end in ends:
            panel = f"width {w}" + (f", end {end}" if len(ends) > 1 else f" (end {end})")
            names = [add(f"w{w}-identity", "I", w, AdjustConfig(method="vanilla"), lr, steps)]
            for method, sym in (("ntk", "S"), ("entk", "S̃"), ("iga", "S̃_e")):
                k = 5 if method == "entk" and tier == "cpu" else 1
                adj = AdjustConfig(method=method, end=end, ref="start", group=8, every=k)
                names.append(add(f"w{w}-{method}-{end}", sym, w, adj, lr, steps))
            panels[panel] = names
    if tier == "cpu":
        n = 20000
        check = [
            add("w1024-identity-lr0.1", "I (lr 0.1)", 1024, AdjustConfig(method="vanilla"), 0.1, n),
            add(
                "w1024-ntk-15-lr0.1",
                "S (lr 0.1)",
                1024,
                AdjustConfig(method="ntk", end=15, ref="start"),
                0.1,
                n,
            ),
            add(
                "w1024-iga-15-lr0.1",
                "S̃_e (lr 0.1)",
                1024,
                AdjustConfig(method="iga", end=15, ref="start", group=8),
                0.1,
                n,
            ),
        ]
        panels["width 1024, lr 0.1 × 20000 (paper schedule)"] = check
    return Plan("function1d-exp1", tier, notes, runs, labels, panels)


def exp2_plan(tier: str = "cpu") -> Plan:
    """Experiment 2: dialing ``end`` and the group size for ReLU and SIREN (Fig. 2, 3, 7-9)."""
    _check_tier(tier)
    siren = SignalConfig(freqs="20,40,60,80,100,120", domain="-1,1", points=2048)
    relu = SignalConfig(freqs="10,20,30,40,50,60", domain="-1,1", points=2048)
    if tier == "paper":
        lr, steps, every1 = 5e-5, 10000, 1
        ends = {8: list(range(2, 9)), 4: list(range(2, 9)), 1: list(range(2, 9))}
        siren_ends = {8: list(range(2, 9)), 4: list(range(2, 9)), 1: list(range(2, 9))}
        notes = "paper settings: Adam lr 5e-5, 10000 steps, end 2..8, group sizes 1, 4, 8"
    else:
        lr, steps, every1 = 2.5e-4, 2000, 25
        ends = {8: [2, 8], 4: [8], 1: [8]}
        siren_ends = {8: [2, 8]}
        notes = (
            "cpu tier: Adam lr 2.5e-4 for 2000 steps instead of 5e-5 for 10000 (same lr·T = "
            "0.5); ReLU: group size 8 with end 2 and 8 and group sizes 4 and 1 at end 8; "
            "SIREN: group size 8 with end 2 and 8; group size 1 (the full 2048-point eNTK, "
            "~0.85 s per refresh on an idle core, 1-3.5 s under load) refreshes S every 25 "
            "steps, groups 4 and 8 every step"
        )
    runs: dict[str, FunctionFitConfig] = {}
    labels: dict[str, str] = {}
    panels: dict[str, list[str]] = {}
    focus: dict[str, list[int]] = {}
    for arch, sig, arch_ends in (("relu", relu, ends), ("siren", siren, siren_ends)):
        net = NetConfig(arch=arch, width=256, hidden_layers=4, omega0=5.0)
        train = TrainConfig(steps=steps, lr=lr, decay_at=1.0, optimizer="adam", spectrum_every=500)
        base = f"{arch}-vanilla"
        runs[base] = FunctionFitConfig(
            signal=sig, net=net, train=train, eval_every=10, adjust=AdjustConfig(method="vanilla")
        )
        labels[base] = "ReLU" if arch == "relu" else "SIREN"
        by_group: dict[int, list[str]] = {}
        for group, end_list in arch_ends.items():
            for end in end_list:
                name = f"{arch}-g{group}-end{end}"
                adj = AdjustConfig(
                    method="iga" if group > 1 else "entk",
                    end=end,
                    ref="end",
                    group=group,
                    every=every1 if group == 1 else 1,
                )
                runs[name] = FunctionFitConfig(
                    signal=sig, net=net, train=train, eval_every=10, adjust=adj
                )
                labels[name] = f"IGA-{group} end {end}"
                by_group.setdefault(group, []).append(name)
        if 8 in by_group:
            panels[f"{arch}, group size 8"] = [base, *by_group[8]]
        if len(by_group) > 1:
            panel = f"{arch}, group sizes {', '.join(str(g) for g in sorted(by_group))}"
            panels[panel] = [base, *[n for g in sorted(by_group) for n in by_group[g]]]
            bins = dft_bins(sig)
            focus[panel] = [bins[3]] if len(bins) > 3 else bins[-1:]
    return Plan("function1d-exp2", tier, notes, runs, labels, panels, focus)


RIVAL_LRS: dict[str, tuple[float, ...]] = {
    "adam": (2.5e-4, 1e-3),
    "iga": (2.5e-4, 1e-3),
    "muon": (0.01, 0.03, 0.1, 0.3),
    "muon+iga": (0.01, 0.03, 0.1, 0.3),
    "esgd": (0.001, 0.003, 0.01, 0.03, 0.1),
    "esgd+iga": (0.01, 0.03, 0.1, 1.0, 10.0),
}
"""The lrs each recipe of :func:`rivals_plan` tries: Exp. 2's Adam lr and 4× it; Muon-INRs'
0.1, two below and one above it (0.1 was the best of the first three); ESGD's 0.1 and four
below (0.01-0.1 all diverged here); ESGD + IGA up to two decades above (its step is not
normalised by the gradient's size, which IGA shrinks: docs/rivals.md)."""


def rivals_plan(tier: str = "cpu") -> Plan:
    """IGA's rivals (Muon, ESGD) and IGA combined with them on Exp. 2's ReLU fit (issue 23).

    The network, signal and run length of :func:`exp2_plan` (5-layer ReLU MLP of width 256,
    sines at 10…60 cycles, 2048 points; cpu: 2000 steps, paper: 10000) and its IGA setting
    (groups of 8, end 8); each recipe at every lr of :data:`RIVAL_LRS`. Muon takes the three
    hidden matrices (Muon-INRs' split) with Adam 1e-3 on the rest and a cosine schedule, as
    its authors; Adam and ESGD keep Exp. 2's constant lr.
    """
    _check_tier(tier)
    base = exp2_plan(tier).runs["relu-vanilla"]
    runs: dict[str, FunctionFitConfig] = {}
    labels: dict[str, str] = {}
    panels: dict[str, list[str]] = {}
    names = {"adam": "Adam", "iga": "IGA", "muon": "Muon", "esgd": "ESGD"}
    for recipe, lrs in RIVAL_LRS.items():
        optimizer = recipe.removesuffix("+iga").replace("iga", "adam")
        with_iga = recipe.endswith("iga")
        adjust = (
            AdjustConfig(method="iga", end=8, ref="end", group=8)
            if with_iga
            else AdjustConfig(method="vanilla")
        )
        schedule = "cosine" if optimizer == "muon" else "step"
        for lr in lrs:
            name = f"relu-{recipe}-lr{lr:g}"
            train = replace(base.train, lr=lr, optimizer=optimizer, schedule=schedule)
            runs[name] = replace(base, adjust=adjust, train=train)
            label = names.get(recipe) or f"{names[optimizer]} + IGA"
            labels[name] = f"{label} (lr {lr:g})"
            panels.setdefault(f"relu, {names[optimizer]}", []).append(name)
    notes = (
        "Exp. 2's ReLU fit (width 256, 4 hidden layers, sines at 10..60 cycles, 2048 points, "
        f"{base.train.steps} steps), IGA groups of 8 and end 8; Adam and ESGD at a constant "
        "lr, Muon (hidden matrices; Adam 1e-3 on the rest) with a cosine schedule; every lr of "
        "the recipe's grid"
    )
    return Plan("function1d-rivals", tier, notes, runs, labels, panels)


def fresh_plan(tier: str = "cpu") -> Plan:
    """The rival FreSh (issue 23) on Exp. 2's SIREN fit, and on the same fit with PE: FreSh
    chooses SIREN's first-layer ω₀ (10…200; the hidden layers keep Exp. 2's ω₀ = 5) or PE's
    levels (1…10) from the sines' 1-D spectrum before training, alone and with IGA (groups
    of 8, end 8), beside the arch's default (SIREN: ω₀ = 5 in every layer; PE: 6 levels).
    The network, signal and run length are :func:`exp2_plan`'s SIREN ones (width 256, 4
    hidden layers, sines at 20…120 cycles, 2048 points; cpu: 2000 steps at Adam 2.5e-4)."""
    _check_tier(tier)
    base = exp2_plan(tier).runs["siren-vanilla"]
    iga = AdjustConfig(method="iga", end=8, ref="end", group=8)
    runs: dict[str, FunctionFitConfig] = {}
    labels: dict[str, str] = {}
    panels: dict[str, list[str]] = {}
    for arch in ("siren", "pe"):
        net = replace(base.net, arch=arch)
        for fresh, tag, init in (("", "", ""), ("auto", "fresh-", "FreSh")):
            for adjust, method, label in ((base.adjust, "vanilla", ""), (iga, "iga", "IGA")):
                name = f"{arch}-{tag}{method}"
                runs[name] = replace(base, net=replace(net, fresh=fresh), adjust=adjust)
                labels[name] = " + ".join(x for x in (init, label) if x) or "vanilla"
                panels.setdefault(arch, []).append(name)
    notes = (
        "Exp. 2's SIREN fit (width 256, 4 hidden layers, hidden ω₀ 5, sines at 20..120 "
        f"cycles, 2048 points, {base.train.steps} steps at Adam {base.train.lr:g}) with SIREN "
        "and PE; FreSh chooses SIREN's first ω₀ or PE's levels; IGA groups of 8, end 8"
    )
    return Plan("function1d-fresh", tier, notes, runs, labels, panels)


EXPERIMENTS: dict[str, Callable[[str], Plan]] = {
    "function1d-exp1": exp1_plan,
    "function1d-exp2": exp2_plan,
    "function1d-rivals": rivals_plan,
    "function1d-fresh": fresh_plan,
}


def _check_tier(tier: str) -> None:
    if tier not in TIERS:
        raise ValueError(
            f"unknown --tier {tier!r}; choose one of {', '.join(TIERS)} or a plan file"
        )


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """JSON-ready form of ``plan`` (run configs without ``out``/``overwrite``): what
    ``--print-plan`` prints and ``--tier FILE`` reads back."""
    runs = {}
    for name, cfg in plan.runs.items():
        d = to_jsonable(asdict(cfg))
        d.pop("out")
        d.pop("overwrite")
        runs[name] = d
    return {
        "experiment": plan.experiment,
        "tier": plan.tier,
        "notes": plan.notes,
        "labels": plan.labels,
        "panels": plan.panels,
        "focus": plan.focus,
        "runs": runs,
    }


def load_plan(path: str | Path) -> Plan:
    """Read a plan written by :func:`plan_to_dict` (e.g. an edited ``--print-plan``)."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"plan file {p} is not valid JSON ({e}); fix it") from None
    need = {"experiment", "tier", "runs", "labels", "panels"}
    if not isinstance(data, dict) or not need <= set(data):
        raise ValueError(f"plan file {p} must be an object with keys {sorted(need)}")
    return Plan(
        str(data["experiment"]),
        str(data["tier"]),
        str(data.get("notes", "")),
        {name: config_from_dict(cfg) for name, cfg in data["runs"].items()},
        dict(data["labels"]),
        {k: list(v) for k, v in data["panels"].items()},
        {k: [int(b) for b in v] for k, v in data.get("focus", {}).items()},
    )

"""Optimisers and learning-rate schedules for every task, in one place: a registry of recipes.

IGA changes the gradient; the optimiser consumes it. So every optimiser here combines with
``--method iga`` (and with FR and BN), and each is one entry of :data:`OPTIMIZERS`:

``adam``  ``torch.optim.Adam`` on every parameter (the paper's optimiser).
``sgd``   plain ``torch.optim.SGD`` (the paper's Exp. 1); ``momentum`` option.
``muon``  the recipe of Muon-INRs ("Optimizing Rank for High-Fidelity Implicit Neural
          Representations", arXiv 2512.14366, code ``jqmcginnis/muon-inrs``):
          ``torch.optim.Muon`` (PyTorch >= 2.9; momentum 0.95, Nesterov, 5 Newton-Schulz steps,
          no weight decay) on the hidden weight matrices, ``torch.optim.Adam`` (lr
          ``adam_lr`` = 1e-3, eps 1e-10) on the first and last layers and every bias. Their
          image script uses Muon lr 0.1 and ``--schedule cosine``.
``esgd``  the equilibrated-SGD diagonal curvature preconditioner of "Preconditioners for the
          Stochastic Training of Neural Fields" (CVPR 2025, code
          ``sfchng/preconditioner_neural_fields``, a modified ESGD-M of crowsonkb/esgd):
          Adam's update with the squared gradient replaced by an EMA of (Hv)², v Rademacher,
          refreshed on each of the first ``d_warmup`` steps and then every ``update_every``.

A recipe's options go through ``TrainConfig.optimizer_options`` (CLI ``--optimizer-opt
KEY=VALUE``); :func:`recipe_lr` gives the recipe's lr when ``--lr`` is not set.

ESGD and IGA: IGA's surrogate loss ``L' = (2/(N·C)) Σ f ⊙ r'.detach()`` has the adjusted
gradient but not the curvature of the fit (its Hessian lacks the Gauss-Newton term JᵀJ). The
training loop therefore hands ESGD the task's own loss for the Hessian-vector products
(:meth:`ESGD.update_curvature`) and IGA's loss for the gradient; without IGA the two are the
same loss, exactly as in the authors' code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = [
    "ESGD",
    "OPTIMIZERS",
    "SCHEDULES",
    "OptimizerGroup",
    "OptimizerSpec",
    "build_optimizer",
    "build_schedule",
    "check_optimizer",
    "muon_split",
    "recipe_lr",
    "register_optimizer",
    "wants_curvature",
]

SCHEDULES = ("step", "exp", "cosine")
"""``step``: ×decay from ``decay_at`` on; ``exp``: ×decay^(step/steps); ``cosine``: cosine
annealing from the lr to :data:`COSINE_MIN_LR` over the run (Muon-INRs' ``CosineAnnealingLR``)."""
COSINE_MIN_LR = 1e-6
"""The absolute floor of the cosine schedule (Muon-INRs: ``eta_min=1e-6``, every group)."""


# --- several optimisers as one ----------------------------------------------------------------


class OptimizerGroup(torch.optim.Optimizer):
    """Several optimisers stepped as one, e.g. Muon on the hidden matrices and Adam on the rest.

    Its ``param_groups`` are the children's own group dicts (in order), so one LR scheduler
    drives them all (with one lambda per group), and ``state_dict`` holds each child's state.
    """

    def __init__(self, optimizers: Iterable[torch.optim.Optimizer]) -> None:
        self.optimizers = list(optimizers)
        params = [p for o in self.optimizers for g in o.param_groups for p in g["params"]]
        super().__init__(params, {})
        self.param_groups = [g for o in self.optimizers for g in o.param_groups]

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        loss = closure() if closure is not None else None
        for o in self.optimizers:
            o.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        return {"optimizers": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:  # type: ignore[override]
        states = state_dict["optimizers"]
        if len(states) != len(self.optimizers):
            raise ValueError(
                f"the checkpoint holds {len(states)} optimisers, this run {len(self.optimizers)}"
            )
        for o, s in zip(self.optimizers, states, strict=True):
            o.load_state_dict(s)
        self.param_groups = [g for o in self.optimizers for g in o.param_groups]


# --- ESGD ---------------------------------------------------------------------------------------


class ESGD(torch.optim.Optimizer):
    """Equilibrated SGD with momentum, as in ``sfchng/preconditioner_neural_fields``.

    Per parameter, with g the gradient and D an EMA of (Hv)² (v Rademacher, H the Hessian of
    the loss given to :meth:`update_curvature`)::

        m ← β₁ m + (1 − β₁) g                              every step
        D ← β₂ D + (1 − β₂) (Hv)²                          on curvature steps only
        θ ← θ − lr · (m / (1 − β₁ᵗ)) / (√(D / c₂) + eps)

    Curvature steps are the first ``d_warmup`` steps and then every ``update_every`` steps.
    ``bias_correction`` chooses c₂: ``"steps"`` (default) is the authors' code, c₂ = 1 − β₂ᵗ
    with t counting *every* step, although D is updated only on curvature steps; between
    updates the denominator then shrinks, an implicit lr ramp (about ×3 after 1000 steps).
    ``"updates"`` counts only the updates of D (the unbiased EMA), c₂ = 1 − β₂ᵘ.

    The random vectors come from the optimiser's own generator (``seed``), saved in
    ``state_dict`` so that a resumed run draws the same ones.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.15,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-4,
        weight_decay: float = 0.0,
        update_every: int = 100,
        d_warmup: int = 50,
        bias_correction: str = "steps",
        seed: int = 0,
    ) -> None:
        if not lr >= 0:
            raise ValueError(f"ESGD: lr must be >= 0; got {lr}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"ESGD: betas must lie in [0, 1); got {betas}")
        if not eps >= 0 or not weight_decay >= 0:
            raise ValueError(f"ESGD: eps ({eps}) and weight_decay ({weight_decay}) must be >= 0")
        if int(update_every) < 1 or int(d_warmup) < 0:
            raise ValueError(
                f"ESGD: update_every must be >= 1 and d_warmup >= 0; got {update_every}, {d_warmup}"
            )
        if bias_correction not in ("steps", "updates"):
            raise ValueError(
                f"ESGD: bias_correction must be 'steps' (the authors' code) or 'updates'; "
                f"got {bias_correction!r}"
            )
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)
        self.update_every = int(update_every)
        self.d_warmup = int(d_warmup)
        self.bias_correction = bias_correction
        self.steps = 0
        self.steps_since_d = 0
        self.generator = torch.Generator().manual_seed(seed)
        self._hvps: list[torch.Tensor] | None = None

    def wants_curvature(self) -> bool:
        """True when the next :meth:`step` refreshes D (call :meth:`update_curvature` first)."""
        return self.steps < self.d_warmup or self.steps_since_d >= self.update_every

    def _params(self) -> list[torch.Tensor]:
        return [p for g in self.param_groups for p in g["params"] if p.requires_grad]

    def update_curvature(self, loss: torch.Tensor, set_grad: bool = False) -> None:
        """Hessian-vector products of ``loss`` with one Rademacher vector, for the next step.

        Keeps ``loss``'s graph (the gradient's own backward may still need it). With
        ``set_grad`` the gradient of ``loss`` it computes on the way is also stored in each
        ``p.grad`` (as ``loss.backward()`` would, after ``zero_grad(set_to_none=True)``), so a
        caller whose gradient comes from the same loss saves that backward pass."""
        params = self._params()
        grads = torch.autograd.grad(loss, params, create_graph=True, allow_unused=True)
        if set_grad:
            for p, g in zip(params, grads, strict=True):
                if g is not None:
                    p.grad = g.detach() if p.grad is None else p.grad + g.detach()
        used = [(p, g) for p, g in zip(params, grads, strict=True) if g is not None]
        vs = [torch.randint(0, 2, p.shape, generator=self.generator).to(p) * 2 - 1 for p, _ in used]
        hvps = torch.autograd.grad(
            [g for _, g in used], [p for p, _ in used], grad_outputs=vs, retain_graph=True
        )
        by_param = {id(p): h.detach() for (p, _), h in zip(used, hvps, strict=True)}
        self._hvps = [by_param.get(id(p), torch.zeros_like(p)) for p in params]

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:  # type: ignore[override]
        loss = closure() if closure is not None else None
        refresh = self.wants_curvature()
        if refresh and self._hvps is None:
            raise RuntimeError(
                "ESGD needs the curvature on this step: call update_curvature(loss) before "
                "step() whenever wants_curvature() is true"
            )
        hvps = iter(self._hvps) if refresh and self._hvps is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if not p.requires_grad:
                    continue
                hvp = next(hvps) if hvps is not None else None
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["d_updates"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_d"] = torch.zeros_like(p)
                state["step"] += 1
                state["exp_avg"].mul_(beta1).add_(p.grad, alpha=1 - beta1)
                if hvp is not None:
                    state["exp_avg_d"].mul_(beta2).addcmul_(hvp, hvp, value=1 - beta2)
                    state["d_updates"] += 1
                t = state["step"] if self.bias_correction == "steps" else state["d_updates"]
                c1 = 1 - beta1 ** state["step"]
                c2 = 1 - beta2**t
                denom = (state["exp_avg_d"].sqrt() / math.sqrt(c2)).add_(group["eps"])
                lr = group["lr"]
                p.mul_(1 - group["weight_decay"] * lr)
                p.addcdiv_(state["exp_avg"], denom, value=-lr / c1)
        if refresh:
            self.steps_since_d = 0
        self._hvps = None
        self.steps += 1
        self.steps_since_d += 1
        return loss

    def state_dict(self) -> dict[str, Any]:  # type: ignore[override]
        return {
            **super().state_dict(),
            "esgd": {
                "steps": self.steps,
                "steps_since_d": self.steps_since_d,
                "generator": self.generator.get_state(),
            },
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:  # type: ignore[override]
        state_dict = dict(state_dict)
        extra = state_dict.pop("esgd")
        super().load_state_dict(state_dict)
        self.steps = int(extra["steps"])
        self.steps_since_d = int(extra["steps_since_d"])
        self.generator.set_state(extra["generator"])


# --- the registry -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimiser recipe: how it is built, its options and its default lr."""

    name: str
    help: str
    build: Callable[[nn.Module, float, dict[str, Any], int], torch.optim.Optimizer]
    """``build(model, lr, options, seed)``; ``options`` are :attr:`options` overlaid with the
    user's ``--optimizer-opt`` values."""
    options: dict[str, Any] = field(default_factory=dict)
    """Accepted ``--optimizer-opt`` keys with their defaults (the only source of them)."""
    lr: Callable[[str], float | None] = lambda arch: None
    """The recipe's lr for an arch, or None for the task's own default (the paper's)."""
    min_torch: tuple[int, int] | None = None
    check: Mapping[str, tuple[Callable[[Any], bool], str]] = field(default_factory=dict)
    """Per option: a test of its value and what it must be, for a one-line error at config time."""


OPTIMIZERS: dict[str, OptimizerSpec] = {}
"""Every optimiser ``--optimizer`` accepts, by name."""


def register_optimizer(spec: OptimizerSpec) -> OptimizerSpec:
    """Add (or replace) an optimiser recipe; it becomes a ``--optimizer`` choice of every task."""
    OPTIMIZERS[spec.name] = spec
    return spec


def _torch_version() -> tuple[int, int]:
    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def check_optimizer(name: str, options: Mapping[str, Any] | None = None) -> None:
    """Refuse, in the user's terms, an unknown optimiser, an unknown option or an old torch."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown --optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    spec = OPTIMIZERS[name]
    for key, value in (options or {}).items():
        if key not in spec.options:
            accepted = ", ".join(spec.options) or "none"
            raise ValueError(
                f"--optimizer-opt {key}: not an option of --optimizer {name} (it accepts: "
                f"{accepted})"
            )
        ok, what = spec.check.get(key, (lambda v: True, ""))
        if not ok(value):
            raise ValueError(f"--optimizer-opt {key}={value}: must be {what}")
    if spec.min_torch is not None and _torch_version() < spec.min_torch:
        need = ".".join(map(str, spec.min_torch))
        raise ValueError(
            f"--optimizer {name} needs PyTorch >= {need} (this is {torch.__version__}); "
            f"upgrade torch or choose another --optimizer"
        )


def recipe_lr(name: str, arch: str) -> float | None:
    """The lr of optimiser ``name``'s recipe for ``arch`` (None: the task's default)."""
    return OPTIMIZERS[name].lr(arch) if name in OPTIMIZERS else None


def muon_split(
    model: nn.Module, first_layer: bool = False
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(muon, other)``: the weights of every ``nn.Linear`` but the first and the last (in
    module order) go to Muon, everything else (those two layers, biases, norms) to ``other``.

    This is Muon-INRs' split (``0 < layer_idx < len(mlp) - 1``). ``first_layer`` also gives
    the first layer to Muon (their ``--optimize_first_layer_with_muon``). Modules that define
    ``muon_parameters()`` choose their own instead (all such modules of ``model`` together).
    """
    trainable = [p for p in model.parameters() if p.requires_grad]
    owners = [m for m in model.modules() if callable(getattr(m, "muon_parameters", None))]
    if owners:  # modules that name their hidden matrices (e.g. NeRF's coarse and fine fields)
        chosen = {id(p) for m in owners for p in m.muon_parameters()}  # type: ignore[operator]
    else:
        linears = [
            m
            for m in model.modules()
            if isinstance(m, nn.Linear) and m.weight.requires_grad and m.weight.ndim == 2
        ]
        inner = linears[0 if first_layer else 1 : -1]
        chosen = {id(m.weight) for m in inner}
    muon = [p for p in trainable if id(p) in chosen]
    other = [p for p in trainable if id(p) not in chosen]
    return muon, other


def _number(lo: float, hi: float = math.inf, lo_open: bool = False) -> Callable[[Any], bool]:
    def ok(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return (v > lo if lo_open else v >= lo) and v < hi

    return ok


def _count(lo: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo


def _build_adam(model: nn.Module, lr: float, o: dict[str, Any], seed: int) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=lr, eps=o["eps"])


def _build_sgd(model: nn.Module, lr: float, o: dict[str, Any], seed: int) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=o["momentum"])


def _build_muon(model: nn.Module, lr: float, o: dict[str, Any], seed: int) -> torch.optim.Optimizer:
    muon, other = muon_split(model, first_layer=bool(o["first_layer"]))
    if not muon:
        raise ValueError(
            "--optimizer muon: this model has no hidden weight matrices (it needs at least "
            "three linear layers); use --optimizer adam"
        )
    opts: list[torch.optim.Optimizer] = [
        torch.optim.Muon(  # type: ignore[attr-defined]
            muon, lr=lr, weight_decay=0.0, momentum=o["momentum"], nesterov=True
        )
    ]
    if other:
        opts.append(torch.optim.Adam(other, lr=o["adam_lr"], eps=o["adam_eps"]))
    return OptimizerGroup(opts)


def _build_esgd(model: nn.Module, lr: float, o: dict[str, Any], seed: int) -> torch.optim.Optimizer:
    return ESGD(
        model.parameters(),
        lr=lr,
        eps=o["eps"],
        update_every=o["update_every"],
        d_warmup=o["d_warmup"],
        bias_correction=o["bias_correction"],
        seed=seed + 7919,  # a stream of its own, not the one that drew the initial weights
    )


register_optimizer(
    OptimizerSpec(
        "adam",
        "Adam on every parameter (the paper's)",
        _build_adam,
        options={"eps": 1e-8},
        check={"eps": (_number(0), "a number >= 0")},
    )
)
register_optimizer(
    OptimizerSpec(
        "sgd",
        "plain SGD (the paper's Exp. 1)",
        _build_sgd,
        options={"momentum": 0.0},
        check={"momentum": (_number(0, 1), "a number in [0, 1)")},
    )
)
register_optimizer(
    OptimizerSpec(
        "muon",
        "Muon on the hidden weight matrices, Adam (adam_lr) on the rest (Muon-INRs; their "
        "lr 0.1 with --schedule cosine)",
        _build_muon,
        options={"adam_lr": 1e-3, "adam_eps": 1e-10, "momentum": 0.95, "first_layer": False},
        lr=lambda arch: 0.1,
        min_torch=(2, 9),
        check={
            "adam_lr": (_number(0, lo_open=True), "a number > 0"),
            "adam_eps": (_number(0), "a number >= 0"),
            "momentum": (_number(0, 1), "a number in [0, 1)"),
            "first_layer": (lambda v: isinstance(v, bool), "true or false"),
        },
    )
)
register_optimizer(
    OptimizerSpec(
        "esgd",
        "equilibrated SGD, a diagonal curvature preconditioner (CVPR 2025; lr 0.1 for "
        "relu/pe, 0.15 otherwise)",
        _build_esgd,
        options={"eps": 1e-4, "update_every": 100, "d_warmup": 50, "bias_correction": "steps"},
        lr=lambda arch: 0.1 if arch in ("relu", "pe") else 0.15,
        check={
            "eps": (_number(0), "a number >= 0"),
            "update_every": (_count(1), "an integer >= 1"),
            "d_warmup": (_count(0), "an integer >= 0"),
            "bias_correction": (lambda v: v in ("steps", "updates"), "steps or updates"),
        },
    )
)


def build_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> torch.optim.Optimizer:
    """The optimiser ``name`` over ``model``'s trainable parameters at ``lr``."""
    check_optimizer(name, options)
    spec = OPTIMIZERS[name]
    return spec.build(model, lr, {**spec.options, **dict(options or {})}, seed)


def wants_curvature(opt: torch.optim.Optimizer) -> bool:
    """Whether ``opt`` needs :meth:`ESGD.update_curvature` before its next step."""
    fn = getattr(opt, "wants_curvature", None)
    return bool(fn()) if callable(fn) else False


def build_schedule(
    opt: torch.optim.Optimizer, schedule: str, steps: int, decay: float, decay_at: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step multiplicative schedule over every parameter group of ``opt``."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown --schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if schedule == "exp":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: decay ** min(s / steps, 1.0))
    if schedule == "cosine":

        def cosine(base: float) -> Callable[[int], float]:
            floor = min(COSINE_MIN_LR, base)
            return lambda s: (
                (floor + (base - floor) * (1 + math.cos(math.pi * min(s, steps) / steps)) / 2)
                / base
            )

        return torch.optim.lr_scheduler.LambdaLR(opt, [cosine(g["lr"]) for g in opt.param_groups])
    decay_step = round(decay_at * steps)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 if s < decay_step else decay)

"""One full-batch training loop shared by every task: optimiser and schedule (:mod:`iga.optim`),
IGA, logging, checkpoints.

Tasks build the model, data and (optionally) the :class:`~iga.IGA` adjuster and hand them to
:func:`train`; the loop knows nothing about images, meshes or rays.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn
from tqdm.auto import tqdm

from iga.core import IGA
from iga.core.spectrum import SOLVERS, NonFiniteKernel
from iga.methods import METHODS
from iga.optim import (
    ESGD,
    OPTIMIZERS,
    SCHEDULES,
    build_optimizer,
    build_schedule,
    check_optimizer,
    wants_curvature,
)

__all__ = [
    "METHODS",
    "OPTIMIZERS",
    "SCHEDULES",
    "Adjuster",
    "MethodConfig",
    "TrainConfig",
    "TrainResult",
    "ValidateFn",
    "build_iga",
    "make_adjuster",
    "resolve_device",
    "train",
]

# The --method registry (vanilla, fr, bn, iga and plugins): see iga.methods.


class Adjuster(Protocol):
    """What :func:`train` needs from a gradient adjustment (:class:`~iga.IGA` is one)."""

    def loss(
        self, pred: torch.Tensor, target: torch.Tensor, inputs: torch.Tensor
    ) -> torch.Tensor: ...

    def stats(self) -> dict[str, Any]: ...


@dataclass
class MethodConfig:
    """How the gradient is formed."""

    method: str = field(
        default="iga",
        metadata={
            "help": "vanilla (MSE gradient), fr (Fourier reparameterised), bn (batch norm) or iga"
        },
    )
    end: int = field(default=20, metadata={"help": "IGA: number of top eNTK eigenvalues balanced"})
    start: int = field(default=0, metadata={"help": "IGA: first balanced eigenvalue index"})
    ref: str = field(
        default="end",
        metadata={"help": "IGA: balance to λ_end ('end', paper with Adam) or λ_start ('start')"},
    )
    sampling: str = field(
        default="max_residual",
        metadata={
            "help": "IGA: representative per group: "
            "max_residual|random|random_once|center|reference"
        },
    )
    every: int = field(default=1, metadata={"help": "IGA: recompute S every k steps"})
    solver: str = field(
        default="exact",
        metadata={
            "help": "IGA: top eigenpairs by an exact subset eigh (exact) or by warm-started "
            "subspace iteration with an exact fallback (subspace)",
            "choices": SOLVERS,
        },
    )

    solver_iters: int = field(
        default=2,
        metadata={"help": "IGA: subspace iterations per refresh (--solver subspace)", "min": 1},
    )

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if isinstance(self.solver_iters, bool) or self.solver_iters < 1:
            raise ValueError(f"--solver-iters must be >= 1; got {self.solver_iters}")
        if self.solver not in SOLVERS:
            raise ValueError(f"--solver must be one of {', '.join(SOLVERS)}; got {self.solver!r}")


@dataclass
class TrainConfig:
    """Optimisation schedule (the paper's: Adam, constant lr, then ×0.1 for the last 70%)."""

    steps: int = field(default=2000, metadata={"help": "training steps (full batch)"})
    lr: float | None = field(
        default=None,
        metadata={
            "help": "learning rate; default: the --optimizer recipe's (muon 0.1, esgd 0.1 for "
            "relu/pe, else 0.15), for adam/sgd the paper's (images: 5e-3 for iga with relu/pe, "
            "else 1e-3)"
        },
    )
    decay_at: float = field(
        default=0.3, metadata={"help": "fraction of steps at the initial lr before the decay"}
    )
    decay: float = field(default=0.1, metadata={"help": "lr multiplier after --decay-at"})
    schedule: str = field(
        default="step",
        metadata={
            "help": "lr schedule: step (×--decay from --decay-at on; the image experiments), "
            "exp (×--decay^(step/steps), reaching --decay at the end; the occupancy "
            "experiments) or cosine (to 1e-6 at the end; Muon-INRs' recipe)"
        },
    )
    optimizer: str = field(
        default="adam",
        metadata={
            "help": "adam, sgd, muon (Muon on the hidden matrices + Adam; torch >= 2.9) or esgd "
            "(diagonal curvature preconditioner); each combines with every --method"
        },
    )
    optimizer_options: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "flag": "--optimizer-opt",
            "help": "optimizer option, e.g. adam_lr=1e-3 (muon), update_every=100 (esgd), "
            "momentum=0.9 (sgd); see docs/rivals.md",
        },
    )
    seed: int = field(default=0, metadata={"help": "seed of the initial weights and sampling"})
    device: str = field(default="auto", metadata={"help": "auto (CUDA when present), cpu, cuda"})
    spectrum_every: int = field(
        default=50, metadata={"help": "log the eNTK spectrum (condition numbers) every k steps"}
    )
    checkpoint_every: int = field(
        default=200,
        metadata={"help": "write a resumable checkpoint every k steps (0: only on interrupt)"},
    )

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"--steps must be >= 1; got {self.steps}")
        if isinstance(self.spectrum_every, bool) or self.spectrum_every < 1:
            raise ValueError(f"--spectrum-every must be an integer >= 1; got {self.spectrum_every}")
        if self.checkpoint_every < 0:
            raise ValueError(
                "--checkpoint-every must be >= 0 (0: only on interrupt); "
                f"got {self.checkpoint_every}"
            )
        if not (self.decay > 0 and math.isfinite(self.decay)):
            raise ValueError(
                f"--decay must be a positive lr multiplier (e.g. 0.1); got {self.decay}"
            )
        _check_device(self.device)
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"--lr must be a positive number; got {self.lr}")
        check_optimizer(self.optimizer, self.optimizer_options)
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"unknown --schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}"
            )
        if not 0 <= self.decay_at <= 1:
            raise ValueError(f"--decay-at must be in [0, 1]; got {self.decay_at}")


def _check_device(name: str) -> None:
    ok = name in ("auto", "cpu", "cuda", "mps") or re.fullmatch(r"cuda:\d+", name or "")
    if not ok:
        raise ValueError(f"unknown --device {name!r}; choose auto, cpu, cuda or cuda:N")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; explicit names are checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available; use --device auto")
    return dev


def build_iga(model: nn.Module, groups: torch.Tensor, cfg: Any, seed: int = 0) -> IGA:
    """An :class:`~iga.IGA` from any config with ``end, start, ref, sampling, every`` fields."""
    return IGA(
        model,
        groups,
        end=cfg.end,
        start=cfg.start,
        ref=cfg.ref,
        sampling=cfg.sampling,
        every=cfg.every,
        seed=seed,
        solver=getattr(cfg, "solver", "exact"),
        iters=getattr(cfg, "solver_iters", 2),
    )


def make_adjuster(
    model: nn.Module, groups: torch.Tensor, cfg: MethodConfig, seed: int = 0
) -> IGA | None:
    """The adjuster of ``cfg``'s method (:mod:`iga.methods`; None for vanilla, fr and bn:
    the plain gradient)."""
    spec = METHODS.get(cfg.method)
    return spec.adjuster(model, groups, cfg, seed) if spec and spec.adjuster else None


@dataclass
class TrainResult:
    """What :func:`train` observed; weights are independent copies."""

    history: list[dict[str, Any]]
    best_step: int
    best_score: float
    best_state: dict[str, torch.Tensor]
    final_state: dict[str, torch.Tensor]
    seconds: float
    steps_done: int
    diverged_at: int | None = None
    interrupted_at: int | None = None
    """Set when ``stop`` asked to stop: the step a resumed run starts from."""

    @property
    def seconds_per_step(self) -> float:
        return self.seconds / max(self.steps_done, 1)


def _copy_state(model: nn.Module) -> dict[str, torch.Tensor]:
    # A real copy: state_dict() aliases the live parameters, which keep training.
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor | float]
ValidateFn = Callable[[nn.Module], dict[str, Any]]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
BatchFn = Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]
PenaltyFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _psnr(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return -10.0 * torch.log10(((p - t) ** 2).mean())


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _validate(fn: ValidateFn, model: nn.Module) -> dict[str, Any]:
    was_training = model.training
    model.eval()  # batch norm: running statistics, as the evaluation will use
    try:
        with torch.no_grad():
            return fn(model)
    finally:
        model.train(was_training)


def _finite_params(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def train(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    cfg: TrainConfig,
    lr: float,
    adjuster: Adjuster | None = None,
    *,
    score_name: str = "psnr",
    score_fn: ScoreFn | None = None,
    extra_fn: Callable[[int, torch.Tensor], dict[str, Any]] | None = None,
    extra_every: int = 1,
    loss_fn: LossFn | None = None,
    residual_fn: LossFn | None = None,
    batch_fn: BatchFn | None = None,
    data_rows: int | None = None,
    penalty_fn: PenaltyFn | None = None,
    validate_fn: ValidateFn | None = None,
    validate_every: int = 0,
    validate_key: str = "",
    on_row: Callable[[dict[str, Any]], None] | None = None,
    checkpoint_fn: Callable[[dict[str, Any]], None] | None = None,
    resume: dict[str, Any] | None = None,
    stop: Callable[[], bool] | None = None,
    desc: str = "",
    progress: bool = True,
) -> TrainResult:
    """Full-batch (or per-step mini-batch) training of ``model``; higher score is better.

    Each step logs the MSE and the score of the current parameters (before the update), as the
    paper's "best PSNR over training" does. ``score_fn`` defaults to the PSNR of the MSE with
    unit peak. ``extra_fn(step, pred)`` adds columns to the history every ``extra_every``
    steps (e.g. per-frequency errors).

    Task hooks (all optional): ``loss_fn(pred, target)`` replaces the MSE (e.g. BCE on logits);
    ``residual_fn(pred, target)`` is the per-output residual r IGA mixes (default
    ``pred − target``; for a loss L, scaled so that ∂L/∂pred = (2/(N·C)) r, which makes IGA
    with ``end=0`` exactly L's gradient); ``batch_fn(step,
    generator)`` returns the step's ``(inputs, target)`` instead of the full arrays, drawing its
    randomness from ``generator`` (checkpointed, so a resumed run draws the same batches).
    ``data_rows`` k: a batch's first k rows alone form the data term (MSE, score, ``loss_fn``,
    IGA); ``penalty_fn(x, pred)``, a plain term over all rows added to the loss (vanilla and
    IGA alike), gets ``x`` requiring grad, to differentiate ``pred`` in ``x`` (e.g. eikonal).

    Validation (mini-batch tasks, where the training-pass score of a batch is a poor guide):
    ``validate_fn(model)`` returns a dict of numbers measured on held data (e.g. the IoU of
    the full grid); it runs on the weights before the update at every step that is a multiple
    of ``validate_every`` and on the final weights, its values join that step's row (the final
    weights get a row of their own at step ``cfg.steps``), and the best weights are those
    with the highest ``validate_key`` instead of the highest training-pass score.

    Durability: ``on_row(row)`` receives every history row as it is made (to stream metrics to
    disk); ``checkpoint_fn(state)`` receives a resumable state every ``cfg.checkpoint_every``
    steps and when ``stop()`` turns true (then the loop returns with ``interrupted_at`` set);
    ``resume`` is such a state, and the run continues to the same result as a straight run.

    Training stops early when the loss, the weights or IGA's eNTK become non-finite; the result
    says at which step (``diverged_at``) and keeps the best weights before it.
    """
    score_fn = score_fn or _psnr
    opt = build_optimizer(model, cfg.optimizer, lr, cfg.optimizer_options, cfg.seed)
    sched = build_schedule(opt, cfg.schedule, cfg.steps, cfg.decay, cfg.decay_at)
    if validate_fn is not None and validate_every < 1:
        raise ValueError(f"validate_every must be >= 1 with a validate_fn; got {validate_every}")
    generator = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, Any]] = []
    best_score, best_step, best_state = -math.inf, -1, _copy_state(model)
    first, elapsed = 0, 0.0
    if resume is not None:
        model.load_state_dict(resume["model"])
        opt.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        generator.set_state(resume["generator"])
        _set_rng_state(resume["rng"])
        if adjuster is not None and resume.get("adjuster") is not None:
            adjuster.load_state_dict(resume["adjuster"])  # type: ignore[attr-defined]
        history = [dict(r) for r in resume["history"]]
        best_score, best_step = float(resume["best_score"]), int(resume["best_step"])
        best_state = {k: v.clone() for k, v in resume["best_state"].items()}
        first, elapsed = int(resume["step"]), float(resume["seconds"])

    def state(next_step: int, seconds: float) -> dict[str, Any]:
        return {
            "step": next_step,
            "model": _copy_state(model),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "generator": generator.get_state(),
            "rng": _rng_state(),
            "adjuster": adjuster.state_dict() if hasattr(adjuster, "state_dict") else None,
            "history": history,
            "best_score": best_score,
            "best_step": best_step,
            "best_state": best_state,
            "seconds": seconds,
        }

    diverged_at: int | None = None
    interrupted_at: int | None = None
    bar = tqdm(
        total=cfg.steps,
        initial=first,
        desc=desc,
        disable=not progress,
        leave=False,
        mininterval=0.5,
    )
    t0 = time.perf_counter() - elapsed
    step, k = first, data_rows
    for step in range(first, cfg.steps):
        x, y = batch_fn(step, generator) if batch_fn is not None else (inputs, target)
        if penalty_fn is not None:
            x = x.detach().requires_grad_(True)
        pred = model(x)
        pd, yd, xd = (pred, y, x) if k is None else (pred[:k], y[:k], x[:k])
        with torch.no_grad():
            mse = float(((pd - yd) ** 2).mean())
            score = float(score_fn(pd, yd))
        try:
            if adjuster is not None:
                # IGA mixes pred - target; a custom residual r enters as the target pred - r.
                y_adj = yd if residual_fn is None else (pd.detach() - residual_fn(pd.detach(), yd))
                loss = adjuster.loss(pd, y_adj, xd if penalty_fn is None else xd.detach())
            else:
                loss = (loss_fn or nn.functional.mse_loss)(pd, yd)
            if penalty_fn is not None:
                loss = loss + penalty_fn(x, pred)
        except (torch.linalg.LinAlgError, NonFiniteKernel):
            # A non-finite or degenerate eNTK: the weights have blown up.
            diverged_at = step
            break
        if not (math.isfinite(mse) and math.isfinite(float(loss.detach()))):
            diverged_at = step
            break
        row: dict[str, Any] = {
            "step": step,
            "mse": mse,
            score_name: score,
            "lr": opt.param_groups[0]["lr"],
            "time": time.perf_counter() - t0,
        }
        if adjuster is not None and step % cfg.spectrum_every == 0:
            row.update(adjuster.stats())
        if extra_fn is not None and step % extra_every == 0:
            with torch.no_grad():
                row.update(extra_fn(step, pred.detach()))
        if validate_fn is not None and step % validate_every == 0:
            row.update(_validate(validate_fn, model))
        history.append(row)
        if on_row is not None:
            on_row(row)
        chosen = score if validate_fn is None else row.get(validate_key, -math.inf)
        if chosen > best_score:
            best_score, best_step, best_state = chosen, step, _copy_state(model)
        opt.zero_grad(set_to_none=True)
        if wants_curvature(opt):
            # ESGD: the curvature of the fit itself (IGA's surrogate lacks JᵀJ; optim.py).
            assert isinstance(opt, ESGD)
            if adjuster is None:
                opt.update_curvature(loss, set_grad=True)  # the gradient comes with it
            else:
                plain = (loss_fn or nn.functional.mse_loss)(pd, yd)
                opt.update_curvature(plain if penalty_fn is None else plain + penalty_fn(x, pred))
                loss.backward()
        else:
            loss.backward()
        opt.step()
        sched.step()
        if step % 10 == 0:
            bar.set_postfix({score_name: f"{score:.2f}", "best": f"{best_score:.2f}"})
        bar.update(1)
        done = step + 1
        stopping = stop is not None and stop()
        if (
            checkpoint_fn is not None
            and done < cfg.steps
            and (stopping or (cfg.checkpoint_every and done % cfg.checkpoint_every == 0))
        ):
            checkpoint_fn(state(done, time.perf_counter() - t0))
        if stopping and done < cfg.steps:
            interrupted_at = done
            step = done
            break
    else:
        step = cfg.steps
        # Blown-up weights show as a non-finite loss at the next step; only the last update
        # has no next step to show it.
        if not _finite_params(model):
            diverged_at = step
        elif validate_fn is not None:
            final_row = {"step": step, **_validate(validate_fn, model)}
            history.append(final_row)
            if on_row is not None:
                on_row(final_row)
            if final_row.get(validate_key, -math.inf) > best_score:
                best_score, best_step = final_row[validate_key], step
                best_state = _copy_state(model)
    bar.close()
    seconds = time.perf_counter() - t0
    return TrainResult(
        history=history,
        best_step=best_step,
        best_score=best_score,
        best_state=best_state,
        final_state=_copy_state(model),
        seconds=seconds,
        steps_done=step,
        diverged_at=diverged_at,
        interrupted_at=interrupted_at,
    )

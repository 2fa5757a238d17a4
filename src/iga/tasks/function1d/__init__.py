"""The 1D task: t -> a sum of sines (the paper's Sec. 5). ``task`` (the task), ``bench``
(``iga experiment function1d-*``: Exp. 1, Exp. 2 and the rivals); registered as
``iga fit function`` here."""

from __future__ import annotations

from typing import Any

from iga.tasks.registry import TaskSpec, register_task


def _overrides() -> dict[str, dict[str, Any]]:
    """TrainConfig's help texts are written for the image task (these read right for 1D
    fits), and the choices and bounds the 1D configs check in ``__post_init__``, so that
    argparse rejects bad values with the flag in the message."""
    from iga.core import SAMPLING
    from iga.optim import OPTIMIZERS
    from iga.tasks.function1d.signal import COORDS
    from iga.tasks.function1d.task import ADJUST_METHODS, net_archs

    return {
        "lr": {"help": "learning rate of the optimizer"},
        "spectrum_every": {"help": "log the eNTK spectrum (condition numbers) every k steps"},
        "coords": {"choices": COORDS},
        "points": {"min": 8},
        "arch": {"choices": net_archs()},
        "width": {"min": 1},
        "hidden_layers": {"min": 1},
        "method": {"choices": ADJUST_METHODS},
        "ref": {"choices": ("end", "start")},
        "group": {"min": 1},
        "every": {"min": 1},
        "sampling": {"choices": SAMPLING},
        "optimizer": {"choices": tuple(OPTIMIZERS)},
        "eval_every": {"min": 1},
        "options": {"flag": "--opt"},
    }


def _check(cfg: Any) -> None:
    """The group count against memory, in this task's flags, before anything runs."""
    if cfg.adjust.method not in ("entk", "iga"):
        return
    from iga.tasks.base import check_groups
    from iga.train import resolve_device

    iga = cfg.adjust.method == "iga"
    check_groups(
        -(-cfg.signal.points // cfg.adjust.group_size),
        resolve_device(cfg.train.device),
        "--group" if iga else "--group with --method iga (entk has one group per point)",
        cfg.adjust.end,
    )


def _report(cfg: Any, s: dict[str, Any]) -> str:
    deltas = ", ".join(f"Δ@{k} {v:.3f}" for k, v in s["delta_final"].items())
    return (
        f"{cfg.net.arch}/{cfg.adjust.method}: final MSE {s['mse_final']:.4g}; {deltas}; "
        f"{1000 * s['seconds_per_step']:.1f} ms/step -> {cfg.out}"
    )


def _config() -> Any:
    # An instance: this task's defaults (e.g. Adam lr 5e-5, no decay), not TrainConfig's.
    from iga.tasks.function1d.task import FunctionFitConfig

    return FunctionFitConfig()


def _task() -> Any:
    from iga.tasks.function1d.task import FunctionTask

    return FunctionTask()


SPEC = register_task(
    TaskSpec(
        name="function",
        config=_config,
        task=_task,
        help="fit a 1D sum of sines (MSE and per-frequency relative errors Δ_k)",
        description="Fit Σ sin(c·π·t) on N points, vanilla or with an NTK/eNTK/IGA gradient "
        "adjustment, into a run directory (config.json, metrics.csv with Δ_k per frequency, "
        "summary.json, mse.png, delta.png, fit.png). Defaults: the paper's Exp. 2 ReLU setting.",
        overrides=_overrides,
        check=_check,
        report=_report,
        fitted="iga.tasks.function1d.field",
        experiments=("iga.tasks.function1d.bench",),
    )
)

"""A task that receives SIGINT in the middle of a given step, for the resume tests."""

from __future__ import annotations

import signal
from typing import Any

import torch

from iga.tasks.base import Fit, Task


def interrupt_at(task: Task[Any], k: int) -> Task[Any]:
    """``task`` with SIGINT raised during step ``k`` (through its Fit's ``extra`` hook, which
    runs before the step's update, as a user's Ctrl-C would land mid-step)."""
    setup = task.setup

    def setup_interrupted(cfg: Any, device: torch.device) -> Fit:
        job = setup(cfg, device)

        def extra(step: int, pred: torch.Tensor) -> dict[str, Any]:
            if step == k:
                signal.raise_signal(signal.SIGINT)
            return {}

        job.extra = extra
        return job

    task.setup = setup_interrupted  # type: ignore[method-assign]
    return task

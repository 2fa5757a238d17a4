"""The body every benchmark's sweep worker shares: one fit from a run spec's config."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["fit_run"]


def fit_run(
    config: dict[str, Any],
    from_dict: Callable[[dict[str, Any]], Any],
    fit_fn: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """Run ``fit_fn(from_dict(config["fit"]))`` with ``config["threads"]`` torch threads,
    resuming a matching interrupted run; returns the summary.

    A diverged run counts as finished (its summary names the step); ``best.pt``/``final.pt``
    are deleted unless ``config["keep_checkpoints"]`` (the tables need none).
    """
    import torch

    from iga.tasks.base import TrainingDiverged

    if config.get("threads"):
        torch.set_num_threads(int(config["threads"]))
    cfg = from_dict(config["fit"])
    try:
        summary = fit_fn(cfg, progress=False, resume="auto")
    except TrainingDiverged:
        summary = json.loads((Path(cfg.out) / "summary.json").read_text())
    if not config.get("keep_checkpoints"):
        for name in ("best.pt", "final.pt"):
            (Path(cfg.out) / name).unlink(missing_ok=True)
    return summary

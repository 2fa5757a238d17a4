"""Reproducible experiments of the paper built from the tasks (see ``docs/function1d.md``)."""

from __future__ import annotations

from .function1d import EXPERIMENTS, Plan, exp1_plan, exp2_plan, load_plan, register_cli, run_plan

__all__ = ["EXPERIMENTS", "Plan", "exp1_plan", "exp2_plan", "load_plan", "register_cli", "run_plan"]

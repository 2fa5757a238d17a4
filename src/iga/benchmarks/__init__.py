"""Benchmark declarations on :mod:`iga.harness`: each module gives a ``bench()`` (the
declaration), an ``Options`` dataclass (its own command-line options) and ``setup(options,
tier)`` (the plan's arguments). :data:`BENCHMARKS` is the registry the CLI is built from."""

from __future__ import annotations

BENCHMARKS: dict[str, tuple[str, ...]] = {
    "bench": (
        "iga.benchmarks.image",
        "iga.benchmarks.rivals",
        "iga.benchmarks.occupancy",
        "iga.benchmarks.nerf",
    ),
    "experiment": ("iga.benchmarks.function1d",),
}
"""Command group (``iga bench``, ``iga experiment``) -> the modules declaring its commands
(each module's ``HELP`` names them)."""

"""Benchmark declarations on :mod:`iga.harness`: each module gives a ``bench()`` (the
declaration), an ``Options`` dataclass (its own command-line options) and ``setup(options,
tier)`` (the plan's arguments). :data:`BENCHMARKS` is the registry the CLI is built from."""

from __future__ import annotations

BENCHMARKS: dict[str, tuple[str, ...]] = {
    "bench": (
        "iga.tasks.image.bench",
        "iga.tasks.image.rivals",
        "iga.tasks.occupancy.bench",
        "iga.tasks.nerf.bench",
    ),
    "experiment": ("iga.tasks.function1d.bench",),
}
"""Command group (``iga bench``, ``iga experiment``) -> the modules declaring its commands
(each module's ``HELP`` names them)."""

"""The ``iga`` command line, on top of everything and imported by nothing in the package.

``iga fit <task>``, ``iga bench <name>`` and ``iga experiment <name>`` are generated from the
task registry (:func:`iga.tasks.registry.tasks`); options come from the dataclass configs
(:mod:`iga.cli.configcli`), so the defaults live in one place and ``--help`` shows them.

    iga fit TASK INPUT [--arch pe --method iga --end 20 ...]   # one per registered task
    iga demo [--steps 2000 --out runs/demo]
    iga bench overhead [--json --width 256 --archs relu,pe,siren]
    iga bench NAME / iga experiment NAME [--tier cpu ...]    # the tasks' declarations
    iga analyze NAME ...                                     # iga.analysis.commands
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``iga`` console script (:func:`iga.cli.app.main`). The command's
    modules (torch among them) load here, so a Ctrl-C while they load is one line too."""
    try:
        from iga.cli.app import main as run
    except KeyboardInterrupt:
        print("iga: interrupted", file=sys.stderr)
        return 130
    return run(argv)

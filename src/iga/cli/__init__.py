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

from iga.cli.app import main

__all__ = ["main"]

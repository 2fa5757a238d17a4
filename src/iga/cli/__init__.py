"""The ``iga`` command line, on top of everything and imported by nothing in the package.

``iga fit <task>``, ``iga bench <name>`` and ``iga experiment <name>`` are generated from the
task registry (:func:`iga.tasks.registry.tasks`); options come from the dataclass configs
(:mod:`iga.cli.configcli`), so the defaults live in one place and ``--help`` shows them.

    iga fit image PATH [--arch pe --method iga --end 20 --patch 8 --size 192x128 ...]
    iga demo [--steps 2000 --out runs/demo]
    iga bench overhead [--json --width 256 --archs relu,pe,siren]
    iga bench image [--tier cpu --protocol paper|fair]
    iga analyze spectrum|bands|training|regions ...
"""

from iga.cli.app import main

__all__ = ["main"]

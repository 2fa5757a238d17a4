"""The command line's entry point: :class:`RunOptions` (what every ``iga bench NAME`` /
``iga experiment NAME`` takes) and :func:`execute` (plan, run and report one benchmark).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iga.harness.declare import Bench
from iga.harness.planning import plan
from iga.harness.report import Report, aggregate
from iga.harness.running import run

TIER_HELP = (
    "tier name ({tiers}); bench image and rivals also take a JSON tier file, experiment "
    "function1d-* a plan file (--print-plan)"
)
"""``--tier``'s help; ``{tiers}``: the tier names (a benchmark's own ``TIERS`` where it has
them, see ``iga.cli.app``)."""


@dataclass
class RunOptions:
    """What every ``iga bench NAME`` / ``iga experiment NAME`` takes besides its own options."""

    tier: str = field(
        default="cpu",
        metadata={"help": TIER_HELP.format(tiers="cpu, paper")},
    )
    out: str = field(default="", metadata={"help": "results folder (default: the benchmark's)"})
    report: str = field(
        default="",
        metadata={
            "help": "folder under <out>/<tier> for the tables (default: the benchmark's), "
            "so a subset does not overwrite the main table"
        },
    )
    executor: str = field(default="inprocess", metadata={"help": "inprocess or ray"})
    ray_address: str = field(default="", metadata={"help": "Ray cluster address (empty: local)"})
    cpus_per_run: float = field(default=1.0, metadata={"help": "Ray: CPUs reserved per run"})
    threads: int = field(default=0, metadata={"help": "torch threads per run (0: torch default)"})
    max_runs: int = field(default=0, metadata={"help": "launch at most this many runs (0: all)"})
    aggregate_only: bool = field(default=False, metadata={"help": "only rebuild the reports"})
    no_figures: bool = field(default=False, metadata={"help": "skip the figures"})
    quiet: bool = field(default=False, metadata={"help": "no progress bars"})

    def __post_init__(self) -> None:
        from iga.sweep import EXECUTORS

        if self.executor not in EXECUTORS:
            raise ValueError(
                f"unknown --executor {self.executor!r}; choose {' or '.join(EXECUTORS)}"
            )
        if self.report and (
            self.report in (".", "..", "runs")
            or not all(c.isalnum() or c in "_.-" for c in self.report)
        ):
            raise ValueError(
                f"--report must be a plain folder name other than 'runs'; got {self.report!r}"
            )
        for name in ("threads", "max_runs"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be >= 0; got {getattr(self, name)}"
                )


def execute(setup: Mapping[str, Any], ro: RunOptions, log: Callable[[str], None] = print) -> Report:
    """Plan, run (unless ``--aggregate-only``) and report one benchmark.

    ``setup`` holds :func:`plan`'s arguments from the benchmark's own options (``bench``,
    ``tier``, ``tier_config``, ``axes``, ``where``, ``options``) and its default ``report``
    folder name.
    """
    from iga.sweep import make_executor

    b: Bench = setup["bench"]
    out = ro.out or f"results/{b.name}"
    options = {**setup.get("options", {}), "threads": ro.threads}
    p = plan(
        b,
        setup["tier"],
        out,
        tier_config=setup.get("tier_config"),
        axes=setup.get("axes"),
        where=setup.get("where"),
        options=options,
    )
    if not ro.aggregate_only:
        kw: dict[str, Any] = {}
        if ro.executor == "ray":
            kw = {"address": ro.ray_address or None, "num_cpus": ro.cpus_per_run}
        try:
            executor = make_executor(ro.executor, **kw)
        except ImportError as e:  # --executor ray without Ray: a one-line error
            raise ValueError(str(e)) from None
        log(
            f"{b.name}, tier {p.tier}: {len(p.specs)} runs planned"
            + (" (selection first)" if p.pending else "")
        )
        p, reports = run(b, p, executor, max_runs=ro.max_runs, progress=not ro.quiet, log=log)
        for r in reports:
            log(r.summary())
        failures = [(o.spec.name, o.error or "") for r in reports for o in r.by_status("failed")]
    else:
        failures = []
    out_dir = p.root / ro.report if ro.report else setup.get("report_dir")
    out_dir = out_dir or p.root / (setup.get("report") or b.name)
    report = aggregate(b, p, out_dir, figures=not ro.no_figures)
    report.failures = failures
    log(report.table)
    log(
        f"{report.finished}/{report.expected} runs finished; reports in {report.out_dir}"
        + (f"; {len(report.missing)} missing (see missing.md)" if report.missing else "")
    )
    return report

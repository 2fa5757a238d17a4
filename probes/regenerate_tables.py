"""Rebuild every committed benchmark report from its runs (``--aggregate-only``) and say
whether the tables came out identical to the committed ones.

Each report folder's ``aggregate.json`` records its benchmark, tier and axes; this script
turns them back into the ``iga bench``/``iga experiment`` command that wrote the folder and
runs it with ``--aggregate-only --no-figures`` (figures are left alone: matplotlib's PNG bytes
are not the point). Then ``git diff`` on ``results/`` names any report that changed::

    python probes/regenerate_tables.py [--dry-run]   # prints each command
    git diff --stat -- results                        # empty when every table is identical
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

RESULTS = Path("results")
# Reports written by probe scripts from the benchmarks' runs, not by a benchmark command.
BY_PROBES = {"time_to_quality/cpu/runs_report": "probes/time_to_quality.py"}


def _numbers(images: list[str]) -> str:
    return ",".join(
        str(int(i.removeprefix("kodim"))) if i.startswith("kodim") else i for i in images
    )


def command(agg: Path) -> list[str] | None:
    """The command that rebuilds the report folder holding ``agg``, or None (a probe's)."""
    d = json.loads(agg.read_text())
    folder = agg.parent
    rel = folder.relative_to(RESULTS).as_posix()
    if rel in BY_PROBES:
        return None
    bench, tier, axes = d["bench"], d["tier"], d["axes"]
    if bench.startswith("function1d-"):
        return ["experiment", bench, "--out", folder.as_posix()]
    out = folder.parent.parent.as_posix()
    args = ["bench", bench, "--out", out, "--report", folder.name]
    if "seed" in axes:
        args += ["--seeds", ",".join(map(str, axes["seed"]))]
    if "arch" in axes:
        args += ["--archs", ",".join(axes["arch"])]
    if "method" in axes:
        args += ["--methods", ",".join(axes["method"])]
    if bench in ("image", "rivals"):
        args += ["--images", _numbers(axes["image"])]
        if len(axes["seed"]) > 1:
            args += ["--multi-seed-images", _numbers(axes["image"])]
    if bench == "image":
        args += ["--protocol", "fair" if d.get("selection") else "paper"]
        patch = re.fullmatch(r"cpu_patch(\d+)(?:_end(\d+))?", tier)
        if patch:
            args += ["--patch", patch.group(1)] + (
                ["--end", patch.group(2)] if patch.group(2) else []
            )
    if bench == "occupancy":
        args += ["--shapes", ",".join(axes["shape"])]
        for part in tier.split("_")[1:]:
            m = re.fullmatch(
                r"(adam|sgd|muon|esgd)|(step|exp|cosine)|decay([\d.]+)|lr([\d.e-]+)", part
            )
            if not m:
                raise ValueError(f"{agg}: cannot read tier {tier!r}")
            flag = ("--optimizer", "--schedule", "--decay", "--lr")[m.lastindex - 1]
            args += [flag, m.group(m.lastindex)]
    if bench == "nerf":
        args += ["--scenes", ",".join(axes["scene"])]
    if bench == "audio":
        args += ["--clips", ",".join(axes["clip"])]
    if bench == "sdf":
        args += ["--shapes", ",".join(axes["shape"])]
    return args


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    ns = parser.parse_args()
    failed = 0
    for agg in sorted(RESULTS.glob("**/aggregate.json")):
        if "/runs/" in agg.as_posix():
            continue
        args = command(agg)
        if args is None:
            probe = BY_PROBES[agg.parent.relative_to(RESULTS).as_posix()]
            print(f"# {agg.parent}: written by {probe}")
            continue
        full = [*args, "--aggregate-only", "--no-figures", "--quiet"]
        print("iga " + shlex.join(full))
        if ns.dry_run:
            continue
        r = subprocess.run([sys.executable, "-m", "iga.cli", *full], capture_output=True, text=True)
        if r.returncode:
            failed += 1
            print(f"  failed: {r.stderr.strip()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

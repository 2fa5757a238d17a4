"""IGA's overhead over a vanilla training step, timed side by side in one process.

Both steps use the same data and the same model architecture. Each timed unit is a *block*
of ``L`` consecutive steps, ``L`` the least common multiple of the variants' ``every`` (S
refreshed every k steps), so a block holds the same share of refreshes as a run; the blocks
of the methods are interleaved (vanilla, IGA, vanilla, IGA, …) so that machine noise hits
them alike, and the median over the repeats of each block's mean step is reported. (Timing
single steps and taking their median, as this benchmark did until issue 28, never sees a
refresh when S is refreshed every 4 steps: three steps in four do none.) The very first IGA
step (its first refresh, cold: an exact solve even for the subspace solver) is timed apart,
before the warm-up. The IGA step is also broken down into its phases, timed by running the
same public pieces :class:`iga.IGA` chains (sampling, eNTK, eigh + S, mixing).
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from iga.core import IGA, Sampler, adjusted_loss, balance, entk
from iga.core import groups as groups_mod
from iga.models import build
from iga.tasks.base import check_groups
from iga.tasks.image.data import ImageData, parse_size
from iga.train import resolve_device

__all__ = [
    "OverheadConfig",
    "background_load",
    "format_overhead",
    "memory_child",
    "overhead",
    "parse_variant",
    "peak_memory",
]


@dataclass
class OverheadConfig:
    """What to time."""

    path: str = field(default="", metadata={"help": "image (default: bundled kodim03)"})
    archs: str = field(default="relu,pe,siren", metadata={"help": "comma-separated archs"})
    size: str = field(default="192x128", metadata={"help": "image size WIDTHxHEIGHT"})
    width: int = field(default=256, metadata={"help": "hidden features"})
    hidden_layers: int = field(default=3, metadata={"help": "activations between linears"})
    patch: int = field(default=8, metadata={"help": "IGA group = patch x patch pixels"})
    end: int = field(default=20, metadata={"help": "IGA end"})
    repeats: int = field(
        default=30,
        metadata={"help": "timed blocks per method (a block: the lcm of the variants' every)"},
    )
    warmup: int = field(default=5, metadata={"help": "untimed steps first"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = leave as is)"})
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda"})
    variants: str = field(
        default="exact",
        metadata={
            "help": "IGA variants timed against vanilla, comma-separated: exact (the "
            "default solver), subspace, and either with every k as exact/e2, subspace/e4"
        },
    )
    memory: bool = field(
        default=False,
        metadata={
            "help": "also measure the peak memory (RSS) of vanilla and each IGA variant, each "
            "in a fresh process running the same steps"
        },
    )
    background_load: int = field(
        default=0,
        metadata={
            "help": "run a competing torch job with this many threads during the timing "
            "(0: none), to see how each step degrades on a shared machine"
        },
    )

    def __post_init__(self) -> None:
        from iga.models import ARCHS
        from iga.train import _check_device

        bad = [a for a in self.arch_list if a not in ARCHS]
        if bad or not self.arch_list:
            raise ValueError(
                f"--archs {self.archs!r}: unknown arch {bad[0] if bad else '(none given)'!r}; "
                f"choose from {', '.join(ARCHS)}"
            )
        parse_size(self.size)  # names the size and the expected form
        for flag, value, low in (
            ("--width", self.width, 1),
            ("--hidden-layers", self.hidden_layers, 1),
            ("--patch", self.patch, 1),
            ("--end", self.end, 0),
            ("--repeats", self.repeats, 1),
            ("--warmup", self.warmup, 0),
            ("--threads", self.threads, 0),
            ("--background-load", self.background_load, 0),
        ):
            if value < low:
                raise ValueError(f"{flag} must be >= {low}; got {value}")
        _check_device(self.device)
        for v in self.variant_list:
            parse_variant(v)

    @property
    def arch_list(self) -> list[str]:
        """``archs`` as a list."""
        return [a.strip() for a in self.archs.split(",") if a.strip()]

    @property
    def variant_list(self) -> list[str]:
        """``variants`` as a list."""
        return [v.strip() for v in self.variants.split(",") if v.strip()]


def parse_variant(text: str) -> dict[str, Any]:
    """``"subspace/e2/i3"`` -> ``{"solver": "subspace", "every": 2, "iters": 3}``
    (:class:`iga.IGA` kwargs; ``eK``: refresh S every K steps, ``iK``: K subspace
    iterations)."""
    from iga.core.spectrum import SOLVERS

    solver, *parts = text.split("/")
    given: dict[str, int] = {}
    for part in parts:
        key = {"e": "every", "i": "iters"}.get(part[:1])
        if key is None or key in given or not part[1:].isdigit() or int(part[1:]) < 1:
            raise ValueError(
                f"--variants {text!r}: write SOLVER[/eK][/iK] (K >= 1), e.g. subspace/e2/i3"
            )
        given[key] = int(part[1:])
    out: dict[str, Any] = {"solver": solver, "every": 1, **given}
    if solver not in SOLVERS:
        raise ValueError(f"--variants {text!r}: unknown solver; choose from {', '.join(SOLVERS)}")
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, Any]:
    _sync(device)
    t = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - t, out


def _one_arch(arch: str, cfg: OverheadConfig, data: ImageData, device: torch.device) -> dict:
    groups = groups_mod.grid((data.height, data.width), cfg.patch)
    variants = cfg.variant_list
    names = ["vanilla", *variants]
    models = {m: build(arch, 2, 3, cfg.width, cfg.hidden_layers, seed=0).to(device) for m in names}
    opts = {m: torch.optim.Adam(models[m].parameters(), lr=1e-4) for m in names}
    adjusters = {v: IGA(models[v], groups, end=cfg.end, **parse_variant(v)) for v in variants}
    x, y = data.coords, data.target

    def step(name: str) -> None:
        pred = models[name](x)
        if name == "vanilla":
            loss = torch.nn.functional.mse_loss(pred, y)
        else:
            loss = adjusters[name].loss(pred, y, x)
        opts[name].zero_grad()
        loss.backward()
        opts[name].step()

    first = {v: _timed(lambda v=v: step(v), device)[0] for v in variants}  # cold refresh
    block = math.lcm(*(parse_variant(v)["every"] for v in variants)) if variants else 1
    for _ in range(cfg.warmup):
        for name in names:
            step(name)
    # Align every variant to the start of its refresh period (the first step and the warmup
    # took some): the blocks then hold exactly block / every refreshes each.
    for v in variants:
        adj = adjusters[v]
        while adj.calls % adj.every != 0:
            step(v)

    def run_block(name: str) -> None:
        for _ in range(block):
            step(name)

    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(cfg.repeats):
        for name in names:  # interleaved: machine noise hits every method alike
            times[name].append(_timed(lambda name=name: run_block(name), device)[0] / block)

    out_variants: dict[str, Any] = {}
    v = statistics.median(times["vanilla"])
    for variant in variants:
        kw = parse_variant(variant)
        adj = adjusters[variant]
        i = statistics.median(times[variant])
        out_variants[variant] = {
            "iga_ms": 1e3 * i,
            "ratio": i / v,
            "first_step_ms": 1e3 * first[variant],
            "every": kw["every"],
            "fallbacks": adj.fallbacks,
            "breakdown_ms": _phases(models[variant], opts[variant], adj, kw, cfg, x, y, device),
        }
    first = out_variants[variants[0]] if variants else {}
    return {
        "vanilla_ms": 1e3 * v,
        # The first variant's numbers at the top level, as before variants existed.
        **{k: first[k] for k in ("iga_ms", "ratio", "breakdown_ms") if k in first},
        "variants": out_variants,
        "block_steps": block,
        "width": cfg.width,
        "n_groups": int(groups.shape[0]),
        "pixels": data.num_pixels,
    }


def _phases(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    adj: IGA,
    kw: dict[str, Any],
    cfg: OverheadConfig,
    x: torch.Tensor,
    y: torch.Tensor,
    device: torch.device,
) -> dict[str, float]:
    """Median ms of the pieces IGA.loss chains (every refresh), timed one by one."""
    grouping = adj.grouping
    sampler = Sampler("max_residual", grouping)
    phases: dict[str, list[float]] = {
        k: [] for k in ("forward", "select", "entk", "eigh_S", "mix", "backward_step")
    }
    warm = adj.spectrum.block if adj.spectrum is not None else None
    solver, iters = kw["solver"], kw.get("iters", 2)
    for _ in range(cfg.repeats):
        t, pred = _timed(lambda: model(x), device)
        phases["forward"].append(t)
        r = pred.detach() - y
        t, idx = _timed(lambda r=r: sampler(r), device)
        phases["select"].append(t)
        t, K = _timed(lambda idx=idx: entk(model, x[idx]), device)
        phases["entk"].append(t)
        t, bal = _timed(
            lambda K=K, w=warm: balance(K, cfg.end, solver=solver, warm=w, iters=iters), device
        )
        warm = bal.block
        phases["eigh_S"].append(t)
        t, loss = _timed(lambda p=pred, b=bal: adjusted_loss(p, y, b, grouping), device)
        phases["mix"].append(t)

        def back(loss: torch.Tensor = loss) -> None:
            opt.zero_grad()
            loss.backward()
            opt.step()

        phases["backward_step"].append(_timed(back, device)[0])
    return {k: 1e3 * statistics.median(t) for k, t in phases.items()}


_LOAD_SCRIPT = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(512, 512)
while True:
    for _ in range(50):
        a = torch.tanh(a @ a * 1e-3)
"""


@contextlib.contextmanager
def background_load(threads: int) -> Iterator[None]:
    """A competing CPU job (``threads`` torch threads of matrix products) while the block
    runs, as another training run on the same cores would be; nothing when ``threads`` is 0."""
    if threads <= 0:
        yield
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _LOAD_SCRIPT, str(threads)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)  # let it start computing
        yield
    finally:
        proc.kill()
        proc.wait()


def overhead(cfg: OverheadConfig, progress: Callable[[str], None] | None = None) -> dict:
    """Time vanilla and IGA steps for each arch; returns ``{arch: {...}}``."""
    from iga.tasks.image.task import BUNDLED_IMAGE

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    data = ImageData.from_file(cfg.path or BUNDLED_IMAGE, size=parse_size(cfg.size)).to(device)
    if cfg.patch > min(data.height, data.width):
        raise ValueError(
            f"--patch {cfg.patch} is larger than the image ({data.width}x{data.height}); "
            "use a smaller --patch"
        )
    check_groups(
        math.ceil(data.height / cfg.patch) * math.ceil(data.width / cfg.patch),
        device,
        "--patch",
        cfg.end,
    )
    out: dict[str, Any] = {}
    with background_load(cfg.background_load):
        for arch in cfg.arch_list:
            if progress:
                progress(f"timing {arch} (width {cfg.width}, {cfg.repeats} repeats)…")
            out[arch] = _one_arch(arch, cfg, data, device)
            out[arch]["device"] = str(device)
            out[arch]["threads"] = torch.get_num_threads()
            out[arch]["background_load"] = cfg.background_load
    if cfg.memory:
        for arch in cfg.arch_list:
            if progress:
                progress(f"peak memory of {arch}…")
            base = peak_memory(cfg, arch, "vanilla")
            out[arch]["vanilla_peak_mb"] = base / 2**20
            for variant, d in out[arch]["variants"].items():
                peak = peak_memory(cfg, arch, variant)
                d["peak_mb"] = peak / 2**20
                d["memory_ratio"] = peak / base
    return out


def memory_child(spec: str) -> None:
    """Run in a fresh process by :func:`peak_memory`: build the model and data of ``spec``
    (JSON: path, size, arch, width, hidden_layers, patch, end, steps, threads, variant), run
    ``steps`` training steps and print the process's peak resident set size in bytes."""
    import json

    a = json.loads(spec)
    if a["threads"]:
        torch.set_num_threads(a["threads"])
    from iga.tasks.image.task import BUNDLED_IMAGE

    data = ImageData.from_file(a["path"] or BUNDLED_IMAGE, size=parse_size(a["size"]))
    x, y = data.coords, data.target
    model = build(a["arch"], 2, 3, a["width"], a["hidden_layers"], seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    adj = None
    if a["variant"] != "vanilla":
        groups = groups_mod.grid((data.height, data.width), a["patch"])
        adj = IGA(model, groups, end=a["end"], **parse_variant(a["variant"]))
    for _ in range(a["steps"]):
        pred = model(x)
        loss = torch.nn.functional.mse_loss(pred, y) if adj is None else adj.loss(pred, y, x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(_own_peak_rss())


def _own_peak_rss() -> int:
    """This process's peak RSS in bytes. On Linux ``ru_maxrss`` survives ``exec``: a child
    started from a large parent reports at least the parent's RSS at the fork (every
    measurement read ~2 GB after the parent had timed a 768×512 image), so the high-water
    mark of the process's own memory map (``VmHWM``) is read instead; elsewhere
    ``ru_maxrss`` (KiB on Linux, bytes on macOS)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024


def peak_memory(cfg: OverheadConfig, arch: str, variant: str) -> int:
    """Peak RSS in bytes of a fresh process running ``warmup + repeats`` steps of ``variant``
    (``"vanilla"`` or an IGA variant) for ``arch``: what a training run's memory peaks at,
    interpreter and libraries included."""
    import json

    spec = json.dumps(
        {
            "path": cfg.path,
            "size": cfg.size,
            "arch": arch,
            "width": cfg.width,
            "hidden_layers": cfg.hidden_layers,
            "patch": cfg.patch,
            "end": cfg.end,
            "steps": cfg.warmup + cfg.repeats,
            "threads": cfg.threads,
            "variant": variant,
        }
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(
        [sys.executable, "-c", f"from iga.overhead import memory_child; memory_child({spec!r})"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory measurement failed: {done.stderr.strip().splitlines()[-1:]}")
    return int(done.stdout.strip().splitlines()[-1])


def format_overhead(res: dict) -> str:
    """Markdown table of :func:`overhead` results (one row per arch and IGA variant)."""
    keys = ("forward", "select", "entk", "eigh_S", "mix", "backward_step")
    lines = [
        "| arch | width | IGA variant | vanilla ms | IGA ms | ratio | first IGA step ms | "
        + " | ".join(keys)
        + " |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | "
        + " | ".join("---:" for _ in keys)
        + " |",
    ]
    for arch, r in res.items():
        for variant, d in r["variants"].items():
            b = d["breakdown_ms"]
            lines.append(
                f"| {arch} | {r['width']} | {variant} | {r['vanilla_ms']:.1f} | "
                f"{d['iga_ms']:.1f} | {d['ratio']:.2f} | {d.get('first_step_ms', math.nan):.0f} | "
                + " | ".join(f"{b[k]:.2f}" for k in keys)
                + " |"
            )
    memory = [
        f"| {arch} | {variant} | {r['vanilla_peak_mb']:.0f} | {d['peak_mb']:.0f} | "
        f"{d['memory_ratio']:.3f} |"
        for arch, r in res.items()
        if "vanilla_peak_mb" in r
        for variant, d in r["variants"].items()
    ]
    if memory:
        lines += [
            "",
            "| arch | IGA variant | vanilla peak MB | IGA peak MB | ratio |",
            "| --- | --- | ---: | ---: | ---: |",
            *memory,
        ]
    return "\n".join(lines)

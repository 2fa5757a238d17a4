"""IGA's overhead over a vanilla training step, timed side by side in one process.

Both steps use the same data and the same model architecture; they are interleaved
(vanilla, IGA, vanilla, IGA, …) so that machine noise hits both alike, and the median of the
repeats is reported. The IGA step is also broken down into its phases, timed by running the
same public pieces :class:`iga.IGA` chains (sampling, eNTK, eigh + S, mixing).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .core import IGA, Sampler, adjusted_loss, balance, entk
from .core import groups as groups_mod
from .models import build
from .tasks.base import check_groups
from .tasks.image_data import ImageData, parse_size
from .train import resolve_device

__all__ = ["OverheadConfig", "format_overhead", "overhead"]


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
    repeats: int = field(default=30, metadata={"help": "timed steps per method"})
    warmup: int = field(default=5, metadata={"help": "untimed steps first"})
    threads: int = field(default=0, metadata={"help": "torch CPU threads (0 = leave as is)"})
    device: str = field(default="auto", metadata={"help": "auto, cpu or cuda"})

    def __post_init__(self) -> None:
        from .models import ARCHS
        from .train import _check_device

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
        ):
            if value < low:
                raise ValueError(f"{flag} must be >= {low}; got {value}")
        _check_device(self.device)

    @property
    def arch_list(self) -> list[str]:
        """``archs`` as a list."""
        return [a.strip() for a in self.archs.split(",") if a.strip()]


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
    models = {
        m: build(arch, 2, 3, cfg.width, cfg.hidden_layers, seed=0).to(device)
        for m in ("vanilla", "iga")
    }
    opts = {m: torch.optim.Adam(models[m].parameters(), lr=1e-4) for m in models}
    adj = IGA(models["iga"], groups, end=cfg.end)
    x, y = data.coords, data.target

    def vanilla_step() -> None:
        loss = torch.nn.functional.mse_loss(models["vanilla"](x), y)
        opts["vanilla"].zero_grad()
        loss.backward()
        opts["vanilla"].step()

    def iga_step() -> None:
        loss = adj.loss(models["iga"](x), y, x)
        opts["iga"].zero_grad()
        loss.backward()
        opts["iga"].step()

    for _ in range(cfg.warmup):
        vanilla_step()
        iga_step()
    van, ig = [], []
    for _ in range(cfg.repeats):
        van.append(_timed(vanilla_step, device)[0])
        ig.append(_timed(iga_step, device)[0])

    # Breakdown: the same pieces IGA.loss chains, timed one by one.
    model, grouping = models["iga"], adj.grouping
    sampler = Sampler("max_residual", grouping)
    phases: dict[str, list[float]] = {
        k: [] for k in ("forward", "select", "entk", "eigh_S", "mix", "backward_step")
    }
    for _ in range(cfg.repeats):
        t, pred = _timed(lambda: model(x), device)
        phases["forward"].append(t)
        r = pred.detach() - y
        t, idx = _timed(lambda r=r: sampler(r), device)
        phases["select"].append(t)
        t, K = _timed(lambda idx=idx: entk(model, x[idx]), device)
        phases["entk"].append(t)
        t, bal = _timed(lambda K=K: balance(K, cfg.end), device)
        phases["eigh_S"].append(t)
        t, loss = _timed(lambda p=pred, b=bal: adjusted_loss(p, y, b.S, grouping), device)
        phases["mix"].append(t)

        def back(loss: torch.Tensor = loss) -> None:
            opts["iga"].zero_grad()
            loss.backward()
            opts["iga"].step()

        phases["backward_step"].append(_timed(back, device)[0])

    v, i = statistics.median(van), statistics.median(ig)
    res = {
        "vanilla_ms": 1e3 * v,
        "iga_ms": 1e3 * i,
        "ratio": i / v,
        "breakdown_ms": {k: 1e3 * statistics.median(t) for k, t in phases.items()},
        "width": cfg.width,
        "n_groups": int(groups.shape[0]),
        "pixels": data.num_pixels,
    }
    return res


def overhead(cfg: OverheadConfig, progress: Callable[[str], None] | None = None) -> dict:
    """Time vanilla and IGA steps for each arch; returns ``{arch: {...}}``."""
    from .tasks.image import BUNDLED_IMAGE

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
    for arch in cfg.arch_list:
        if progress:
            progress(f"timing {arch} (width {cfg.width}, {cfg.repeats} repeats)…")
        out[arch] = _one_arch(arch, cfg, data, device)
        out[arch]["device"] = str(device)
        out[arch]["threads"] = torch.get_num_threads()
    return out


def format_overhead(res: dict) -> str:
    """Markdown table of :func:`overhead` results."""
    keys = ("forward", "select", "entk", "eigh_S", "mix", "backward_step")
    lines = [
        "| arch | width | vanilla ms | IGA ms | ratio | " + " | ".join(keys) + " |",
        "| --- | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in keys) + " |",
    ]
    for arch, r in res.items():
        b = r["breakdown_ms"]
        lines.append(
            f"| {arch} | {r['width']} | {r['vanilla_ms']:.1f} | {r['iga_ms']:.1f} | "
            f"{r['ratio']:.2f} | " + " | ".join(f"{b[k]:.1f}" for k in keys) + " |"
        )
    return "\n".join(lines)

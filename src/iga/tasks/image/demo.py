"""``iga demo``: vanilla against IGA on the bundled Kodak image, side by side."""

from __future__ import annotations

import time
from pathlib import Path

from iga.io import atomic_write_text
from iga.models.config import ModelConfig
from iga.tasks.image.task import ImageFitConfig, compare, format_table
from iga.train import MethodConfig, TrainConfig

__all__ = ["demo"]


def demo(
    steps: int = 2000,
    seed: int = 0,
    device: str = "auto",
    out: str = "runs/demo",
    progress: bool = True,
    log: object = print,
) -> None:
    """Fit the bundled image with a PE network, vanilla and with IGA, into ``out/<method>``;
    write ``comparison.png``, ``spectra.png``, ``psnr.png`` and ``table.md`` to ``out``."""
    folder = Path(out)
    configs = {
        method: ImageFitConfig(
            size="192x128",
            patch=8,
            model=ModelConfig(arch="pe", width=64),
            method=MethodConfig(method=method, end=20),
            train=TrainConfig(steps=steps, seed=seed, device=device),
            out=str(folder / method),
            overwrite=True,
        )
        for method in ("vanilla", "iga")
    }
    say = log if callable(log) else print
    say(
        "Fitting Kodak image 3 at 192x128 with a 4-layer width-64 PE network "
        f"(8x8 patches = 384 groups), {steps} steps: vanilla (lr 1e-3) vs IGA (end 20, lr 5e-3)"
    )
    t = time.perf_counter()
    summaries = compare(configs, folder, progress=progress)
    table = format_table(summaries)
    atomic_write_text(folder / "table.md", table + "\n")
    say(table)
    took = time.perf_counter() - t
    say(f"wrote comparison.png, spectra.png, psnr.png and table.md to {folder} ({took:.0f} s)")

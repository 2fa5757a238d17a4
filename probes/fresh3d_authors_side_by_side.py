#!/usr/bin/env python
# ruff: noqa: E501
"""Side by side: iga's 3-D FreSh spectrum (``iga.models.fresh.volume_mask`` and
``volume_spectrum``, used by ``iga fit occupancy|sdf --fresh``) against the authors' 3-D path
of ``get_spectrum`` (``gmum/FreSh``, ``src/spectum_utils.py``: ``get_3d_fft_mask`` and
``_spectrum_from_fft`` on a ``[C, n, n, n]`` tensor), on the CPU.

Usage (iga's venv python):

    python probes/fresh3d_authors_side_by_side.py REF_SRC [--out OUT]

REF_SRC: a folder holding the authors' ``spectum_utils.py`` as in their repository (not
edited; it needs torch only, so nothing is patched). What is compared:

1. the 3-D masks of non-redundant DFT entries, n = 2 … 40: equal entry for entry;
2. the spectra (all entries, the mean dropped) of random cubes (n = 8, 17, 32, 64) and of
   the occupancy grids of the three bundled meshes at 32³ (what ``--fresh`` reads from the
   128³ training grid): max relative difference over the entries that are not zero.

Writes OUT/EVIDENCE_3d.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
MESHES = HERE.parents[1] / "shared" / "data" / "meshes"


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    on = np.abs(a) > 0
    assert np.array_equal(on, np.abs(b) > 0), "the spectra are zero at different entries"
    return float(np.max(np.abs(a[on] - b[on]) / np.abs(a[on])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ref_src")
    ap.add_argument("--out", default="results/rivals/evidence/fresh")
    args = ap.parse_args()
    torch.set_num_threads(1)
    sys.path.insert(0, args.ref_src)
    from spectum_utils import get_3d_fft_mask, get_spectrum  # theirs

    from iga.models import fresh
    from iga.tasks.common import cube_signal
    from iga.tasks.occupancy.grid import occupancy_grid

    bad = [
        n for n in range(2, 41) if not torch.equal(get_3d_fft_mask(n), fresh.volume_mask(n).float())
    ]
    rows = []
    gen = torch.Generator().manual_seed(0)
    for n in (8, 17, 32, 64):
        vol = torch.rand(1, n, n, n, generator=gen)
        a = get_spectrum(vol).double().numpy()
        rows.append((f"random cube {n}³", _rel(a, fresh.volume_spectrum(vol, crop=None))))
    for mesh in sorted(MESHES.glob("*.ply")) + sorted(MESHES.glob("*.obj")):
        _, target, shape = cube_signal(occupancy_grid(mesh, 128).occupancy)
        vol = target.reshape(1, *shape)
        a = get_spectrum(vol).double().numpy()
        rows.append(
            (f"{mesh.name} occupancy, 32³ of 128³", _rel(a, fresh.volume_spectrum(vol, crop=None)))
        )
    lines = [
        "# FreSh in 3-D: iga against the authors' functions",
        "",
        "Made by `python probes/fresh3d_authors_side_by_side.py REF_SRC` (gmum/FreSh at "
        "494ae6c, `src/spectum_utils.py` not edited; 1 torch thread).",
        "",
        f"- 3-D masks of non-redundant DFT entries, n = 2…40: {'identical' if not bad else f'differ at {bad}'}.",
        "- Spectra (every entry, the mean dropped; their float32 sums against iga's float64):",
        "",
        "| cube | max relative difference |",
        "| --- | ---: |",
        *(f"| {name} | {rel:.1e} |" for name, rel in rows),
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "EVIDENCE_3d.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

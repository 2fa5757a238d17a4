#!/usr/bin/env python
# ruff: noqa: E501
"""Side by side: iga's FreSh (``iga.models.fresh``, ``iga fit image --fresh``) against the
authors' functions (``gmum/FreSh``: ``src/spectum_utils.py``, ``src/metrics.py``,
``src/data_utils.py``), on the CPU.

Usage (iga's venv python):

    python probes/fresh_authors_side_by_side.py REF_SRC --torchvision TV_DIR [--out OUT]

REF_SRC: a folder holding the authors' ``spectum_utils.py``, ``metrics.py``, ``data_utils.py``
and ``config_utils.py`` as in their repository (not edited). TV_DIR: a ``pip install --target``
folder of torchvision (their ``resize_to_square`` calls torchvision's resize; iga does not
depend on torchvision). The one CPU patch: torchvision's compiled operators do not load against
every torch build, and resize needs none of them, so their registration is skipped while
torchvision is imported (``_import_torchvision``).

What is compared, on the eight Kodak images at iga's cpu tier (192x128, not square: both
sides resize) and at 128x128 (square: no resize):

1. the masks of non-redundant DFT entries, n = 2 … 80: equal entry for entry;
2. the image spectra (their ``get_spectrum(resize_to_square(x))[:64]`` against
   ``iga.models.fresh.image_spectrum``): max relative difference;
3. FreSh's selection for SIREN (first-layer ω₀ ∈ 10…200) and PE (levels 1…10) on iga's models
   (width 64, 3 hidden layers; 10 initialisations each): the distances from their
   ``get_wasserstein`` on their spectra against ``iga.models.fresh.select``; the same choice?

Writes OUT/fresh_side_by_side.json and OUT/EVIDENCE.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
KODAK = HERE.parents[1] / "shared" / "data" / "kodak"


def _import_torchvision(tv_dir: str) -> None:
    sys.path.insert(0, tv_dir)
    import torch.library

    original = torch.library.register_fake

    def skip(*args, **kwargs):
        return lambda fn: fn

    torch.library.register_fake = skip
    try:
        import torchvision  # noqa: F401
    finally:
        torch.library.register_fake = original


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ref_src")
    ap.add_argument("--torchvision", required=True)
    ap.add_argument("--out", default="results/rivals/evidence/fresh")
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument(
        "--deps",
        help="a pip --target folder with their config_utils imports (omegaconf, sortedcontainers)",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    _import_torchvision(args.torchvision)
    sys.path.insert(0, args.ref_src)
    if args.deps:
        sys.path.insert(1, args.deps)
    from data_utils import resize_to_square  # theirs
    from metrics import get_wasserstein  # theirs
    from spectum_utils import get_2d_fft_mask, get_spectrum  # theirs

    from iga.models import fresh
    from iga.models.config import ModelConfig
    from iga.tasks.image.data import ImageData
    from iga.tasks.image.task import ImageFitConfig, build_with

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {}

    # 1. masks
    bad = [
        n
        for n in range(2, 81)
        if not torch.equal(get_2d_fft_mask(n), fresh.spectrum_mask(n).float())
    ]
    report["masks_equal_n2_80"] = not bad
    report["masks_differ_at"] = bad

    def theirs(img: torch.Tensor) -> np.ndarray:
        return get_spectrum(resize_to_square(img))[:64].double().numpy()

    # 2. spectra, 3. selection
    rows = []
    for k in range(1, args.images + 1):
        path = KODAK / f"kodim{k:02d}.png"
        for size in ("192x128", "128x128"):
            w, h = (int(v) for v in size.split("x"))
            data = ImageData.from_file(path, size=(w, h))
            img = data.target.reshape(h, w, 3).permute(2, 0, 1)
            a, b = theirs(img), fresh.image_spectrum(img)
            spec_rel = float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-12)))
            row = {"image": path.name, "size": size, "spectrum_max_rel_diff": spec_rel}
            for arch in ("siren", "pe"):
                cfg = ImageFitConfig(
                    path=str(path), size=size, model=ModelConfig(arch=arch, width=64)
                )
                param, values = fresh.FRESH_PARAMS[arch]
                t0 = time.perf_counter()
                ours = fresh.select(
                    arch,
                    lambda extra, seed, cfg=cfg: build_with(cfg, extra, seed),
                    data.coords,
                    data.target,
                    (h, w),
                )
                ours_s = time.perf_counter() - t0
                gt = theirs(img)
                their_d = {}
                for v in values:
                    value = int(v) if param == "pe_levels" else float(v)
                    ds = []
                    for s in range(fresh.INITS):
                        model = build_with(cfg, {param: value}, s)
                        with torch.no_grad():
                            o = model(data.coords).reshape(h, w, 3).permute(2, 0, 1)
                        ds.append(get_wasserstein(gt, theirs(o)))
                    their_d[value] = float(np.mean(ds))
                their_choice = min(their_d, key=their_d.get)
                row[arch] = {
                    "param": param,
                    "ours": ours.value,
                    "theirs": their_choice,
                    "max_abs_distance_diff": max(
                        abs(their_d[v] - ours.distances[v][0]) for v in their_d
                    ),
                    "selection_seconds": round(ours_s, 2),
                    "distances_ours": {str(v): round(d[0], 4) for v, d in ours.distances.items()},
                }
            rows.append(row)
            print(
                json.dumps(
                    {
                        k2: (
                            v2
                            if not isinstance(v2, dict)
                            else {x: v2[x] for x in ("ours", "theirs", "max_abs_distance_diff")}
                        )
                        for k2, v2 in row.items()
                    }
                ),
                flush=True,
            )
    report["rows"] = rows
    (out / "fresh_side_by_side.json").write_text(json.dumps(report, indent=1))

    lines = [
        "# FreSh: iga against the authors' functions",
        "",
        "Made by `python probes/fresh_authors_side_by_side.py REF_SRC --torchvision TV_DIR` "
        "(gmum/FreSh at 494ae6c; torchvision 0.28.0 for their resize; 1 torch thread).",
        "",
        f"- Masks of non-redundant DFT entries, n = 2…80: {'identical' if not bad else f'differ at {bad}'}.",
        f"- Spectra (first 64 entries), Kodak 1–{args.images} at 192×128 (resized to 128×128) and at 128×128: "
        f"max relative difference {max(r['spectrum_max_rel_diff'] for r in rows):.2e}.",
        "",
        "| image | size | SIREN ω₀ ours / theirs | max Δ distance | PE levels ours / theirs | max Δ distance | selection s (SIREN, PE) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        s, p = r["siren"], r["pe"]
        lines.append(
            f"| {r['image']} | {r['size']} | {s['ours']:g} / {s['theirs']:g} | {s['max_abs_distance_diff']:.1e} | "
            f"{p['ours']} / {p['theirs']} | {p['max_abs_distance_diff']:.1e} | {s['selection_seconds']}, {p['selection_seconds']} |"
        )
    (out / "EVIDENCE.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

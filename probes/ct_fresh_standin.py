#!/usr/bin/env python
"""How good a stand-in for the slice is its filtered back-projection, for FreSh on CT?

``iga fit ct --fresh`` matches the network's output spectrum to the FBP of the projections the
run trains on (:func:`iga.tasks.ct.task.fresh_signal`): CT never sees the slice. This probe
sets that choice beside the one FreSh would make on the slice itself (which no real run can
make), for the CT benchmark's slices, angle counts and archs at its cpu tier, seed 0, and
prints a markdown table: the chosen value on each, and the Wasserstein distance of each
candidate's spectrum to the slice's for the FBP's choice (how much the stand-in costs FreSh).

Usage (iga's venv python; about a minute of one core):

    python probes/ct_fresh_standin.py [--data ../shared/data/ct] [--angles 20,50,100]
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import torch

from iga.models import fresh
from iga.tasks.ct import task as ct
from iga.tasks.ct.bench import TIERS
from iga.tasks.image.data import image_coords


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/ct")
    parser.add_argument("--angles", default="20,50,100")
    parser.add_argument("--archs", default="siren,pe")
    args = parser.parse_args()
    torch.set_num_threads(1)
    slices = {"chest": str(Path(args.data) / "chest.png"), "phantom": "phantom"}
    print("| slice | angles | arch | FreSh on the FBP | FreSh on the slice | FBP PSNR (dB) |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for name, path in slices.items():
        for angles in (int(a) for a in args.angles.split(",")):
            for arch in args.archs.split(","):
                tier = TIERS["cpu"]
                cfg = replace(
                    tier,
                    path=path,
                    angles=angles,
                    model=replace(tier.model, arch=arch, fresh="auto"),
                )
                coords, stand_in, shape = ct.fresh_signal(cfg)
                truth = torch.from_numpy(ct.measurements(cfg)[0].astype("float32"))
                values = fresh.parse_values(arch, "auto")

                def make(extra: dict, seed: int, cfg=cfg) -> torch.nn.Module:
                    return ct._build(cfg, {**cfg.model.options, **extra}, seed)

                on_fbp = fresh.select(arch, make, coords, stand_in, shape, values, seed=0)
                on_truth = fresh.select(
                    arch,
                    make,
                    image_coords(cfg.size, cfg.size),
                    truth.reshape(-1, 1),
                    shape,
                    values,
                    seed=0,
                )
                err = ((stand_in.reshape(truth.shape) - truth) ** 2).mean()
                psnr = float(-10 * torch.log10(err))
                print(
                    f"| {name} | {angles} | {arch} | {on_fbp.param}={on_fbp.value:g} | "
                    f"{on_truth.value:g} | {psnr:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()

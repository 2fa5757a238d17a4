"""FR's bases and its first Adam step, against vanilla from the same initial function.

Two measurements (same seed, kodim01 at 192×128, lr 1e-3):

1. The basis matrix B of every hidden width: the share of constant rows (a frequency sampled
   at a multiple of its period) and the largest / median singular value. An aliased B (the
   bug fixed in issue 8: spacing T/in instead of the authors' T/(in-1)) had 13-53 % constant
   rows and one direction 4-11x the median; the authors' B has 0-6 % and 1.4-1.7x.
2. One Adam step of FR (``fr_init="solve"``: Λ₀B ≈ W₀, so FR starts from the vanilla
   function up to the end-column average) against one of its merged plain model (exactly the
   same function): ‖ΔW‖/‖W‖ of the first hidden-to-hidden layer and the image MSE after the step.
   With the aliased B this step took PE's MSE from 0.23 to 22.8; sound bases keep it near
   vanilla's.

    python probes/fr_first_step.py [--data ../shared/data/kodak/kodim01.png]
"""

from __future__ import annotations

import argparse

import torch
from iga.tasks.image_data import ImageData

from iga.models import FR_ALPHA, FRINR, build, fourier_bases


def hidden_weight(model: torch.nn.Module) -> torch.Tensor:
    """The effective weight of the first hidden-to-hidden layer (ΛB for FR, via its merge)."""
    plain = model.merge() if isinstance(model, FRINR) else model
    linears = [m for m in plain.modules() if isinstance(m, torch.nn.Linear)]
    return linears[1].weight.detach().clone()


def one_step(model: torch.nn.Module, data: ImageData, lr: float) -> dict[str, float]:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    w0 = hidden_weight(model)
    loss = ((model(data.coords) - data.target) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    w1 = hidden_weight(model)
    with torch.no_grad():
        after = ((model(data.coords) - data.target) ** 2).mean().item()
    return {"rel_dw": ((w1 - w0).norm() / w0.norm()).item(), "before": loss.item(), "after": after}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/kodak/kodim01.png")
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    torch.set_num_threads(1)

    print("| width | constant rows of B | s_max / s_median |")
    print("| ---: | ---: | ---: |")
    for width in (16, 32, 64, 128, 256, 512):
        b = fourier_bases(width)
        constant = ((b.max(dim=1).values - b.min(dim=1).values) < 1e-6).double().mean()
        s = torch.linalg.svdvals(b)
        print(f"| {width} | {100 * constant:.1f} % | {s[0] / s.median():.2f} |")
    print()

    data = ImageData.from_file(args.data, size=(192, 128))
    cols = ["arch", "α", "width", "‖ΔW‖/‖W‖ vanilla / FR", "MSE before", "MSE after vanilla / FR"]
    print("| " + " | ".join(cols) + " |")
    print("| --- | ---: | ---: | --- | ---: | --- |")
    for arch in ("relu", "pe", "siren"):
        for width in (64, 256):
            fr = build(arch, 2, 3, width, 3, seed=0, method="fr", fr_init="solve")
            vanilla = fr.merge()  # the same function, trained plainly
            v = one_step(vanilla, data, args.lr)
            f = one_step(fr, data, args.lr)
            print(
                f"| {arch} | {FR_ALPHA[arch]:g} | {width} "
                f"| {v['rel_dw']:.3f} / {f['rel_dw']:.3f} | {v['before']:.4f} "
                f"| {v['after']:.4f} / {f['after']:.4f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

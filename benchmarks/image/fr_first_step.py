"""How far one Adam step moves the hidden weights of an FR model, against the vanilla model.

Why FR collapses at the cpu tier with the authors' α: W = ΛB has 8192 trainable coefficients
per output unit, and Adam moves every one by about lr on its first steps, so ΔW = ΔΛ·B is far
larger than a vanilla Adam step on W. Same seed, same data (kodim01 at 192×128), lr 1e-3.

    python benchmarks/image/fr_first_step.py [--data ../shared/data/kodak/kodim01.png]

Prints, per arch and width: mean |ΔW| of the first hidden-to-hidden layer, ‖ΔW‖/‖W‖, and the
full-image MSE before and after the step, for vanilla and FR.
"""

from __future__ import annotations

import argparse

import torch

from iga.models import FR_ALPHA, FRINR, build
from iga.tasks.image_data import ImageData


def hidden_weight(model: torch.nn.Module) -> torch.Tensor:
    """The effective weight of the first hidden-to-hidden layer (ΛB for FR, via its merge)."""
    plain = model.merge() if isinstance(model, FRINR) else model
    linears = [m for m in plain.modules() if isinstance(m, torch.nn.Linear)]
    return linears[1].weight.detach().clone()


def one_step(arch: str, width: int, method: str, data: ImageData, lr: float) -> dict[str, float]:
    model = build(arch, 2, 3, width, 3, seed=0, method=method)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    w0 = hidden_weight(model)
    loss = ((model(data.coords) - data.target) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    w1 = hidden_weight(model)
    with torch.no_grad():
        after = ((model(data.coords) - data.target) ** 2).mean().item()
    return {
        "mean_abs_dw": (w1 - w0).abs().mean().item(),
        "rel_dw": ((w1 - w0).norm() / w0.norm()).item(),
        "mse_before": loss.item(),
        "mse_after": after,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/kodak/kodim01.png")
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = ImageData.from_file(args.data, size=(192, 128))
    cols = ["arch", "α", "width", "mean abs ΔW van / FR", "‖ΔW‖/‖W‖ van / FR", "MSE after van / FR"]
    print("| " + " | ".join(cols) + " |")
    print("| --- | ---: | ---: | --- | --- | --- |")
    for arch in ("relu", "pe", "siren"):
        for width in (64, 256):
            v = one_step(arch, width, "vanilla", data, args.lr)
            f = one_step(arch, width, "fr", data, args.lr)
            print(
                f"| {arch} | {FR_ALPHA[arch]:g} | {width} "
                f"| {v['mean_abs_dw']:.1e} / {f['mean_abs_dw']:.1e} "
                f"| {v['rel_dw']:.3f} / {f['rel_dw']:.3f} "
                f"| {v['mse_after']:.3f} / {f['mse_after']:.3g} (from {v['mse_before']:.3f}) |",
                flush=True,
            )


if __name__ == "__main__":
    main()

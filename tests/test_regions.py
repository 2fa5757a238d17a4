"""Activation regions: counts against networks whose regions are known by construction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from iga.analysis.regions import (
    RegionImageTask,
    activation_patterns,
    regions_1d,
    regions_2d,
)
from iga.cli import main
from iga.models import INR, build
from iga.models.config import ModelConfig
from iga.tasks.base import fit
from iga.tasks.image.data import image_coords
from iga.tasks.image.task import ImageFitConfig
from iga.train import MethodConfig, TrainConfig


def one_layer(w: list[float], b: list[float], d: int = 1) -> INR:
    """A one-hidden-layer ReLU INR with the given first-layer weights and biases."""
    net = nn.Sequential(nn.Linear(d, len(b)), nn.ReLU(), nn.Linear(len(b), 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(w, dtype=torch.float32).reshape(len(b), d))
        net[0].bias.copy_(torch.tensor(b, dtype=torch.float32))
    return INR(net, arch="relu")


def test_one_hidden_layer_pieces_are_at_minus_b_over_w() -> None:
    w = [1.0, -2.0, 0.5, 3.0, 1.0]
    b = [0.3, 0.4, 0.2, -0.9, 5.0]  # the last unit switches at -5: outside [-1, 1]
    res = regions_1d(one_layer(w, b), -1.0, 1.0)
    want = sorted(-bi / wi for wi, bi in zip(w, b, strict=True) if -1 < -bi / wi < 1)
    assert res.count == len(want) + 1 <= len(w) + 1
    np.testing.assert_allclose(res.boundaries, want, atol=1e-6)


def test_coincident_breakpoints_count_once_and_idle_units_none() -> None:
    # Two units switch at x = 0.25 (same hyperplane), one never switches on [-1, 1].
    res = regions_1d(one_layer([2.0, 4.0, 0.0], [-0.5, -1.0, 1.0]), -1.0, 1.0)
    assert res.count == 2 and res.patterns == 2
    np.testing.assert_allclose(res.boundaries, [0.25], atol=1e-6)


def test_random_one_layer_net_has_at_most_width_plus_one_pieces() -> None:
    torch.manual_seed(0)
    model = build("relu", 1, 1, 12, 1, seed=3)
    lin = model.linears[0]
    xs = (-lin.bias / lin.weight[:, 0]).detach()
    inside = xs[(xs > -1) & (xs < 1)].sort().values
    res = regions_1d(model, -1.0, 1.0)
    assert res.count == inside.numel() + 1 <= 13
    np.testing.assert_allclose(res.boundaries, inside.numpy(), atol=1e-5)


def test_lines_in_general_position_make_the_known_number_of_regions() -> None:
    # k lines through the square, every pair crossing inside it: k(k+1)/2 + 1 regions.
    w = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0]]
    b = [-0.1, 0.2, 0.05, -0.5]  # no three lines through one point
    model = one_layer([v for row in w for v in row], b, d=2)
    h = wd = 201
    res = regions_2d(model, image_coords(h, wd), h, wd)
    k = len(b)
    assert res.count == k * (k + 1) // 2 + 1
    assert res.patterns == res.count  # each region of an arrangement has its own pattern
    assert res.boundaries.shape == (h, wd) and 0 < res.boundaries.mean() < 0.1


def test_patterns_of_pe_and_errors_for_other_archs() -> None:
    model = build("pe", 2, 3, 8, 2, seed=0, pe_levels=2)
    x = torch.rand(5, 2)
    pat = activation_patterns(model, x)
    assert pat.shape == (5, 16) and pat.dtype == torch.bool
    z = model.linears[0](model.encoding(x))
    assert torch.equal(pat[:, :8], z > 0)
    with pytest.raises(ValueError, match="ReLU activations only.*Sine"):
        activation_patterns(build("siren", 2, 3, 8, 2), x)
    with pytest.raises(ValueError, match="plain ReLU INR"):
        activation_patterns(build("relu", 2, 3, 8, 2, method="fr"), x)


def test_image_probe_logs_regions_of_the_current_weights(png: Path, tmp_path: Path) -> None:
    cfg = ImageFitConfig(
        path=str(png),
        patch=4,
        model=ModelConfig(arch="relu", width=8, hidden_layers=2),
        method=MethodConfig(method="iga", end=3),
        train=TrainConfig(steps=5, device="cpu"),
        out=str(tmp_path / "run"),
    )
    fit(RegionImageTask(every=2, oversample=2), cfg, progress=False)
    saved = np.load(tmp_path / "run" / "regions.npz")
    assert saved["steps"].tolist() == [0, 2, 4] and saved["boundary"].shape == (3, 32, 32)
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"regions", "patterns", "boundary_frac"} <= set(header)
    siren = ImageFitConfig(
        path=str(png), model=ModelConfig(arch="siren", width=8), out=str(tmp_path / "s")
    )
    with pytest.raises(ValueError, match="ReLU activations only"):
        fit(RegionImageTask(every=1), siren, progress=False)


@pytest.mark.parametrize("dim", [1, 2])
def test_cli_analyze_regions(
    dim: int, png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "regions"
    argv = ["analyze", "regions", "--dim", str(dim), "--steps", "4", "--every", "2", "--quiet"]
    argv += ["--width", "8", "--hidden-layers", "2", "--device", "cpu", "--out", str(out)]
    if dim == 2:
        argv += ["--image", str(png), "--size", "16x16", "--end", "3", "--oversample", "2"]
    else:
        argv += ["--freqs", "2,5", "--end", "3"]
    assert main(argv) == 0
    assert "relu/iga:" in capsys.readouterr().out
    record = json.loads((out / "regions.json").read_text())
    assert set(record["runs"]) == {"relu/vanilla", "relu/iga", "pe/vanilla", "pe/iga"}
    assert record["runs"]["pe/iga"]["regions"][0] >= 1
    assert (out / "regions.png").stat().st_size > 0


def test_cli_regions_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "x"
    for argv in (["--archs", "siren"], ["--dim", "3"], ["--dim", "1", "--freqs", "0"]):
        assert main(["analyze", "regions", *argv, "--out", str(out)]) in (1, 2)
        err = capsys.readouterr().err
        assert err.startswith("iga: error: ") and err.count("\n") == 1 and argv[-2] in err, err
    assert not out.exists()

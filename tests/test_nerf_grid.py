"""The NeRF occupancy grid (``--grid``, iga.models.occupancy_grid): the warp of the coarse
samples, the grid's update on a known density, renders against a hand-computed integral,
resume, errors, loading, and the grid-off path left as it was."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from _interrupt import interrupt_at
from _nerf_scene import write_scene
from PIL import Image
from torch import nn

import iga
import iga.models.occupancy_grid as og
from iga.cli import main
from iga.io import to_jsonable
from iga.models.nerf import NeRF, NeRFConfig, NeRFField
from iga.models.occupancy_grid import OccupancyGrid, warp_depths
from iga.models.render import stratified_depths
from iga.runs import CHECKPOINT_FILE, config_key
from iga.tasks.base import TrainingInterrupted, fit
from iga.tasks.nerf.task import NeRFFitConfig, NeRFTask, RenderConfig, fit_nerf, run_key
from iga.train import MethodConfig, TrainConfig

TINY_NET = NeRFConfig(depth=2, width=16, skip=-1, multires=3, multires_views=2)
CENTRE, RADIUS = torch.tensor([0.2, -0.1, 0.1]), 0.5
EYE = torch.tensor([0.0, 0.0, 4.0])
NEAR, FAR = 2.0, 6.0


class Ball(nn.Module):
    """A field of density ``sigma`` inside a ball (0 outside) and one colour; raw outputs as
    :class:`NeRFField`'s (``sigmoid`` of the colour logits, ``relu`` of σ)."""

    logits = torch.tensor([2.0, -1.0, 0.0])

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.value = sigma

    def density(self, points: torch.Tensor) -> torch.Tensor:
        return self.value * ((points - CENTRE).norm(dim=-1) < RADIUS).to(points.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = self.logits.expand(x.shape[0], 3)
        return torch.cat([rgb, self.density(x[:, :3])[:, None]], dim=-1)


def chord(o: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Depths (t0, t1) where the rays ``o + t d`` enter and leave the ball (NaN: a miss)."""
    oc = o - CENTRE
    a, b, c = (d * d).sum(-1), 2 * (oc * d).sum(-1), (oc * oc).sum(-1) - RADIUS**2
    root = torch.sqrt(b * b - 4 * a * c)  # NaN where the ray misses
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


def ball_rays(n: int, spread: float = 0.8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit rays from EYE towards random points of a cube of edge ``spread`` at the centre."""
    g = torch.Generator().manual_seed(seed)
    target = CENTRE + (torch.rand(n, 3, generator=g) - 0.5) * spread
    d = target - EYE
    return EYE.expand(n, 3), d / d.norm(dim=-1, keepdim=True)


def ball_nerf(sigma: float, grid: int, updates: int, n: int = 32) -> NeRF:
    """A NeRF whose coarse and fine fields are the ball, its grid updated ``updates`` times."""
    model = NeRF(TINY_NET, RenderConfig(n_coarse=n, n_fine=n, grid=grid), NEAR, FAR)
    model.coarse = model.fine = Ball(sigma)  # type: ignore[assignment]
    for k in range(updates):
        model.update_grid(16 * k, 0)
    return model.eval()


# --- (a) the warp ---------------------------------------------------------------------------


def test_warp_depths_by_hand() -> None:
    edges = torch.tensor([2.0, 3.0, 4.0, 6.0])
    weights = torch.tensor([[1.0, 2.0, 1.0]])  # cdf 0, 1/4, 3/4, 1
    u = torch.tensor([[0.0, 0.1, 0.5, 0.9, 1.0]])
    # 0.1: a 0.4 of bin [2, 3]; 0.5: halfway through [3, 4]; 0.9: 0.6 of [4, 6]
    want = torch.tensor([[2.0, 2.4, 3.5, 5.2, 6.0]])
    torch.testing.assert_close(warp_depths(edges, weights, u), want)


@pytest.mark.parametrize("perturb", [True, False])
def test_an_all_occupied_grid_keeps_the_plain_depths(perturb: bool) -> None:
    o, d = ball_rays(64)
    g = torch.Generator().manual_seed(3)
    z = stratified_depths(NEAR, FAR, 16, 64, perturb, generator=g)
    grid = OccupancyGrid(16, bound=1.5, threshold=0.01, floor=0.01)  # before any update
    assert bool(grid.occupied.all())
    torch.testing.assert_close(grid.depths(o, d, z, NEAR, FAR), z, atol=1e-5, rtol=0)
    # The check can fail: with the half z < 0 of the box empty (the far part of each ray),
    # the depths move towards the cameras.
    grid.occupied[:, :, :8] = False
    moved = grid.depths(o, d, z, NEAR, FAR) - z
    assert float(moved.max()) <= 1e-5 and float(moved.min()) < -0.5


def test_a_nerf_with_an_all_occupied_grid_renders_as_without() -> None:
    torch.manual_seed(0)
    plain = NeRF(TINY_NET, RenderConfig(n_coarse=16, n_fine=16), NEAR, FAR)
    cfg = RenderConfig(n_coarse=16, n_fine=16, grid=8)
    gridded = NeRF(TINY_NET, cfg, NEAR, FAR)
    gridded.load_state_dict(plain.state_dict(), strict=False)  # the grid: all occupied
    o, d = ball_rays(50)
    rays = torch.cat([o, d], dim=-1)
    for training in (False, True):  # eval: fixed depths; training: the same jitter
        plain.train(training)
        gridded.train(training)
        torch.manual_seed(1)
        want = plain(rays)
        torch.manual_seed(1)
        torch.testing.assert_close(gridded(rays), want, atol=1e-5, rtol=0)


def test_lookup_by_hand() -> None:
    grid = OccupancyGrid(4, bound=2.0, threshold=0.01, floor=0.01)  # cells of 1: [-2, -1), ...
    grid.occupied.zero_()
    grid.occupied[1, 2, 3] = True  # x in [-1, 0), y in [0, 1), z in [1, 2]
    points = torch.tensor(
        [
            [-0.5, 0.5, 1.5],  # in the cell
            [-0.5, 0.5, 0.5],  # the cell below: empty
            [0.5, 0.5, 1.5],  # the cell beside: empty
            [-0.5, 0.5, 7.0],  # beyond the box above the cell: the cell's occupancy
            [-0.5, 0.5, -7.0],  # beyond the box on the other side: empty
        ]
    )
    assert grid.lookup(points).tolist() == [True, False, False, True, False]


# --- (b) the update on a known density, and where the samples go ---------------------------


def _cells(res: int, bound: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest and farthest distance from CENTRE of every cell box (x-major order)."""
    cell = 2 * bound / res
    i = torch.arange(res, dtype=torch.float32)
    lo = torch.stack(torch.meshgrid(i, i, i, indexing="ij"), -1).reshape(-1, 3) * cell - bound
    hi = lo + cell
    nearest = (CENTRE.clamp(lo, hi) - CENTRE).norm(dim=-1)
    farthest = torch.maximum((lo - CENTRE).abs(), (hi - CENTRE).abs()).norm(dim=-1)
    return nearest, farthest


def test_the_grid_marks_a_ball_and_its_coarse_samples_fall_inside() -> None:
    res, bound, floor = 16, 1.5, 0.01
    grid = OccupancyGrid(res, bound, threshold=0.01, floor=floor)
    ball = Ball(20.0)
    for k in range(6):
        grid.update(ball.density, 16 * k, og.update_generator(0, 16 * k))
    nearest, farthest = _cells(res, bound)
    binary = grid.binary().reshape(-1)
    assert not binary[nearest > RADIUS].any()  # cells wholly outside: empty
    assert binary[farthest < RADIUS].all()  # cells wholly inside: occupied
    # the sampling grid is that grown by the margin, and no more
    occupied = grid.occupied.reshape(-1)
    margin = grid.dilation * grid.cell * math.sqrt(3)
    assert occupied[binary].all() and occupied.sum() > binary.sum()
    assert not occupied[nearest > RADIUS + margin].any()

    o, d = ball_rays(200, spread=0.6)  # every ray hits the ball
    t0, t1 = chord(o, d)
    assert not (t0.isnan().any() or t1.isnan().any())
    s = 16
    z = grid.depths(o, d, stratified_depths(NEAR, FAR, s, 200, generator=torch.Generator()), 2, 6)
    # The occupied stretch of a ray lies within the chord, widened by the margin, a cell
    # (a boundary cell holds the ball only in part) and a candidate bin.
    slack = margin + grid.cell * math.sqrt(3) + (FAR - NEAR) / grid.candidates
    outside = ((z < t0[:, None] - slack) | (z > t1[:, None] + slack)).sum(-1)
    # What the floor leaves in empty space, per ray, from its own lookups.
    edges = torch.linspace(NEAR, FAR, grid.candidates + 1)
    mids = 0.5 * (edges[1:] + edges[:-1])
    n_occ = grid.lookup(o[:, None] + d[:, None] * mids[None, :, None]).sum(-1).float()
    n_empty = grid.candidates - n_occ
    share = floor * n_empty / (n_occ + floor * n_empty)
    assert (outside <= share * s + 2).all()  # stratified: at most two beyond the floor's share
    assert float(share.max()) < 0.15 and float(outside.float().mean()) < 1.0
    # A ray that misses the box keeps its plain depths.
    away = torch.tensor([[0.0, 0.0, 1.0]])
    z0 = stratified_depths(NEAR, FAR, s, 1, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(grid.depths(EYE[None], away, z0, NEAR, FAR), z0)


# --- (c) renders -----------------------------------------------------------------------------


def _render_errors(model: NeRF, sigma: float) -> tuple[float, float]:
    """Largest errors of the fine and coarse colours against the ball's integral."""
    o, d = ball_rays(400)
    t0, t1 = chord(o, d)
    opacity = 1 - torch.exp(-sigma * torch.nan_to_num(t1 - t0))  # unit rays: depth = length
    want = torch.sigmoid(Ball.logits) * opacity[:, None] + (1 - opacity[:, None])
    with torch.no_grad():
        out = model(torch.cat([o, d], dim=-1))
    fine, coarse = (out[:, :3] - want).abs().max(), (out[:, 3:] - want).abs().max()
    return float(fine), float(coarse)


@pytest.mark.parametrize("sigma", [1.0, 50.0])
def test_a_render_with_the_grid_loses_nothing_where_the_density_is(sigma: float) -> None:
    plain = _render_errors(ball_nerf(sigma, 0, 0), sigma)
    gridded = _render_errors(ball_nerf(sigma, 32, 20), sigma)
    # The same samples as the plain render's, crowded into the ball: no worse, fine or coarse.
    assert gridded[0] <= plain[0] + 1e-3 and gridded[1] <= plain[1] + 1e-3, (gridded, plain)
    assert max(gridded) < 0.03
    # 16 + 16 samples with the grid against 32 + 32 without: within 0.01.
    fewer = _render_errors(ball_nerf(sigma, 32, 20, n=16), sigma)
    assert max(fewer) <= max(plain) + 0.01, (fewer, plain)


def test_without_the_margin_a_semi_transparent_render_goes_wrong(monkeypatch) -> None:
    # What the margin is for (OccupancyGrid.dilation): the last sample inside the ball would
    # claim the sparse stretch of empty space behind it.
    with_margin = _render_errors(ball_nerf(1.0, 32, 20), 1.0)
    monkeypatch.setattr(OccupancyGrid, "dilation", property(lambda self: 0))
    without = _render_errors(ball_nerf(1.0, 32, 20), 1.0)
    assert without[1] > 0.1 > 3 * with_margin[1], (without, with_margin)


def test_density_is_the_forward_sigma() -> None:
    torch.manual_seed(0)
    x = torch.randn(40, 6)
    for method in ("vanilla", "bn"):
        net = NeRFField(TINY_NET, method).eval()
        torch.testing.assert_close(net.density(x[:, :3]), torch.relu(net(x)[:, 3]))


def test_the_update_leaves_the_networks_as_they_were() -> None:
    torch.manual_seed(0)
    model = NeRF(TINY_NET, RenderConfig(n_coarse=4, n_fine=4, grid=8), NEAR, FAR, "bn")
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("grid.")}
    model.train()
    model.update_grid(0, 0)
    assert model.coarse.training and model.fine is not None and model.fine.training
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())  # BN statistics too
    # Deterministic in (seed, step): the same update twice gives the same grid.
    other = NeRF(TINY_NET, RenderConfig(n_coarse=4, n_fine=4, grid=8), NEAR, FAR, "bn")
    other.load_state_dict(before, strict=False)
    other.update_grid(0, 0)
    assert torch.equal(other.grid.opacity, model.grid.opacity)  # type: ignore[union-attr]


# --- (d) a run: resume, loading --------------------------------------------------------------


def _grid_fit(root: Path, out: Path, steps: int = 30, **train: object) -> NeRFFitConfig:
    return NeRFFitConfig(
        scene=str(root),
        size=0,
        test_views=1,
        val_views=1,
        validate_every=10,
        batch_rays=32,
        turntable_frames=0,
        net=TINY_NET,
        render=RenderConfig(
            n_coarse=8, n_fine=8, chunk=64, grid=16, grid_every=3, grid_threshold=0.9
        ),  # threshold: the mean opacity (a tiny net on noise images has density everywhere)
        method=MethodConfig(method="vanilla", end=3),
        train=TrainConfig(steps=steps, lr=5e-3, schedule="exp", **train),  # type: ignore[arg-type]
        out=str(out),
    )


def test_resume_with_the_grid_is_bit_for_bit(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(og, "GRID_WARMUP", 9)  # the random-cell updates too, in 30 steps
    root = write_scene(tmp_path / "scene", size=8, views=2)
    straight = fit_nerf(_grid_fit(root, tmp_path / "straight"), progress=False)
    cfg = _grid_fit(root, tmp_path / "resumed", checkpoint_every=10)
    with pytest.raises(TrainingInterrupted):
        fit(interrupt_at(NeRFTask(), 17), cfg, progress=False)
    assert (Path(cfg.out) / CHECKPOINT_FILE).is_file()
    resumed = fit_nerf(cfg, progress=False, resume=True)
    for k in ("psnr_test", "psnr_val_best", "best_step", "psnr_test_views"):
        assert resumed[k] == straight[k], k
    a = torch.load(tmp_path / "straight" / "final.pt")
    b = torch.load(tmp_path / "resumed" / "final.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # the grid was updated and steers the samples: part of the box is empty
    assert 0 < float(a["grid.occupied"].float().mean()) < 1
    rows = (tmp_path / "straight" / "metrics.csv").read_text().splitlines()
    assert "grid_occupied" in rows[0].split(",")


def test_a_grid_run_loads_and_renders_its_test_view(tmp_path: Path) -> None:
    root = write_scene(tmp_path / "scene", size=8, views=2)
    out = tmp_path / "run"
    fit_nerf(_grid_fit(root, out, steps=12), progress=False)
    field = iga.load(out)
    assert field.renderer.grid is not None  # type: ignore[attr-defined]
    best = torch.load(out / "best.pt")
    assert torch.equal(field.renderer.grid.occupied, best["grid.occupied"])  # type: ignore[attr-defined]
    pose = json.loads((root / "transforms_test.json").read_text())["frames"][0]
    view = field.render(torch.tensor(pose["transform_matrix"]))  # type: ignore[attr-defined]
    png = np.asarray(Image.open(out / "test" / "000.png"), dtype=np.float32) / 255.0
    np.testing.assert_allclose(view.numpy(), png[..., :3], atol=0.6 / 255)


# --- (e) errors, (f) the default path ---------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        ({"grid": -1}, "--grid"),
        ({"grid": 1}, "--grid"),
        ({"grid": 1000}, "--grid"),
        ({"grid": True}, "--grid"),
        ({"grid": 8, "grid_every": 0}, "--grid-every"),
        ({"grid_threshold": 0.0}, "--grid-threshold"),
        ({"grid_threshold": 1.5}, "--grid-threshold"),
        ({"grid_bound": 0.0}, "--grid-bound"),
        ({"grid_bound": math.inf}, "--grid-bound"),
        ({"grid_floor": 0.0}, "--grid-floor"),
        ({"grid_floor": 2.0}, "--grid-floor"),
    ],
)
def test_bad_grid_options_are_one_line_errors(options: dict[str, object], flag: str) -> None:
    with pytest.raises(ValueError, match=flag) as e:
        RenderConfig(**options)  # type: ignore[arg-type]
    assert "\n" not in str(e.value)


def test_a_bad_grid_flag_on_the_command_line(tmp_path: Path, capsys) -> None:
    code = main(["fit", "nerf", str(tmp_path), "--grid", "1", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.splitlines()
    assert code not in (0, None) and len(err) == 1 and "--grid" in err[0], err


def test_grid_off_is_the_nerf_of_before() -> None:
    torch.manual_seed(0)
    model = NeRF(TINY_NET, RenderConfig(), NEAR, FAR)
    assert model.grid is None
    assert not [k for k in model.state_dict() if k.startswith("grid")]
    # Runs made before the grid options existed keep their keys (they are not re-run).
    cfg = NeRFFitConfig(scene="s")
    old = to_jsonable(asdict(cfg))
    for k in ("grid", "grid_every", "grid_threshold", "grid_bound", "grid_floor"):
        del old["render"][k]
    assert config_key(old, {"lr": cfg.lr}) == run_key(cfg)
    on = NeRFFitConfig(scene="s", render=RenderConfig(grid=64))
    assert run_key(on) != run_key(cfg)

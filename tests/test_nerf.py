"""NeRF: rays, rendering, hierarchical sampling, the Blender loader, the IGA kernels, training."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from _nerf_scene import write_scene
from PIL import Image

import iga
from iga.adjusters import NeRFAdjuster
from iga.io import to_jsonable
from iga.models.nerf import (
    FrequencyEncoding,
    NeRF,
    NeRFConfig,
    NeRFField,
    RayRenderer,
    is_dead,
    probe_rows,
    redraw_dead,
)
from iga.models.render import (
    camera_rays,
    composite,
    pose_spherical,
    render_weights,
    sample_pdf,
    stratified_depths,
)
from iga.models.reparam import FRLinear, fourier_bases
from iga.runs import config_key
from iga.tasks.nerf.data import load_blender
from iga.tasks.nerf.task import NeRFFitConfig, RenderConfig, fit_nerf, run_key
from iga.train import MethodConfig, TrainConfig

TINY_NET = NeRFConfig(depth=2, width=16, skip=-1, multires=3, multires_views=2)


# --- rays -------------------------------------------------------------------------------------


def test_camera_rays_identity_camera():
    c2w = torch.eye(4)
    c2w[2, 3] = 4.0
    o, d = camera_rays(2, 4, 2.0, c2w)
    assert o.shape == d.shape == (2, 4, 3)
    assert torch.equal(o, torch.tensor([0.0, 0.0, 4.0]).expand(2, 4, 3))
    # pixel (i=0, j=0): ((0 - 2)/2, -(0 - 1)/2, -1); pixel (i=3, j=1): ((3 - 2)/2, 0, -1)
    assert torch.allclose(d[0, 0], torch.tensor([-1.0, 0.5, -1.0]))
    assert torch.allclose(d[1, 3], torch.tensor([0.5, 0.0, -1.0]))


def test_camera_rays_rotated_camera():
    # Camera rotated 90° about y: its -z axis (viewing direction) becomes world -x.
    c2w = torch.tensor([[0.0, 0, 1, 1], [0, 1, 0, 2], [-1, 0, 0, 3], [0, 0, 0, 1]])
    o, d = camera_rays(2, 2, 1.0, c2w)
    assert torch.allclose(o[1, 1], torch.tensor([1.0, 2.0, 3.0]))
    # centre pixel (i=1, j=1): camera direction (0, 0, -1) -> world (-1, 0, 0)
    assert torch.allclose(d[1, 1], torch.tensor([-1.0, 0.0, 0.0]))


def test_turntable_cameras_look_at_the_origin():
    for theta in (-180.0, -30.0, 90.0):
        c2w = pose_spherical(theta, -30.0, 4.0)
        o, d = camera_rays(4, 4, 3.0, c2w)
        centre_o, centre_d = o[2, 2], d[2, 2]
        assert math.isclose(float(centre_o.norm()), 4.0, rel_tol=1e-5)
        cos = float(torch.dot(-centre_o, centre_d) / (centre_o.norm() * centre_d.norm()))
        assert cos > 0.999


# --- rendering --------------------------------------------------------------------------------


def test_render_weights_by_hand():
    sigma = torch.tensor([[1.0, 2.0, 0.5]], dtype=torch.float64)
    z = torch.tensor([[0.0, 1.0, 3.0]], dtype=torch.float64)
    d = torch.tensor([[0.0, 2.0, 0.0]], dtype=torch.float64)  # ‖d‖ = 2
    w = render_weights(sigma, z, d)[0]
    a0, a1, a2 = 1 - math.exp(-1 * 2), 1 - math.exp(-2 * 4), 1 - math.exp(-0.5 * 2e10)
    t1 = 1 - a0 + 1e-10
    t2 = t1 * (1 - a1 + 1e-10)
    assert torch.allclose(w, torch.tensor([a0, a1 * t1, a2 * t2], dtype=torch.float64))
    rgb = torch.tensor([[[1.0, 0, 0], [0, 1, 0], [0, 0, 1]]], dtype=torch.float64)
    col = composite(rgb, w[None], white_background=True)[0]
    rest = 1 - float(w.sum())
    assert torch.allclose(col, w + rest)
    assert torch.allclose(composite(rgb, w[None], white_background=False)[0], w)


def test_render_weights_sum_to_at_most_one():
    g = torch.Generator().manual_seed(0)
    sigma = torch.rand(50, 20, generator=g) * 5
    z, _ = torch.sort(torch.rand(50, 20, generator=g) * 4 + 2, dim=-1)
    d = torch.randn(50, 3, generator=g)
    w = render_weights(sigma, z, d)
    assert (w >= 0).all()
    assert (w.sum(-1) <= 1 + 1e-6).all()
    # Empty space: no weight; the background shows through.
    assert render_weights(torch.zeros(1, 5), z[:1, :5], d[:1]).abs().max() == 0


def test_stratified_depths_stay_in_their_bins():
    g = torch.Generator().manual_seed(1)
    z = stratified_depths(2.0, 6.0, 8, 100, perturb=True, generator=g)
    assert z.shape == (100, 8)
    assert (z >= 2.0).all() and (z <= 6.0).all()
    assert (z[:, 1:] >= z[:, :-1]).all()
    fixed = stratified_depths(2.0, 6.0, 5, 3, perturb=False)
    assert torch.allclose(fixed, torch.linspace(2, 6, 5).expand(3, 5))


def test_sample_pdf_on_a_known_histogram():
    bins = torch.tensor([[0.0, 1.0, 2.0, 4.0]])
    weights = torch.tensor([[1.0, 3.0, 0.0]])  # pdf mass 1/4 on [0, 1], 3/4 on [1, 2]
    g = torch.Generator().manual_seed(0)
    s = sample_pdf(bins.expand(4000, 4), weights.expand(4000, 3), 10, generator=g)
    assert s.shape == (4000, 10)
    frac = float(((s >= 1) & (s < 2)).float().mean())
    assert abs(frac - 0.75) < 0.01
    assert float((s >= 2).float().mean()) < 1e-3  # the zero-weight bin (only the 1e-5 floor)
    # Deterministic quantiles: the inverse CDF by hand (0.75 mass at u = 0.25 + 0.75·t).
    q = sample_pdf(bins, weights, 5, deterministic=True)[0]
    w = weights[0] + 1e-5
    cdf = torch.cat([torch.zeros(1), torch.cumsum(w / w.sum(), 0)])
    expected = []
    for u in torch.linspace(0, 1, 5):
        k = int(torch.searchsorted(cdf, u, right=True).clamp(1, 3)) - 1
        expected.append(
            float(bins[0, k] + (u - cdf[k]) / (cdf[k + 1] - cdf[k]) * (bins[0, k + 1] - bins[0, k]))
        )
    assert torch.allclose(q, torch.tensor(expected), atol=1e-5)


# --- the field --------------------------------------------------------------------------------


def test_frequency_encoding_is_nerf_pytorchs():
    x = torch.tensor([[0.3, -1.2, 2.0]])
    enc = FrequencyEncoding(3, 2)(x)
    f = [1.0, 2.0]
    expected = torch.cat(
        [x, torch.sin(x * f[0]), torch.cos(x * f[0]), torch.sin(x * f[1]), torch.cos(x * f[1])],
        dim=-1,
    )
    assert torch.allclose(enc, expected)
    assert FrequencyEncoding(3, 10).out_features == 63


def test_nerf_field_shapes_and_skip():
    torch.manual_seed(0)
    net = NeRFField(NeRFConfig(depth=4, width=32, skip=1, multires=4, multires_views=2))
    assert net.trunk[2].in_features == 32 + 27  # after layer 1 the encoded point is added
    out = net(torch.randn(10, 6))
    assert out.shape == (10, 4)
    rgb, sigma = NeRFField.activate(out)
    assert (rgb >= 0).all() and (rgb <= 1).all() and (sigma >= 0).all()
    with pytest.raises(ValueError, match="skip"):
        NeRFConfig(depth=4, skip=3)
    with pytest.raises(ValueError, match="columns"):
        net(torch.randn(10, 3))


# --- IGA kernels ------------------------------------------------------------------------------


def _explicit_kernel(model: torch.nn.Module, x: torch.Tensor, scalar) -> torch.Tensor:
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(x.shape[0]):
        g = torch.autograd.grad(scalar(model(x[i : i + 1])[0]), params)
        rows.append(torch.cat([t.reshape(-1) for t in g]))
    J = torch.stack(rows)
    return J @ J.T


def _rays_and_model(n_rays: int = 6):
    torch.manual_seed(0)
    nerf = NeRF(TINY_NET, RenderConfig(n_coarse=6, n_fine=5), 2.0, 6.0).double()
    o = torch.randn(n_rays, 3, dtype=torch.float64) * 0.1 + torch.tensor(
        [0, 0, 4.0], dtype=torch.float64
    )
    d = torch.randn(n_rays, 3, dtype=torch.float64) * 0.2 + torch.tensor(
        [0, 0, -1.0], dtype=torch.float64
    )
    return nerf, torch.cat([o, d], dim=-1)


def test_exact_per_ray_kernel_against_an_autograd_loop():
    nerf, rays = _rays_and_model()
    nerf(rays)
    rows = nerf.kernel_rows(rays, "ray")
    assert rows.shape == (6, 6 + 11)
    renderer = RayRenderer(nerf.fine)
    K = iga.entk(renderer, rows, method="functorch")
    K_ref = _explicit_kernel(renderer, rows, lambda out: out.sum() / math.sqrt(3))
    assert torch.allclose(K, K_ref, rtol=1e-8, atol=1e-10)
    # The renderer reproduces the fine colours of the forward pass.
    nerf.eval()
    full = nerf(rays)
    assert torch.allclose(renderer(nerf.kernel_rows(rays, "ray")), full[:, :3])


def test_sample_kernel_is_the_authors_sigmoid_proxy():
    nerf, rays = _rays_and_model()
    nerf(rays)
    rows = nerf.kernel_rows(rays, "sample")
    # The representative is the fine sample with the largest weight.
    z, w = nerf.last["z"], nerf.last["weights"]
    zi = z[torch.arange(6), w.argmax(1)]
    assert torch.allclose(rows[:, :3], rays[:, :3] + rays[:, 3:] * zi[:, None])
    adj = NeRFAdjuster.build(nerf, 6, "sample", MethodConfig(end=2), seed=0)
    K = adj.iga.kernel(rows)
    K_ref = _explicit_kernel(nerf.fine, rows, lambda out: torch.sigmoid(out).sum() / 2)
    assert torch.allclose(K, K_ref, rtol=1e-6, atol=1e-10)


def test_authors_kernel_adds_their_frozen_proxy_layer():
    # The authors' compute_NTK differentiates their frozen Linear(4, 1) too (make_functional
    # takes every parameter): their kernel is ours plus sigmoid(raw_i)·sigmoid(raw_j).
    nerf, rays = _rays_and_model()
    nerf(rays)
    rows = nerf.kernel_rows(rays, "sample-authors")
    adj = NeRFAdjuster.build(nerf, 6, "sample-authors", MethodConfig(end=2), seed=0)
    K = adj.iga.kernel(rows)
    proxy = torch.nn.Linear(4, 1, bias=False).double()
    with torch.no_grad():
        proxy.weight.fill_(0.5)
    full = torch.nn.Sequential(nerf.fine, torch.nn.Sigmoid(), proxy)  # every parameter
    K_ref = _explicit_kernel(full, rows, lambda out: out.sum())
    assert torch.allclose(K, K_ref, rtol=1e-6, atol=1e-10)
    sig = torch.sigmoid(nerf.fine(rows)).detach()
    K_ours = NeRFAdjuster.build(nerf, 6, "sample", MethodConfig(end=2), seed=0).iga.kernel(rows)
    assert torch.allclose(K - K_ours, sig @ sig.T, rtol=1e-6, atol=1e-10)
    # The proxy is the kernel's, not the NeRF's: training never touches it.
    assert all(p is not adj.iga.model.proxy.weight for p in nerf.parameters())


@pytest.mark.parametrize("kernel", ["sample", "sample-authors", "ray"])
def test_iga_with_end_zero_is_the_plain_loss(kernel):
    nerf, rays = _rays_and_model()
    target = torch.rand(6, 3, dtype=torch.float64).repeat(1, 2)
    grads = []
    for adjusted in (False, True):
        torch.manual_seed(3)  # the same jittered samples
        nerf.zero_grad()
        pred = nerf(rays)
        if adjusted:
            adj = NeRFAdjuster.build(nerf, 6, kernel, MethodConfig(end=0), seed=0)
            loss = adj.loss(pred, target, rays)
        else:
            loss = ((pred[:, :3] - target[:, :3]) ** 2).mean() + (
                (pred[:, 3:] - target[:, 3:]) ** 2
            ).mean()
        loss.backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in nerf.parameters()]))
    assert torch.allclose(grads[0], grads[1], rtol=1e-9, atol=1e-12)


def test_iga_gradient_is_j_transpose_s_r():
    nerf, rays = _rays_and_model()
    target = torch.rand(6, 3, dtype=torch.float64).repeat(1, 2)
    torch.manual_seed(3)
    pred = nerf(rays)
    adj = NeRFAdjuster.build(nerf, 6, "ray", MethodConfig(end=2), seed=0)
    nerf.zero_grad()
    adj.loss(pred, target, rays).backward()
    got = torch.cat([p.grad.reshape(-1) for p in nerf.fine.parameters()])
    # By hand: S from the per-ray kernel, then (2/(R·C)) Jᵀ S r over the fine parameters.
    rows = nerf.kernel_rows(rays, "ray")
    K = _explicit_kernel(RayRenderer(nerf.fine), rows, lambda out: out.sum() / math.sqrt(3))
    lam, V = torch.linalg.eigh(K)
    lam, V = lam.flip(0), V.flip(1)
    S = torch.eye(6, dtype=torch.float64)
    for i in range(2):
        S -= (1 - lam[2] / lam[i]) * torch.outer(V[:, i], V[:, i])
    r = (pred[:, :3] - target[:, :3]).detach()
    mixed = S @ r
    renderer = RayRenderer(nerf.fine)
    params = list(nerf.fine.parameters())
    out = renderer(rows)
    g = torch.autograd.grad((out * mixed).sum() * 2 / 18, params)
    expected = torch.cat([t.reshape(-1) for t in g])
    assert torch.allclose(got, expected, rtol=1e-7, atol=1e-12)


# --- the loader -------------------------------------------------------------------------------


def test_loader_composites_on_white_and_scales_the_focal(tmp_path):
    root = write_scene(tmp_path / "scene")
    Image.fromarray(np.array([[[255, 0, 0, 128]] * 8] * 8, dtype=np.uint8), "RGBA").save(
        root / "train" / "r_0.png"
    )
    s = load_blender(root, "train")
    assert s.images.shape == (3, 8, 8, 3) and s.poses.shape == (3, 4, 4)
    a = 128 / 255
    assert torch.allclose(s.images[0, 0, 0], torch.tensor([1.0, 1 - a, 1 - a]), atol=1e-6)
    assert math.isclose(s.focal, 0.5 * 8 / math.tan(0.5 * 0.69))
    half = load_blender(root, "train", size=4, views=2)
    assert half.images.shape == (2, 4, 4, 3)
    assert math.isclose(half.focal, 0.5 * 4 / math.tan(0.5 * 0.69))
    black = load_blender(root, "train", white_background=False)
    assert torch.allclose(black.images[0, 0, 0], torch.tensor([a, 0.0, 0.0]), atol=1e-6)
    assert load_blender(root, "test", views=[2]).names == ["./test/r_2"]


def test_loader_errors_are_one_line(tmp_path):
    root = write_scene(tmp_path / "scene")
    (root / "transforms_val.json").unlink()
    with pytest.raises(ValueError, match="no transforms_val.json") as e:
        load_blender(root, "val")
    assert "\n" not in str(e.value)
    (root / "test" / "r_1.png").unlink()
    with pytest.raises(ValueError, match="r_1.png .*missing"):
        load_blender(root, "test")
    Image.fromarray(np.zeros((6, 6, 4), np.uint8), "RGBA").save(root / "train" / "r_2.png")
    with pytest.raises(ValueError, match="one size"):
        load_blender(root, "train")
    (root / "transforms_train.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_blender(root, "train")
    with pytest.raises(ValueError, match="does not exist"):
        load_blender(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="out of range"):
        load_blender(write_scene(tmp_path / "s2"), "train", views=[5])
    zero = write_scene(tmp_path / "s3")
    meta = json.loads((zero / "transforms_train.json").read_text())
    meta["frames"][1]["transform_matrix"] = [[0.0] * 4 for _ in range(4)]
    (zero / "transforms_train.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="r_1 .*not a rotation") as e:
        load_blender(zero, "train")
    assert "\n" not in str(e.value)


# --- FR and BN -------------------------------------------------------------------------------


def test_fr_field_reparameterises_the_feature_layer_as_the_authors():
    torch.manual_seed(0)
    cfg = NeRFConfig(depth=3, width=16, skip=-1, multires=2, multires_views=1)
    field = NeRFField(cfg, "fr")
    fr = field.feature
    assert isinstance(fr, FRLinear) and isinstance(field.trunk[1], torch.nn.Linear)
    # The authors' param_mlplayer(W, W, high 64, low 64, phi 16, amplitude 0.005)
    assert fr.bases.shape == ((64 + 64) * 16, 16)
    assert torch.allclose(fr.bases.double(), fourier_bases(16, 64, 64, 16, 0.005), atol=1e-7)
    assert torch.equal(fr.bias.detach(), torch.zeros(16))  # their bias is zeroed
    bound = math.sqrt(6 / 2048) / fr.bases.double().norm(dim=1)
    assert (fr.lam.detach().double().abs() <= bound[None, :] + 1e-9).all()
    # W = Λ B: the same field with the merged weight in a plain Linear computes the same.
    x = torch.randn(40, 6)
    plain = NeRFField(cfg)
    plain.load_state_dict(
        {k: v for k, v in field.state_dict().items() if not k.startswith("feature.")},
        strict=False,
    )
    plain.feature = fr.to_linear()
    torch.testing.assert_close(plain(x), field(x))
    # --fr-layers trunk: every trunk layer but the first (it sees the encoding).
    trunk = NeRFField(NeRFConfig(depth=3, width=16, skip=0, fr_layers="trunk"), "fr")
    kinds = [type(m).__name__ for m in trunk.trunk]
    assert kinds == ["Linear", "FRLinear", "FRLinear"] and trunk(x).shape == (40, 4)


def test_bn_field_normalises_the_trunk_with_running_statistics():
    torch.manual_seed(0)
    cfg = NeRFConfig(depth=3, width=16, skip=-1, multires=2, multires_views=1)
    field = NeRFField(cfg, "bn")
    norms = [m for m in field.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(norms) == 3 and all(n.track_running_stats for n in norms)
    x = torch.randn(64, 6)
    field.train()
    out = field(x)
    # Training mode: a row's output depends on its batch (batch statistics) ...
    assert not torch.allclose(field(x[:8]), out[:8])
    # ... the first trunk layer's normalised pre-activations have zero mean over the batch.
    z = norms[0](field.trunk[0](field.embed(x[:, :3])))
    torch.testing.assert_close(z.mean(0), torch.zeros(16), atol=1e-5, rtol=0)
    # Probing for a dead density leaves the running statistics alone.
    before = {k: v.clone() for k, v in field.state_dict().items()}
    assert not is_dead(field, x)
    assert all(torch.equal(v, field.state_dict()[k]) for k, v in before.items())
    # Eval mode (rendering): running statistics, so rows are independent of their batch.
    field.eval()
    torch.testing.assert_close(field(x[:8]), field(x)[:8])


def test_fr_and_bn_errors_name_the_flag():
    with pytest.raises(ValueError, match="--fr-layers"):
        NeRFConfig(fr_layers="heads")
    with pytest.raises(ValueError, match="--fr-alpha"):
        NeRFConfig(fr_alpha=0.0)
    with pytest.raises(ValueError, match="--use-viewdirs or --fr-layers trunk"):
        NeRFField(NeRFConfig(use_viewdirs=False), "fr")


def test_fr_options_keep_the_keys_of_older_runs():
    # Runs made before --fr-alpha/--fr-layers existed keep their keys (they are not re-run).
    cfg = NeRFFitConfig(scene="s")
    old = to_jsonable(asdict(cfg))
    for k in ("fr_alpha", "fr_layers"):
        del old["net"][k]
    assert config_key(old, {"lr": cfg.lr}) == run_key(cfg)
    changed = NeRFFitConfig(scene="s", net=NeRFConfig(fr_alpha=0.01))
    assert run_key(changed) != run_key(cfg)


# --- dead networks at initialisation ----------------------------------------------------------


def _kill(field: NeRFField) -> None:
    with torch.no_grad():
        field.sigma.weight.zero_()
        field.sigma.bias.fill_(-1.0)  # raw σ = -1 everywhere: zero weights, zero gradient


def test_a_dead_network_is_detected_and_drawn_again():
    torch.manual_seed(0)
    nerf = NeRF(TINY_NET, RenderConfig(n_coarse=8, n_fine=8), near=2.0, far=6.0)
    o, d = camera_rays(6, 6, 5.0, pose_spherical(0.0, -30.0, 4.0))
    rays = torch.cat([o, d], dim=-1).reshape(-1, 6)
    state = torch.get_rng_state()
    probe = probe_rows(rays, 2.0, 6.0, 16)
    assert probe.shape == (36 * 16, 6) and torch.equal(torch.get_rng_state(), state)  # no RNG
    _kill(nerf.fine)
    coarse = nerf.coarse
    with torch.no_grad():
        coarse.sigma.bias.fill_(1e3)  # σ > 0 at every point: alive
    assert is_dead(nerf.fine, probe) and not is_dead(coarse, probe)
    # Dead means no gradient at all: the rendered colour does not depend on the weights.
    rgb = nerf(rays)[:, :3]
    rgb.sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in nerf.fine.parameters())
    draws = redraw_dead(nerf, TINY_NET, "vanilla", probe, seed=0)
    assert draws["coarse"] == 0 and 1 <= draws["fine"] <= 10
    assert nerf.coarse is coarse and not is_dead(nerf.fine, probe)


def test_a_network_alive_on_a_handful_of_points_counts_as_dead():
    rows = torch.linspace(0, 1, 1000)[:, None].expand(1000, 6)

    class Field(torch.nn.Module):  # raw σ > 0 on the rows above a threshold
        def __init__(self, cut: float) -> None:
            super().__init__()
            self.cut = cut

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([x[:, :3], x[:, :1] - self.cut], dim=-1)

    assert is_dead(Field(0.996), rows)  # σ > 0 on 4 rows in 1000: under 1 %
    assert not is_dead(Field(0.98), rows)  # on 20 rows: 2 %
    assert is_dead(Field(2.0), rows)  # on none


def test_a_network_dead_on_every_draw_is_a_one_line_error(monkeypatch):
    class Dead(NeRFField):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            _kill(self)

    nerf = NeRF(TINY_NET, RenderConfig(n_coarse=8, n_fine=0), near=2.0, far=6.0)
    _kill(nerf.coarse)
    monkeypatch.setattr("iga.models.nerf.NeRFField", Dead)
    probe = probe_rows(torch.tensor([[0.0, 0.0, 4.0, 0.0, 0.0, -1.0]]), 2.0, 6.0, 8)
    with pytest.raises(ValueError, match="after 10 draws .* --seed 3") as err:
        redraw_dead(nerf, TINY_NET, "vanilla", probe, seed=3)
    assert "\n" not in str(err.value)


# --- training ---------------------------------------------------------------------------------


ESGD_FAST = {"d_warmup": 5, "update_every": 5}


def _tiny_fit(
    tmp_path: Path, method: str, train: TrainConfig, validate_every: int = 20, **kw: object
) -> NeRFFitConfig:
    """A fit of a 2-view 8×8 synthetic scene with a tiny network, into ``tmp_path/run``."""
    root = write_scene(tmp_path / "scene", size=8, views=2)
    return NeRFFitConfig(
        scene=str(root),
        size=0,
        test_views=1,
        val_views=1,
        validate_every=validate_every,
        batch_rays=32,
        turntable_frames=2,
        net=TINY_NET,
        render=RenderConfig(n_coarse=8, n_fine=8, chunk=64),
        method=MethodConfig(method=method, end=3),
        train=train,
        out=str(tmp_path / "run"),
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("method", "kernel", "optimizer"),
    [
        ("vanilla", "sample", ("adam", 5e-3, {})),
        ("fr", "sample", ("adam", 5e-3, {})),
        ("bn", "sample", ("adam", 5e-3, {})),
        ("iga", "sample", ("adam", 5e-3, {})),
        ("iga", "ray", ("adam", 5e-3, {})),
        # the rivals of iga.optim, combined with IGA (Muon takes both fields' hidden matrices)
        ("iga", "sample", ("muon", 0.02, {})),
        ("iga", "sample", ("esgd", 0.02, ESGD_FAST)),
    ],
)
def test_a_few_steps_lower_the_loss(tmp_path, method, kernel, optimizer):
    name, lr, options = optimizer
    train = TrainConfig(
        steps=40, lr=lr, schedule="exp", decay=0.5, optimizer=name, optimizer_options=options
    )
    s = fit_nerf(_tiny_fit(tmp_path, method, train, kernel=kernel), progress=False)
    rows = [json.loads(json.dumps(r)) for r in _read_metrics(tmp_path / "run" / "metrics.csv")]
    first = np.mean([float(r["mse"]) for r in rows[:3]])
    last = np.mean([float(r["mse"]) for r in rows[-3:] if r.get("mse")])
    assert last < first
    for name in ("test/000.png", "test_views.png", "turntable.gif", "psnr.png", "summary.json"):
        assert (tmp_path / "run" / name).is_file()
    assert s["test_views"] == 1 and math.isfinite(s["psnr_test"]) and 0 < s["ssim_test"] <= 1


def _read_metrics(path: Path) -> list[dict]:
    import csv

    with path.open() as f:
        return list(csv.DictReader(f))


def test_config_errors_name_the_flag():
    with pytest.raises(ValueError, match="--kernel"):
        NeRFFitConfig(kernel="bogus")
    with pytest.raises(ValueError, match="--every"):
        NeRFFitConfig(method=MethodConfig(every=2))
    with pytest.raises(ValueError, match="--batch-rays"):
        NeRFFitConfig(batch_rays=1)


def test_docs_nerf_snippet_runs_and_learns():
    """The snippet of docs/nerf.md, "IGA in your own NeRF" (it was the README's)."""
    import re

    page = Path(__file__).resolve().parents[1] / "docs" / "nerf.md"
    section = page.read_text(encoding="utf-8").split("## IGA in your own NeRF", 1)[1]
    section = section.split("\n## ", 1)[0]
    (source,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    tiny = "NeRFConfig(depth=2, width=16, skip=-1)"
    assert "R = 1024" in source and "NeRFConfig(depth=4, width=128, skip=-1)" in source
    assert "lr=5e-4" in source
    source = (
        source.replace("R = 1024", "R = 32")
        .replace("NeRFConfig(depth=4, width=128, skip=-1)", tiny)
        .replace("lr=5e-4", "lr=1e-2")  # a tiny net and 40 steps: learn faster
    )
    g = torch.Generator().manual_seed(0)
    colour = torch.tensor([[0.9, 0.2, 0.1]])

    def next_batch(r):
        o = torch.tensor([0.0, 0.0, 4.0]).expand(r, 3)
        d = torch.randn(r, 3, generator=g) * 0.1 + torch.tensor([0.0, 0.0, -1.0])
        return torch.cat([o, d], dim=-1), colour.expand(r, 3)

    probe, truth = next_batch(32)

    def fine_mse(model):
        model.eval()
        with torch.no_grad():
            return float(((model(probe)[:, :3] - truth) ** 2).mean())

    # The snippet's NeRF starts from these weights (seed 0 of this tiny net has no density
    # along these rays at all, and so no gradient: a dead start, not what is tested here).
    torch.manual_seed(2)
    untrained = NeRF(NeRFConfig(depth=2, width=16, skip=-1), RenderConfig(), 2.0, 6.0)
    torch.manual_seed(2)
    namespace = {"steps": 40, "next_batch": next_batch}
    exec(compile(source, "docs/nerf.md", "exec"), namespace)  # noqa: S102 - the page's own code
    assert namespace["adjuster"].spectrum is not None  # IGA was active
    assert fine_mse(namespace["nerf"]) < 0.5 * fine_mse(untrained)


def test_muon_takes_the_hidden_matrices_of_both_nerf_fields():
    from iga.models.nerf import NeRF
    from iga.optim import muon_split

    model = NeRF(TINY_NET, RenderConfig(n_coarse=4, n_fine=4), near=2.0, far=6.0)
    names = {id(p): n for n, p in model.named_parameters()}
    muon, other = muon_split(model)
    chosen = sorted(names[id(p)] for p in muon)
    for field in ("coarse", "fine"):
        assert f"{field}.trunk.0.weight" not in chosen  # the input layer stays with Adam
        assert f"{field}.sigma.weight" not in chosen and f"{field}.rgb.weight" not in chosen
        assert f"{field}.trunk.1.weight" in chosen
    assert all(p.ndim == 2 for p in muon)
    assert len(muon) + len(other) == len(list(model.parameters()))


def test_divergence_keeps_the_best_views_and_names_the_step(tmp_path):
    # (Vanilla NeRF at a huge lr went dead here, every ReLU off, rather than diverging, so
    # the test drives IGA, which does diverge; the stop is the same code for both.)
    from iga.tasks.base import TrainingDiverged

    train = TrainConfig(steps=40, lr=1e8, schedule="exp")
    cfg = _tiny_fit(tmp_path, "iga", train, validate_every=5)
    with pytest.raises(TrainingDiverged, match=r"non-finite at step \d+.*lower --lr"):
        fit_nerf(cfg, progress=False)
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["diverged_at_step"] is not None and s["diverged_at_step"] < 40
    assert (tmp_path / "run" / "best.pt").is_file()

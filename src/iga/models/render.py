"""Volume rendering for NeRF as pure functions over tensors (the field is the caller's callable).

The conventions are nerf-pytorch's (the code the paper's NeRF results come from), so that a
run here and a run of the authors' script differ only where this library says so:

- :func:`camera_rays`: pixel ``(i, j)`` (column, row) looks along
  ``((i − W/2)/f, −(j − H/2)/f, −1)`` in camera space (OpenGL/Blender axes, the pixel's
  corner, not its centre), rotated by the camera-to-world matrix; rays are not normalised.
- :func:`stratified_depths`: ``n`` depths in [near, far], linear in depth, each jittered
  uniformly within its bin when ``perturb``.
- :func:`render_weights` / :func:`composite`: ``α_i = 1 − exp(−σ_i δ_i)`` with
  ``δ_i = (t_{i+1} − t_i)·‖d‖`` and ``δ_last = 1e10·‖d‖``;
  ``w_i = α_i Π_{j<i} (1 − α_j + 1e-10)``; colour ``Σ w_i c_i`` plus ``(1 − Σ w_i)`` on a white
  background.
- :func:`sample_pdf`: inverse-CDF sampling of the piecewise-constant density whose bins are
  ``bins`` and whose weights are ``weights + 1e-5``.

Why not nerfacc: its batched rendering is these few lines of torch, but its importance
sampling and packed scans need its CUDA extension, which does not run on a CPU; the per-ray
eNTK also needs everything here to be ``torch.func``-transformable (plain tensor ops). Its
occupancy grid is redone, fixed-shape, in :mod:`iga.models.occupancy_grid`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

__all__ = [
    "FieldFn",
    "camera_rays",
    "composite",
    "pose_spherical",
    "render_weights",
    "sample_pdf",
    "stratified_depths",
]

FieldFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""``field(points [..., 3], viewdirs [..., 3]) -> (rgb [..., 3] in [0, 1], sigma [...] ≥ 0)``."""


def camera_rays(
    height: int, width: int, focal: float, c2w: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Origins and directions [H, W, 3] of a pinhole camera's rays (nerf-pytorch's ``get_rays``).

    Args:
        height, width: image size in pixels.
        focal: focal length in pixels.
        c2w: [3, 4] or [4, 4] camera-to-world matrix (Blender/OpenGL: the camera looks along
            its −z axis, +y up).
    """
    dtype, device = c2w.dtype, c2w.device
    j, i = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=device),
        torch.arange(width, dtype=dtype, device=device),
        indexing="ij",
    )
    dirs = torch.stack(
        [(i - width * 0.5) / focal, -(j - height * 0.5) / focal, -torch.ones_like(i)], dim=-1
    )
    rays_d = dirs @ c2w[:3, :3].T
    rays_o = c2w[:3, 3].expand(rays_d.shape)
    return rays_o, rays_d


def stratified_depths(
    near: torch.Tensor | float,
    far: torch.Tensor | float,
    n: int,
    n_rays: int,
    perturb: bool = True,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``n`` sorted depths per ray [n_rays, n] between ``near`` and ``far`` (scalars or [R, 1])."""
    t = torch.linspace(0.0, 1.0, n, device=device, dtype=dtype)
    z = near * (1.0 - t) + far * t
    z = z.expand(n_rays, n) if z.ndim == 1 else z
    if perturb:
        mids = 0.5 * (z[:, 1:] + z[:, :-1])
        upper = torch.cat([mids, z[:, -1:]], dim=-1)
        lower = torch.cat([z[:, :1], mids], dim=-1)
        u = torch.rand(z.shape, generator=generator, device=device, dtype=dtype)
        z = lower + (upper - lower) * u
    return z


def render_weights(sigma: torch.Tensor, z: torch.Tensor, dirs: torch.Tensor) -> torch.Tensor:
    """Rendering weights [..., S] of densities ``sigma`` [..., S] at depths ``z`` [..., S].

    ``dirs`` [..., 3] are the (unnormalised) ray directions: a depth step along the ray is
    ``‖d‖`` times longer in space. The weights sum to at most 1 per ray (the rest is the
    background's share).
    """
    deltas = z[..., 1:] - z[..., :-1]
    deltas = torch.cat([deltas, torch.full_like(z[..., :1], 1e10)], dim=-1)
    deltas = deltas * torch.linalg.vector_norm(dirs, dim=-1, keepdim=True)
    alpha = 1.0 - torch.exp(-sigma * deltas)
    trans = torch.cumprod(1.0 - alpha + 1e-10, dim=-1)
    trans = torch.cat([torch.ones_like(alpha[..., :1]), trans[..., :-1]], dim=-1)
    return alpha * trans


def composite(
    rgb: torch.Tensor, weights: torch.Tensor, white_background: bool = True
) -> torch.Tensor:
    """The rendered colour [..., 3]: ``Σ_i w_i c_i`` (+ ``1 − Σ_i w_i`` on white)."""
    out = (weights[..., None] * rgb).sum(dim=-2)
    if white_background:
        out = out + (1.0 - weights.sum(dim=-1, keepdim=True))
    return out


def sample_pdf(
    bins: torch.Tensor,
    weights: torch.Tensor,
    n: int,
    deterministic: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``n`` depths per ray [R, n] drawn from the piecewise-constant pdf given by ``weights``.

    Args:
        bins: [R, B + 1] bin edges (sorted).
        weights: [R, B] non-negative weights of the bins (``1e-5`` is added to each, so a ray
            with zero weights samples uniformly).
        n: samples per ray.
        deterministic: evenly spaced quantiles instead of uniform random ones.

    Returns:
        [R, n] depths, detached (the fine samples are not differentiated through).
    """
    bins, weights = bins.detach(), weights.detach()
    weights = weights + 1e-5
    pdf = weights / weights.sum(dim=-1, keepdim=True)
    cdf = torch.cumsum(pdf, dim=-1)
    cdf = torch.cat([torch.zeros_like(cdf[:, :1]), cdf], dim=-1)  # [R, B + 1]
    shape = (cdf.shape[0], n)
    if deterministic:
        u = torch.linspace(0.0, 1.0, n, dtype=cdf.dtype, device=cdf.device).expand(shape)
    else:
        u = torch.rand(shape, generator=generator, dtype=cdf.dtype, device=cdf.device)
    u = u.contiguous()
    idx = torch.searchsorted(cdf, u, right=True)
    below = (idx - 1).clamp(min=0)
    above = idx.clamp(max=cdf.shape[-1] - 1)
    cdf_lo, cdf_hi = cdf.gather(-1, below), cdf.gather(-1, above)
    bin_lo, bin_hi = bins.gather(-1, below), bins.gather(-1, above)
    denom = cdf_hi - cdf_lo
    denom = torch.where(denom < 1e-5, torch.ones_like(denom), denom)
    t = (u - cdf_lo) / denom
    return bin_lo + t * (bin_hi - bin_lo)


def pose_spherical(theta: float, phi: float, radius: float) -> torch.Tensor:
    """nerf-pytorch's turntable camera: on a sphere of ``radius`` at azimuth ``theta`` and
    elevation ``phi`` (degrees), looking at the origin (Blender axes, z up)."""
    t = torch.eye(4)
    t[2, 3] = radius
    p, th = math.radians(phi), math.radians(theta)
    rot_phi = torch.tensor(
        [
            [1, 0, 0, 0],
            [0, math.cos(p), -math.sin(p), 0],
            [0, math.sin(p), math.cos(p), 0],
            [0, 0, 0, 1],
        ],
        dtype=torch.float32,
    )
    rot_theta = torch.tensor(
        [
            [math.cos(th), 0, -math.sin(th), 0],
            [0, 1, 0, 0],
            [math.sin(th), 0, math.cos(th), 0],
            [0, 0, 0, 1],
        ],
        dtype=torch.float32,
    )
    flip = torch.tensor(
        [[-1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=torch.float32
    )
    return flip @ rot_theta @ rot_phi @ t

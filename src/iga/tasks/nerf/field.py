"""The fitted radiance field (:func:`iga.load` of an ``iga fit nerf`` run): new views.

``field(x)`` evaluates the network on rows ``(x, y, z, dx, dy, dz)`` and returns
``(r, g, b, σ)`` (the fine network's, activated). :meth:`RadianceField.render` renders a
camera with the run's volume renderer (coarse then fine samples between the scene's near and
far planes, nerf-pytorch's hierarchical sampling, deterministic) at any image size;
:meth:`RadianceField.turntable` renders nerf-pytorch's circular path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from iga.fields import Field, FieldModule, RunRecord, load_weights, turntable_pose
from iga.io import PathLike, save_gif, save_png

__all__ = ["RadianceField", "field"]


class RadianceField(Field):
    """A fitted NeRF: :meth:`render` a camera, :meth:`turntable` a circular path."""

    def __init__(self, *args: Any, renderer: torch.nn.Module, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renderer = renderer.eval()

    def to(self, device: torch.device | str) -> RadianceField:
        super().to(device)
        self.renderer.to(device)
        return self

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the training views."""
        h, w = self.meta["image_size"]
        return int(w), int(h)

    def render(self, c2w: torch.Tensor, size: tuple[int, int] | str | None = None) -> torch.Tensor:
        """The view ``[H, W, 3]`` (float32 in [0, 1], CPU) of the camera ``c2w`` ([4, 4] or
        [3, 4] camera-to-world, Blender/OpenGL axes) at ``size`` = ``(width, height)`` (default:
        the training views'); the focal length scales with the width, so a larger size shows
        the same field of view at a higher resolution."""
        from iga.models.render import camera_rays
        from iga.tasks.image.data import parse_size
        from iga.tasks.nerf.task import render_image

        width, height = parse_size(size) if isinstance(size, str) else (size or self.size)
        focal = float(self.meta["focal"]) * width / self.size[0]
        c2w = torch.as_tensor(c2w, dtype=torch.float32, device=self.device)
        if tuple(c2w.shape) not in ((4, 4), (3, 4)):
            raise ValueError(f"a camera is a [4, 4] or [3, 4] matrix; got {tuple(c2w.shape)}")
        o, d = camera_rays(int(height), int(width), focal, c2w)
        rays = torch.cat([o, d], dim=-1)
        return render_image(self.renderer, rays, int(self.meta["chunk"])).cpu()  # type: ignore[arg-type]

    def turntable(
        self,
        frames: int = 40,
        size: tuple[int, int] | str | None = None,
        *,
        elevation: float = -30.0,
        radius: float = 4.0,
        progress: bool = False,
    ) -> Iterator[torch.Tensor]:
        """``frames`` views around the object (:func:`iga.fields.turntable_pose`, azimuth
        -180° to 180°), one at a time."""
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
            raise ValueError(f"--frames must be an integer >= 1; got {frames!r}")
        for k in tqdm(range(frames), desc="views", disable=not progress, leave=False):
            yield self.render(turntable_pose(-180 + 360 * k / frames, elevation, radius), size)

    def save_turntable(
        self,
        folder: PathLike,
        frames: int = 40,
        size: tuple[int, int] | str | None = None,
        *,
        progress: bool = False,
    ) -> Path:
        """PNG frames ``folder/000.png``... and ``folder/turntable.gif``; returns the GIF."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        views = []
        for i, view in enumerate(self.turntable(frames, size, progress=progress)):
            save_png(out / f"{i:03d}.png", view.numpy())
            views.append(view)
        return save_gif(out / "turntable.gif", views)

    render_options = ("frames", "size")

    def _render_files(
        self,
        out: PathLike | None,
        *,
        progress: bool,
        frames: int = 40,
        size: tuple[int, int] | str | None = None,
    ) -> list[Path]:
        folder = Path(out) if out is not None else self.record.run / "renders"
        if out is None:
            folder = folder / f"turntable_{frames}"
        if folder.suffix and not folder.is_dir():
            raise ValueError(f"--out {folder}: NeRF views are written into a folder; name one")
        gif = self.save_turntable(folder, frames, size, progress=progress)
        return [*sorted(folder.glob("[0-9][0-9][0-9].png")), gif]


def field(record: RunRecord, data: PathLike | None = None) -> RadianceField:
    """The :class:`RadianceField` of a finished NeRF run (``data`` is not needed)."""
    from iga.models.nerf import NeRF
    from iga.tasks.nerf.data import BLENDER_FAR, BLENDER_NEAR

    del data
    cfg, resolved = record.config, record.resolved
    method = cfg.method.method if cfg.method.method in ("fr", "bn") else "vanilla"
    near = float(resolved.get("near", BLENDER_NEAR))
    far = float(resolved.get("far", BLENDER_FAR))
    renderer = load_weights(NeRF(cfg.net, cfg.render, near, far, method), record)
    net = renderer.trained_field  # the fine network (the coarse one without it)
    return RadianceField(
        record,
        FieldModule(net, post="nerf"),
        inputs="(x, y, z, dx, dy, dz): a point and a view direction, the scene's world units",
        outputs="(r, g, b) in [0, 1] and the density σ >= 0 (the fine network)",
        meta={
            "in_features": 6,
            "out_features": 4,
            "image_size": resolved["image_size"],
            "focal": resolved["focal"],
            "near": near,
            "far": far,
            "chunk": cfg.render.chunk,
            "white_background": cfg.render.white_background,
            "input_columns": ["x", "y", "z", "dx", "dy", "dz"],
            "output_columns": ["r", "g", "b", "sigma"],
        },
        renderer=renderer,
    )

"""The fitted image (:func:`iga.load` of an ``iga fit image`` run): the picture at any size.

The network maps ``(y, x)`` in [-1, 1] (:func:`iga.tasks.image.data.image_coords`: -1 and +1
are the centres of the first and last rows/columns of the training image) to RGB. Sampling
that square on another grid is resampling the image: a larger ``size`` is super-resolution
by the INR itself (no interpolation), a smaller one a reduction.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tqdm.auto import tqdm

from iga.fields import Field, FieldModule, RunRecord, load_weights
from iga.io import PathLike, save_png
from iga.tasks.image.data import image_coords, parse_size

__all__ = ["ImageField", "field"]


class ImageField(Field):
    """A fitted image: :meth:`image` renders it at any size."""

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the image the run was trained on (before ``--downsample``)."""
        w, h = self.meta["image_size"]
        return int(w), int(h)

    def image(
        self, size: tuple[int, int] | str | None = None, *, progress: bool = False
    ) -> torch.Tensor:
        """The image ``[H, W, C]`` (float32 in [0, 1], on the CPU; C = 3, or 1 for a CT
        slice) at ``size`` =
        ``(width, height)`` or ``"WIDTHxHEIGHT"`` (default: the training size)."""
        width, height = parse_size(size) if isinstance(size, str) else (size or self.size)
        coords = image_coords(int(height), int(width), device=self.device)
        chunks = coords.split(1 << 16)
        rows = [self(c) for c in tqdm(chunks, desc="render", disable=not progress, leave=False)]
        channels = int(self.meta["out_features"])
        return torch.cat(rows).reshape(int(height), int(width), channels).cpu()

    def save(
        self, path: PathLike, size: tuple[int, int] | str | None = None, *, progress: bool = False
    ) -> Path:
        """Render at ``size`` (see :meth:`image`) into a PNG; returns its path."""
        return save_png(path, self.image(size, progress=progress).numpy())

    render_options = ("size",)

    def _render_files(
        self, out: PathLike | None, *, progress: bool, size: tuple[int, int] | str | None = None
    ) -> list[Path]:
        width, height = parse_size(size) if isinstance(size, str) else (size or self.size)
        path = self._target(out, f"image_{width}x{height}.png", (".png",))
        return [self.save(path, (width, height), progress=progress)]


def field(record: RunRecord, data: PathLike | None = None) -> ImageField:
    """The :class:`ImageField` of a finished image run (``data`` is not needed)."""
    from iga.tasks.image.task import build_with

    del data
    cfg, resolved = record.config, record.resolved
    width, height = (int(v) for v in resolved["image_size"])
    options = dict(cfg.model.options)
    fresh = resolved.get("fresh")
    if isinstance(fresh, dict):  # FreSh's choice, recorded: no need to choose again
        options[fresh["param"]] = fresh["chosen"]
    model = load_weights(build_with(cfg, options, cfg.train.seed), record)
    if cfg.method.method == "bn":
        # the statistics of the full pixel grid: what the run's own evaluation used (its
        # reconstruction.png and scores, --keep and --downsample runs included)
        model = model.merge(image_coords(height, width))  # type: ignore[operator]
    elif cfg.method.method == "fr":
        model = model.merge()  # type: ignore[operator]
    return ImageField(
        record,
        FieldModule(model, post="clamp01"),
        inputs="(y, x) in [-1, 1]; -1/+1 are the centres of the first/last row and column",
        outputs="(r, g, b) in [0, 1]",
        meta={
            "in_features": 2,
            "out_features": 3,
            "image_size": [width, height],
            "input_columns": ["y", "x"],
            "output_columns": ["r", "g", "b"],
        },
    )

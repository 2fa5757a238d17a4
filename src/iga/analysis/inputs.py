"""Inputs shared by the ``iga analyze`` drivers: the image an analysis runs on and how it is
named in results.

Used by :mod:`iga.analysis.spectrum_driver`, :mod:`iga.analysis.bands`,
:mod:`iga.analysis.training` and :mod:`iga.analysis.regions_driver`.
"""

from __future__ import annotations

import os

from iga.tasks.image.data import ImageData, parse_size

__all__ = ["analysis_image", "image_label"]

PathLike = str | os.PathLike[str]


def analysis_image(image: PathLike | None, size: str | None, patch: int) -> tuple[str, ImageData]:
    """The image an analysis runs on (default: the bundled one), resized, with ``--patch``
    checked against it: ``(path, data)``.

    Raises:
        ValueError: ``--patch`` larger than the image (the message names the flag).
    """
    from iga.tasks.image.task import BUNDLED_IMAGE

    path = str(image or BUNDLED_IMAGE)
    data = ImageData.from_file(path, size=parse_size(size) if size else None)
    if patch > min(data.height, data.width):
        raise ValueError(
            f"--patch {patch} is larger than the {data.width}x{data.height} image; "
            "use a smaller --patch"
        )
    return path, data


def image_label(path: object) -> str:
    """How an image is named in results: the bundled image by name (no machine path in
    committed JSON), any other as given."""
    from iga.tasks.image.task import BUNDLED_IMAGE

    return "bundled:kodim03.png" if str(path) == str(BUNDLED_IMAGE) else str(path)

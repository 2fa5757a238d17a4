"""The fitted CT slice (:func:`iga.load` of an ``iga fit ct`` run): ``(y, x)`` in [-1, 1] (the
image task's convention on the N×N slice) -> attenuation in the slice's [0, 1] units, at any
resolution (:meth:`~iga.tasks.image.field.ImageField.image`)."""

from __future__ import annotations

from iga.fields import FieldModule, RunRecord, load_weights
from iga.io import PathLike
from iga.tasks.image.field import ImageField

__all__ = ["field"]


def field(record: RunRecord, data: PathLike | None = None) -> ImageField:
    """The slice of a finished CT run as a one-channel :class:`ImageField`."""
    from iga.tasks.common import recorded_fresh
    from iga.tasks.ct.task import Projector, build_model

    del data
    cfg = record.config
    # the run saved the Projector's weights; the INR inside it is the field
    inr = build_model(cfg, recorded_fresh(record.resolved))
    model = load_weights(Projector(inr, cfg.size), record).inr
    if cfg.method.method == "fr":
        model = model.merge()  # type: ignore[operator]
    return ImageField(
        record,
        FieldModule(model, post="clamp01"),
        inputs="(y, x) in [-1, 1]; -1/+1 are the centres of the slice's first/last pixels",
        outputs="attenuation in the slice's [0, 1] units (clipped)",
        meta={
            "in_features": 2,
            "out_features": 1,
            "image_size": [cfg.size, cfg.size],
            "input_columns": ["y", "x"],
            "output_columns": ["attenuation"],
        },
    )

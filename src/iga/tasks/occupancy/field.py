"""The fitted occupancy field (:func:`iga.load` of an ``iga fit occupancy`` run): points in
the mesh file's units -> occupancy; a surface at any resolution
(:meth:`~iga.tasks.mesh_field.MeshField.mesh`)."""

from __future__ import annotations

from iga.fields import RunRecord, load_weights
from iga.io import PathLike
from iga.tasks.mesh_field import MeshField, mesh_field

__all__ = ["field"]


def field(record: RunRecord, data: PathLike | None = None) -> MeshField:
    """The :class:`~iga.tasks.mesh_field.MeshField` of a finished occupancy run (``data``: the
    mesh, only for runs written before the normalisation was recorded)."""
    from iga.tasks.common import recorded_fresh
    from iga.tasks.occupancy.task import build_model

    model = load_weights(build_model(record.config, recorded_fresh(record.resolved)), record)
    if record.config.method.method == "fr":
        model = model.merge()  # type: ignore[operator]
    return mesh_field(record, model, "occupancy", data)  # BN: running statistics, eval mode

"""The fitted signed distance field (:func:`iga.load` of an ``iga fit sdf`` run): points in
the mesh file's units -> signed distance in those units; a mesh at any resolution."""

from __future__ import annotations

from iga.fields import RunRecord, load_weights
from iga.io import PathLike
from iga.tasks.mesh_field import MeshField, mesh_field

__all__ = ["field"]


def field(record: RunRecord, data: PathLike | None = None) -> MeshField:
    """The :class:`~iga.tasks.mesh_field.MeshField` of a finished SDF run (``data``: the
    mesh, only for runs written before the normalisation was recorded)."""
    from iga.tasks.common import recorded_fresh
    from iga.tasks.sdf.task import build_model

    model = load_weights(build_model(record.config, recorded_fresh(record.resolved)), record)
    method = record.config.method.method
    if method == "fr":
        model = model.merge()  # type: ignore[operator]
    result = mesh_field(record, model, "sdf", data)
    if method == "bn":
        result.exportable = (
            "an SDF run's batch norm used its mini-batches' statistics, which no pointwise "
            "function reproduces; its queries use the statistics of each query chunk"
        )
    return result

"""The fitted field of the 3-D mesh tasks (occupancy, SDF): :class:`MeshField` samples the
field on the training cube and extracts its surface (marching cubes, scikit-image) in the mesh
file's units; :func:`mesh_field` builds one from a run's model and recorded normalisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from iga.fields import Field, FieldModule, RunRecord, as_vector, grid_axis
from iga.io import PathLike

__all__ = ["MeshField", "mesh_field"]


class MeshField(Field):
    """A fitted 3-D field (occupancy or signed distance) over the mesh's training cube:
    :meth:`grid` samples it, :meth:`mesh` extracts its surface (marching cubes, scikit-image)
    in the mesh file's units."""

    @property
    def level(self) -> float:
        """The surface's value: 0.5 for occupancy, 0 for a signed distance."""
        return float(self.meta["level"])

    def grid_coords(self, resolution: int) -> torch.Tensor:
        """The ``resolution``³ points ``[R, R, R, 3]`` (mesh units) of the cube the field was
        trained on (``[-1, 1]³`` after the mesh's normalisation), ``ij`` order."""
        axis = grid_axis(resolution)
        pts = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1)
        center = as_vector(self.meta["normalization"]["center"])
        return pts / float(self.meta["normalization"]["scale"]) + center

    @torch.no_grad()
    def grid(self, resolution: int = 128, *, progress: bool = False) -> torch.Tensor:
        """The field on :meth:`grid_coords` (``[R, R, R]``, on the CPU)."""
        pts = self.grid_coords(resolution).reshape(-1, 3)
        from tqdm.auto import tqdm

        chunks = pts.split(1 << 16)
        values = [
            self(c).reshape(-1).cpu()
            for c in tqdm(chunks, desc=f"grid {resolution}³", disable=not progress, leave=False)
        ]
        return torch.cat(values).reshape(resolution, resolution, resolution)

    def mesh(self, resolution: int = 128, *, progress: bool = False) -> Any:
        """The surface at :attr:`level` as a ``trimesh.Trimesh`` in the mesh file's units,
        faces oriented outwards; ``ValueError`` when the field never crosses the level."""
        import numpy as np
        import trimesh
        from skimage import measure

        values = self.grid(resolution, progress=progress).numpy()
        # inside is where the occupancy is high / the distance negative: make it "high" for
        # marching cubes' default (descent) orientation
        inside = values if self.meta["inside"] == "above" else -values
        level = self.level if self.meta["inside"] == "above" else -self.level
        if not (inside.min() < level < inside.max()):
            raise ValueError(
                f"the field never crosses its surface level {self.level:g} on the "
                f"{resolution}³ grid (values {values.min():.3g}..{values.max():.3g}): no surface"
            )
        step = 2.0 / (resolution - 1)
        v, f, _, _ = measure.marching_cubes(inside, level=level, spacing=(step,) * 3)
        norm = self.meta["normalization"]
        v = (v - 1.0) / norm["scale"] + np.asarray(norm["center"])
        return trimesh.Trimesh(v, f.astype(np.int64), process=False)

    render_options = ("resolution",)

    def _render_files(
        self, out: PathLike | None, *, progress: bool, resolution: int = 128
    ) -> list[Path]:
        from iga.figures import plots3d
        from iga.meshes import upright

        path = self._target(out, f"mesh_{resolution}.ply", (".ply", ".obj", ".stl", ".off"))
        surface = self.mesh(resolution, progress=progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        surface.export(path)
        norm = self.meta["normalization"]
        import numpy as np

        v = (np.asarray(surface.vertices) - np.asarray(norm["center"])) * norm["scale"]
        picture = plots3d.save_render(
            path.with_suffix(".png"),
            upright(v, self.meta["up"]),
            np.asarray(surface.faces),
            title=f"{self.record.run.name}: {self.task} at {resolution}³",
        )
        return [path, picture]


def mesh_field(
    record: RunRecord,
    model: nn.Module,
    kind: str,
    data: PathLike | None,
) -> MeshField:
    """The :class:`MeshField` of an occupancy (``kind="occupancy"``) or SDF run with
    ``model`` (weights loaded); the mesh normalisation comes from ``config.json``, or, for
    runs written before it was recorded there, from the mesh (``data`` or the recorded path)."""
    norm = record.resolved.get("normalization")
    if not isinstance(norm, dict):
        from iga.meshes import load_mesh, normalization_facts, normalize

        path = Path(data) if data is not None else Path(record.config.path)
        if not path.is_file():
            raise FileNotFoundError(
                f"the run in {record.run} predates recorded mesh normalisations and its mesh "
                f"({path}) is not found; pass the mesh: iga.load(..., data=MESH) / --data MESH"
            )
        _, n = normalize(load_mesh(path), record.config.margin)
        norm = normalization_facts(n)["normalization"]
    center, scale = as_vector(norm["center"]), float(norm["scale"])
    occupancy = kind == "occupancy"
    module = FieldModule(
        model,
        shift=center,
        scale=torch.full((3,), scale),
        out_scale=1.0 if occupancy else 1.0 / scale,  # distances back in mesh units
    )
    return MeshField(
        record,
        module,
        inputs="(x, y, z) in the mesh file's units",
        outputs="occupancy (inside where >= 0.5)"
        if occupancy
        else "signed distance in the mesh file's units (negative inside)",
        meta={
            "in_features": 3,
            "out_features": 1,
            "normalization": norm,
            "level": 0.5 if occupancy else 0.0,
            "inside": "above" if occupancy else "below",
            "input_columns": ["x", "y", "z"],
            "output_columns": ["occupancy" if occupancy else "sdf"],
            "up": getattr(record.config, "up", "y"),
        },
    )

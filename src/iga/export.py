"""Export a fitted field as a standalone artefact another program runs without iga.

``iga.export.export(iga.load("runs/photo"), "exported/photo")`` (or ``iga export runs/photo``)
writes, into one folder:

``field.pt``           TorchScript (``torch.jit.trace`` of :attr:`iga.fields.Field.module`):
                       ``torch.jit.load("field.pt")(x)`` in any program with torch, C++
                       (libtorch) included.
``field.pt2``          a ``torch.export`` program (``torch.export.load("field.pt2").module()``),
                       the format PyTorch now recommends for deployment and AOT compilation;
                       the batch dimension is dynamic.
``field.safetensors``  the weights (and the normalisation buffers) in safetensors: a flat,
                       pickle-free tensor file that numpy, JAX, Rust and C++ read; the
                       convention below is in its metadata under ``iga_field``.
``field.json``         the convention: what the input columns and outputs mean, the
                       normalisation baked into the program, the source run and its scores.

Every program takes and returns *user units* (the table in :mod:`iga.fields`): the mesh's
normalisation, the audio clip's time axis, the image's clamp to [0, 1] are inside it. A NeRF
export is the radiance field itself, ``(x, y, z, dx, dy, dz) -> (r, g, b, σ)``; volume
rendering (the near/far planes and samples recorded in ``field.json``) stays with the caller.

Each program is checked before it is kept: reloaded, and run on random inputs of another
batch size than the one it was traced with, against the field (the largest difference goes
in ``field.json``).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from iga.fields import Field
from iga.io import PathLike, atomic_open, to_jsonable, write_json

__all__ = ["FORMATS", "export"]

FORMATS = ("torchscript", "export", "safetensors")
"""What :func:`export` can write (``iga export --format``)."""
_FILES = {"torchscript": "field.pt", "export": "field.pt2", "safetensors": "field.safetensors"}
_TOLERANCE = 1e-4


def _probe(field: Field, n: int, seed: int) -> torch.Tensor:
    """``n`` random inputs in the field's user units (the training cube/domain, roughly)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, field.in_features, generator=g) * 2 - 1
    meta = field.meta
    if "normalization" in meta:  # a mesh field: the cube in the mesh's units
        norm = meta["normalization"]
        x = x / float(norm["scale"]) + torch.tensor(norm["center"], dtype=torch.float32)
    elif "rate" in meta:  # audio: seconds
        x = (x + 1) / 2 * (int(meta["samples"]) - 1) / int(meta["rate"])
    elif "domain" in meta:
        lo, hi = meta["domain"]
        x = lo + (x + 1) / 2 * (hi - lo)
    return x


def _check(name: str, program: Any, field: Field, x: torch.Tensor) -> float:
    with torch.no_grad():
        want = field.module(x)
        got = program(x)
    diff = float((got - want).abs().max()) if want.numel() else 0.0
    if not diff <= _TOLERANCE:
        raise RuntimeError(
            f"the {name} program differs from the field by {diff:.3g} (> {_TOLERANCE}); not written"
        )
    return diff


def _torchscript(field: Field, path: Path, x: torch.Tensor, check: torch.Tensor) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation and tracer notes
        traced = torch.jit.trace(field.module, (x,), check_trace=False)
        with atomic_open(path) as f:
            torch.jit.save(traced, f)
        loaded = torch.jit.load(str(path), map_location="cpu")
    return _check("TorchScript", loaded, field, check)


def _torch_export(field: Field, path: Path, x: torch.Tensor, check: torch.Tensor) -> float:
    if not hasattr(torch, "export") or not hasattr(torch.export, "Dim"):
        raise RuntimeError(f"torch {torch.__version__} has no torch.export.Dim (torch >= 2.2)")
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.export(field.module, (x,), dynamic_shapes=({0: batch},))
        tmp = path.with_name(".tmp-" + path.name)  # torch.export wants a name ending in .pt2
        torch.export.save(program, str(tmp))
        tmp.replace(path)
        loaded = torch.export.load(str(path)).module()
    return _check("torch.export", loaded, field, check)


def _safetensors(field: Field, path: Path, meta: dict[str, Any]) -> None:
    try:
        from safetensors.torch import save_file
    except ImportError:
        raise ValueError(
            "--format safetensors needs the safetensors package: pip install 'iga[export]', "
            "or choose --format torchscript,export"
        ) from None
    tensors = {
        k: v.detach().cpu().contiguous().clone() for k, v in field.module.state_dict().items()
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"iga_field": json.dumps(to_jsonable(meta))})
    tmp.replace(path)


def export(
    field: Field,
    out: PathLike,
    formats: Sequence[str] = FORMATS,
    *,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write ``field`` in ``formats`` (see the module docstring) into the folder ``out``,
    with ``field.json``; returns ``{format: path}`` (``"json"`` included).

    Raises:
        ValueError: an unknown format, a field that cannot be exported (an SDF run's
            mini-batch BN), or ``out`` holding an export and not ``overwrite``.
        RuntimeError: a program that could not be written or does not reproduce the field.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(
            f"unknown --format {','.join(unknown) or '(none)'}; choose from {', '.join(FORMATS)}"
            " or all"
        )
    if field.exportable:
        raise ValueError(f"this run cannot be exported: {field.exportable}")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {folder} is a file; name a folder")
    if (folder / "field.json").exists() and not overwrite:
        raise ValueError(f"--out {folder} already holds an export; pass --overwrite")
    folder.mkdir(parents=True, exist_ok=True)
    field = field.to("cpu")
    x, check = _probe(field, 8, 0), _probe(field, 37, 1)
    r = field.record
    from iga import __version__

    meta: dict[str, Any] = {
        "format": 1,
        "iga": __version__,
        "torch": torch.__version__,
        "task": field.task,
        "source_run": str(r.run),
        "weights": r.weights,
        "model": r.resolved.get("model"),
        "inputs": field.inputs,
        "outputs": field.outputs,
        **field.meta,
        "summary": {k: v for k, v in r.summary.items() if isinstance(v, int | float | str)},
    }
    written: dict[str, Path] = {}
    checks: dict[str, float] = {}
    for fmt in formats:
        path = folder / _FILES[fmt]
        if fmt == "torchscript":
            checks[fmt] = _torchscript(field, path, x, check)
        elif fmt == "export":
            checks[fmt] = _torch_export(field, path, x, check)
        else:
            _safetensors(field, path, meta)
        written[fmt] = path
    meta["files"] = {fmt: p.name for fmt, p in written.items()}
    meta["max_abs_difference"] = checks
    meta["usage"] = {
        "torchscript": "torch.jit.load('field.pt')(x)",
        "export": "torch.export.load('field.pt2').module()(x)",
        "safetensors": "safetensors.torch.load_file('field.safetensors'): the state dict of "
        "iga.fields.FieldModule (net.*, shift, scale)",
    }
    written["json"] = write_json(folder / "field.json", meta)
    return written

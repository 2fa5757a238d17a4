"""iga.load, iga render and iga export: a finished run back as a field in the user's units.

Each task's field is checked against what the run itself wrote with its own code path (the
reconstruction PNG/WAV, the marching-cubes surface, the test-view renders), so a wrong
coordinate convention, normalisation or BN/FR merge shows up as a difference."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from PIL import Image
from scipy.io import wavfile

import iga
from iga.cli import main
from iga.fields import FIELD_FORMAT, read_run
from iga.meshes import load_mesh, normalize
from iga.models.config import ModelConfig
from iga.models.nerf import NeRFConfig
from iga.tasks.audio.task import AudioFitConfig, fit_audio
from iga.tasks.function1d.signal import SignalConfig, make_signal
from iga.tasks.function1d.task import FunctionFitConfig, NetConfig, fit_function
from iga.tasks.image.task import ImageFitConfig, fit_image
from iga.tasks.nerf.task import NeRFFitConfig, RenderConfig, fit_nerf
from iga.tasks.occupancy.task import OccupancyFitConfig, fit_occupancy
from iga.tasks.sdf.task import SDFFitConfig, fit_sdf
from iga.train import MethodConfig, TrainConfig

sys.path.insert(0, str(Path(__file__).parent))
from _nerf_scene import write_scene  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# A mesh far from the origin and not unit-sized: the field must answer in these units.
OFFSET, RADIUS = np.array([5.0, -2.0, 1.0]), 3.0


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, png: Path) -> dict[str, Path]:
    """One small finished run per task (and image FR/BN/inpainting), made once."""
    root = tmp_path_factory.mktemp("fields")
    out: dict[str, Path] = {}
    small = ModelConfig(arch="siren", width=16, hidden_layers=2)
    for name, method, extra in (
        ("image", "iga", {}),
        ("image-bn", "bn", {}),
        ("image-fr", "fr", {}),
        ("image-keep", "bn", {"keep": 0.5}),
    ):
        cfg = ImageFitConfig(
            path=str(png),
            size="16x12",
            patch=4,
            model=ModelConfig(arch="relu" if method == "bn" else "siren", width=16),
            method=MethodConfig(method=method, end=3),
            train=TrainConfig(steps=15, checkpoint_every=0),
            out=str(root / name),
            **extra,
        )
        fit_image(cfg, progress=False)
        out[name] = root / name
    mesh_path = root / "ball.obj"
    ball = trimesh.creation.icosphere(subdivisions=3, radius=RADIUS)
    ball.apply_translation(OFFSET)
    ball.export(mesh_path)
    fit_occupancy(
        OccupancyFitConfig(
            path=str(mesh_path),
            resolution=16,
            groups="blocks",
            block=2,
            batch_groups=64,
            validate_every=20,
            eval_points=500,
            surface_points=500,
            cache_dir=str(root / "cache"),
            model=ModelConfig(arch="relu", width=32),
            method=MethodConfig(method="iga", end=4),
            train=TrainConfig(steps=60, schedule="exp", checkpoint_every=0, lr=1e-2),
            out=str(root / "occupancy"),
        ),
        progress=False,
    )
    out["occupancy"] = root / "occupancy"
    fit_sdf(
        SDFFitConfig(
            path=str(mesh_path),
            points=2048,
            group_size=32,
            resolution=16,
            eval_every=10,
            surface_points=500,
            cache_dir=str(root / "cache"),
            model=ModelConfig(arch="relu", width=32, hidden_layers=2),
            method=MethodConfig(method="iga", end=4),
            train=TrainConfig(steps=60, checkpoint_every=0, lr=3e-3),
            out=str(root / "sdf"),
        ),
        progress=False,
    )
    out["sdf"] = root / "sdf"
    scene = write_scene(root / "scene", size=8, views=2)
    fit_nerf(
        NeRFFitConfig(
            scene=str(scene),
            size=0,
            test_views=1,
            val_views=1,
            validate_every=10,
            batch_rays=32,
            turntable_frames=0,
            net=NeRFConfig(depth=2, width=16, skip=-1, multires=3, multires_views=2),
            render=RenderConfig(n_coarse=8, n_fine=8, chunk=64),
            method=MethodConfig(method="vanilla"),
            train=TrainConfig(steps=10, checkpoint_every=0, lr=5e-3),
            out=str(root / "nerf"),
        ),
        progress=False,
    )
    out["nerf"] = root / "nerf"
    for name, coords in (("function", "line"), ("function-circle", "circle")):
        fit_function(
            FunctionFitConfig(
                signal=SignalConfig(freqs="2,5", points=256, coords=coords),
                net=NetConfig(arch="relu", width=32),
                train=TrainConfig(steps=20, lr=1e-3, checkpoint_every=0),
                out=str(root / name),
            ),
            progress=False,
            plots=False,
        )
        out[name] = root / name
    rate = 4000
    t = np.arange(800) / rate
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    wavfile.write(root / "tone.wav", rate, tone)
    fit_audio(
        AudioFitConfig(
            path=str(root / "tone.wav"),
            duration=0.0,
            window=16,
            model=small,
            method=MethodConfig(method="iga", end=4),
            train=TrainConfig(steps=20, checkpoint_every=0),
            out=str(root / "audio"),
        ),
        progress=False,
    )
    out["audio"] = root / "audio"
    out["mesh"] = mesh_path
    out["scene"] = scene
    return out


# --- each task's field against the run's own outputs ---------------------------------------


@pytest.mark.parametrize("name", ["image", "image-bn", "image-fr", "image-keep"])
def test_image_field_reproduces_the_runs_reconstruction(runs, name) -> None:
    field = iga.load(runs[name])
    assert isinstance(field, iga.fields.Field) and field.task == "image"
    assert field.size == (16, 12)
    img = field.image()
    assert img.shape == (12, 16, 3)
    # the run's own reconstruction.png (best weights, BN with its training batch, 8 bits)
    np.testing.assert_allclose(img.numpy(), _png(runs[name] / "reconstruction.png"), atol=0.6 / 255)
    big = field.image("40x30")
    assert big.shape == (30, 40, 3) and float(big.min()) >= 0.0 and float(big.max()) <= 1.0
    final = iga.load(runs[name], weights="final").image()
    np.testing.assert_allclose(
        final.numpy(), _png(runs[name] / "reconstruction_final.png"), atol=0.6 / 255
    )


def test_image_field_corners_are_the_corner_pixels(runs) -> None:
    """(y, x) = (-1, -1) is the top-left pixel's centre and (1, 1) the bottom-right's, at any
    rendered size: the corners of a 2x render equal those of the training-size render."""
    field = iga.load(runs["image"])
    small, big = field.image((16, 12)), field.image((31, 23))
    for (r, c), (R, C) in (((0, 0), (0, 0)), ((11, 15), (22, 30)), ((0, 15), (0, 30))):
        torch.testing.assert_close(small[r, c], big[R, C])
    torch.testing.assert_close(field(torch.tensor([[-1.0, -1.0]]))[0], small[0, 0])


@pytest.mark.parametrize("kind", ["occupancy", "sdf"])
def test_mesh_field_answers_in_the_mesh_units(runs, kind) -> None:
    field = iga.load(runs[kind])
    cfg = read_run(runs[kind], None).config
    _, norm = normalize(load_mesh(runs["mesh"]), cfg.margin)
    # an independent path: the task's model on normalised points
    model = field.module.net
    pts = np.random.default_rng(0).uniform(-RADIUS, RADIUS, size=(200, 3)) + OFFSET
    raw = model(torch.from_numpy(norm.apply(pts)).float()).reshape(-1)
    want = raw if kind == "occupancy" else raw / norm.scale
    torch.testing.assert_close(field(pts).reshape(-1), want, rtol=1e-5, atol=1e-5)
    # the surface at the run's resolution is the run's own surface.ply, in mesh units
    mesh = field.mesh(cfg.resolution)
    own = trimesh.load(runs[kind] / "surface.ply", process=False)
    np.testing.assert_allclose(norm.apply(mesh.vertices), own.vertices, atol=1e-4)
    assert len(mesh.faces) == len(own.faces)
    centre = mesh.bounds.mean(axis=0)
    assert np.abs(centre - OFFSET).max() < RADIUS  # in the file's units, not [-1, 1]


def test_nerf_field_renders_the_runs_test_view(runs) -> None:
    field = iga.load(runs["nerf"])
    pose = json.loads((runs["scene"] / "transforms_test.json").read_text())["frames"][0]
    view = field.render(torch.tensor(pose["transform_matrix"]))
    assert view.shape == (8, 8, 3)
    np.testing.assert_allclose(
        view.numpy(), _png(runs["nerf"] / "test" / "000.png"), atol=0.6 / 255
    )
    assert field.render(torch.tensor(pose["transform_matrix"]), (12, 12)).shape == (12, 12, 3)
    rgbs = field(torch.randn(5, 6))
    assert rgbs.shape == (5, 4) and float(rgbs[:, 3].min()) >= 0.0


@pytest.mark.parametrize("name", ["function", "function-circle"])
def test_function_field_has_the_runs_final_error(runs, name) -> None:
    field = iga.load(runs[name], weights="final")
    cfg = read_run(runs[name], None).config
    t, y = field.sample()
    signal = make_signal(cfg.signal)
    torch.testing.assert_close(t, signal.t)
    mse = float(((y - signal.target.reshape(-1)) ** 2).mean())
    summary = json.loads((runs[name] / "summary.json").read_text())
    assert mse == pytest.approx(summary["mse_final"], rel=1e-5)
    assert field.sample(1000)[1].shape == (1000,)


def test_audio_field_reproduces_the_reconstruction_and_resamples(runs) -> None:
    field = iga.load(runs["audio"])
    rate, wav = wavfile.read(runs["audio"] / "reconstruction.wav")
    assert field.rate == rate
    # seconds -> [-1, 1] in float32 moves an instant by ~1e-7, which SIREN's audio ω₀ = 3000
    # turns into ~3e-5 of full scale (-90 dB): equal to that, not to the bit
    np.testing.assert_allclose(field.waveform()[:, 0].numpy(), wav, atol=1e-4)
    assert field.waveform(8000).shape == (1599, 1)  # 0 .. 799/4000 s at 8 kHz


# --- export ------------------------------------------------------------------------------


_STANDALONE = r"""
import importlib.abc, json, sys
class _NoIga(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "iga" or name.startswith("iga."):
            raise ImportError("iga must not be imported")
sys.meta_path.insert(0, _NoIga())
import torch
from safetensors.torch import load_file
folder, = sys.argv[1:]
x = torch.load(folder + "/x.pt")
meta = json.load(open(folder + "/field.json"))
out = {"ts": torch.jit.load(folder + "/field.pt")(x).tolist()}
if "export" in meta["files"]:
    out["pt2"] = torch.export.load(folder + "/field.pt2").module()(x).tolist()
out["keys"] = sorted(load_file(folder + "/field.safetensors"))
assert not any(m == "iga" or m.startswith("iga.") for m in sys.modules)
print(json.dumps(out))
"""


@pytest.mark.parametrize("name", ["image-bn", "occupancy", "nerf", "function-circle", "audio"])
def test_the_export_runs_without_iga_and_matches(runs, name, tmp_path) -> None:
    field = iga.load(runs[name])
    folder = tmp_path / "exported"
    formats = ("torchscript", "export", "safetensors") if name != "nerf" else None
    code = main(
        ["export", str(runs[name]), "--out", str(folder)]
        + (["--format", ",".join(formats)] if formats else [])
    )
    assert code == 0
    meta = json.loads((folder / "field.json").read_text())
    assert meta["task"] == field.task and meta["format"] == 1
    x = torch.rand(23, field.in_features) * 2 - 1
    torch.save(x, folder / "x.pt")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", _STANDALONE, str(folder)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**env, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    want = field(x)
    torch.testing.assert_close(torch.tensor(got["ts"]), want, rtol=1e-5, atol=1e-5)
    if "pt2" in got:
        torch.testing.assert_close(torch.tensor(got["pt2"]), want, rtol=1e-5, atol=1e-5)
    assert got["keys"] == sorted(field.module.state_dict())


def test_export_refuses_to_overwrite_and_bad_formats(runs, tmp_path, capsys) -> None:
    folder = tmp_path / "e"
    assert (
        main(["export", str(runs["function"]), "--out", str(folder), "--format", "safetensors"])
        == 0
    )
    assert main(["export", str(runs["function"]), "--out", str(folder)]) == 1
    assert "already holds an export; pass --overwrite" in capsys.readouterr().err
    assert main(["export", str(runs["function"]), "--out", str(folder), "--format", "onnx"]) == 1
    err = capsys.readouterr().err
    assert "unknown --format onnx" in err and len(err.strip().splitlines()) == 1


# --- iga render ------------------------------------------------------------------------------


def test_render_writes_each_tasks_files(runs, tmp_path) -> None:
    out = tmp_path / "r"
    assert main(["render", str(runs["image"]), "--size", "48x36", "--out", str(out / "i.png")]) == 0
    assert Image.open(out / "i.png").size == (48, 36)
    assert (
        main(["render", str(runs["occupancy"]), "--resolution", "20", "--out", str(out / "m.obj")])
        == 0
    )
    assert trimesh.load(out / "m.obj").faces.shape[1] == 3 and (out / "m.png").is_file()
    assert main(["render", str(runs["nerf"]), "--frames", "2", "--out", str(out / "tt")]) == 0
    assert sorted(p.name for p in (out / "tt").iterdir()) == ["000.png", "001.png", "turntable.gif"]
    assert main(["render", str(runs["audio"]), "--rate", "8000", "--out", str(out / "a.wav")]) == 0
    assert wavfile.read(out / "a.wav")[0] == 8000
    assert (
        main(["render", str(runs["function"]), "--samples", "64", "--out", str(out / "f.csv")]) == 0
    )
    assert len((out / "f.csv").read_text().splitlines()) == 65
    # the default: into the run directory's renders/ folder
    assert main(["render", str(runs["sdf"])]) == 0
    assert (runs["sdf"] / "renders" / "mesh_128.ply").is_file()


def test_render_refuses_an_option_of_another_task(runs, capsys) -> None:
    assert main(["render", str(runs["image"]), "--resolution", "64"]) == 1
    err = capsys.readouterr().err.strip()
    assert "--resolution" in err and "image" in err and len(err.splitlines()) == 1


# --- what cannot be loaded ------------------------------------------------------------------


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_unloadable_runs_are_one_line(runs, tmp_path, capsys) -> None:
    cases = []
    d = _copy(runs["function"], tmp_path / "unfinished")
    (d / "summary.json").unlink()
    cases.append((d, "has not finished"))
    d = _copy(runs["function"], tmp_path / "noweights")
    (d / "best.pt").unlink()
    (d / "final.pt").unlink()
    cases.append((d, "--keep-checkpoints"))
    d = _copy(runs["function"], tmp_path / "newer")
    cfg = json.loads((d / "config.json").read_text())
    cfg["resolved"]["format"] = FIELD_FORMAT + 1
    (d / "config.json").write_text(json.dumps(cfg))
    cases.append((d, "newer iga"))
    d = _copy(runs["function"], tmp_path / "foreign")
    cfg = json.loads((d / "config.json").read_text())
    cfg["net"]["bogus"] = 1
    (d / "config.json").write_text(json.dumps(cfg))
    cases.append((d, "incompatible iga version"))
    d = _copy(runs["function"], tmp_path / "reshaped")
    state = torch.load(d / "best.pt")
    state[next(iter(state))] = torch.zeros(3, 3)
    torch.save(state, d / "best.pt")
    cases.append((d, "do not fit the model"))
    d = tmp_path / "empty"
    d.mkdir()
    cases.append((d, "holds no run"))
    cases.append((tmp_path / "missing", "no run directory"))
    for folder, words in cases:
        with pytest.raises((ValueError, FileNotFoundError), match=words):
            iga.load(folder)
        assert main(["render", str(folder)]) == 1
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1, err


def test_every_committed_run_reads_and_names_its_missing_weights() -> None:
    """Every finished run committed under results/ is readable by this iga (its task is
    recognised and its config parses); benchmarks drop the weights, which load says."""
    dirs = sorted(p.parent for p in (REPO / "results").rglob("summary.json"))
    if not dirs:
        pytest.skip("no committed runs in this checkout")
    seen = set()
    for d in dirs:
        record = read_run(d, None)
        seen.add(record.task)
        if not (d / "best.pt").is_file():
            with pytest.raises(ValueError, match="no best.pt"):
                read_run(d)
    assert {"image", "occupancy", "nerf", "function", "audio", "sdf"} <= seen


def test_a_mesh_run_without_recorded_normalisation_reads_it_from_the_mesh(runs, tmp_path) -> None:
    d = _copy(runs["sdf"], tmp_path / "old")
    cfg = json.loads((d / "config.json").read_text())
    del cfg["resolved"]["normalization"]
    (d / "config.json").write_text(json.dumps(cfg))
    pts = np.random.default_rng(1).uniform(-RADIUS, RADIUS, size=(50, 3)) + OFFSET
    want = iga.load(runs["sdf"])(pts)
    torch.testing.assert_close(iga.load(d)(pts), want)  # the recorded mesh path still resolves
    moved = tmp_path / "moved.obj"
    shutil.copy(runs["mesh"], moved)
    cfg["path"] = str(tmp_path / "gone.obj")
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(FileNotFoundError, match="pass the mesh"):
        iga.load(d)
    torch.testing.assert_close(iga.load(d, data=moved)(pts), want)

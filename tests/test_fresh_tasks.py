"""FreSh beyond images: the 1-D and 3-D spectra, the choice on the audio, occupancy, SDF and
super-resolution tasks (recorded, and not made again when a run is loaded), CT's choice on
the filtered back-projection of its training projections, and one-line refusals where the task
never sees its signal (inpainting, SIREN's SDF loss)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from scipy.io import wavfile

import iga
from iga.cli import main
from iga.harness import options
from iga.models import build, fresh
from iga.models.config import ModelConfig
from iga.tasks.common import FRESH_CUBE, cube_signal

# gmum/FreSh's get_3d_fft_mask(4) and (5), printed by their code (494ae6c)
AUTHORS_MASK_4 = [
    [[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 0], [0, 0, 0, 0]],
    [[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 0]],
    [[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 0], [0, 0, 0, 0]],
    [[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
]
AUTHORS_MASK_5 = [
    [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 0]],
    [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 0, 0]],
    [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 0], [1, 1, 1, 0, 0], [0, 1, 0, 0, 0]],
    [[0, 1, 0, 0, 0], [1, 1, 1, 1, 0], [0, 1, 1, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 0]],
    [[0, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
]


@pytest.mark.parametrize(("n", "expected"), [(4, AUTHORS_MASK_4), (5, AUTHORS_MASK_5)])
def test_volume_mask_is_the_authors_mask(n: int, expected: list) -> None:
    # (probes/fresh_authors_side_by_side.py compares n = 2 … 40 against their function)
    assert torch.equal(fresh.volume_mask(n), torch.tensor(expected, dtype=torch.float64))


def test_volume_spectrum_puts_a_cosine_at_the_sum_of_its_frequency_indices() -> None:
    n = 16
    i, j, k = torch.meshgrid(*(torch.arange(n),) * 3, indexing="ij")
    vol = torch.cos(2 * math.pi * (2 * i + 3 * j + 4 * k) / n)
    spec = fresh.volume_spectrum(vol, crop=None)
    assert spec.shape == (3 * n - 3,)
    # the DFT sits at (2, 3, 4) (kept by the mask) and its mirror (14, 13, 12) (masked out)
    assert int(np.argmax(spec)) + 1 == 2 + 3 + 4
    assert spec[8] == pytest.approx(n**3 / 2, rel=1e-5)
    assert np.delete(spec, 8).max() < 1e-5 * spec[8]
    with pytest.raises(ValueError, match="cube"):
        fresh.volume_spectrum(torch.zeros(4, 4, 5))


def test_signal_spectrum_sums_channels_at_the_sine_bin() -> None:
    t = torch.arange(64)
    sine = torch.sin(2 * math.pi * 5 * t / 64)
    spec = fresh.signal_spectrum(torch.stack([sine, 2 * sine]))
    assert spec.shape == (32,)  # bins 1 … n // 2
    assert int(np.argmax(spec)) == 4  # bin 5
    assert spec[4] == pytest.approx(3 * 64 / 2, rel=1e-5)  # |X| = n/2 per unit amplitude


@pytest.mark.parametrize("dims", [1, 3])
def test_select_recovers_the_frequency_of_a_target_drawn_from_the_model(dims: int) -> None:
    n = 256 if dims == 1 else 12
    axis = torch.linspace(-1, 1, n)
    coords = torch.stack(torch.meshgrid(*(axis,) * dims, indexing="ij"), -1).reshape(-1, dims)

    def make(opts: dict, seed: int) -> torch.nn.Module:
        return build("siren", dims, 1, 32, 2, seed=seed, **opts)

    with torch.no_grad():
        target = make({"first_omega0": 60.0}, 999)(coords)
    choice = fresh.select(
        "siren", make, coords, target, (n,) * dims, (5.0, 60.0, 600.0), inits=3, crop=None
    )
    assert choice.value == 60.0


def test_cube_signal_reads_every_fourth_point_of_a_128_grid() -> None:
    values = np.arange(128**3, dtype=np.float32).reshape(128, 128, 128)
    coords, target, shape = cube_signal(values)
    assert FRESH_CUBE == 32
    assert shape == (32, 32, 32) and coords.shape == (32**3, 3)
    assert target[1, 0] == values[0, 0, 4] and target[32, 0] == values[0, 4, 0]
    torch.testing.assert_close(coords[1], torch.tensor([-1.0, -1.0, -1.0 + 8 / 127]))
    torch.testing.assert_close(coords[-1], torch.tensor([1.0 - 6 / 127] * 3))


# -- the tasks --------------------------------------------------------------------------


def _spy_on_select(monkeypatch) -> dict:
    """Record the target and grid shape FreSh is given (``seen``), choosing as usual."""
    seen: dict = {}
    original = fresh.select

    def spy(arch, make, coords, target, shape, *args, **kwargs):
        seen.update(target=target.clone(), shape=tuple(shape))
        return original(arch, make, coords, target, shape, *args, **kwargs)

    monkeypatch.setattr(fresh, "select", spy)
    return seen


def _load_without_choosing(out: Path, monkeypatch) -> iga.Field:
    def refuse(*args, **kwargs):
        raise AssertionError("a loaded run must not run FreSh again")

    monkeypatch.setattr(fresh, "select", refuse)
    return iga.load(out)


def test_audio_fresh_records_the_choice_and_loads_without_choosing(
    tmp_path: Path, monkeypatch
) -> None:
    rate = 8000
    t = np.arange(1600) / rate
    path = tmp_path / "tone.wav"
    wavfile.write(path, rate, (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    out = tmp_path / "run"
    argv = ["fit", "audio", str(path), "--arch", "siren", "--fresh", "100,1000,8000"]
    argv += ["--width", "16", "--window", "32", "--steps", "2", "--device", "cpu", "--quiet"]
    argv += ["--out", str(out)]
    assert main(argv) == 0
    saved = json.loads((out / "config.json").read_text())
    chosen = saved["resolved"]["fresh"]["chosen"]
    assert saved["resolved"]["fresh"]["param"] == "first_omega0"
    assert set(saved["resolved"]["fresh"]["distances"]) == {"100.0", "1000.0", "8000.0"}
    assert f"first_omega0={chosen!r}" in saved["resolved"]["model"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fresh"] == f"first_omega0={chosen:g}"
    field = _load_without_choosing(out, monkeypatch)
    assert torch.isfinite(field(torch.zeros(3, 1))).all()


def test_audio_auto_candidates_reach_the_clip_frequencies() -> None:
    from iga.tasks.audio.task import AUDIO_FRESH

    assert fresh.parse_values("siren", "auto", AUDIO_FRESH["siren"]) == AUDIO_FRESH["siren"]
    assert 3000.0 in AUDIO_FRESH["siren"]  # SIREN's own audio setting is a candidate


@pytest.fixture(scope="module")
def ball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mesh") / "ball.obj"
    trimesh.creation.icosphere(subdivisions=3, radius=0.6).export(path)
    return path


def test_occupancy_fresh_chooses_on_the_grid(ball: Path, tmp_path: Path, monkeypatch) -> None:
    seen = {}
    original = fresh.select

    def spy(arch, make, coords, target, shape, *args, **kwargs):
        seen.update(shape=tuple(shape), inside=float(target.mean()))
        return original(arch, make, coords, target, shape, *args, **kwargs)

    monkeypatch.setattr(fresh, "select", spy)
    out = tmp_path / "occ"
    argv = ["fit", "occupancy", str(ball), "--arch", "pe", "--fresh", "2,6", "--resolution"]
    argv += ["32", "--width", "16", "--steps", "2", "--eval-points", "1000"]
    argv += ["--surface-points", "1000", "--device", "cpu", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    assert seen["shape"] == (32, 32, 32) and 0 < seen["inside"] < 1
    saved = json.loads((out / "config.json").read_text())
    assert saved["resolved"]["fresh"]["param"] == "pe_levels"
    monkeypatch.setattr(fresh, "select", original)
    _load_without_choosing(out, monkeypatch)


def test_sdf_fresh_chooses_on_the_signed_distance(ball: Path, tmp_path: Path) -> None:
    out = tmp_path / "sdf"
    argv = ["fit", "sdf", str(ball), "--arch", "siren", "--fresh", "10,30", "--points", "2048"]
    argv += ["--resolution", "16", "--width", "16", "--steps", "2", "--surface-points", "500"]
    argv += ["--device", "cpu", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["resolved"]["fresh"]["chosen"] in (10.0, 30.0)


def test_superres_fresh_sees_the_low_resolution_image_only(
    tiny_png: Path, tmp_path: Path, monkeypatch
) -> None:
    from iga.tasks.image.task import ImageFitConfig, fresh_choice

    seen = {}
    original = fresh.select

    def spy(arch, make, coords, target, shape, *args, **kwargs):
        seen["shape"] = tuple(shape)
        return original(arch, make, coords, target, shape, *args, **kwargs)

    monkeypatch.setattr(fresh, "select", spy)
    cfg = ImageFitConfig(
        path=str(tiny_png), patch=2, downsample=2, model=ModelConfig(arch="pe", fresh="2,5")
    )
    assert fresh_choice(cfg) is not None
    assert seen["shape"] == (8, 12)  # the 24x16 image reduced 2x


def test_ct_fresh_matches_the_fbp_of_the_training_projections_only(
    tmp_path: Path, monkeypatch
) -> None:
    from skimage.transform import iradon, radon

    from iga.tasks.ct.data import load_slice

    seen = _spy_on_select(monkeypatch)
    out = tmp_path / "ct"
    argv = ["fit", "ct", "phantom", "--size", "16", "--angles", "8", "--val-angles", "2"]
    argv += ["--arch", "siren", "--fresh", "20,60", "--width", "8", "--batch-groups", "8"]
    argv += ["--end", "4"]
    argv += ["--steps", "2", "--eval-every", "1", "--device", "cpu", "--quiet"]
    assert main([*argv, "--out", str(out)]) == 0
    saved = json.loads((out / "config.json").read_text())
    held = saved["resolved"]["val_angles_deg"]
    train = [a for a in np.arange(8) * 22.5 if a not in held]
    assert len(held) == 2 and len(train) == 6
    # independently: radon of the slice at the training angles only, back-projected
    truth = load_slice("phantom", 16)[0]
    with np.errstate(all="ignore"):
        sino = radon(truth, theta=train, circle=False)
        want = iradon(sino, theta=train, circle=False, filter_name="ramp", output_size=16)
    assert seen["shape"] == (16, 16)
    np.testing.assert_allclose(
        seen["target"].numpy().reshape(16, 16), np.clip(want, 0, 1), atol=1e-5
    )
    assert not np.allclose(seen["target"].numpy().reshape(16, 16), truth, atol=0.05)
    assert saved["resolved"]["fresh"]["chosen"] in (20.0, 60.0)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fresh"] == f"first_omega0={saved['resolved']['fresh']['chosen']:g}"
    field = _load_without_choosing(out, monkeypatch)
    assert torch.isfinite(field(torch.zeros(3, 2))).all()


def test_function_fresh_reads_the_sines_and_loads_without_choosing(
    tmp_path: Path, monkeypatch
) -> None:
    from iga.tasks.function1d.signal import SignalConfig, make_signal

    seen = _spy_on_select(monkeypatch)
    out = tmp_path / "f"
    argv = ["fit", "function", "--arch", "pe", "--fresh", "2,8", "--points", "64", "--width"]
    argv += ["16", "--hidden-layers", "2", "--method", "vanilla", "--steps", "2", "--freqs"]
    argv += ["3,9"]
    argv += ["--device", "cpu", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    assert seen["shape"] == (64,)
    signal = make_signal(SignalConfig(points=64, freqs="3,9"))
    torch.testing.assert_close(seen["target"], signal.target)
    saved = json.loads((out / "config.json").read_text())
    chosen = saved["resolved"]["fresh"]["chosen"]
    assert saved["resolved"]["fresh"]["param"] == "pe_levels" and chosen in (2, 8)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["fresh"] == f"pe_levels={chosen}"
    field = _load_without_choosing(out, monkeypatch)
    assert torch.isfinite(field.sample(16)[1]).all()


def test_function_opt_scales_the_weights_and_keeps_old_run_keys() -> None:
    from dataclasses import asdict

    from iga.runs import config_key
    from iga.tasks.function1d.task import FunctionFitConfig, NetConfig, build_net

    plain = build_net(NetConfig(arch="siren", width=8, hidden_layers=2), 1, seed=3)
    scaled = build_net(
        NetConfig(arch="siren", width=8, hidden_layers=2, options={"weight_scale": 2.0}), 1, 3
    )
    weights = [n for n, _ in plain.named_parameters() if n.endswith("weight")]
    first, last = dict(plain.named_parameters()), dict(scaled.named_parameters())
    torch.testing.assert_close(last[weights[0]], 2 * first[weights[0]])
    torch.testing.assert_close(last[weights[-1]], first[weights[-1]])
    # --opt and --fresh at their defaults stay out of the key: committed 1D runs keep theirs
    cfg = json.loads(json.dumps(asdict(FunctionFitConfig())))
    older = {**cfg, "net": {k: v for k, v in cfg["net"].items() if k not in ("options", "fresh")}}
    assert config_key(cfg) == config_key(older)
    assert config_key({**cfg, "net": {**cfg["net"], "fresh": "auto"}}) != config_key(older)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["fit", "function", "--arch", "relu"], "relu has none"),
        (["fit", "image", "{png}", "--keep", "0.5", "--arch", "siren"], "--keep holds out"),
        (["fit", "sdf", "{mesh}", "--loss", "siren", "--arch", "siren"], "--loss regression"),
        (["fit", "audio", "{wav}", "--arch", "relu"], "relu has none"),
    ],
)
def test_tasks_that_cannot_see_their_signal_refuse_fresh_in_one_line(
    argv: list[str], words: str, tiny_png: Path, ball: Path, tmp_path: Path, capsys
) -> None:
    wav = tmp_path / "a.wav"
    wavfile.write(wav, 8000, np.zeros(400, dtype=np.float32))
    names = {"{png}": str(tiny_png), "{mesh}": str(ball), "{wav}": str(wav)}
    argv = [names.get(a, a) for a in argv]
    code = main([*argv, "--fresh", "auto", "--steps", "1", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "--fresh" in err and words in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_function_fresh_plan_is_exp2s_siren_fit_and_round_trips(tmp_path: Path) -> None:
    from iga.tasks.function1d.plans import EXPERIMENTS, load_plan, plan_to_dict

    plan, exp2 = EXPERIMENTS["function1d-fresh"]("cpu"), EXPERIMENTS["function1d-exp2"]("cpu")
    assert plan.runs["siren-vanilla"] == exp2.runs["siren-vanilla"]
    assert plan.runs["siren-iga"] == exp2.runs["siren-g8-end8"]
    fresh_runs = [n for n, c in plan.runs.items() if c.net.fresh]
    assert sorted(fresh_runs) == [
        "pe-fresh-iga",
        "pe-fresh-vanilla",
        "siren-fresh-iga",
        "siren-fresh-vanilla",
    ]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_to_dict(plan)))
    assert load_plan(path).runs == plan.runs


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--arch", "arora", "--opt", "weight_scale=2"], "--opt needs an INR arch"),
        (["--arch", "arora", "--fresh", "auto"], "--fresh needs an INR arch"),
        (["--arch", "siren", "--opt", "omega0=3"], "set it with --omega0"),
        (["--arch", "siren", "--opt", "pe_levels=3"], "unknown option for --arch siren"),
        (["--arch", "pe", "--fresh", "auto", "--opt", "pe_levels=3"], "leave --opt pe_levels"),
    ],
)
def test_function_bad_opt_or_fresh_is_one_line(
    extra: list[str], words: str, tmp_path: Path, capsys
) -> None:
    code = main(["fit", "function", *extra, "--steps", "1", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code != 0 and words in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_bench_ct_runs_the_fresh_recipe(tmp_path: Path) -> None:
    argv = ["bench", "ct", "--slices", "phantom", "--angles", "20", "--archs", "pe"]
    argv += ["--methods", "fresh", "--steps", "2", "--out", str(tmp_path), "--quiet"]
    assert main([*argv, "--no-figures"]) == 0
    (config,) = tmp_path.glob("cpu_steps2/runs/**/config.json")
    saved = json.loads(config.read_text())
    assert saved["model"]["fresh"] == "auto" and saved["method"]["method"] == "vanilla"
    assert saved["resolved"]["fresh"]["param"] == "pe_levels"


def test_bench_recipes_fresh_and_their_refusals(tmp_path: Path, capsys) -> None:
    assert options.recipes("fresh,fresh+iga") == ["fresh", "fresh+iga"]
    model = ModelConfig(arch="siren")
    assert options.recipe_model("fresh+iga", model).fresh == "auto"
    assert options.recipe_model("muon", model) is model  # the other recipes keep their keys
    assert options.recipe("fresh+iga")[:2] == ("iga", "adam")
    code = main(["bench", "inpainting", "--methods", "vanilla,fresh", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "--methods fresh" in err and len(err.splitlines()) == 1
    # an arch without an embedding frequency is named before any run
    for bench in (["sdf"], ["audio"], ["superres"], ["ct", "--angles", "20"]):
        code = main(["bench", *bench, "--methods", "fresh", "--archs", "relu,pe"])
        err = capsys.readouterr().err.strip()
        assert code != 0 and "--archs relu lacks" in err and len(err.splitlines()) == 1
    # the occupancy benchmark takes FreSh as an override of every run (its own tier name)
    code = main(["bench", "occupancy", "--fresh", "auto", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code != 0 and "relu has none" in err and len(err.splitlines()) == 1

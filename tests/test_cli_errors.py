"""Every bad input gets one line, ``iga: error: ...`` naming the flag: never a traceback, never
a silent wrong result, and never a touched run directory. Then the same for the Python API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

import iga
from iga.cli import main
from iga.models import build


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli_errors")
    y, x = np.mgrid[0:16, 0:16] / 8.0
    rgb = np.stack([0.5 + 0.4 * np.sin(2 * x), 0.5 + 0.3 * np.cos(3 * y), 0.5 + 0 * x], -1)
    Image.fromarray((rgb * 255).astype(np.uint8)).save(root / "tiny.png")
    # 512x512 with --patch 1: 262144 groups, an eNTK no machine holds (0.5 TB for K alone).
    Image.fromarray(np.zeros((512, 512, 3), np.uint8)).save(root / "large.png")
    (root / "not_an_image.png").write_text("hello")
    import trimesh

    trimesh.creation.icosphere(subdivisions=2, radius=0.8).export(root / "ball.obj")
    # a closed box a thousandth as thick as it is wide: no grid point of 16³ falls inside
    trimesh.creation.box(extents=(1.0, 1.0, 1e-3)).export(root / "sheet.obj")
    (root / "tier_list.json").write_text('{"steps": [100, 200]}')
    (root / "tier_empty_size.json").write_text('{"size": ""}')
    (root / "tier_unknown.json").write_text('{"stepz": 100}')
    (root / "tier_not_json.json").write_text("steps = 100")
    (root / "a_file").write_text("x")
    readonly = root / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    run = root / "run"  # a finished run: every case passes it as --out (with --overwrite)
    argv = ["fit", "image", str(root / "tiny.png"), "--steps", "2", "--width", "8"]
    argv += ["--patch", "4", "--end", "3", "--device", "cpu", "--quiet", "--out", str(run)]
    assert main(argv) == 0
    assert (run / "summary.json").is_file()
    return {
        "png": root / "tiny.png",
        "large": root / "large.png",
        "not_an_image": root / "not_an_image.png",
        "file": root / "a_file",
        "readonly": readonly,
        "run": run,
        "missing": root / "missing.png",
        "ball": root / "ball.obj",
        "sheet": root / "sheet.obj",
        "root": root,
        "scratch": root / "scratch",  # benchmarks whose runs fail still write their reports
        **{name: root / f"{name}.json" for name in ("tier_list", "tier_empty_size")},
        **{name: root / f"{name}.json" for name in ("tier_unknown", "tier_not_json")},
    }


def _snapshot(run: Path) -> dict[str, Any]:
    return {
        str(p.relative_to(run)): (p.read_bytes(), p.stat().st_mtime_ns) if p.is_file() else None
        for p in sorted(run.rglob("*"))
    }


def image(*extra: str, path: str = "{png}") -> list[str]:
    argv = ["fit", "image", path, "--steps", "2", "--width", "8", "--patch", "4", "--end", "3"]
    return [*argv, "--device", "cpu", "--quiet", "--out", "{run}", "--overwrite", *extra]


def occupancy(*extra: str, mesh: str = "{ball}") -> list[str]:
    argv = ["fit", "occupancy", mesh, "--resolution", "16", "--block", "2", "--steps", "2"]
    argv += ["--batch-groups", "8", "--width", "8", "--eval-points", "100"]
    return [*argv, "--device", "cpu", "--quiet", "--out", "{run}", "--overwrite", *extra]


def BENCH_IMAGE(tier: str) -> list[str]:  # noqa: N802 - reads as the command
    return ["bench", "image", "--tier", tier, "--images", "{png}", "--out", "{run}/b"]


BENCH_OCC = ["bench", "occupancy", "--data", "{root}", "--shapes", "ball", "--archs"]
BENCH_OCC += ["relu", "--methods", "vanilla", "--seeds", "0", "--steps", "2", "--quiet"]
BENCH_OCC += ["--out", "{scratch}/occ"]

REGIONS = ["analyze", "regions", "--image", "{png}", "--size", "16x16", "--steps", "2"]
REGIONS += ["--quiet", "--out", "{scratch}/regions", "--width", "8", "--end", "3", "--device"]
REGIONS += ["cpu"]

BANDS = ["analyze", "bands", "--image", "{png}", "--size", "16x16", "--steps", "2", "--quiet"]
BANDS += ["--out", "{run}/bands", "--width", "8", "--end", "3", "--device", "cpu"]
TRAINING = ["analyze", "training", "--image", "{png}", "--size", "16x16", "--steps", "2"]
TRAINING += ["--quiet", "--out", "{run}/training", "--width", "8", "--end", "3", "--device", "cpu"]

FUNCTION = ["fit", "function", "--freqs", "4,8", "--points", "64", "--width", "8", "--steps"]
FUNCTION += ["2", "--end", "3"]
FUNCTION += ["--device", "cpu", "--quiet", "--out", "{run}", "--overwrite"]
OVERHEAD = ["bench", "overhead", "--path", "{png}", "--size", "16x16", "--patch", "4"]
OVERHEAD += ["--width", "8", "--end", "3", "--repeats", "1", "--warmup", "0", "--archs", "relu"]
OVERHEAD += ["--device", "cpu"]

# (id, argv, what the one-line message must contain: the flag, in the user's terms)
CASES = [
    ("spectrum-every-0", image("--spectrum-every", "0"), "--spectrum-every"),
    ("spectrum-every-negative", image("--spectrum-every", "-5"), "--spectrum-every"),
    ("device-tpu", image("--device", "tpu"), "--device 'tpu'"),
    ("out-below-a-file", image("--out", "{file}/run"), "--out"),
    ("out-empty", image("--out", ""), "--out is empty"),
    ("out-read-only", image("--out", "{readonly}/run"), "--out"),
    ("decay-negative", image("--decay", "-1"), "--decay"),
    ("threads-negative", image("--threads", "-2"), "--threads"),
    ("nerf-scene-missing", ["fit", "nerf", "{missing}", "--steps", "2"], "scene folder"),
    ("nerf-not-a-scene", ["fit", "nerf", "{run}", "--steps", "2"], "transforms_train.json"),
    (
        "nerf-fr-without-viewdirs",
        ["fit", "nerf", "{missing}", "--method", "fr", "--no-use-viewdirs"],
        "--use-viewdirs or --fr-layers trunk",
    ),
    ("save-is-a-directory", [*OVERHEAD, "--save", "{run}"], "--save"),
    ("opt-seed", image("--opt", "seed=3"), "--seed"),
    ("opt-fr-alpha-without-fr", image("--opt", "fr_alpha=0.1", "--method", "iga"), "--method fr"),
    ("freqs-negative", [*FUNCTION, "--freqs", "-10,20"], "--freqs"),
    ("freqs-between-bins", [*FUNCTION, "--freqs", "10.5"], "--freqs"),
    ("too-many-groups", image("--patch", "1", "--end", "20", path="{large}"), "--patch"),
    ("too-many-points-entk", [*FUNCTION, "--method", "entk", "--points", "1000000"], "--group"),
    ("function-end-not-below-groups", [*FUNCTION, "--end", "8", "--group", "8"], "--end 8"),
    ("width-0", image("--width", "0"), "--width"),
    ("patch-0", image("--patch", "0"), "--patch"),
    ("steps-0", image("--steps", "0"), "--steps"),
    ("end-not-below-groups", image("--end", "16"), "--end 16"),  # 16 groups of 4x4
    ("missing-image", image(path="{missing}"), "image file not found"),
    ("not-an-image", image(path="{not_an_image}"), "cannot read image"),
    ("size-bad-format", image("--size", "10x"), "--size"),
    ("arch-unknown", image("--arch", "nope"), "--arch"),
    ("method-unknown", image("--method", "nope"), "--method"),
    ("fresh-relu", image("--arch", "relu", "--fresh", "auto"), "--fresh"),
    ("fresh-bad-values", image("--arch", "siren", "--fresh", "ten"), "--fresh"),
    ("fresh-negative", image("--arch", "siren", "--fresh", "-3"), "--fresh"),
    ("fresh-pe-fraction", image("--arch", "pe", "--fresh", "2.5"), "--fresh"),
    (
        "fresh-and-its-opt",
        image("--arch", "siren", "--fresh", "auto", "--opt", "first_omega0=40"),
        "--opt first_omega0",
    ),
    ("weight-scale-0", image("--opt", "weight_scale=0"), "weight_scale"),
    ("occupancy-resolution-huge", occupancy("--resolution", "1024"), "--resolution 512"),
    ("occupancy-eval-points-0", occupancy("--eval-points", "0"), "--eval-points"),
    ("occupancy-empty-grid", occupancy(mesh="{sheet}"), "--margin"),
    ("occupancy-margin-fills-nothing", occupancy("--margin", "0.95"), "--margin"),
    ("occupancy-fresh-relu", occupancy("--fresh", "auto", "--arch", "relu"), "--fresh"),
    (
        "occupancy-end-not-below-batch-groups",
        occupancy("--method", "iga", "--end", "50"),
        "lower --end or use a larger --batch-groups",
    ),
    (
        "regions-freqs-above-nyquist",
        ["analyze", "regions", "--dim", "1", "--freqs", "5000", "--out", "{scratch}/reg"],
        "every frequency must be below 1024; lower --freqs",
    ),
    (
        "regions-window-too-wide",
        [*REGIONS, "--window", "9"],
        "--window 9 smooths the 16x16 maps",
    ),
    ("bands-more-than-the-image-has", [*BANDS, "--bands", "1000"], "--bands"),
    ("bands-method-twice", [*BANDS, "--methods", "vanilla,vanilla"], "--methods"),
    ("training-seed-twice", [*TRAINING, "--seeds", "0,0"], "--seeds"),
    ("bench-image-seed-twice", ["bench", "image", "--seeds", "0,0", "--out", "{run}/b"], "--seeds"),
    ("tier-file-list-for-a-number", BENCH_IMAGE("{tier_list}"), "steps must be a whole number"),
    ("tier-file-empty-size", BENCH_IMAGE("{tier_empty_size}"), "size must be"),
    ("tier-file-unknown-key", BENCH_IMAGE("{tier_unknown}"), "unknown key(s) stepz"),
    ("tier-file-not-json", BENCH_IMAGE("{tier_not_json}"), "is not valid JSON"),
    ("bench-nerf-tier-file", ["bench", "nerf", "--tier", "{tier_list}"], "takes no tier file"),
    (
        "bench-occupancy-grid-too-small",
        [*BENCH_OCC, "--resolution", "16"],  # 64 groups: fewer than the tier's 256 per step
        "the tier's 256 groups per step exceed the 64 groups of a 16³ grid",
    ),
    ("bench-occupancy-not-a-mesh", [*BENCH_OCC, "--shapes", "{file}"], "a_file"),
    ("bench-occupancy-bad-sampling", [*BENCH_OCC, "--sampling", "foo"], "--sampling 'foo'"),
    (
        "bench-occupancy-every-run-fails",  # found only inside the run: reported, exit 1
        [*BENCH_OCC, "--methods", "iga", "--end", "300", "--resolution", "32"],
        "1 run(s) failed (first: ball/relu/iga/seed0: ValueError: --end 300",
    ),
    (
        "bench-rivals-arch-twice",
        ["bench", "rivals", "--archs", "pe,pe", "--out", "{run}/b"],
        "--archs",
    ),
]


def _argv(template: list[str], env: dict[str, Path]) -> list[str]:
    return [a.format(**{k: str(v) for k, v in env.items()}) for a in template]


@pytest.mark.parametrize("argv, flag", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_cli_error_is_one_line_naming_the_flag(
    argv: list[str], flag: str, env: dict[str, Path], capsys
) -> None:
    if "{readonly}" in " ".join(argv) and os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    before = _snapshot(env["run"])
    capsys.readouterr()
    code = main(_argv(argv, env))
    out, err = capsys.readouterr()
    assert code not in (0, None), out
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("iga: error: "), err
    assert flag in lines[0], err
    assert "Traceback" not in err + out
    assert _snapshot(env["run"]) == before, "the existing run directory was changed"


@pytest.mark.parametrize(
    "argv, flag",
    [
        (image("--spectrum-every", "0"), "--spectrum-every"),
        ([*OVERHEAD, "--save", "{run}"], "--save"),
    ],
    ids=["spectrum-every-0", "save-is-a-directory"],
)
def test_cli_error_from_a_real_process(argv: list[str], flag: str, env: dict[str, Path]) -> None:
    before = _snapshot(env["run"])
    proc = subprocess.run(
        [sys.executable, "-m", "iga.cli", *_argv(argv, env)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("iga: error: ") and flag in lines[0]
    assert _snapshot(env["run"]) == before


# --- the Python API ---------------------------------------------------------------------------


def _model(out: int = 3) -> torch.nn.Module:
    return build("relu", 2, out, 8, 2, seed=0)


def _with_nan(t: torch.Tensor, value: float = float("nan")) -> torch.Tensor:
    t = t.clone()
    t[3, 1] = value
    return t


X16, X12, X20 = torch.rand(16, 2), torch.rand(12, 2), torch.rand(20, 2)


def _groups_with(value: int) -> torch.Tensor:
    g = G16.clone()
    g[0, 0] = value
    return g


def _nan_weight_loss() -> torch.Tensor:
    model = _model()
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = float("nan")
    return iga.IGA(model, G16, end=1).loss(model(X16), torch.rand(16, 3), X16)


G16 = iga.groups.grid(16, 4)  # 4 groups covering 16 points

API_CASES = [
    (
        "nan-target-IGA.loss",
        lambda: iga.IGA(_model(), G16, end=1).loss(
            _model()(X16), _with_nan(torch.rand(16, 3)), X16
        ),
        ValueError,
        "target has 1 non-finite",
    ),
    (
        "inf-target-adjusted_loss",
        lambda: iga.adjusted_loss(
            _model()(X16), _with_nan(torch.rand(16, 3), float("inf")), torch.eye(4), G16
        ),
        ValueError,
        "target has 1 non-finite",
    ),
    (
        "shape-mismatch-columns",
        lambda: iga.IGA(_model(), G16, end=1).loss(_model()(X16), torch.rand(16, 2), X16),
        ValueError,
        "pred [16, 3] and target [16, 2] must have the same shape",
    ),
    (
        "shape-mismatch-rows",
        lambda: iga.IGA(_model(), G16, end=1).loss(_model()(X16), torch.rand(15, 3), X16),
        ValueError,
        "pred [16, 3] and target [15, 3] must have the same shape",
    ),
    (
        "groups-for-fewer-points-IGA.loss",
        lambda: iga.IGA(_model(), G16, end=1).loss(_model()(X12), torch.rand(12, 3), X12),
        ValueError,
        "groups cover 16 points but pred has 12 rows; build the groups for this signal's size",
    ),
    (
        "groups-for-more-points-adjusted_loss",
        lambda: iga.adjusted_loss(_model()(X20), torch.rand(20, 3), None, G16),
        ValueError,
        "groups cover 16 points but pred has 20 rows; build the groups for this signal's size",
    ),
    (
        "complex-K",
        lambda: iga.balance_matrix(torch.eye(4, dtype=torch.complex64), 1),
        TypeError,
        "K must be a real matrix",
    ),
    (
        "nan-input-IGA.loss",
        lambda: iga.IGA(_model(), G16, end=1).loss(
            _model()(_with_nan(X16.clone())), torch.rand(16, 3), _with_nan(X16.clone())
        ),
        ValueError,
        "inputs have non-finite values",
    ),
    (
        "nan-weight-IGA.loss",
        lambda: _nan_weight_loss(),
        iga.core.spectrum.NonFiniteKernel,
        "K has non-finite entries",
    ),
    (
        "groups-with-a-negative-index",
        lambda: iga.IGA(_model(), _groups_with(-5), end=1).loss(
            _model()(X16), torch.rand(16, 3), X16
        ),
        ValueError,
        "groups hold the index -5: indices are 0 and up, and only -1 marks padding",
    ),
    (
        "non-symmetric-K",
        lambda: iga.balance_matrix(torch.tensor([[2.0, 1.0], [0.0, 1.0]]), 1),
        ValueError,
        "K must be symmetric",
    ),
    (
        "fr-option-without-fr",
        lambda: build("relu", 2, 3, 8, 2, method="iga", fr_alpha=0.1),
        TypeError,
        "needs method='fr' (--method fr)",
    ),
]


@pytest.mark.parametrize(
    "call, exc, message", [c[1:] for c in API_CASES], ids=[c[0] for c in API_CASES]
)
def test_api_error_is_one_clear_line(call: Any, exc: type, message: str) -> None:
    with pytest.raises(exc) as e:
        call()
    text = str(e.value)
    assert message in text and len(text.splitlines()) == 1, text


def test_integer_kernel_gives_a_float_S() -> None:
    K = torch.tensor([[4, 1, 0], [1, 3, 1], [0, 1, 2]])
    S = iga.balance_matrix(K, 1)
    assert S.dtype == torch.float64
    torch.testing.assert_close(S, iga.balance_matrix(K.double(), 1))
    assert not torch.equal(S, torch.eye(3, dtype=torch.float64))


def test_pred_n1_and_target_n_go_together() -> None:
    model = _model(1)
    loss = iga.IGA(model, G16, end=1).loss(model(X16), torch.rand(16), X16)
    assert torch.isfinite(loss)


def test_fit_threads_sets_torch_threads(env: dict[str, Path]) -> None:
    before = torch.get_num_threads()
    try:
        argv = [a.format(**{k: str(v) for k, v in env.items()}) for a in image("--threads", "1")]
        assert main(argv) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_ctrl_c_while_loading_is_one_line(monkeypatch, capsys) -> None:
    import sys

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sys.modules["iga.cli.app"], "_parser", interrupted)
    assert main(["fit", "image"]) == 130
    assert capsys.readouterr().err == "iga: interrupted\n"


def test_ctrl_c_while_the_command_modules_import_is_one_line(monkeypatch, capsys) -> None:
    import importlib.abc
    import sys

    import iga.cli

    class Interrupt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "iga.cli.app":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "iga.cli.app", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Interrupt(), *sys.meta_path])
    assert iga.cli.main(["fit", "--help"]) == 130
    assert capsys.readouterr().err == "iga: interrupted\n"


def test_the_command_starts_without_torch() -> None:
    # so that a Ctrl-C while torch loads lands in iga.cli.main's one-line handler
    import subprocess
    import sys

    code = "import sys, iga.cli; print(sorted(m for m in sys.modules if m.startswith('torch')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

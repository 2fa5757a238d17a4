#!/usr/bin/env bash
# Packaging check (`make wheel-check`): build the wheel and the sdist with `python -m build`,
# check what each holds, install each into a fresh virtual environment (no editable install)
# and run the package from a folder outside the repository, so the source tree cannot be the
# one imported.
#   wheel: `import iga` from site-packages, `iga --help`, `iga fit image` on the bundled image
#          (5 steps, 64x64) writing a run folder with summary.json;
#   sdist: pip builds and installs it; `iga --help`; it installs the same files as the wheel;
#   then the wheel's run is rendered (`iga render`) and exported (`iga export`), iga is
#   uninstalled from that environment and the exported programs run there, against the field.
# Env: PY (the Python that makes the venvs, default python3), TORCH (the torch requirement
# installed first, default the Makefile's: the CPU build from local disk on the project's
# machines), KEEP=1 keeps the temporary folder. About 2 minutes on 2 CPU cores, most of it
# installing torch and the dependencies twice (from the local index and disk) and removing them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PY:-python3}"
TORCH="${TORCH:-torch==2.13.0}"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/iga-wheel-check.XXXXXX")"
cleanup() {
    local t
    if [[ "${KEEP:-0}" == 1 ]]; then
        echo "kept $TMP"
    else
        t=$(date +%s)
        rm -rf "$TMP"
        echo "   removed the temporary folder in $(($(date +%s) - t))s"
    fi
}
trap cleanup EXIT
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# The smoke runs start here: outside the repository, so `import iga` finds the installed copy.
mkdir -p "$TMP/cwd"

T0=$(date +%s.%N)
TIMINGS=()
# stage NAME CMD...: run CMD, print its time, keep it for the summary.
stage() {
    local name=$1 t
    shift
    echo "== $name"
    t=$(date +%s.%N)
    "$@"
    t=$(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    echo "   $name: ${t}s"
    TIMINGS+=("$(printf '%-28s %6ss' "$name" "$t")")
}
# quiet LOG CMD...: run CMD with its output in LOG, shown only if it fails.
quiet() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "FAILED: $* (log above, last 40 lines)" >&2
        return 1
    fi
}
# fresh_venv DIR: a new virtual environment with the pinned torch in it. Every install here is
# --no-compile: byte-compiling torch and the dependencies took two thirds of an install (63 s
# against 22 s on 2 cores); the smoke runs compile only what they import.
fresh_venv() {
    "$PY" -m venv "$1"
    quiet "$1.pip.log" "$1/bin/pip" install --quiet --no-compile "$TORCH"
}

# copy_tree: the files git tracks or would add, into $TMP/tree, built from there: a build in
# the work tree would read a leftover src/iga.egg-info/SOURCES.txt (setuptools does when no
# VCS plugin lists the files) and ship the files named there, even ones the package-data globs
# no longer match, so it could pass here and fail on a clean clone. Outside git: the folder.
copy_tree() {
    if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        TREE="$TMP/tree"
        mkdir -p "$TREE"
        git -C "$ROOT" ls-files -z --cached --others --exclude-standard \
            | (cd "$ROOT" && while IFS= read -r -d '' f; do
                if [[ -f "$f" ]]; then printf '%s\0' "$f"; fi
            done) \
            | tar -C "$ROOT" --null -T - -cf - | tar -C "$TREE" -xf -
        EXPECTED=$(cd "$TREE/src" && find iga -type f | sort)
    else
        TREE="$ROOT"
        EXPECTED=""
    fi
}

build_dists() {
    copy_tree
    "$PY" -m venv "$TMP/tools"
    quiet "$TMP/tools.log" "$TMP/tools/bin/pip" install --quiet build
    # Default mode: the sdist first, then the wheel built from that sdist (so the wheel shows
    # what the sdist can build).
    quiet "$TMP/build.log" "$TMP/tools/bin/python" -m build --outdir "$TMP/dist" "$TREE"
    WHEEL=$(ls "$TMP"/dist/iga-*.whl)
    SDIST=$(ls "$TMP"/dist/iga-*.tar.gz)
    ls -l "$TMP/dist"
}

# The archives' contents: the wheel's iga/ is exactly the package's files that git tracks or
# would add (src/iga minus ignored files such as __pycache__), the data included; the sdist
# holds src/iga (the same files), pyproject.toml, README.md and metadata, nothing else (no tests).
check_contents() {
    EXPECTED="$EXPECTED" "$TMP/tools/bin/python" - "$WHEEL" "$SDIST" <<'PY'
import os
import sys
import tarfile
import zipfile

wheel, sdist = sys.argv[1:3]
names = sorted(zipfile.ZipFile(wheel).namelist())
pkg = [n for n in names if n.startswith("iga/")]
meta = [n for n in names if not n.startswith("iga/")]
bad = [n for n in meta if not n.startswith("iga-") or ".dist-info/" not in n]
assert not bad, f"wheel: files outside iga/ and its dist-info: {bad}"
for need in ("iga/py.typed", "iga/data/kodim03.png", "iga/data/README.md", "iga/cli/__init__.py"):
    assert need in pkg, f"wheel: {need} missing"
entry = zipfile.ZipFile(wheel).read(next(n for n in meta if n.endswith("entry_points.txt")))
assert b"iga = iga.cli:main" in entry, "wheel: no `iga` console script"
expected = os.environ["EXPECTED"].split()
if expected:  # from git: what src/iga holds, less the ignored files
    missing, extra = sorted(set(expected) - set(pkg)), sorted(set(pkg) - set(expected))
    assert not missing and not extra, f"wheel vs src/iga: missing {missing}, extra {extra}"
data = [n for n in pkg if not n.endswith(".py")]
subpackages = sorted({os.path.dirname(n) for n in pkg if n.endswith("/__init__.py")})
print(f"   wheel: {len(names)} files, {len(pkg)} in iga/ ({len(subpackages)} packages); data {data}")

entries = [m for m in tarfile.open(sdist).getmembers() if "/" in m.name]
members = [m.name.split("/", 1)[1] for m in entries]
files = [m.name.split("/", 1)[1] for m in entries if m.isfile()]
for need in ("pyproject.toml", "README.md", "src/iga/data/kodim03.png", "src/iga/py.typed"):
    assert need in members, f"sdist: {need} missing"
top = {"PKG-INFO", "README.md", "pyproject.toml", "setup.cfg", "MANIFEST.in", "src"}
stray = [m for m in members if m.split("/")[0] not in top or m.startswith("src/") and not (
    m.startswith(("src/iga/", "src/iga.egg-info/")) or m in ("src/iga", "src/iga.egg-info"))]
assert not stray, f"sdist: files besides the package's sources and metadata: {stray[:10]}"
src = {m[len("src/") :] for m in files if m.startswith("src/iga/")}
assert src == set(pkg), f"sdist's src/iga vs the wheel's iga/: {sorted(src ^ set(pkg))}"
print(f"   sdist: {len(files)} files; src/iga holds the wheel's {len(pkg)} files")
PY
}

install_wheel() {
    fresh_venv "$TMP/venv-wheel"
    quiet "$TMP/venv-wheel.iga.log" "$TMP/venv-wheel/bin/pip" install --quiet --no-compile "$WHEEL"
}

smoke_wheel() {
    local bin="$TMP/venv-wheel/bin" img
    cd "$TMP/cwd"
    "$bin/python" -c "import iga, sys; assert 'site-packages' in iga.__file__, iga.__file__"
    "$bin/iga" --help >/dev/null
    img=$("$bin/python" -c "from iga.tasks.image.task import BUNDLED_IMAGE; print(BUNDLED_IMAGE)")
    [[ "$img" == *site-packages/iga/data/kodim03.png && -f "$img" ]] || {
        echo "bundled image not installed: $img" >&2
        return 1
    }
    "$bin/iga" fit image "$img" --size 64x64 --steps 5 --width 16 --hidden-layers 1 \
        --threads 1 --quiet --out "$TMP/run"
    "$bin/python" - "$TMP/run/summary.json" "$img" <<'PY'
import json
import sys

summary = json.load(open(sys.argv[1]))
assert summary["steps"] == 5 and summary["image"] == sys.argv[2], summary
print(f"   fit: {summary['arch']}/{summary['method']}, final PSNR {summary['psnr_final']:.2f} dB")
PY
    cd "$ROOT"
}

install_sdist() {
    fresh_venv "$TMP/venv-sdist"
    # pip builds the wheel from the sdist in an isolated environment (setuptools from the index).
    quiet "$TMP/venv-sdist.iga.log" "$TMP/venv-sdist/bin/pip" install --quiet --no-compile "$SDIST"
}

# The installed files of an environment's iga package, relative to site-packages.
installed_files() {
    "$1/bin/python" - <<'PY'
import importlib.util
import pathlib

root = pathlib.Path(importlib.util.find_spec("iga").origin).parent
for p in sorted(root.rglob("*")):
    if p.is_file() and "__pycache__" not in p.parts:
        print(p.relative_to(root.parent))
PY
}

smoke_sdist() {
    local bin="$TMP/venv-sdist/bin"
    cd "$TMP/cwd"
    "$bin/python" -c "import iga, sys; assert 'site-packages' in iga.__file__, iga.__file__"
    "$bin/iga" --help >/dev/null
    if ! diff <(installed_files "$TMP/venv-wheel") <(installed_files "$TMP/venv-sdist"); then
        echo "the sdist installs other files than the wheel (diff above)" >&2
        return 1
    fi
    echo "   sdist install: same $(installed_files "$TMP/venv-sdist" | wc -l) files as the wheel"
    cd "$ROOT"
}

# The fitted field leaves iga behind: render the wheel's run, export it, uninstall iga from that
# environment and run the exported programs there, against the field's own outputs.
export_without_iga() {
    local bin="$TMP/venv-wheel/bin"
    cd "$TMP/cwd"
    "$bin/iga" render "$TMP/run" --size 96x80 --out "$TMP/render.png" --quiet >/dev/null
    "$bin/iga" export "$TMP/run" --out "$TMP/export" --format torchscript,export >/dev/null
    "$bin/python" - "$TMP" <<'PY'
import sys

import torch
from PIL import Image

import iga

tmp = sys.argv[1]
assert Image.open(f"{tmp}/render.png").size == (96, 80)
x = torch.rand(50, 2) * 2 - 1
torch.save({"x": x, "want": iga.load(f"{tmp}/run")(x)}, f"{tmp}/export/check.pt")
PY
    quiet "$TMP/uninstall.log" "$bin/pip" uninstall --yes iga
    "$bin/python" - "$TMP/export" <<'PY'
import importlib.util
import sys

import torch

assert importlib.util.find_spec("iga") is None, "iga is still installed"
folder = sys.argv[1]
check = torch.load(f"{folder}/check.pt")
for name, program in (
    ("TorchScript", torch.jit.load(f"{folder}/field.pt")),
    ("torch.export", torch.export.load(f"{folder}/field.pt2").module()),
):
    diff = float((program(check["x"]) - check["want"]).abs().max())
    assert diff < 1e-5, f"{name}: {diff}"
    print(f"   {name} program without iga: max difference {diff:.1e}")
PY
    cd "$ROOT"
}

stage "build (wheel + sdist)" build_dists
stage "check contents" check_contents
stage "install wheel (fresh venv)" install_wheel
stage "smoke test wheel" smoke_wheel
stage "install sdist (fresh venv)" install_sdist
stage "smoke test sdist" smoke_sdist
stage "export, run without iga" export_without_iga

echo "== wheel-check passed"
printf '   %s\n' "${TIMINGS[@]}"
awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "   %-28s %6.1fs\n", "total", b - a }'

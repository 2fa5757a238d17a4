# Every target that runs code first makes the virtual environment (.venv) on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RAY_STAMP := $(VENV)/.installed-ray
# The pinned CPU build, installed before the package (which only asks for torch>=2.1): on the
# project machines pip takes it from local disk, where a bare `torch` would pull a CUDA build.
TORCH ?= torch==2.13.0

.PHONY: demo test test-ci bench bench-image bench-occupancy experiments lint format clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The `ray` extra, for CI only (`make test` does not need it: the Ray test skips without it).
$(RAY_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,ray]'
	touch $(RAY_STAMP)

## demo: vanilla vs IGA on the bundled Kodak image (about 2-3 minutes on 2 CPU cores)
demo: $(STAMP)
	$(BIN)/iga demo --out runs/demo

## test: the test suite (a few minutes on 2 CPU cores)
test: $(STAMP)
	$(BIN)/pytest -q

## test-ci: what CI runs: the test suite with the `ray` extra; the Ray executor test must run
test-ci: $(RAY_STAMP)
	IGA_REQUIRE_RAY=1 $(BIN)/pytest -q

## bench: IGA overhead over a vanilla step at widths 256 and 64 (results in results)
bench: $(STAMP)
	mkdir -p results
	$(BIN)/iga bench overhead --width 256 --threads 2 --save results/overhead_w256.json
	$(BIN)/iga bench overhead --width 64 --threads 2 --save results/overhead_w64.json

## bench-image: the paper's Kodak table at CPU scale (resumable; hours on 2 CPU cores)
bench-image: $(STAMP)
	$(BIN)/iga bench image --tier cpu --protocol paper

## bench-occupancy: the paper's 3D occupancy table at CPU scale (resumable; about 1.5 h on 2 cores)
bench-occupancy: $(STAMP)
	IGL_NUM_THREADS=1 $(BIN)/iga bench occupancy --tier cpu

## experiments: the paper's 1D experiments (Sec. 5), cpu tier
experiments: $(STAMP)
	$(BIN)/iga experiment function1d-exp1 --tier cpu
	$(BIN)/iga experiment function1d-exp2 --tier cpu

## lint: ruff
lint: $(STAMP)
	$(BIN)/ruff check src tests probes examples docs/hooks
	$(BIN)/ruff format --check src tests probes examples docs/hooks

format: $(STAMP)
	$(BIN)/ruff format src tests probes examples docs/hooks
	$(BIN)/ruff check --fix src tests probes examples docs/hooks

clean:
	rm -rf $(VENV) runs site .pytest_cache .ruff_cache

## wheel-check: build the wheel and the sdist, install each into a fresh venv, smoke-test them
.PHONY: wheel-check
wheel-check:
	PY=$(PY) TORCH='$(TORCH)' bash .ci/wheel_smoke.sh

# The `docs` extra (mkdocs, mkdocs-material, mkdocstrings), for `make docs` only.
DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,docs]'
	touch $(DOCS_STAMP)

## docs: the documentation site into site/ (strict: a broken link, anchor or reference fails)
.PHONY: docs
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The README's two commands: `make demo` and `make test`. Both create .venv on a fresh machine and install
# only what uv.lock pins (`uv sync --frozen`), with bytecode compiled so that no command pays for it later.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The uv that bootstraps the install; uv.lock pins the same version in its `tools` group (a test keeps them equal).
UV_VERSION := 0.13.9
UV := $(BIN)/uv
STAMP_DEMO := $(VENV)/.installed-demo
STAMP_DEV := $(VENV)/.installed-dev
export UV_COMPILE_BYTECODE := 1
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo demo-team test lint lock lock-upgrade dist bench docs clean system-deps

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --disable-pip-version-check 'uv==$(UV_VERSION)'

# --inexact: the demo needs a subset of the dev install, so it adds what is missing and removes nothing.
$(STAMP_DEMO): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --inexact --quiet --python $(BIN)/python --extra demo
	touch $@

$(STAMP_DEV): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --quiet --python $(BIN)/python --extra dev
	touch $@ $(STAMP_DEMO)

demo: $(STAMP_DEMO)
	$(BIN)/shipyard demo

# The team story: a local `shipyard server` (SQLite + a folder), tokens, and training through it.
demo-team: $(STAMP_DEMO)
	$(BIN)/shipyard demo --server

system-deps:
	bash scripts/install-system-deps.sh

lint: $(STAMP_DEV)
	$(UV) lock --check --quiet || { echo "uv.lock does not match pyproject.toml: run 'make lock' and commit uv.lock" >&2; exit 1; }
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

# The suite runs on PYTEST_WORKERS pytest-xdist workers: most of its time is waiting (servers and JVMs starting,
# browsers, subprocesses, polls), so even two cores keep four busy. --dist loadfile keeps each file on one worker,
# so a module's server, browser or Spark session starts once. Tests marked `alone` (timing checks) run while no
# other test does (tests/_alone.py). `make test PYTEST_WORKERS=0` runs serially, as a bare `pytest` does.
# The 20 slowest tests are listed at the end: the suite must stay inside CI's 30 minutes on two cores.
PYTEST_WORKERS ?= 4
test: $(STAMP_DEV) system-deps lint
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --durations=20

bench: $(STAMP_DEV)
	$(BIN)/python -m benchmarks.bench_tracking
	$(BIN)/python -m benchmarks.bench_batch
	$(BIN)/python -m benchmarks.bench_pipeline
	$(BIN)/python -m benchmarks.bench_serving
	$(BIN)/python -m benchmarks.bench_serving_trees
	$(BIN)/python -m benchmarks.bench_durability
	$(BIN)/python -m benchmarks.bench_serving_onnx
	$(BIN)/python -m benchmarks.bench_monitoring
	$(BIN)/python -m benchmarks.bench_monitoring_day
	$(BIN)/python -m benchmarks.bench_monitoring_week
	$(BIN)/python -m benchmarks.bench_ui
	$(BIN)/python -m benchmarks.bench_ui_postgres
	$(BIN)/python -m benchmarks.bench_autolog
	$(BIN)/python -m benchmarks.bench_team_server
	$(BIN)/python -m benchmarks.bench_rollout
	$(BIN)/python -m benchmarks.bench_bandit
	$(BIN)/python -m benchmarks.bench_mlflow_compat
	$(BIN)/python -m benchmarks.bench_engines
	$(BIN)/python -m benchmarks.bench_estimation
	$(BIN)/python -m benchmarks.summary

# After editing dependencies in pyproject.toml: resolve again, keeping every pin that still fits. The second
# file installs the core dependencies at their lower bounds (tests/integration/test_base_install.py runs the
# base-only commands on it), so that the ranges pyproject.toml promises are ranges something tested.
BASE_LOWEST := requirements/base-lowest.txt
lock: | $(UV)
	$(UV) lock
	$(UV) pip compile pyproject.toml --quiet --resolution lowest-direct --python-version 3.11 \
	  --python-platform x86_64-manylinux_2_28 --generate-hashes --no-emit-package uv \
	  --custom-compile-command "make lock" -o $(BASE_LOWEST)

# Move every pin to the newest release the ranges allow (then run `make test` before committing).
lock-upgrade: | $(UV)
	$(UV) lock --upgrade
	$(MAKE) lock

# The wheel a user installs until the package is published: dist/shipyard_ml-<version>-py3-none-any.whl.
dist: | $(UV)
	$(UV) build --wheel --quiet --out-dir dist

# The documentation site in site/, built offline: the CLI reference is generated from the Typer app first,
# then mkdocs builds with --strict (any warning fails). NO_MKDOCS_2_WARNING silences Material's banner.
docs: $(STAMP_DEV)
	$(BIN)/python scripts/gen_cli_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) dist .pytest_cache .mypy_cache .ruff_cache

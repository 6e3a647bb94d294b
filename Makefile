# The README's two commands: `make demo` and `make test`. Both create .venv on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_DEMO := $(VENV)/.installed-demo
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: demo test lint bench docs clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_DEMO): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(STAMP_DEMO)

demo: $(STAMP_DEMO)
	$(BIN)/shipyard demo

system-deps:
	bash scripts/install-system-deps.sh

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy

test: $(STAMP_DEV) system-deps lint
	$(BIN)/python -m pytest -q

bench: $(STAMP_DEV)
	$(BIN)/python -m benchmarks.bench_tracking
	$(BIN)/python -m benchmarks.bench_batch
	$(BIN)/python -m benchmarks.bench_pipeline
	$(BIN)/python -m benchmarks.bench_serving
	$(BIN)/python -m benchmarks.bench_monitoring
	$(BIN)/python -m benchmarks.bench_monitoring_day
	$(BIN)/python -m benchmarks.bench_ui
	$(BIN)/python -m benchmarks.summary

# The documentation site in site/, built offline: the CLI reference is generated from the Typer app first,
# then mkdocs builds with --strict (any warning fails). NO_MKDOCS_2_WARNING silences Material's banner.
docs: $(STAMP_DEV)
	$(BIN)/python scripts/gen_cli_reference.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

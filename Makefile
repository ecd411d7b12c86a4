# careerbot: `make run` installs, ingests the guides and serves API + UI on :8000;
# `make test` installs and runs the test suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run ingest test test-fast lint bench bot eval eval-gate clean

install: $(STAMP)

# torch first, pinned: its CPU wheel is on the machine; an unpinned torch pulls a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/careerbot serve

ingest: install
	$(BIN)/careerbot ingest

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not integration"

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m eval.imports

bench: install
	$(BIN)/python -m eval.bench
	$(BIN)/python -m eval.bench_api
	$(BIN)/python -m eval.bench_ui
	$(BIN)/python -m eval.bench_scale
	$(BIN)/python -m eval.bench_live

bot: install
	$(BIN)/python -m integrations.discord

eval: install
	$(BIN)/careerbot eval

eval-gate: install
	$(BIN)/python -m pytest -q tests/test_eval_gate.py

clean:
	rm -rf data .pytest_cache .mypy_cache .ruff_cache

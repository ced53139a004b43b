# Two commands on a fresh machine with Python 3.11+: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The real MLflow client for tests/mlflow (its pins clash with loopline's, so a venv of its own);
# benchmarks/mlflow_server.py uses the same pins.
MLFLOW_VENV := .venv-mlflow
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed
MLFLOW_PINS := mlflow==3.17.2 scikit-learn==1.9.1 skops==0.16.0

.PHONY: demo test lint format install clean

# The two venvs of `make test` are built side by side (most of a fresh machine's setup time).
MAKEFLAGS += --jobs=2

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,oracle]'
	touch $(STAMP)

$(MLFLOW_STAMP): Makefile
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet $(MLFLOW_PINS)
	touch $(MLFLOW_STAMP)

install: $(STAMP)

demo: $(STAMP)
	rm -rf .demo
	$(BIN)/loopline demo .demo

# pytest -n auto: one worker per core (xdist); many tests wait on subprocesses, servers and disks.
test: $(STAMP) $(MLFLOW_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	LOOPLINE_MLFLOW_PYTHON=$(CURDIR)/$(MLFLOW_VENV)/bin/python $(BIN)/python -m pytest -q -n auto

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) $(MLFLOW_VENV) .demo .pytest_cache .mypy_cache

# `make demo`: set up .venv and reproduce every experiment at quick scale (runs/demo/report.html).
# `make test`: set up .venv and run the test suite (what CI runs).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Torch is pinned to the CPU wheel that lies on disk (a plain `torch` would pull a CUDA build).
# The stamp makes a second run skip what is installed; it is redone when pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q "torch==2.13.0"
	$(BIN)/pip install --disable-pip-version-check -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/smoothscope reproduce --scale quick --out runs/demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

# `make bench`: every benchmark; each prints its ratio and verdict and adds a row to benchmarks/README.md.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_signals.py
	$(BIN)/python benchmarks/bench_sweep.py
	$(BIN)/python benchmarks/bench_stability.py
	$(BIN)/python benchmarks/bench_stability_precision.py
	$(BIN)/python benchmarks/bench_blueshift.py
	$(BIN)/python benchmarks/bench_weight_paths.py
	$(BIN)/python benchmarks/bench_ensemble.py
	$(BIN)/python benchmarks/bench_startup.py

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info

# corral: `make test` sets up .venv and runs lint + the whole suite; `make demo` runs the
# main job against a local emulator. Both work on a fresh clone with only python3 (3.11+).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint demo bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt  # corral too: requirements.txt has -e .
	touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest -q

demo: setup
	$(PY) -m examples.emulator.demo

bench: setup
	for script in bench/bench_*.py; do $(PY) $$script --quick || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# Two commands matter: `make run` and `make test`. Each builds what it needs in .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test check lint type unit bench clean fuzz chaos

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.run-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test-deps: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

run: $(VENV)/.run-deps
	$(BIN)/smsgw serve $(ARGS)

# `make test` is the one check: lint, type, unit in that order, stopping at the first failure.
# Each part is also a target of its own (`make lint`, `make type`, `make unit`); `check` is the
# same as `test`.
test: check

check: lint type unit

lint: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy reads the package through .typecheck/smsgw, a symlink to this folder, and the tests as
# the package tests (strict for both).
type: $(VENV)/.test-deps
	$(BIN)/mypy -p smsgw -p tests

unit: $(VENV)/.test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The property tests (tests/test_property_*.py) with FUZZ_SCALE (default 50) times the examples
# make test runs, random and remembered in .hypothesis/; failures replay first next time.
fuzz: $(VENV)/.test-deps
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest $(wildcard tests/test_property_*.py) $(PYTEST_ARGS)

# Faults on purpose against real gateway processes (tests/chaos/run.py): prints what each
# scenario did and lost (nothing), exits non-zero otherwise. CHAOS_SECONDS lengthens it.
chaos: $(VENV)/.test-deps
	$(BIN)/python tests/chaos/run.py $(ARGS)

bench: $(VENV)/.run-deps
	$(BIN)/smsgw bench $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info var

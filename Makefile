# Two commands matter: `make run` and `make test`. Each builds what it needs in .venv.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test check lint type unit bench clean

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

# mypy reads the package through .typecheck/smsgw, a symlink to this folder.
test: $(VENV)/.test-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p smsgw
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.run-deps
	$(BIN)/smsgw bench $(ARGS)

clean:
	rm -rf $(VENV) build *.egg-info var

# One entry point for every developer task; CI calls `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Links and certificate URLs (AIA, CRL) use the public URL; by default the address `make run` serves on.
export SEALPACT_PUBLIC_URL ?= http://$(HOST):$(PORT)

.PHONY: run test setup system-deps lint typecheck pytest bench clean

## run: set up (venv, data dir, keyring, database) and start the service on the embedded default
run: setup
	$(BIN)/sealpact init
	$(BIN)/sealpact serve --host $(HOST) --port $(PORT)

## test: set up everything (Python and Debian packages) and run lint, type checks and the whole suite
test: setup system-deps lint typecheck pytest

setup: $(BIN)/.installed

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

system-deps:
	./scripts/system-deps.sh

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: setup
	$(BIN)/mypy

pytest: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts

# xgate: `make run` sets everything up and starts the devnet; `make test` sets up and runs all checks.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_PY := $(VENV)/.installed
STAMP_NPM := node_modules/.installed

.PHONY: setup run test lint typecheck imports unit bench clean contracts contracts-check chromium

setup: $(STAMP_PY) $(STAMP_NPM) chromium

# The dashboard's browser tests (tests/web) drive Debian's Chromium through Playwright (whose own
# browser download is not used): installed here when missing, which needs root.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "==> installing Debian's chromium for the dashboard's browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "==> /usr/bin/chromium is missing and only root can install it: run" \
	      "'sudo apt-get install -y chromium' (tests/web fails without it)" >&2; \
	  fi; \
	fi

$(STAMP_PY): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "==> installing Python dependencies into $(VENV) (first run takes a minute)"
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

$(STAMP_NPM): package.json package-lock.json
	@echo "==> installing pinned npm tools (anvil, solc, chart.js)"
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

run: setup
	$(BIN)/xgate devnet up --public-chains 2 --private-terms public-2 --demo

contracts: $(STAMP_NPM)
	node contracts/build.mjs

contracts-check: $(STAMP_NPM)
	node contracts/build.mjs --check

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check adapters devnet gateway relayers bench tests harness

typecheck: setup
	$(BIN)/mypy

imports: setup
	$(BIN)/lint-imports

unit: setup
	$(BIN)/pytest -q --numprocesses auto --maxprocesses 4 --dist loadfile --durations 40

test: contracts-check lint typecheck imports unit

bench: setup
	$(BIN)/python -m bench.verify
	$(BIN)/python -m bench.devnet
	$(BIN)/python -m bench.gas

clean:
	rm -rf $(VENV) node_modules .xgate .pytest_cache .mypy_cache .ruff_cache

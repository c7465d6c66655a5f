# `make demo` and `make test` work on a fresh clone: they create .venv, install
# the package with its dev extras, fetch and verify the Pyodide assets, then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

MCP    := .mcp/node_modules/.bin/mcp-server-memory

.PHONY: install setup demo test lint lint-js test-js build/pyodide bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

setup: install
	$(BIN)/throwaway setup

# A real MCP server from npm, for the tests (the other, mcp-server-time, is a dev extra).
$(MCP):
	npm install --prefix .mcp --no-audit --no-fund --silent @modelcontextprotocol/server-memory@2026.8.31

demo: setup
	$(BIN)/throwaway demo

test: setup $(MCP) lint-js test-js
	$(BIN)/ruff check throwaway tests bench
	$(BIN)/pytest -q

# The JS runtime on its own, offline: Deno's cache in build/, Pyodide's files (types, and
# the interpreter hostfs tests run on) through build/pyodide, from the set `setup` verified.
DENO    := DENO_DIR=build/deno DENO_NO_UPDATE_CHECK=1 NO_COLOR=1 $(BIN)/deno
RUNTIME := throwaway/sandbox/runtime
OFFLINE := --no-remote --no-npm --no-lock

build/pyodide: $(STAMP)
	mkdir -p build
	ln -sfn "$$($(BIN)/python -c 'from throwaway.sandbox.assets import ensure_assets; print(ensure_assets(quiet=True).core_dir)')" $@

lint-js: build/pyodide
	$(DENO) lint --config tests/js/deno.json $(RUNTIME) tests/js
	$(DENO) check --config tests/js/deno.json $(OFFLINE) $(filter-out %/main.js,$(wildcard $(RUNTIME)/*.js)) tests/js/*.js
	$(DENO) check --no-config $(OFFLINE) $(RUNTIME)/main.js  # the main thread: Deno's window types

test-js: build/pyodide
	$(DENO) test --config tests/js/deno.json $(OFFLINE) --unstable-detect-cjs --allow-read tests/js

lint: install
	$(BIN)/ruff check throwaway tests bench
	$(BIN)/ruff format --check throwaway tests bench

bench: setup
	$(BIN)/python bench/snapshot_bench.py
	$(BIN)/python bench/sandbox_bench.py
	$(BIN)/python bench/vfs_bench.py
	$(BIN)/python bench/durable_bench.py
	$(BIN)/python bench/mcp_bench.py
	$(BIN)/python bench/cli_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mcp build

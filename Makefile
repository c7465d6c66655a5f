# `make demo` and `make test` work on a fresh clone: they create .venv, install
# the package with its dev extras, fetch and verify the Pyodide assets, then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

MCP    := .mcp/node_modules/.bin/mcp-server-memory

.PHONY: install setup demo test lint bench clean

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

test: setup $(MCP)
	$(BIN)/ruff check throwaway tests bench
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check throwaway tests bench
	$(BIN)/ruff format --check throwaway tests bench

bench: setup
	$(BIN)/python bench/snapshot_bench.py
	$(BIN)/python bench/sandbox_bench.py
	$(BIN)/python bench/vfs_bench.py
	$(BIN)/python bench/durable_bench.py
	$(BIN)/python bench/mcp_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mcp

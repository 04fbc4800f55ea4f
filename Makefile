# Postgate: `make run` starts the gateway on the embedded default, `make test` runs every test.
# Only Python 3.11+ and make are needed: uv is installed from PyPI into .tools/.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
export UV_NO_PROGRESS := 1
PYTHON ?= python3
UV := .tools/bin/uv
VENV := .venv
NODE_DIR := tests/node

.PHONY: run test sync node bench pins lint clean help

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install -q "uv==0.13.8"

$(VENV)/.synced: $(UV) pyproject.toml gateway/pyproject.toml plugins/*/pyproject.toml dashboard/pyproject.toml
	$(UV) sync --all-packages --python $(PYTHON) --quiet
	touch $@

sync: $(VENV)/.synced ## install the workspace into .venv

$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package.json
	cd $(NODE_DIR) && npm install --no-package-lock --no-audit --no-fund --loglevel=error
	touch $@

node: $(NODE_DIR)/node_modules/.installed ## install the Node clients used by end-to-end tests

run: sync ## start the gateway on the embedded default at http://127.0.0.1:3000
	$(VENV)/bin/postgate serve

test: sync node ## run every test (MariaDB on 127.0.0.1:3306 is needed for the mysql plugin)
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)
	$(VENV)/bin/lint-imports

bench: sync ## run the benchmarks (see bench/README.md)
	$(VENV)/bin/python -m bench $(BENCH_ARGS)

pins: $(UV) ## regenerate the name==version pins in pyproject.toml from a fresh resolution
	$(PYTHON) tools/update_pins.py

clean: ## remove the environments
	rm -rf .venv .tools $(NODE_DIR)/node_modules

# prodml: `make demo` bakes the default project and runs its lifecycle; `make test`
# bakes the option matrix and runs every baked project's own checks.
# Needs only Python 3.11+ and make: uv is installed into .tools/, the template's
# environment into .venv/ from uv.lock, each baked project's into its own .venv/.
PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
BUILD := build
export UV_PYTHON_DOWNLOADS := never

.DEFAULT_GOAL := help
.PHONY: help install test test-fast lint demo bake relock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

.venv/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: .venv/.synced ## Create the template's environment

test: install ## Bake the option matrix and run each baked project's lint, types and tests
	.venv/bin/pytest -n 2 --dist loadgroup

test-fast: install ## Bakes and file-set checks only (no baked environments)
	.venv/bin/pytest -m "not slow"

lint: install ## Ruff and mypy on the template's own code
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

demo: install ## Bake the default project into build/demo and run its demo
	.venv/bin/python scripts/bake.py --output-dir $(BUILD)/demo --fresh
	$(MAKE) -C $(BUILD)/demo/fraud-detection demo UV=$(abspath .venv/bin/uv) PYTHON=$(PYTHON)

bake: install ## Bake the default project into build/dev (for working on the template)
	.venv/bin/python scripts/bake.py --output-dir $(BUILD)/dev

relock: install ## Re-lock the baked project's dependencies into the template's uv.lock
	.venv/bin/python scripts/relock.py

clean: ## Remove baked projects and caches
	rm -rf $(BUILD) .pytest_cache .mypy_cache .ruff_cache

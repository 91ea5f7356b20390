# ttsops — every target installs what it needs itself (see README).
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3.11
UV := $(PYTHON) -m uv
DEMO_DIR ?= .demo
PORT ?= 6006

.PHONY: help setup system-deps test lint typecheck unit integration e2e demo demo-stop bench clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	$(UV) sync --frozen --all-extras --python $(PYTHON)
	touch $@

setup: $(VENV)/.synced ## create .venv and install pinned dependencies (idempotent)

lint: setup ## ruff lint + format check
	$(VENV)/bin/ruff check src tests bench scripts
	$(VENV)/bin/ruff format --check src tests bench scripts

typecheck: setup ## mypy (strict on src/)
	$(VENV)/bin/mypy src

unit: setup ## fast, in-process tests
	$(VENV)/bin/pytest tests/unit

integration: setup ## real server, real voice, real SQLite
	$(VENV)/bin/pytest tests/integration

e2e: setup ## the CLI as subprocesses
	$(VENV)/bin/pytest tests/e2e

system-deps: ## Debian packages the tests need (installed when missing and root)
	@bash scripts/system-deps.sh

test: system-deps lint typecheck ## everything CI runs: lint, types, unit, integration, e2e
	$(VENV)/bin/pytest tests/unit tests/integration tests/e2e --durations=30

demo: setup system-deps ## four releases through gate and canary under load; leaves the service on 127.0.0.1:6006
	$(PY) scripts/demo.py

demo-stop: ## stop what `make demo` left running (agent, nginx, slots; by PID)
	@if [ -x $(PY) ]; then $(PY) scripts/demo.py --stop; else echo "no .venv: nothing to stop"; fi

BENCHES ?= serve batch gate deploy release kokoro service
bench: setup system-deps ## benchmarks (BENCHES="serve batch gate deploy release kokoro service"; results in bench/results/, table in bench/README.md)
	@for b in $(BENCHES); do echo "== bench/$${b}_bench.py"; $(PY) bench/$${b}_bench.py || exit 1; done

clean: ## remove the venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(DEMO_DIR)

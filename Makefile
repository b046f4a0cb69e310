# teamchat: `make run` starts the app with demo data; `make test` runs the checks.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# The first Python 3.11+ on PATH (or under pyenv).
PYTHON_BIN := $(shell for p in python3.13 python3.12 python3.11 python3 $(wildcard /root/.pyenv/versions/3.1[1-9]*/bin/python3); do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; \
	then command -v $$p; break; fi; done)

.PHONY: install run test lint bench audit lock

# `make run` installs only what teamchat runs on; `make test` (and lint, audit, bench)
# add the test toolchain (pytest, Playwright, ...) on top.
$(VENV)/.installed-run: pyproject.toml requirements.lock
	@test -n "$(PYTHON_BIN)" || { echo "teamchat needs Python 3.11 or newer on PATH" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e .
	@touch $@

$(VENV)/.installed: $(VENV)/.installed-run
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

run: $(VENV)/.installed-run
	DEBUG=$${DEBUG:-1} $(PY) manage.py serve

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# Security checks CI runs: bandit on our code, pip-audit on the locked dependencies.
audit: install
	$(VENV)/bin/bandit -q -r accounts calls compliance core e2ee files integrations messaging realtime teamchat -x '*/migrations/*'
	$(PY) -m teamchat.audit_dependencies requirements.lock

# Pin every dependency (after changing pyproject.toml): resolve in a fresh environment.
lock:
	rm -rf .lock-venv && $(PYTHON_BIN) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e '.[dev]'
	.lock-venv/bin/pip freeze --exclude-editable > requirements.lock
	rm -rf .lock-venv

test: install lint
	$(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks (bench/, docs/performance.md); QUICK=1 for a shorter run.
bench: install
	$(PY) -m bench.run $(if $(filter 1 yes true,$(QUICK)),--quick)

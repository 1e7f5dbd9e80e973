# The two commands a newcomer needs: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
HOST ?= 127.0.0.1
PYTEST_ARGS ?=

.PHONY: run test lint lock format migrate seed agents bench clean help

help:
	@echo "make run    — set up .venv, migrate, seed demo data, start web + worker + beat on http://$(HOST):$(PORT)/"
	@echo "make test   — set up .venv and run the whole test suite (DATABASE_URL/REDIS_URL to use PostgreSQL/Redis)"
	@echo "make agents — (beside make run) the demo's reference agents for the installing pilot release"
	@echo "make lint   — ruff check + ruff format --check + lint-imports (the layer contracts)"
	@echo "make lock   — re-resolve uv.lock from pyproject.toml and write requirements/*.txt (hashes)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall whenever the lock or pyproject.toml changes: exactly the locked versions (hashes
# checked), then the project itself without letting pip resolve anything.
$(STAMP): requirements/dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

# After editing the dependencies in pyproject.toml: keep every other pin, resolve what changed.
# `make lock UPGRADE=1` moves every package to the newest version the ranges allow.
lock: $(STAMP)
	$(BIN)/uv lock $(if $(UPGRADE),--upgrade)
	$(BIN)/uv export --quiet --frozen --format requirements-txt --no-dev --no-emit-project -o requirements/runtime.txt
	$(BIN)/uv export --quiet --frozen --format requirements-txt --no-dev --extra dev --no-emit-project -o requirements/dev.txt

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --no-input

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed
	@mkdir -p var && echo "http://$(HOST):$(PORT)" > var/server-url
	@echo ""
	@echo "  releasemgmt is starting on http://$(HOST):$(PORT)/  (health: http://$(HOST):$(PORT)/healthz)"
	@echo "  Demo logins (password: $${DEMO_PASSWORD:-demo}): admin, release-manager, release-manager-2"
	@echo "  (the second pair of eyes: signs off, verifies and reviews), change-manager, ops, ops-2 (confirms"
	@echo "  an override ops requested), config-manager, auditor, integration.  Ctrl-C stops web, worker and beat."
	@echo ""
	PATH="$(CURDIR)/$(BIN):$$PATH" PORT=$(PORT) HOST=$(HOST) $(BIN)/honcho start -f Procfile

# The demo's reference agents: act as the 20 workstations of the installing pilot release while
# `make run` is running (in another terminal). 30 % of installations fail: watch the release halt.
# The server's address: PORT/HOST when given, else the one `make run` last started (var/server-url).
AGENTS_SERVER = $(if $(filter command line environment,$(origin PORT) $(origin HOST)),http://$(HOST):$(PORT),$(or $(shell cat var/server-url 2>/dev/null),http://$(HOST):$(PORT)))
agents: $(STAMP)
	$(BIN)/python manage.py run_agent --demo --fail-rate $${FAIL_RATE:-0.3} --server $(AGENTS_SERVER) --interval 3

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf var/broker var/*.sqlite3* var/staticfiles

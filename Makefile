# mediahook: one Makefile for developers and CI. Everything it needs is installed by `make install`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: install test lint typecheck unit package package-size events demo serve schemas bench audit lock clean

$(BIN)/.installed: requirements.txt requirements-dev.txt requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip check
	touch $@

lock:  ## re-resolve requirements*.txt into requirements-dev.lock (a fresh virtualenv, then pip freeze)
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install --quiet -r requirements-dev.txt
	{ head -3 requirements-dev.lock; .lock-venv/bin/pip freeze --exclude-editable; } > requirements-dev.lock.new
	mv requirements-dev.lock.new requirements-dev.lock && rm -rf .lock-venv

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(BIN)/.installed node_modules/.installed  ## Python venv + pinned npm packages

lint: install  ## ruff + mypy
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint  ## the whole suite: lint, types, unit, integration, packaging
	$(BIN)/pytest

unit: install  ## quick: only the tests that need no AWS stand-in
	$(BIN)/pytest tests/unit

demo: install  ## the main job, locally: moto server + serverless-offline, every sample posted signed, a table
	$(BIN)/python scripts/local_stack.py demo

serve: install  ## the same stack, left running (Ctrl-C stops it): prints the URL and a curl line
	$(BIN)/python scripts/local_stack.py serve

schemas: install  ## JSON Schema of every modelled event into schemas/
	$(BIN)/python -m lib.cli schema --out schemas

package: install  ## build the Lambda artifact offline into .serverless/
	npx osls package --stage dev

package-size: package  ## print the deployment package size (zipped and unzipped)
	@$(BIN)/python scripts/package_size.py .serverless/mediahook.zip

events: install  ## regenerate events/ from tests/samples/
	$(BIN)/python scripts/build_events.py

clean:
	rm -rf .serverless .pytest_cache .mypy_cache .ruff_cache

audit: install  ## pip-audit over requirements-dev.lock (needs PyPI's vulnerability service or OSV; says so if unreachable)
	$(BIN)/python scripts/audit.py

bench: install  ## benchmarks: cold start, warm per-event cost, pull throughput, package size (a table + JSON)
	$(BIN)/python -m benchmarks.run

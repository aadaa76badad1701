# mediahook: one Makefile for developers and CI. Everything it needs is installed by `make install`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: install test test-runtime deploy-local remove-local lint typecheck unit package package-size events demo serve schemas bench audit lock clean docs cli-docs drift scan

# The Lambda runtime's Python (serverless.yml: runtime python3.12), found as plugins/artifact.js finds it:
# RUNTIME_PYTHON if set, else python3.12 on PATH, else pyenv's, else /usr/local/bin or /usr/bin.
RUNTIME_VERSION := 3.12
find_runtime_python = $(shell node -e "const f = require('./plugins/artifact.js').findRuntimePython('$(RUNTIME_VERSION)'); if (f.executable) console.log(f.executable)")
ARCH ?= x86_64
STAGE ?= dev

$(BIN)/.installed: requirements.txt requirements-dev.txt requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e .  # the `mediahook` console command (pyproject.toml)
	$(BIN)/pip check
	touch $@

lock:  ## re-resolve requirements*.txt into requirements-dev.lock, then the artifact's requirements.lock from it
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv && .lock-venv/bin/pip install --quiet -r requirements-dev.txt
	{ head -3 requirements-dev.lock; .lock-venv/bin/pip freeze --exclude-editable; } > requirements-dev.lock.new
	mv requirements-dev.lock.new requirements-dev.lock && rm -rf .lock-venv
	$(BIN)/python scripts/lock_runtime.py

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(BIN)/.installed node_modules/.installed  ## Python venv + pinned npm packages

lint: install  ## ruff + mypy
	$(BIN)/ruff check .
	$(BIN)/mypy

# Two workers on two cores (pytest-xdist), a module's tests on one worker; builds in the project folder take turns
# (tests/conftest.py). The twenty slowest tests are listed at the end: the suite's budget is ten minutes.
WORKERS ?= 2
test: lint docs scan  ## the whole suite: lint, types, the docs, the scanners, unit, integration, packaging
	$(BIN)/pytest -n $(WORKERS) --dist loadscope --durations=20

# The documentation site (docs/, mkdocs.yml) into site/ (git-ignored). --strict: a broken link or anchor, a
# page left out of the nav, any warning fails the build (mkdocs.yml's `validation:` makes each a warning).
# Not --quiet: it hides the warnings from the count --strict makes, and the build passed with them; the
# INFO lines are filtered out instead, the warnings printed. Nothing in it needs the network.
# MKDOCS_CONFIG and SITE_DIR: another site's config and output (tests/test_make_docs.py builds a planted copy).
MKDOCS_CONFIG ?= mkdocs.yml
SITE_DIR ?= site
docs: install  ## the docs site into site/ (mkdocs build --strict: any warning fails), and the README's own links
	@set -o pipefail; NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --config-file "$(MKDOCS_CONFIG)" \
	  --site-dir "$(SITE_DIR)" 2>&1 | { grep -v '^INFO ' || true; }
	$(BIN)/python scripts/check_links.py README.md

# The scanners: checkov over the packaged CloudFormation template, bandit over lib/ and handler.py, offline; any
# finding not in the reviewed skip list scan/skips.yaml (each skip with its reason) fails (scripts/scan.py).
# They live in their own virtualenv: checkov pins dependencies that clash with the project's.
SCAN_VENV := .venv-scan
$(SCAN_VENV)/bin/.installed: requirements-scan.lock
	rm -rf $(SCAN_VENV) && $(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/pip install --quiet -r requirements-scan.lock
	touch $@

# The template `make package` (or an earlier scan) left in .serverless/ is reused while serverless.yml and the
# plugins are older than it; SCAN_TEMPLATE: another one (tests/test_make_scan.py scans planted copies).
SCAN_TEMPLATE ?= .serverless/cloudformation-template-update-stack.json
.serverless/cloudformation-template-update-stack.json: serverless.yml package-lock.json $(wildcard plugins/*.js)
	npx osls package --stage $(STAGE) --param="architecture=$(ARCH)"

scan: install $(SCAN_VENV)/bin/.installed $(SCAN_TEMPLATE)  ## checkov (packaged template) + bandit (lib/, handler.py): unlisted findings fail
	$(BIN)/python scripts/scan.py --template "$(SCAN_TEMPLATE)"

cli-docs: install  ## regenerate docs/reference/cli.md from the mediahook parser (a test fails while it is stale)
	$(BIN)/python scripts/cli_reference.py

# The suite (less what builds or starts the packaged stack) on the deployed runtime's CPython, in its own
# virtualenv from the same lock file. .ci/run runs it after `make test`.
RUNTIME_VENV := .venv-py$(RUNTIME_VERSION)
$(RUNTIME_VENV)/bin/.installed: requirements.txt requirements-dev.txt requirements-dev.lock
	@python="$(call find_runtime_python)"; \
	if [ -z "$$python" ]; then echo "No Python $(RUNTIME_VERSION) found: install CPython $(RUNTIME_VERSION) or set RUNTIME_PYTHON" >&2; exit 1; fi; \
	rm -rf $(RUNTIME_VENV) && "$$python" -m venv $(RUNTIME_VENV)
	$(RUNTIME_VENV)/bin/pip install --quiet --upgrade pip
	$(RUNTIME_VENV)/bin/pip install --quiet -r requirements-dev.lock
	touch $@

test-runtime: install $(RUNTIME_VENV)/bin/.installed  ## unit, integration and property tests on CPython 3.12
	$(RUNTIME_VENV)/bin/python -m pytest -n $(WORKERS) --dist loadscope tests/unit tests/integration tests/property

unit: install  ## quick: only the tests that need no AWS stand-in
	$(BIN)/pytest tests/unit

demo: install  ## the main job, locally: moto server + serverless-offline, every sample posted signed, a table
	$(BIN)/python scripts/local_stack.py demo

serve: install  ## the same stack, left running (Ctrl-C stops it): prints the URL, the export line for mediahook, commands to try
	$(BIN)/python scripts/local_stack.py serve

schemas: install  ## JSON Schema of every modelled event into schemas/
	$(BIN)/python -m lib.cli schema --out schemas

package: install  ## the Lambda artifact in .serverless/ (ARCH=x86_64|arm64, STAGE=dev): built by python3.12, byte-compiled
	npx osls package --stage $(STAGE) --param="architecture=$(ARCH)"

deploy-local: install  ## osls deploy of serverless.yml onto moto server (MOTO_PORT, STAGE); prints the outputs
	$(BIN)/python scripts/deploy_local.py deploy --stage $(STAGE)

remove-local: install  ## osls remove of that stack (the archive bucket stays), and the moto server deploy-local started
	$(BIN)/python scripts/deploy_local.py remove --stage $(STAGE)

package-size: package  ## print the deployment package size (zipped and unzipped)
	@$(BIN)/python scripts/package_size.py .serverless/mediahook.zip

events: install  ## regenerate events/ from tests/samples/
	$(BIN)/python scripts/build_events.py

clean:
	rm -rf .serverless .pytest_cache .mypy_cache .ruff_cache site

# Not part of `make test`: the registry may publish a new SDK at any time. Needs PyPI (or PIP_INDEX_URL).
drift: install  ## the newest Tencent SDKs (vod, mps, cme) from the registry vs the pinned ones and the routing table
	$(BIN)/python scripts/drift.py

audit: install  ## pip-audit over requirements-dev.lock (needs PyPI's vulnerability service or OSV; says so if unreachable)
	$(BIN)/python scripts/audit.py

bench: install  ## benchmarks: cold start, warm per-event cost, pull throughput, package size (a table + JSON)
	$(BIN)/python -m benchmarks.run

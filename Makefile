# One command to start the application locally, one to run every test.
#   make run     the local cloud: web page + API on http://127.0.0.1:3000
#   make test    every test (unit, end to end through the local cloud, real Chromium)
#   make bench   the benchmarks (minutes; prints figures)
#   make bench-load  products API under load (Locust), without an import and during a 500k import (~5 min)
#   make check   template checks: cfn-lint, sam validate --lint, checkov (.checkov.yaml); part of make test
#   make deploy ENV=dev|prod        sam build, sam deploy --config-env $(ENV), publish the page
#   make smoke API=<url> TOKEN=<t>  a short end-to-end check of a deployed stack
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov pins dependencies that conflict with aws-sam-cli's: it gets a venv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# Locust (gevent, a pytest plugin) stays out of the test venv: the load benchmark's own venv (make test
# builds it too, for tests/integration/test_load_smoke.py).
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed
ENV ?= dev
# The SAM CLI runs offline here (build, validate): no usage telemetry.
export SAM_CLI_TELEMETRY ?= 0

.PHONY: setup run test test-unit test-e2e lint check bench bench-load build deploy smoke clean

setup: $(STAMP) $(CHECKOV_STAMP) node_modules/.installed
	@command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || \
	  { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	    else echo "Install Chromium for the browser tests: sudo apt-get install chromium"; fi; }

$(STAMP): requirements.txt layers/common/requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@# The `catalog` command-line client (cli/, pyproject.toml): .venv/bin/catalog.
	$(PY) -m pip install --quiet -e .
	@# The domain layer on the venv's path, as /opt/python is on Lambda's (lint-imports, a REPL).
	echo "$(CURDIR)/layers/common/python" > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/catalog-layer.pth"
	touch $(STAMP)

$(CHECKOV_STAMP): requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $(CHECKOV_STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch node_modules/.installed

run: setup
	$(PY) -m local

# Unit tests use moto's in-process mock; the end-to-end tests run the local cloud's moto server
# in their own process, so the suites run as separate pytest processes. The end-to-end suites run
# on the template's default catalog store (aurora), then the integration suite on DynamoDB
# (--catalog-store, tests/conftest.py).
# Each suite is spread over pytest-xdist workers, one per core up to TEST_WORKERS_MAX. An end-to-end
# worker starts a local cloud of its own (free ports, its own data folder) and takes whole files
# (--dist loadfile), so a module's fixtures stay on one cloud.
TEST_WORKERS_MAX ?= 4
XDIST := -n auto --maxprocesses $(TEST_WORKERS_MAX)
test: check test-unit test-e2e

test-unit: setup
	$(PY) -m pytest tests/unit -q $(XDIST)

# The load benchmark's venv too: tests/integration/test_load_smoke.py runs the locustfile with it.
test-e2e: setup $(BENCH_STAMP)
	$(PY) -m pytest tests/integration tests/browser -q $(XDIST) --dist loadfile
	$(PY) -m pytest tests/integration -q --catalog-store dynamodb $(XDIST) --dist loadfile

lint: setup
	$(PY) -m ruff check functions layers local tests benchmarks scripts cli
	AWS_DEFAULT_REGION=us-east-1 $(VENV)/bin/cfn-lint template.yaml

# The template as CI checks it: cfn-lint, SAM's own validation, and checkov, which fails on any
# finding outside the skip list in .checkov.yaml (each skip with its reason).
check: setup
	AWS_DEFAULT_REGION=us-east-1 $(VENV)/bin/cfn-lint template.yaml
	AWS_DEFAULT_REGION=us-east-1 $(VENV)/bin/sam validate --lint --template-file template.yaml
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml

bench: setup
	$(PY) benchmarks/bench_import.py

$(BENCH_STAMP): requirements-bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet -r requirements-bench.txt
	touch $(BENCH_STAMP)

bench-load: setup $(BENCH_STAMP)
	$(PY) benchmarks/bench_load.py $(ARGS)

build: setup
	PYENV_VERSION=3.11.7:3.12.1:3.13.0 $(VENV)/bin/sam build

# Deploys the stack of samconfig.toml's environment ENV (dev or prod), then publishes web/ to the
# page bucket with a config.js written from the stack's outputs and invalidates CloudFront.
deploy: build
	$(VENV)/bin/sam deploy --config-env $(ENV)
	$(PY) scripts/publish_page.py --config-env $(ENV)

smoke: setup
	@test -n "$(API)" -a -n "$(TOKEN)" || { echo "usage: make smoke API=<ApiUrl> TOKEN=<admin access token>"; exit 2; }
	$(PY) scripts/smoke.py --api "$(API)" --token "$(TOKEN)"

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(BENCH_VENV) node_modules .local-data .aws-sam

# Laurel — every entry point a person or CI uses. `make run` and `make test`
# install what they need themselves, so a fresh clone needs nothing else.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
PROTOS := $(shell find proto -name '*.proto')
GEN    := gen
PYTEST_ARGS ?=

# Laurel's distributions (each with its own pyproject.toml), installed editable
# here and as wheels in the image; the generated code in gen/ is laurel-api.
DISTS := shared services/intake services/scoring services/review services/notification

.PHONY: install proto run test test-fast bench lint clean

install: $(STAMP)

# The venv gets the pinned runtime and development trees, then every Laurel
# distribution editable (so `laurel` is on the venv's PATH).
$(STAMP): requirements.lock requirements-dev.lock Makefile $(addsuffix /pyproject.toml,$(DISTS))
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==26.3
	$(PIP) install --quiet -r requirements.lock -r requirements-dev.lock
	$(PIP) install --quiet --no-deps --no-build-isolation $(addprefix -e ,$(DISTS))
	touch $(STAMP)

# Generated protobuf code lives in gen/ and is not committed (see README).
proto: $(GEN)/.stamp

$(GEN)/.stamp: $(PROTOS) proto/python/pyproject.toml $(STAMP)
	rm -rf $(GEN)
	mkdir -p $(GEN)
	$(PY) -m grpc_tools.protoc -I proto --python_out=$(GEN) --pyi_out=$(GEN) \
		--grpc_python_out=$(GEN) $(PROTOS)
	cp proto/python/pyproject.toml $(GEN)/pyproject.toml
	$(PIP) install --quiet --no-deps --no-build-isolation -e $(GEN)
	touch $(GEN)/.stamp

# Installs, generates, starts broker + four services, runs the demo campaign,
# and serves until Ctrl-C.
run: install proto
	$(VENV)/bin/laurel up

test: install proto tools
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install proto tools
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# Benchmarks with their baselines (not part of `make test`); see bench/README.md.
bench: install proto
	$(PY) bench/run.py $(BENCH_ARGS)

# Style and types over the code we write (gen/ is excluded in pyproject):
# ruff and mypy, both pinned in requirements-dev.lock.
lint: install proto
	$(VENV)/bin/ruff check shared services tests bench deploy
	$(VENV)/bin/mypy shared services

clean:
	rm -rf $(VENV) .venv-checkov $(GEN) var .pytest_cache

# --- deployment (issue 6) ---------------------------------------------------
IMAGE ?= laurel:dev

.PHONY: image tools manifests

# The one container image (deploy/Dockerfile, build context = repo root).
image:
	@if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then \
		echo "make image: no container engine here (docker info failed); nothing built."; \
		echo "On a machine with Docker (BuildKit), run: docker build -f deploy/Dockerfile -t $(IMAGE) ."; \
		exit 1; \
	fi
	docker build -f deploy/Dockerfile -t $(IMAGE) .

# Offline chart checking tools for tests/deploy: helm-python-sdk and
# kubernetes-validate into .venv, checkov into .venv-checkov (idempotent).
tools: $(STAMP)
	PYTHON=$(PYTHON) deploy/tools/install-tools.sh

# Re-render deploy/manifests/ from the chart (tests/deploy fails when stale).
manifests: tools
	$(PY) deploy/tools/render.py manifests

# --- API: buf checks, release baseline, reference (issue 17) ----------------
# tests/api (part of `make test`) runs buf lint, buf breaking against the
# committed baselines in proto/releases/, and checks docs/api/ is fresh.
API_RELEASE ?= e96f14f

.PHONY: proto-baseline

# The previous release's protos, read from git and built by buf into
# proto/releases/$(API_RELEASE).binpb (committed: the check runs offline).
proto-baseline: install
	$(PY) tools/api/baseline.py $(API_RELEASE)

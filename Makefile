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

SERVICE_ROOTS := shared services/intake services/scoring services/review services/notification $(GEN)

.PHONY: install proto run test test-fast bench lint clean

install: $(STAMP)

# The venv gets the pinned tree, then a .pth file that puts the `laurel`
# namespace portions (shared/, each service, generated code) on sys.path.
$(STAMP): requirements.lock requirements.in Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==26.3
	$(PIP) install --quiet -r requirements.lock
	$(PY) -c "import sysconfig,os; p=sysconfig.get_path('purelib'); open(os.path.join(p,'laurel-dev.pth'),'w').write(''.join(os.path.abspath(r)+chr(10) for r in '$(SERVICE_ROOTS)'.split()))"
	printf '#!/bin/sh\nexec "%s" -m laurel.cli "$$@"\n' "$(abspath $(PY))" > $(VENV)/bin/laurel
	chmod +x $(VENV)/bin/laurel
	touch $(STAMP)

# Generated protobuf code lives in gen/ and is not committed (see README).
proto: $(GEN)/.stamp

$(GEN)/.stamp: $(PROTOS) $(STAMP)
	rm -rf $(GEN)
	mkdir -p $(GEN)
	$(PY) -m grpc_tools.protoc -I proto --python_out=$(GEN) --pyi_out=$(GEN) \
		--grpc_python_out=$(GEN) $(PROTOS)
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

# Style: ruff, pinned, over the code we write (gen/ is excluded in pyproject).
RUFF_VERSION := 0.17.6
lint: install
	$(PIP) install --quiet ruff==$(RUFF_VERSION)
	$(VENV)/bin/ruff check shared services tests bench deploy

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

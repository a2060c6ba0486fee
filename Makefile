# Set-up and main jobs. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
RUN_OUT ?= demo-out

.PHONY: run test lint typecheck pytest venv venv-dev clean deps

#: what the tests need from Debian: a real DICOM peer (dcmtk, dicom3tools), a real archive
#: (orthanc), a real X display
#: (xvfb, xdotool, x11-apps for xwd, imagemagick), a real browser (chromium), openssl.
#: `make test` passes without them, skipping those tests; its last lines say which and why.
DEB_PACKAGES := dcmtk dicom3tools openssl orthanc xvfb xdotool x11-apps imagemagick chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

$(VENV)/.base-stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e .
	touch $@

$(VENV)/.dev-stamp: pyproject.toml $(VENV)/.base-stamp
	$(PIP) install -q -e '.[train,dev,cluster]'
	touch $@

venv: $(VENV)/.base-stamp
venv-dev: $(VENV)/.dev-stamp

## the main job: simulated device -> shipped detector -> results + annotated PNGs (headless)
run: $(VENV)/.base-stamp
	$(VENV)/bin/backscatter demo --out $(RUN_OUT)

lint: $(VENV)/.dev-stamp
	$(VENV)/bin/ruff check backscatter tests bench
	$(VENV)/bin/ruff format --check backscatter tests bench

typecheck: $(VENV)/.dev-stamp
	$(VENV)/bin/mypy

pytest: $(VENV)/.dev-stamp
	$(VENV)/bin/pytest -q

test: lint typecheck pytest

## the Debian packages the tests use (what .ci/run installs on a fresh machine)
deps:
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		$(DEB_PACKAGES) >/dev/null

clean:
	rm -rf $(VENV) $(RUN_OUT) .pytest_cache .mypy_cache .ruff_cache

## reliability (issue 9): the full campaigns; CI runs the short forms in tests/reliability
.PHONY: fuzz soak reliability-full
FUZZ_EXECUTIONS ?= 50000
fuzz: $(VENV)/.dev-stamp
	$(PY) -m bench.reliability.fuzz --executions $(FUZZ_EXECUTIONS)

soak: $(VENV)/.dev-stamp
	$(PY) -m bench.reliability.long_runs --scans 10000 --images 2000 --mark 500

reliability-full: $(VENV)/.dev-stamp fuzz soak
	$(VENV)/bin/pytest -q tests/reliability

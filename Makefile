# SpatialDiffusion: `make demo` and `make test` work on a fresh Debian machine with nothing run first.
# `make setup` (called by both) installs Debian packages (as root), the .venv and the engine, idempotently.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export SPATIALDIFFUSION_PYTHON := $(CURDIR)/$(PY)
export OMP_NUM_THREADS ?= 2

.PHONY: setup demo test test-python test-r test-install r-build clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m spatialdiffusion.cli demo --out-dir demo_out

test: setup test-python test-r test-install

test-python: setup
	SPATIALDIFFUSION_REQUIRE_DATA=true $(PY) -m pytest -q tests/python

test-r: setup
	bash scripts/r_check.sh

# The newcomer path: the tarball and `pip install .` installed outside the repository, then both methods.
test-install: setup
	bash scripts/newcomer_check.sh

# The R source tarball that users install; it carries the engine (scripts/bundle_engine.py).
r-build: setup
	$(PY) scripts/bundle_engine.py
	mkdir -p out && cd out && R CMD build --no-resave-data $(CURDIR)

clean:
	rm -rf .setup demo_out out inst/python *.Rcheck SpatialDiffusion_*.tar.gz

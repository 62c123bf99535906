# SpatialDiffusion: `make demo` and `make test` work on a fresh Debian machine with nothing run first.
# `make setup` (called by both) installs Debian packages (as root), the .venv and the engine, idempotently.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export SPATIALDIFFUSION_PYTHON := $(CURDIR)/$(PY)
export OMP_NUM_THREADS ?= 2

.PHONY: setup demo test test-python test-r clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m spatialdiffusion.cli demo --out-dir demo_out

test: setup test-python test-r

test-python: setup
	SPATIALDIFFUSION_REQUIRE_DATA=true $(PY) -m pytest -q tests/python

test-r: setup
	bash scripts/r_check.sh

clean:
	rm -rf .setup demo_out *.Rcheck SpatialDiffusion_*.tar.gz

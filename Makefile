# One entry point for users and CI. Every target sets up .venv/ itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Rebuild when packaging or compiled sources change.
BUILD_INPUTS := pyproject.toml setup.py $(wildcard checker/csrc/*.c checker/csrc/*.h checker/_cbuild.py) \
                $(wildcard reference_kv/storage/shim/*.go reference_kv/storage/shim/go.mod)

.PHONY: venv build test test-unit demo bench bench-checker bench-storage bench-kv bench-workloads bench-kv-quick bench-bugs bench-explore bench-regions bench-simulate clean

$(STAMP): $(BUILD_INPUTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	$(PY) -m reference_kv.storage.build
	@touch $@

venv build: $(STAMP)

# scripts/system-deps installs (as root) or names (otherwise) the Debian parts the tests use, and starts dockerd.
test: $(STAMP)
	scripts/system-deps
	$(PY) -m pytest --durations=25 tests

test-unit: $(STAMP)
	$(PY) -m pytest -m unit tests

demo: $(STAMP)
	$(VENV)/bin/splitbrain demo

bench: bench-checker bench-storage bench-kv bench-workloads bench-regions

bench-checker: $(STAMP)
	$(PY) -m bench.checker
	$(PY) -m bench.checker.scale

bench-storage: $(STAMP)
	$(PY) -m bench.storage

bench-kv: $(STAMP)
	$(PY) -m bench.kv

bench-kv-quick: $(STAMP)
	$(PY) -m bench.kv --quick

bench-workloads: $(STAMP)
	$(PY) -m bench.workloads

bench-bugs: $(STAMP)
	$(PY) -m bench.bugs

bench-explore: $(STAMP)
	$(PY) -m bench.explore

bench-regions: $(STAMP)
	$(PY) -m bench.regions

bench-simulate: $(STAMP)
	$(PY) -m bench.simulate --bugs


clean:
	rm -rf $(VENV) build *.egg-info
	find . -name '*.so' -not -path './.venv/*' -delete

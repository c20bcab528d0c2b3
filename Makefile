# gwa-jax: idempotent set-up and entry points. `make quickstart` and `make test` are the
# two commands of the README; both create .venv and fetch the offline data when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Exact versions that passed the tests; `make lock` refreshes them from pyproject's ranges.
CONSTRAINTS := .ci/constraints.txt
FMNIST_DIR ?= /usr/share/datasets/fashion-mnist
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
WORKDIR ?= runs/quickstart

.PHONY: install prep data quickstart test test-all lint lock clean

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@$(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  echo "python3 -m venv failed; installing Debian's python3-venv"; rm -rf $(VENV); \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv && \
	  $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# TensorFlow for the dataset builders in data_prep/ (training and the tests never need it).
prep: install
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[prep]'

data:
	@if [ ! -f $(FMNIST_DIR)/train-images-idx3-ubyte.gz ]; then \
	  echo "Installing Debian package dataset-fashion-mnist (offline Fashion-MNIST)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq dataset-fashion-mnist; \
	fi

quickstart: install data
	$(BIN)/gwa-train --config configs/quickstart.py --workdir $(WORKDIR)

# Two pytest workers (pytest-xdist): the suite is compile-bound, so 2 cores run it in about
# 60% of the serial time; every test passes under that load.
test: install data
	$(BIN)/python -m pytest -q -n 2 -m "not slow"

test-all: install data
	$(BIN)/python -m pytest -q -n 2

lint: install
	$(BIN)/ruff check .

# Resolve pyproject's ranges afresh in .venv-lock (with the [prep] extra, so that its
# TensorFlow is pinned too), write the versions to $(CONSTRAINTS), then run the tests on them
# (commit the file only if they pass).
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q --upgrade pip
	.venv-lock/bin/python -m pip install -q -e '.[dev,prep]'
	{ echo "# Exact versions that passed the test suite (make test). Refresh: make lock"; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable; } > $(CONSTRAINTS)
	rm -rf .venv-lock
	$(MAKE) test

clean:
	rm -rf $(VENV) .venv-lock runs .pytest_cache .ruff_cache

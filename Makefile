# kittygrad: `make run` trains an MLP on the digits (examples/train_digits.py), `make test` runs every
# default nox session. The README examples run with `.venv/bin/python examples/readme_examples.py`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PKGS   := -e ./kittygrad_core -e ./kittygrad_ops -e ./kittygrad_viz -e ./kittygrad_nn -e ".[examples]"
PYPROJECTS := pyproject.toml kittygrad_core/pyproject.toml kittygrad_ops/pyproject.toml \
              kittygrad_viz/pyproject.toml kittygrad_nn/pyproject.toml

.PHONY: run test bench bootstrap clean
.DEFAULT_GOAL := run

# Bootstrap: the venv itself, then a stamp per install so nothing is redone needlessly.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Editable installs of the five distributions (redone only when a pyproject.toml changes).
$(VENV)/.make-stamp-install: $(BIN)/python $(PYPROJECTS)
	$(BIN)/python -m pip install $(PKGS)
	touch $@

# nox itself, to drive the per-distribution test sessions.
$(VENV)/.make-stamp-nox: $(BIN)/python
	$(BIN)/python -m pip install "nox>=2024.4.15"
	touch $@

bootstrap: $(VENV)/.make-stamp-install $(VENV)/.make-stamp-nox

run: $(VENV)/.make-stamp-install
	$(BIN)/python examples/train_digits.py

test: $(VENV)/.make-stamp-nox
	$(BIN)/nox $(NOXARGS)

bench: $(VENV)/.make-stamp-nox
	$(BIN)/nox -s bench $(NOXARGS)

clean:
	rm -rf $(VENV) .nox out

# For users of the original: `make install`, then `make dev`. The README has the full story.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
# As in the README: pyenv serves python3.11, 3.12 and 3.13 together (each its latest patch
# release installed); without pyenv it is ignored.
export PYENV_VERSION = 3.11:3.12:3.13

.PHONY: install dev test lint

## install: the package (editable) with its test and lint tools, in $(VENV)
install:
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -e ".[test,lint]" tox

$(VENV)/bin/mockapi:
	$(MAKE) install

## dev: run the server on the default scenario; options via ARGS="--clock manual --port 9000"
dev: $(VENV)/bin/mockapi
	$(PYTHON) -m mockapi $(ARGS)

## test: the README's test command (what CI runs): tox, all Pythons and lint
test:
	python3 -m venv $(VENV) && $(VENV)/bin/pip install tox && $(VENV)/bin/tox

## lint: ruff check, ruff format --check, mypy
lint:
	python3 -m venv $(VENV) && $(VENV)/bin/pip install tox && $(VENV)/bin/tox -e lint

# The two commands of the README are `make book` and `make test`; both set up everything first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PROFILE ?= default
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup book test smoke-book clean-runs

setup: $(VENV)/.dca-installed

$(VENV)/.dca-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[book,dev]'
	$(PY) -m dca.embedded install
	touch $@

## Main job: execute every notebook with papermill (PROFILE=default) and build the HTML book.
book: setup
	$(PY) -m dca.book build --profile $(PROFILE)

## Tests (what CI runs).
test: setup
	$(PY) -m pytest -q

smoke-book:
	$(MAKE) book PROFILE=smoke

## Student notebooks (solution cells removed) into book/_students/.
.PHONY: students
students: setup
	$(PY) -m dca.book students

## Benchmarks (issue 6): side-by-side ratios on this machine; tables in benchmarks/results/.
.PHONY: bench
bench: setup
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/run_all.py

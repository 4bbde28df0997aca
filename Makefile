# medbench — two commands do all set-up:
#   make demo   runs the whole pipeline on the embedded synthetic dataset
#   make test   runs the test suite
# Each creates/updates its own virtual environment (.venv) first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
MB     := $(PY) main.py
STAMP  := $(VENV)/.medbench-installed
DEMO_NAME     ?= demo
DEMO_PATIENTS ?= 60
DEMO_SPLIT    ?= test

.PHONY: all venv demo test test-fast browser clean lint

all: test

# The venv is rebuilt whenever pyproject.toml changes. torch is installed first, pinned to the
# CPU build on disk (see README), so the `train` extra never pulls a multi-GB CUDA wheel.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[dev,train]"
	@touch $(STAMP)

venv: $(STAMP)

# Debian's chromium for the headless leaderboard tests (root only; skipped otherwise).
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; \
	fi

test: venv browser
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: venv
	$(PY) -m pytest -q -m "not slow" -p no:cacheprovider

lint: venv
	$(PY) -m ruff check medbench tests bench

# The main job end to end on the embedded default (synthetic MIMIC-IV with notes):
# data → cohort → packets → conversation → benchmark → baseline runs → scores → leaderboard.
demo: venv
	$(MB) ingest
	$(MB) build-cohort --limit $(DEMO_PATIENTS)
	$(MB) extract-packets --cohort cohorts/top$(DEMO_PATIENTS)_by_admission_count.csv --out output/packets
	$(MB) generate-patient --subject-id $$(sed -n 2p cohorts/top$(DEMO_PATIENTS)_by_admission_count.csv | cut -d, -f1) --out-dir output/conversations
	$(MB) build --name $(DEMO_NAME) --cohort cohorts/top$(DEMO_PATIENTS)_by_admission_count.csv --out benchmarks/$(DEMO_NAME)
	@# fresh baseline runs each time: a rebuilt release (new medbench version) must not resume old files
	rm -f submissions/*__$(DEMO_NAME)__*__$(DEMO_SPLIT).jsonl
	$(MB) run --benchmark benchmarks/$(DEMO_NAME) --task sql --model baseline:abstain --split $(DEMO_SPLIT)
	$(MB) run --benchmark benchmarks/$(DEMO_NAME) --task sql --model baseline:retrieval --split $(DEMO_SPLIT)
	$(MB) run --benchmark benchmarks/$(DEMO_NAME) --task icd --model baseline:frequency --split $(DEMO_SPLIT)
	$(MB) run --benchmark benchmarks/$(DEMO_NAME) --task icd --model baseline:tfidf --split $(DEMO_SPLIT)
	$(MB) run --benchmark benchmarks/$(DEMO_NAME) --task conversation --model baseline:template --split $(DEMO_SPLIT)
	for f in submissions/baseline-*__$(DEMO_NAME)__*__$(DEMO_SPLIT).jsonl; do $(MB) score "$$f" --benchmark benchmarks/$(DEMO_NAME) || exit 1; done
	$(MB) leaderboard
	@echo "open leaderboard/index.html in a browser (works from file://)"

clean:
	rm -rf output benchmarks build .pytest_cache

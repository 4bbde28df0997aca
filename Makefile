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

.PHONY: all venv demo demo-clean test test-fast browser clean lint

all: test

# The venv is rebuilt whenever pyproject.toml changes. torch is installed first, pinned to the
# CPU build on disk (see README), so the `train` extra never pulls a multi-GB CUDA wheel.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[dev,train,inspect]"
	@touch $(STAMP)

venv: $(STAMP)

# Debian's chromium for the headless leaderboard tests (root only; skipped otherwise).
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; \
	fi

# Two pytest passes, both printing durations: every test not marked `serial` on two workers
# (pytest-xdist; whole files per worker, so a module's fixtures are built once), then the
# timing/RSS-sensitive `serial` tests alone (kill-within-limit, hostile RSS and speed, the two
# accelerate processes), never beside another test. The builds tests share (tests/conftest.py,
# shared_build: the demo store, small synthetic releases, the tiny training run) are made once
# for both passes, in one temp folder removed afterwards. Both passes always run; either failing
# fails the target.
PYTEST := $(PY) -m pytest -q -p no:cacheprovider --durations=25

test: venv browser
	@shared=$$(mktemp -d) && trap 'rm -rf "$$shared"' EXIT && rc=0 && \
	echo "$(PYTEST) -n 2 --dist loadfile -m 'not serial'" && \
	{ MEDBENCH_TEST_SHARED="$$shared" $(PYTEST) -n 2 --dist loadfile -m "not serial" || rc=$$?; } && \
	echo "$(PYTEST) -m serial" && \
	{ MEDBENCH_TEST_SHARED="$$shared" $(PYTEST) -m serial || rc=$$?; } && \
	exit $$rc

test-fast: venv
	$(PY) -m pytest -q -m "not slow" -p no:cacheprovider

lint: venv
	$(PY) -m ruff check medbench tests bench

# The main job end to end on the embedded default (synthetic MIMIC-IV with notes):
# data → cohort → packets → conversation → benchmark → baseline runs → scores → leaderboard.
# Writes only under $(DEMO_BENCH), $(DEMO_SUBS) and $(DEMO_OUT) (plus the store cache under
# $$MEDBENCH_HOME), deletes nothing, and is idempotent: a second run rebuilds the same release,
# resumes the same submission files (nothing requested again, bytes unchanged) and so republishes
# the same results, once each. `make demo-clean` removes exactly those demo folders.
DEMO_BENCH := benchmarks/$(DEMO_NAME)
DEMO_SUBS  := submissions/$(DEMO_NAME)
DEMO_OUT   := output/$(DEMO_NAME)
DEMO_COHORT := $(DEMO_OUT)/cohort_top$(DEMO_PATIENTS).csv

demo: venv
	$(MB) ingest
	$(MB) build-cohort --limit $(DEMO_PATIENTS) --out $(DEMO_COHORT)
	$(MB) extract-packets --cohort $(DEMO_COHORT) --out $(DEMO_OUT)/packets
	$(MB) generate-patient --subject-id $$(sed -n 2p $(DEMO_COHORT) | cut -d, -f1) --out-dir $(DEMO_OUT)/conversations
	$(MB) build --name $(DEMO_NAME) --cohort $(DEMO_COHORT) --out $(DEMO_BENCH)
	@# a demo submission made for another release or medbench version cannot be resumed: drop
	@# only those (under $(DEMO_SUBS)); the others resume, so nothing is requested twice
	@$(PY) -c 'import hashlib, json, pathlib, medbench; \
	sha = hashlib.sha256(pathlib.Path("$(DEMO_BENCH)/manifest.json").read_bytes()).hexdigest(); \
	subs = sorted(pathlib.Path("$(DEMO_SUBS)").glob("*.jsonl")); \
	head = lambda f: json.loads(f.read_text().split("\n", 1)[0] or "{}"); \
	stale = [f for f in subs if (head(f).get("benchmark") or {}).get("sha256") != sha \
	         or head(f).get("medbench_version") != medbench.__version__]; \
	[print(f"demo: {f} is for another release; making it again") or f.unlink() for f in stale]'
	@# every baseline on its task (plans/demo.toml: one eval plan, resumable, one publish)
	$(MB) eval plans/demo.toml
	$(MB) leaderboard --dir $(DEMO_OUT)/leaderboard
	$(MB) leaderboard --dir $(DEMO_OUT)/leaderboard --public $(DEMO_OUT)/public
	@echo "open $(DEMO_OUT)/leaderboard/index.html in a browser (works from file://)"
	@echo "medbench is installed in $(VENV): run 'source $(VENV)/bin/activate' (then 'medbench --help') or '$(VENV)/bin/medbench'"

demo-clean:
	rm -rf $(DEMO_BENCH) $(DEMO_SUBS) $(DEMO_OUT)

clean:
	rm -rf output benchmarks build .pytest_cache

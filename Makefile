# Two commands do everything on a fresh machine: `make demo` and `make test`. Both are idempotent.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Ray's and MLflow's environment is set by search/environment.py (the CLI, the tests and bench/ call it).
export PYTHONUNBUFFERED=1

.PHONY: install demo test bench ui-check clean

install: $(STAMP)

# torch is pinned in a step of its own first: an unpinned resolve would pull gigabytes of CUDA wheels.
# The bench-only reference pipeline (neuralpredictors 0.3.0) too, so CI runs the reference-parity tests; --no-deps
# keeps torch and numpy as pinned (its declared dependencies are all pinned in the two files).
$(STAMP): requirements.txt requirements-bohb.txt bench/requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -U pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt -r requirements-bohb.txt
	$(PY) -m pip install -q --no-deps -r bench/requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m pip check
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/sensorium-search demo

# pytest exits 5 when it collects nothing: that is a failure here, not a pass.
test: $(STAMP)
	$(PY) -m pytest -q --durations=10; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

# Browser check of `sensorium-search ui`: a tiny search, then headless Chromium (Debian's package, installed
# here if missing: ~30 s) must show every trial run on the experiment page; the screenshot lands in runs/ui-check/.
ui-check: $(STAMP)
	command -v chromium >/dev/null || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get install -y -q --no-install-recommends chromium || \
	  { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends chromium; }; }
	$(PY) ui_check.py --out runs/ui-check/experiment.png

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache

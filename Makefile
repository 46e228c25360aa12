# The commands of the README. `make install` creates .venv and installs the
# core, every plugin under plugins/ and every project under examples/ in
# editable mode, with test extras.

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PLUGINS := $(sort $(wildcard plugins/*/pyproject.toml))
EXAMPLES := $(sort $(wildcard examples/*/pyproject.toml))
STAMP := $(VENV)/.installed

.PHONY: install test demo bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml $(PLUGINS) $(EXAMPLES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]' \
		$(foreach p,$(PLUGINS),-e '$(dir $(p))[test]') \
		$(foreach e,$(EXAMPLES),-e '$(dir $(e))[test]')
	touch $(STAMP)

# Two pytest processes, as one process configures Django once: the first
# runs the core's, the plugins' and the examples' tests (the Django backend's
# with its own test project); the second the example shop's end-to-end tests,
# which the first leaves out (examples/demo/conftest.py). Both always run;
# the target fails when either does.
test: install
	status=0; \
	$(PY) -m pytest -q || status=$$?; \
	$(PY) -m pytest -q examples/demo/tests || status=$$?; \
	exit $$status

demo: install
	$(PY) -m maestro_demo

# `make bench` runs every bench/bench_*.py at full size (median of 3 runs) and
# writes bench/results.json; `make bench BENCH_ARGS=--quick` is the short one.
BENCH_ARGS ?=

bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV)

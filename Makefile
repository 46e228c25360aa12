# The commands of the README. `make install` creates .venv and installs the
# core and every plugin under plugins/ in editable mode, with test extras.

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
		$(foreach e,$(EXAMPLES),-e '$(dir $(e))')
	touch $(STAMP)

test: install
	$(PY) -m pytest -q

demo: install
	$(PY) -m maestro_core.demo

bench: install
	$(PY) bench/run.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV)

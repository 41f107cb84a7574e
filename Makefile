# Two commands on a fresh machine: `make run` and `make test`. Needs Python 3.11+ only.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint install clean

$(STAMP): requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m platform_core.devserver

# Two workers: the suite is mostly waiting on PostgreSQL and PDF rendering.
PYTEST_ARGS ?= -n 2

test: $(STAMP)
	$(PY) -m platform_core.embedded_db run -- $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	-$(PY) -m platform_core.embedded_db stop
	rm -rf var

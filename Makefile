# The two commands of the README:  make run  (start everything)  and  make test  (run the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test lint bench install

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) -m ops.runplatform

test: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

# The benchmark (docs/benchmarks.md): starts its own platform on PostgreSQL and Redis (DATABASE_URL,
# REDIS_URL; default database dispatch_bench, Redis database 8), under 10 minutes. BENCH_ARGS=--quick.
bench: install
	$(PY) scripts/bench.py $(BENCH_ARGS)

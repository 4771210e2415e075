# The two commands of the README:  make run  (start everything)  and  make test  (run the tests).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test lint bench install fuzz

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

# Fuzzing (README "Limits"): schemathesis against the API's schema as every role, operation by operation
# and in linked sequences, with a fresh seed printed at the top (FUZZ_SEED=<seed> replays a run); plus the
# websocket fuzzer. Far more examples than `make test` runs: FUZZ_EXAMPLES per operation and role,
# FUZZ_STATEFUL_SCENARIOS scenarios of FUZZ_STATEFUL_STEPS calls.
FUZZ_EXAMPLES ?= 40
FUZZ_STATEFUL_SCENARIOS ?= 300
FUZZ_STATEFUL_STEPS ?= 12
fuzz: install
	@seed=$${FUZZ_SEED:-$$($(PY) -c 'import random; print(random.SystemRandom().randrange(2**32))')}; \
	echo "fuzz seed: $$seed (make fuzz FUZZ_SEED=$$seed replays this run)"; \
	FUZZ_SEED=$$seed FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_STATEFUL_SCENARIOS=$(FUZZ_STATEFUL_SCENARIOS) \
	FUZZ_STATEFUL_STEPS=$(FUZZ_STATEFUL_STEPS) WS_FUZZ_SECONDS=$${WS_FUZZ_SECONDS:-60} \
	$(PY) -m pytest -p no:cacheprovider tests/security/test_api_fuzz.py::test_fuzzed_api_never_answers_5xx_or_an_undocumented_status \
	tests/security/test_api_stateful.py tests/security/test_ws_fuzz.py $(PYTEST_ARGS)

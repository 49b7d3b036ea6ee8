# Two commands for a new user: `make demo` and `make test`. Both bootstrap .venv via `make install`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_CUSTOMERS ?= 20000
DEMO_DB ?= touchpoints.duckdb
DEMO_PORT ?= 8000

.PHONY: install browser demo test test-spark lint bench lock clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Regenerate the lock after changing pyproject.toml dependencies.
lock:
	$(BIN)/python -m pip install --quiet uv==0.13.9
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

demo: install
	$(BIN)/touchpoints demo-data --customers $(DEMO_CUSTOMERS) --seed 7 --out demo/events.parquet
	rm -f $(DEMO_DB) $(DEMO_DB).wal
	$(BIN)/touchpoints ingest demo/events.parquet --db $(DEMO_DB)
	$(BIN)/touchpoints kpis --by phase --db $(DEMO_DB)
	$(BIN)/touchpoints kpis --by touchpoint --db $(DEMO_DB)
	$(BIN)/touchpoints insights --db $(DEMO_DB)
	@echo "Dashboard: http://127.0.0.1:$(DEMO_PORT) (Ctrl-C to stop)"
	$(BIN)/touchpoints demo-serve --db $(DEMO_DB) --host 127.0.0.1 --port $(DEMO_PORT) --rate 2

# Browser tests drive Debian's Chromium (Playwright cannot download its own here) and
# check every page with axe-core, installed from package-lock.json (test-only; never served).
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	  else sudo apt-get install -y -q chromium >/dev/null; fi; }
	@test -f node_modules/axe-core/axe.min.js || npm ci --no-audit --no-fund --silent

# DuckDB, PostgreSQL and a Spark subset, a test file per worker at a time on TEST_WORKERS
# processes (pytest-xdist).
TEST_WORKERS ?= 2
test: install browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# The Spark matrix: every engine-parametrised test on Spark, a standalone cluster and a
# Spark Connect server (each worker starts its own local Spark; ~50 min on 2 cores).
test-spark: install
	TOUCHPOINTS_TEST_SPARK=all $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m spark

# Style, formatting, and the layers of docs/architecture.md (contracts in pyproject.toml).
lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache

# Every benchmark against its peer; each replaces its own section of bench/RESULTS.md.
bench: install
	$(BIN)/python bench/run.py
	$(BIN)/python bench/journeys.py
	$(BIN)/python bench/attribution.py
	$(BIN)/python bench/http_api.py
	$(BIN)/python bench/service.py
	$(BIN)/python bench/live.py
	$(BIN)/python bench/forecast.py

clean:
	rm -rf $(VENV) demo bench/data .pytest_cache

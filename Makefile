# Two commands do all the set-up on a fresh Debian/Ubuntu machine with Python 3.11:
#   make demo   - the demo on the embedded PostgreSQL (no DATABASE_URL needed)
#   make test   - lint, type checks, the slow (fault) suite, then the fast suite (the scale
#                 tier, the full atlas load, is make test-scale)
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

.PHONY: install demo test test-deps test-unit test-fast test-slow test-scale lint bench clean
install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/atlas-orch demo run

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy listener webhooks
	$(BIN)/lint-imports

# The unit tier: pure modules (readers, row hash, redaction, Slack rendering, the listener's
# pacing, the SQL layout, the docs), no PostgreSQL, a few seconds.
test-unit: $(BIN)/.installed
	$(BIN)/pytest -q tests/unit

# chromium, pgbouncer and docker-compose from the system's packages (scripts/test-deps.sh)
test-deps:
	bash scripts/test-deps.sh

# Two pytest-xdist workers, one per core of the machines it is measured on (docs/testing.md);
# TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test-fast: $(BIN)/.installed test-deps
	$(BIN)/pytest -m "not slow and not scale" -n $(TEST_WORKERS)

# pytest exits 5 when a selection holds no test; that is not a failure here.
test-slow: $(BIN)/.installed test-deps
	$(BIN)/pytest -m "slow and not scale" || [ $$? -eq 5 ]

# The full atlas load (several minutes on 2 cores): its own step, outside `make test`.
test-scale: $(BIN)/.installed
	$(BIN)/pytest -m scale

# The fast suite runs last so that its summary closes the output.
test: lint test-slow test-fast

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

# make run: the shop on http://127.0.0.1:5000 (PORT overrides) with the embedded store.
# make test: the whole test suite, on a real redis-server the tests start themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench drop clean browser-deps

# The first start installs the pinned dependencies (about a minute): say so, and let pip show its progress.
$(STAMP): requirements.txt requirements-dev.txt
	@echo "Setting up .venv: installing the pinned dependencies of requirements-dev.txt (once; about a minute)..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -r requirements-dev.txt
	@touch $(STAMP)
	@echo "Dependencies installed."

run: $(STAMP)
	FLASK_APP=app $(BIN)/flask run --host 127.0.0.1 --port $${PORT:-5000}

test: $(STAMP) browser-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# The browser tests drive Debian's Chromium; install it on a fresh machine (CI runs as root).
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "browser tests need Chromium: sudo apt-get install -y chromium chromium-driver (skipped until then, failed under CI)"; \
	  fi; \
	fi

# The webhook against the trivial route of the same gunicorn, in one run; appends to bench/results.md.
bench: $(STAMP)
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq wrk >/dev/null; } \
	  || { echo "make bench needs wrk: sudo apt-get install -y wrk"; exit 1; }
	$(BIN)/python bench/run.py

# A whole drop (2,000 shoppers, 200 units, 10 % bots) with the line on, then off: about four minutes of real
# time against gunicorn, redis-server and a slow, rate-limited Stripe stand-in; appends to bench/results.md.
# DROP_SHOPPERS / DROP_UNITS / DROP_WINDOW (seconds of arrivals) shrink it.
drop: $(STAMP)
	$(BIN)/python bench/drop.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache

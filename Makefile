# make run: the shop on http://127.0.0.1:5000 (PORT overrides) with the embedded store.
# make test: the whole test suite, on a real redis-server the tests start themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench drop clean browser-deps mutate

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

# A whole drop (2,000 shoppers, 200 units, 10 % bots) with the line on, then off: about five minutes of real
# time against gunicorn, redis-server and a slow, rate-limited Stripe stand-in; appends to bench/results.md.
# DROP_SHOPPERS / DROP_UNITS / DROP_WINDOW (seconds of arrivals) shrink it.
drop: $(STAMP)
	$(BIN)/python bench/drop.py

# Mutation testing of the five modules whose behaviour the fast tests pin down (setup.cfg [mutmut]), on
# demand, never in CI: about 2,400 mutants, one module at a time on two processes (MUTATE_MODULES=config
# for one). Prints the score per module and the survivors not listed in tests/mutation-equivalents.txt.
MUTATE_MODULES ?= stripe_events checkout catalog orders config
mutate: $(STAMP)
	rm -rf mutants
	set -e; for module in $(MUTATE_MODULES); do \
	  echo "== mutmut: shop/$$module.py"; \
	  $(BIN)/mutmut run --max-children 2 "shop.$$module.*" | tr '\r' '\n' | grep -v '^[^ ]* [0-9]*/[0-9]*  ' | tail -n 4; \
	done
	$(BIN)/python tests/mutation_report.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache mutants

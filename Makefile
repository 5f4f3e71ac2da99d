# PitchTank: `make run` serves the demo, `make test` runs every check.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
HOST   ?= 127.0.0.1

.PHONY: run test install install-test translations messages lint chromium axe security bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# Compiled catalogs are build output, never committed.
translations: install
	$(BIN)/pybabel compile --statistics -d pitchtank/translations

run: install translations
	mkdir -p instance
	$(BIN)/flask --app pitchtank db upgrade
	$(BIN)/flask --app pitchtank seed-demo --if-empty
	@echo "PitchTank on http://$(HOST):$(PORT)"
	$(BIN)/flask --app pitchtank run --host $(HOST) --port $(PORT) --with-threads

lint: install-test
	$(BIN)/ruff check pitchtank tests bench config.py wsgi.py migrations gunicorn.conf.py

# The browser tests drive Debian's chromium (Playwright's own browser download is not used).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "The browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

# axe-core for the accessibility tests, from the npm registry, pinned by tests/browser/axe/package-lock.json.
AXE_DIR := tests/browser/axe
AXE_JS  := $(AXE_DIR)/node_modules/axe-core/axe.min.js

$(AXE_JS): $(AXE_DIR)/package.json $(AXE_DIR)/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; \
	  else echo "The accessibility tests need npm (for axe-core): sudo apt-get install npm"; exit 1; fi; }
	npm ci --prefix $(AXE_DIR) --ignore-scripts --no-audit --no-fund
	touch $@

axe: $(AXE_JS)

# bandit over the deployed code (settings in pyproject.toml); pip-audit over every pinned
# dependency, failing when one cannot be audited (see tests/security/audit_dependencies.py).
security: install-test
	$(BIN)/bandit -c pyproject.toml -q -r pitchtank migrations config.py wsgi.py gunicorn.conf.py
	$(BIN)/python tests/security/audit_dependencies.py

test: install-test translations lint security chromium axe
	$(BIN)/python -m pytest

# Needs the machine's PostgreSQL and Redis; prints a table and, last, one JSON line of figures.
bench: install-test translations
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) instance/pitchtank.sqlite3

# Refresh the catalogs after changing user-visible text; then translate the new entries.
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o pitchtank/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i pitchtank/translations/messages.pot -d pitchtank/translations --no-fuzzy-matching

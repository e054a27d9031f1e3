# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install browser run test lint format bench-tenancy bench-sale bench-pages bench-gate

$(INSTALLED): pyproject.toml setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[embedded,dev]"
	@touch $(INSTALLED)

install: $(INSTALLED)

run: install
	$(VENV)/bin/vistapass dev

# The browser tests drive Debian's Chromium through its ChromeDriver; a CJK font
# makes the Chinese pages legible in their screenshots.
BROWSER_PACKAGES := chromium chromium-driver fonts-wqy-microhei
browser:
	@dpkg -s $(BROWSER_PACKAGES) >/dev/null 2>&1 || { \
	  echo "installing $(BROWSER_PACKAGES) (Debian packages)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES); }

test: install browser
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench-tenancy: install
	$(PY) bench/tenancy.py

bench-sale: install
	$(PY) bench/sale.py

bench-pages: install
	$(PY) bench/pages.py

bench-gate: install
	$(PY) bench/gate.py

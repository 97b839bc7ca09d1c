# The two commands: `make run` and `make test`. Everything else here serves them.
# VENV=... puts the virtualenv elsewhere (e.g. to try a fresh install without touching .venv).

VENV ?= .venv
PY := $(VENV)/bin/python
# Installs again only when a requirements or lock file changes.
STAMP := $(VENV)/.requirements.stamp
# The interpreter that creates the virtualenv: Python 3.11 where it exists, else python3.
BOOTSTRAP_PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)

export VENV

# Requirements: requirements.txt (runtime) and requirements-dev.txt (tests, lint; includes the
# former) are edited by hand, one pinned line per package we ask for. The lock files pin every
# package, the transitive ones too, with their hashes (pip-tools): requirements.lock for production,
# requirements-dev.lock for this Makefile. After changing a requirement, run `make lock` (it needs
# the package index) and commit the lock files; `make` refuses a lock that no longer matches.
LOCK_VENV ?= var/piptools
PIP_TOOLS_VERSION := 7.6.2
PIP_COMPILE = CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes \
	--allow-unsafe --strip-extras --no-emit-options $(LOCK_ARGS)

.DEFAULT_GOAL := help
.PHONY: help venv lock run test e2e lint messages bench clean distclean

help:
	@echo "make run    set up (first time), migrate, seed the demo once, then run web + worker + beat"
	@echo "make test   set up (first time), then run the whole test suite (pytest tests/)"
	@echo "make e2e    only the browser tests (tests/e2e; needs Debian's chromium)"
	@echo "make lint   ruff check, djlint on the templates and makemigrations --check"
	@echo "make messages  update the English catalog (locale/en) from the code and compile it (needs gettext)"
	@echo "make bench  the chain benchmark on PostgreSQL (BENCH_SIZE=small|full; see bench/run.py)"
	@echo "make lock   refresh requirements.lock and requirements-dev.lock after changing a requirements file"
	@echo "            (LOCK_ARGS=--upgrade also moves the unpinned dependencies to their latest versions)"
	@echo "make clean  remove caches and collected static files (keeps the database and the login)"
	@echo "make distclean  also remove var/ (database, demo data, saved login) and the virtualenv"

$(PY):
	@test -n "$(BOOTSTRAP_PYTHON)" || { echo "Python 3.11 (or python3) is needed to create $(VENV)." >&2; exit 1; }
	$(BOOTSTRAP_PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt requirements.lock requirements-dev.lock | $(PY)
	@$(PY) scripts/lock_check.py
	$(PY) -m pip install --disable-pip-version-check --quiet --require-hashes -r requirements-dev.lock
	@touch $@

$(LOCK_VENV)/bin/pip-compile:
	$(BOOTSTRAP_PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --disable-pip-version-check --quiet pip-tools==$(PIP_TOOLS_VERSION)

# Keeps what is pinned already (only what changed moves), unless LOCK_ARGS=--upgrade.
lock: $(LOCK_VENV)/bin/pip-compile
	$(PIP_COMPILE) --output-file requirements.lock requirements.txt
	$(PIP_COMPILE) --constraint requirements.lock --output-file requirements-dev.lock requirements-dev.txt
	@$(BOOTSTRAP_PYTHON) scripts/lock_check.py && echo "Lock files up to date; commit requirements.lock and requirements-dev.lock."

venv: $(STAMP)

run: $(STAMP)
	@bash scripts/run.sh

test: $(STAMP)
	$(PY) -m pytest tests

e2e: $(STAMP)
	$(PY) -m pytest tests/e2e

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/djlint templates --lint
	$(PY) manage.py makemigrations --check --dry-run

# The msgids are the Chinese UI. Translate what is new, empty or fuzzy in locale/en/LC_MESSAGES/django.po,
# then run this again to compile django.mo; both are committed (a fresh machine may lack msgfmt),
# and tests/test_i18n.py fails on an untranslated, fuzzy, stale or uncompiled message.
MESSAGES_IGNORE := --ignore=.venv --ignore=$(VENV) --ignore=var --ignore=static --ignore=tests --ignore=node_modules
messages: $(STAMP)
	$(PY) manage.py makemessages -l en --no-obsolete $(MESSAGES_IGNORE)
	$(PY) manage.py compilemessages -l en $(MESSAGES_IGNORE)

# The chain benchmark on PostgreSQL (bench/run.py): BENCH_SIZE=small|full, its own database (wiped),
# one table and var/bench.json; PASS/FAIL against issue 14's targets is shown, fails only with BENCH_STRICT=1.
bench: $(STAMP)
	$(PY) bench/run.py

clean:
	find . \( -path ./.venv -o -path ./$(VENV) -o -path ./.git \) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	rm -rf .pytest_cache .ruff_cache var/staticfiles var/cache var/celery-queue var/celery-processed var/celery-control

distclean: clean
	rm -rf var $(VENV)

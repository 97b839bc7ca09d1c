#!/usr/bin/env bash
# `make run`: prepare the database and static files, seed the demo on a fresh database, print the
# login, then run web, worker and beat together (Procfile.dev) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
export PATH="$VENV/bin:$PATH"
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-vipcrm.settings.local}
# Python's output straight to honcho, so log lines appear when they happen.
export PYTHONUNBUFFERED=1

python manage.py migrate --noinput
python manage.py collectstatic --noinput --verbosity 0
python scripts/first_run.py
exec honcho -f Procfile.dev start

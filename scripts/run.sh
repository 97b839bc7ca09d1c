#!/usr/bin/env bash
# `make run`: prepare the database and static files, seed the demo on a fresh database, print the
# login, run the daily duty for today (and any day missed), then run web, worker and beat together
# (Procfile.dev) until Ctrl-C.
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
# Today's lists now, not at beat's 06:30 tomorrow: the daily duty for today, catching up every day
# missed since its last run (at most a month; each store and date runs once, so a restart the same
# day does nothing).
python manage.py run_duties daily
exec honcho -f Procfile.dev start

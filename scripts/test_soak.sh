#!/usr/bin/env bash
# Soak test of `make test` (issue 15): it must pass every time, not by luck of timing or load.
#
# Runs `make test` N times in a row (default 5) on the embedded defaults with Redis running: no
# DATABASE_URL (SQLite), so the Redis tests and the in-process Celery worker run for real. Meanwhile
# `make test` runs on PostgreSQL, again and again until the SQLite runs are over (the last one is
# let finish), so that every SQLite run shares the machine, Redis and the temporary folder with a
# second suite. Prints each run's pytest result line and exits non-zero if any run failed.
#
#   scripts/test_soak.sh [N]
#
# SOAK_DATABASE_URL  the PostgreSQL run's database (default postgres://postgres@127.0.0.1:5432/
#                    vipcrm_soak_<pid>; pytest-django creates and drops test_<name>, so two soaks
#                    or a helper's run never share a test database)
# SOAK_LOG_DIR       where each run's full output goes (default var/soak/<date-time>)
# SOAK_RUN_TIMEOUT   seconds after which a run counts as hung and is stopped (default 2700)
# REDIS_HOST / REDIS_PORT  the Redis the tests use (default 127.0.0.1:6379; as tests/conftest.py)
set -uo pipefail
cd "$(dirname "$0")/.."

RUNS=${1:-5}
case "$RUNS" in '' | *[!0-9]* | 0) echo "usage: $0 [number of SQLite runs, default 5]" >&2; exit 2 ;; esac
VENV=${VENV:-.venv}
PG_URL=${SOAK_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/vipcrm_soak_$$}
LOG_DIR=${SOAK_LOG_DIR:-var/soak/$(date +%Y%m%d-%H%M%S)}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}
RUN_TIMEOUT=${SOAK_RUN_TIMEOUT:-2700}
mkdir -p "$LOG_DIR"

# The virtualenv once, before two `make test` would both install into it at the same time.
make --no-print-directory venv >/dev/null || { echo "soak: make venv failed" >&2; exit 1; }
PY=$VENV/bin/python

listening() { "$PY" -c "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)" "$1" "$2" 2>/dev/null; }
listening "$REDIS_HOST" "$REDIS_PORT" || { echo "soak: Redis is not running at $REDIS_HOST:$REDIS_PORT; start it first." >&2; exit 1; }
PG_HOSTPORT=$("$PY" -c "from urllib.parse import urlsplit; import sys; u = urlsplit(sys.argv[1]); print(u.hostname or '127.0.0.1', u.port or 5432)" "$PG_URL")
# shellcheck disable=SC2086
listening $PG_HOSTPORT || { echo "soak: PostgreSQL is not running at ${PG_HOSTPORT/ /:}; start it first." >&2; exit 1; }
if [ -f .env ] && grep -Eq '^[[:space:]]*(export[[:space:]]+)?DATABASE_URL=' .env; then
    echo "soak: .env sets DATABASE_URL, so the \"SQLite\" runs would not be on SQLite; move it aside first." >&2
    exit 1
fi

# The pytest summary line ("== 612 passed, 3 skipped in 201.5s =="), or the last line when there is none.
result_line() { grep -E '^=+ .*( in [0-9.]+s).* =+$' "$1" | tail -n 1 | sed -E 's/^=+ //; s/ =+$//' || true; }
outcome() { # log exit-status -> PASS/FAIL and the result line
    local line
    line=$(result_line "$1")
    [ -n "$line" ] || line="(no pytest summary) $(tail -n 1 "$1")"
    if [ "$2" = 124 ] || [ "$2" = 137 ]; then line="timed out after ${RUN_TIMEOUT}s: $line"; fi
    if [ "$2" = 0 ]; then echo "PASS  $line"; else echo "FAIL  $line"; fi
}

stamp() { date +%H:%M:%S; }
echo "soak: $RUNS x make test on SQLite (Redis at $REDIS_HOST:$REDIS_PORT), PostgreSQL runs alongside ($PG_URL)"
echo "soak: logs in $LOG_DIR"
started=$(date +%s)

# PostgreSQL, in the background, until the SQLite runs are done.
done_flag="$LOG_DIR/.sqlite-done"
rm -f "$done_flag"
(
    i=0
    while [ ! -e "$done_flag" ]; do
        i=$((i + 1))
        log="$LOG_DIR/postgres-$i.log"
        t0=$(date +%s)
        DATABASE_URL=$PG_URL timeout --kill-after=60 "$RUN_TIMEOUT" make --no-print-directory test >"$log" 2>&1
        status=$?
        echo "$status $(( $(date +%s) - t0 ))" >"$log.status"
        echo "[$(stamp)] postgres run $i: $(outcome "$log" "$status")"
    done
) &
pg_loop=$!

for i in $(seq 1 "$RUNS"); do
    log="$LOG_DIR/sqlite-$i.log"
    t0=$(date +%s)
    env -u DATABASE_URL timeout --kill-after=60 "$RUN_TIMEOUT" make --no-print-directory test >"$log" 2>&1
    status=$?
    echo "$status $(( $(date +%s) - t0 ))" >"$log.status"
    echo "[$(stamp)] sqlite run $i/$RUNS: $(outcome "$log" "$status")"
done
touch "$done_flag"
echo "[$(stamp)] SQLite runs done; waiting for the PostgreSQL run in progress to finish"
wait "$pg_loop"
rm -f "$done_flag"
# A PostgreSQL run stopped by the timeout leaves its test database behind: drop it.
DATABASE_URL=$PG_URL "$PY" - <<'PYTHON' 2>/dev/null || true
import os
import psycopg
from urllib.parse import urlsplit
url = urlsplit(os.environ["DATABASE_URL"])
name = "test_" + url.path.lstrip("/")
with psycopg.connect(url._replace(path="/postgres").geturl(), autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
PYTHON

failed=0
echo
echo "==== soak summary ($(( ($(date +%s) - started) / 60 )) min; logs in $LOG_DIR)"
for kind in sqlite postgres; do
    i=1
    while [ -f "$LOG_DIR/$kind-$i.log.status" ]; do
        log="$LOG_DIR/$kind-$i.log"
        i=$((i + 1))
        read -r status seconds <"$log.status"
        [ "$status" = 0 ] || failed=$((failed + 1))
        name=$(basename "$log" .log)
        printf '%-12s %4ss  %s\n' "$name" "$seconds" "$(outcome "$log" "$status")"
        if [ "$status" != 0 ]; then
            grep -E '^(FAILED|ERROR) ' "$log" | sed 's/^/               /'
        fi
    done
done
sqlite_passed=$(grep -l '^0 ' "$LOG_DIR"/sqlite-*.log.status 2>/dev/null | wc -l)
echo "SQLite: $sqlite_passed of $RUNS runs passed; PostgreSQL: $(grep -l '^0 ' "$LOG_DIR"/postgres-*.log.status 2>/dev/null | wc -l) of $(ls "$LOG_DIR"/postgres-*.log.status 2>/dev/null | wc -l) passed"
if [ "$failed" = 0 ]; then echo "soak: PASS"; else echo "soak: FAIL ($failed failed runs)"; fi
[ "$failed" = 0 ]

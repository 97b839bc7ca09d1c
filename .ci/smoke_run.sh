#!/usr/bin/env bash
# Smoke test of `make run` on the embedded defaults, as a developer's fresh machine would run it:
# a new var dir, no DATABASE_URL / CELERY_BROKER_URL / CACHE_URL. Passes when the login page
# answers 200, the printed admin login works, and the worker log shows beat's heartbeat task
# received and succeeded. Then it stops the whole process group.
#
#   bash .ci/smoke_run.sh          (SMOKE_PORT=8001 to use another port; SMOKE_TIMEOUT in seconds)
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${SMOKE_PORT:-8000}
TIMEOUT=${SMOKE_TIMEOUT:-180}
VENV=${VENV:-.venv}
unset DATABASE_URL CELERY_BROKER_URL CACHE_URL CELERY_RESULT_BACKEND
export VIPCRM_VAR_DIR
VIPCRM_VAR_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vipcrm-smoke.XXXXXX")
export VIPCRM_PORT=$PORT VIPCRM_HOST=127.0.0.1
# Beat sends the heartbeat every minute; a few seconds here so the test need not wait.
export VIPCRM_HEARTBEAT_SECONDS=${VIPCRM_HEARTBEAT_SECONDS:-5}
LOG=$VIPCRM_VAR_DIR/make-run.log
BASE=http://127.0.0.1:$PORT

fail() {
    echo "SMOKE FAIL: $*" >&2
    echo "---- last 60 lines of the make run output ($LOG) ----" >&2
    tail -n 60 "$LOG" >&2 || true
    exit 1
}

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "SMOKE FAIL: something already listens on 127.0.0.1:$PORT; stop it or set SMOKE_PORT." >&2
    exit 1
fi

started=$(date +%s)
# Its own session and process group, so that one signal stops make, honcho and every child.
setsid make run VENV="$VENV" >"$LOG" 2>&1 </dev/null &
group=$!

stop() {
    if kill -0 -- "-$group" 2>/dev/null; then
        kill -TERM -- "-$group" 2>/dev/null || true
        for _ in $(seq 1 20); do kill -0 -- "-$group" 2>/dev/null || break; sleep 0.5; done
        kill -KILL -- "-$group" 2>/dev/null || true
    fi
    wait "$group" 2>/dev/null || true
}
trap stop EXIT

echo "smoke: make run started (var dir $VIPCRM_VAR_DIR, log $LOG); waiting for $BASE/login/ ..."
status=000
while :; do
    elapsed=$(( $(date +%s) - started ))
    kill -0 "$group" 2>/dev/null || fail "make run exited before the login page answered."
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE/login/" || true)
    [ "$status" = 200 ] && break
    [ "$elapsed" -ge "$TIMEOUT" ] && fail "$BASE/login/ did not answer 200 within ${TIMEOUT}s (last status $status)."
    sleep 1
done
up=$(( $(date +%s) - started ))
echo "smoke: login page answered 200 after ${up}s"

# The login printed by make run works.
[ -s "$VIPCRM_VAR_DIR/admin-login.txt" ] || fail "no admin login was saved in $VIPCRM_VAR_DIR/admin-login.txt"
password=$(head -n 1 "$VIPCRM_VAR_DIR/admin-login.txt")
grep -qF "password: $password" "$LOG" || fail "make run did not print the admin password."
jar=$VIPCRM_VAR_DIR/cookies.txt
curl -s -c "$jar" -b "$jar" -o "$VIPCRM_VAR_DIR/login.html" "$BASE/login/"
token=$(grep -o 'name="csrfmiddlewaretoken" value="[^"]*"' "$VIPCRM_VAR_DIR/login.html" | head -n 1 | sed 's/.*value="//; s/"$//')
[ -n "$token" ] || fail "the login page has no CSRF token."
answer=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{http_code} %{redirect_url}' \
    -H "Referer: $BASE/login/" --data-urlencode "csrfmiddlewaretoken=$token" \
    --data-urlencode "username=admin" --data-urlencode "password=$password" "$BASE/login/")
case "$answer" in
    "302 "*/login/*|"200 "*) fail "logging in as admin with the printed password failed ($answer)." ;;
    "302 "*) echo "smoke: admin logs in with the printed password ($answer)" ;;
    *) fail "unexpected answer to the login form: $answer" ;;
esac

# Beat sends the heartbeat; the worker receives and runs it.
deadline=$(( $(date +%s) + 90 ))
until grep -Eq 'Task vipcrm\.tasks\.heartbeat\[[^]]+\] succeeded' "$LOG"; do
    kill -0 "$group" 2>/dev/null || fail "make run exited while waiting for the heartbeat."
    [ "$(date +%s)" -ge "$deadline" ] && fail "no heartbeat task succeeded in the worker log within 90s."
    sleep 1
done
grep -Eq 'beat.*Sending due task heartbeat' "$LOG" || fail "beat did not log sending the heartbeat."
grep -Eq 'worker.*Task vipcrm\.tasks\.heartbeat\[[^]]+\] received' "$LOG" || fail "the worker did not log receiving the heartbeat."
echo "smoke: worker log:"
grep -E "heartbeat(\[| \(|: worker alive)" "$LOG" | grep -v "^.*|   \. " | head -n 4 | sed "s/^/    /"
total=$(( $(date +%s) - started ))

stop
trap - EXIT
kill -0 -- "-$group" 2>/dev/null && fail "processes of make run survived the stop."
echo "smoke: PASS (login page after ${up}s, heartbeat seen after ${total}s; everything stopped)"
[ -n "${SMOKE_KEEP:-}" ] || rm -rf "$VIPCRM_VAR_DIR"

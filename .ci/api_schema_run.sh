#!/usr/bin/env bash
# schemathesis against the live API (issue 13): a dev server on a fresh SQLite database with two
# stores, then generated requests to every operation of /api/v1/schema/ as a consultant and a
# manager (signed-in sessions) and, where POS keys exist (accounts.api_keys), as a store's POS key.
# Passes when no answer is a server error, every status, content type and body is the one the
# schema documents, and no answer names a member of another store (.ci/api_schema_hooks.py).
#
#   bash .ci/api_schema_run.sh      (API_SCHEMA_PORT=8011; API_SCHEMA_EXAMPLES examples per operation)
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${API_SCHEMA_PORT:-8011}
EXAMPLES=${API_SCHEMA_EXAMPLES:-20}
VENV=${VENV:-.venv}
PY=$VENV/bin/python
unset DATABASE_URL CELERY_BROKER_URL CACHE_URL CELERY_RESULT_BACKEND
export DJANGO_SETTINGS_MODULE=vipcrm.settings.local DJANGO_DEBUG=false DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost
export VIPCRM_VAR_DIR
VIPCRM_VAR_DIR=$(mktemp -d "${TMPDIR:-/tmp}/vipcrm-api.XXXXXX")
# Generated requests come fast: the throttles are tested by tests/api/test_errors.py, not here.
export VIPCRM_API_RATE_USER=100000/minute VIPCRM_API_RATE_ANON=100000/minute VIPCRM_API_RATE_POS_KEY=100000/minute
BASE=http://127.0.0.1:$PORT
LOG=$VIPCRM_VAR_DIR/server.log

"$PY" manage.py migrate --noinput >"$VIPCRM_VAR_DIR/migrate.log" 2>&1 || { tail -n 30 "$VIPCRM_VAR_DIR/migrate.log"; exit 1; }
# Two stores, their staff (agreement signed) and members; a signed-in session for store SHA's
# consultant and manager (a password check per request would cost ~0.3 s each: Basic auth is
# tested in tests/), and a POS key for store SHA when the POS keys exist. Prints one line:
# COOKIE_NAME CSRF_COOKIE_NAME CONSULTANT_SESSION MANAGER_SESSION [POS_KEY].
read -r COOKIE CSRF_COOKIE CONSULTANT_SESSION MANAGER_SESSION POS_KEY < <("$PY" manage.py shell --no-imports -c '
import datetime, importlib.util
from django.conf import settings
from django.test import Client
from accounts.models import ConfidentialityAgreement, Role, Staff, Store
from members.models import Member

for code, digit in (("SHA", "1"), ("BJB", "2")):
    store = Store.objects.create(code=code, name=code)
    for role in (Role.CONSULTANT, Role.MANAGER):
        staff = Staff.objects.create_user(f"{code.lower()}_{role}", password="pw", role=role, store=store)
        ConfidentialityAgreement.objects.create(staff=staff, signed_on=datetime.date(2024, 1, 1))
    consultant = Staff.objects.get(username=f"{code.lower()}_consultant")
    for n in range(5):
        Member.objects.create(
            card_no=f"{code}{n:05d}", name=f"{code} 会员 {n}", phone=f"13{digit}0000{n:04d}",
            home_store=store, consultant=consultant, joined_on=datetime.date(2024, 1, 1 + n),
        )
# A complaint (by the consultant), a gift plan next month and a campaign draft in each store.
from campaigns.segments import Segment
from campaigns.services import campaign_save
from complaints.services import complaint_register
from visits.models import GiftPlan
today = datetime.date.today()
for code in ("SHA", "BJB"):
    member = Member.objects.filter(home_store__code=code).first()
    staff = {s.role: s for s in Staff.objects.filter(store=member.home_store)}
    complaint_register(
        store=member.home_store, by=staff[Role.CONSULTANT], member=member,
        channel="in_store", category="alteration", description="裤长改短了",
    )
    GiftPlan.objects.create(
        member=member, store=member.home_store, occasion="birthday", tier=member.tier, gift="丝巾", budget=200,
        occasion_date=(today.replace(day=1) + datetime.timedelta(days=32)).replace(day=10),
    )
    campaign_save(
        by=staff[Role.MANAGER], stores=[member.home_store], segment=Segment(), name=f"{code} 私享会",
        type="private_viewing", start_date=today + datetime.timedelta(days=7), end_date=today + datetime.timedelta(days=9),
    )
# A visit, then a care task for the consultant and an invitation in each store (visits.api).
from django.utils import timezone
from visits.services import invitation_create, task_create, visit_record
for code in ("SHA", "BJB"):
    member = Member.objects.filter(home_store__code=code).order_by("pk")[1]
    consultant = Staff.objects.get(username=f"{code.lower()}_consultant")
    visit_record(member=member, by=consultant, channel="phone", outcome="已联系，满意")
    day = timezone.localdate()
    task_create(member=member, kind="care", due_date=day, origin="schemathesis", assignee=consultant)
    invitation_create(member=member, by=consultant, for_date=day + datetime.timedelta(days=3), purpose="新品到店试穿")
# A purchase and its partial return for a member of each store (members.api), and a tag to put on members.
from members.models import MemberTag, Purchase
MemberTag.objects.create(name="婚礼季")
for code in ("SHA", "BJB"):
    member = Member.objects.filter(home_store__code=code).order_by("pk")[2]
    sale = Purchase.objects.create(
        store=member.home_store, member=member, receipt_no=f"{code}-R1", date=datetime.date(2024, 6, 1), amount=1280
    )
    Purchase.objects.create(
        store=member.home_store, member=member, receipt_no=f"{code}-R2", date=datetime.date(2024, 6, 2), amount=-280,
        original=sale,
    )
sessions = []
for username in ("sha_consultant", "sha_manager"):
    client = Client()
    client.force_login(Staff.objects.get(username=username))
    sessions.append(client.cookies[settings.SESSION_COOKIE_NAME].value)
key = ""
if importlib.util.find_spec("accounts.api_keys"):
    from accounts.api_keys import api_key_create
    manager = Staff.objects.get(username="sha_manager")
    key = api_key_create(store=manager.store, name="schemathesis", by=manager).key
print(settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME, *sessions, key)
' 2>>"$VIPCRM_VAR_DIR/migrate.log" | tail -n 1)

[ -n "${MANAGER_SESSION:-}" ] || { tail -n 30 "$VIPCRM_VAR_DIR/migrate.log" >&2; echo "API SCHEMA FAIL: could not seed the users." >&2; exit 1; }

setsid "$PY" manage.py runserver "127.0.0.1:$PORT" --noreload >"$LOG" 2>&1 </dev/null &
server=$!
stop() {
    kill -TERM -- "-$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
}
trap stop EXIT
for _ in $(seq 1 60); do
    curl -sf -o /dev/null --max-time 2 "$BASE/api/v1/schema/" && break
    kill -0 "$server" 2>/dev/null || { tail -n 40 "$LOG"; echo "API SCHEMA FAIL: the server exited." >&2; exit 1; }
    sleep 1
done

# No cache folder in the work tree (.schemathesis/): this run starts from nothing anyway.
CONFIG=$VIPCRM_VAR_DIR/schemathesis.toml
printf '[cache]\nenabled = false\n' >"$CONFIG"

run() {  # run NAME ARGS...: one schemathesis run
    local name=$1
    shift
    echo "---- schemathesis as $name"
    SCHEMATHESIS_HOOKS=.ci/api_schema_hooks.py "$VENV/bin/schemathesis" --config-file "$CONFIG" run "$BASE/api/v1/schema/" \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,no_other_store \
        --mode positive --max-examples "$EXAMPLES" --generation-deterministic "$@" \
        || { echo "---- server log" >&2; tail -n 60 "$LOG" >&2; return 1; }
}

# Staff: everything but the POS endpoints (a person's login gets 403 there, as documented). The
# CSRF cookie and header carry the same made-up token, as a browser's page would send them.
CSRF=schemathesisschemathesisschemath
as_staff() {
    run "$1" -H "Cookie: $COOKIE=$2; $CSRF_COOKIE=$CSRF" -H "X-CSRFToken: $CSRF" --exclude-path-regex '^/api/v1/pos/'
}
as_staff "a consultant of store SHA" "$CONSULTANT_SESSION"
as_staff "the manager of store SHA" "$MANAGER_SESSION"
if [ -n "$POS_KEY" ]; then
    run "store SHA's POS key" -H "Authorization: Api-Key $POS_KEY" --include-path-regex '^/api/v1/pos/'
else
    echo "---- no POS keys (accounts.api_keys): that run is skipped"
fi
rm -rf "$VIPCRM_VAR_DIR"
echo "API schema runs passed."

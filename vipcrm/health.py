"""`/healthz` for a load balancer or a monitor: is this deployment able to serve?

Parts checked, each in a thread of its own with one deadline for all (VIPCRM_HEALTH_TIMEOUT,
1.5 s), so the answer comes within it even when a server hangs or is gone:

- database: `SELECT 1` on a connection of the check's own (closed afterwards).
- broker: Celery's broker. Redis: a PING with short socket timeouts and no retries; the embedded
  filesystem broker (`make run`): its folders are there and writable; any other: one connection
  attempt, no retry loop.
- cache: one read of the worker's heartbeat key (a Redis cache is read through a client with short
  timeouts and no retries).
- heartbeat: the age of the stamp the worker writes every minute (vipcrm.tasks.heartbeat).
- duties: the last run of each scheduled duty (duties.models.DutyRun, read only), failures in the
  last 40 days, and a duty much later than its schedule.

200 when the database, broker and cache answer (`status` "ok", or "degraded" when the heartbeat is
stale or missing or a duty failed or is late: a dead worker must not take every web node out of a
load balancer); 503 naming the failed parts otherwise. `?strict=1` answers 503 for "degraded" too,
for a monitor that only reads the status code.

No login, no session, no cookie, no database write, no personal data (duty names, counts and times
only; errors are given by class name, their text goes to the log). HealthCheckMiddleware, first in
MIDDLEWARE, answers the URL before the HTTPS redirect, the allowed-hosts check, sessions,
authentication and django-axes, so a load balancer probing a node's own address over plain HTTP
gets the answer; the URL in vipcrm/urls.py serves it where the middleware is not installed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import caches
from django.db import connections
from django.db.models import Count, Max, Q
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

PATH = "/healthz"
HEARTBEAT_KEY = "vipcrm:heartbeat"  # written by vipcrm.tasks.heartbeat
# Parts whose failure makes this node unfit to serve (503); the others only make it "degraded".
CRITICAL = ("database", "broker", "cache")
OK, FAIL, DEGRADED = "ok", "fail", "degraded"
# How long a duty may go without a run before it counts as late: its schedule (vipcrm/celery.py)
# plus a margin. A duty not named here is reported, never judged late.
DUTY_MAX_GAP = {
    "daily": timedelta(hours=26),
    "complaint_sla": timedelta(hours=3),
    "weekly": timedelta(days=8),
    "mid_month": timedelta(days=32),
    "monthly": timedelta(days=32),
}
DUTY_WINDOW_DAYS = 40
# The duties' summary is read at most this often per process: duties run hourly at most, and a load
# balancer asks every few seconds.
DUTIES_MEMO_SECONDS = 60

_duties_memo: dict = {}
# The check of each group now running in this process: a request that comes while one runs (two load
# balancers at once, a threaded server) waits for the same answer; one that still hangs from before
# is waited for, up to the deadline, instead of starting another thread.
_in_flight: dict[str, tuple[threading.Thread, dict]] = {}
_in_flight_lock = threading.Lock()
_clients: dict[tuple, object] = {}


def timeout() -> float:
    return float(getattr(settings, "VIPCRM_HEALTH_TIMEOUT", 1.5))


def heartbeat_max_age() -> float:
    return float(getattr(settings, "VIPCRM_HEALTH_HEARTBEAT_MAX_AGE", 300))


def _failure(e: BaseException) -> dict:
    return {"status": FAIL, "error": type(e).__name__}


# --- the parts --------------------------------------------------------------------------------


def check_database() -> dict:
    """SELECT 1 on this thread's own connection (closed when its check ends)."""
    connection = connections["default"]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # This connection is the check's own and closed afterwards: the limit ends with it.
            cursor.execute("SET statement_timeout = %s", [int(timeout() * 1000)])
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": OK}


def duty_runs_summary(*, now: datetime | None = None) -> dict[str, dict]:
    """Per duty: its last run, its failed runs in the last DUTY_WINDOW_DAYS days and whether it is
    late (one grouped query over the window; DutyRun is only read)."""
    from duties.models import DutyRun, DutyRunStatus

    now = now or timezone.now()
    since = timezone.localdate(now) - timedelta(days=DUTY_WINDOW_DAYS)
    rows = (
        DutyRun.objects.filter(date__gte=since)
        .order_by()
        .values("duty")
        .annotate(
            last_run=Max("started_at"),
            last_done=Max("finished_at", filter=Q(status=DutyRunStatus.DONE)),
            failed=Count("id", filter=Q(status=DutyRunStatus.FAILED)),
        )
        .order_by("duty")
    )
    summary = {}
    for row in rows:
        gap = DUTY_MAX_GAP.get(row["duty"])
        late = gap is not None and row["last_run"] is not None and now - row["last_run"] > gap
        summary[row["duty"]] = {
            "status": "failed" if row["failed"] else "late" if late else OK,
            "last_run": row["last_run"].isoformat() if row["last_run"] else None,
            "last_done": row["last_done"].isoformat() if row["last_done"] else None,
            "failed": row["failed"],
        }
    return summary


def check_duties() -> dict:
    memo = _duties_memo.get("summary")
    if memo is not None and time.monotonic() - memo[0] < DUTIES_MEMO_SECONDS:
        runs = memo[1]
    else:
        runs = duty_runs_summary()
        _duties_memo["summary"] = (time.monotonic(), runs)
    bad = sorted(duty for duty, run in runs.items() if run["status"] != OK)
    return {"status": DEGRADED if bad else OK, "problems": bad, "runs": runs}


def _redis_client(url: str):
    """A Redis client per URL and process (its pool reconnects by itself), with short timeouts
    and no retries: a stopped Redis answers at once, a hung one within the deadline."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    key = ("redis", url, timeout())
    client = _clients.get(key)
    if client is None:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=timeout(),
            socket_timeout=timeout(),
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        _clients[key] = client
    return client


def check_broker() -> dict:
    url = settings.CELERY_BROKER_URL or ""
    kind = url.split("://", 1)[0].lower()
    try:
        if kind in ("redis", "rediss"):
            _redis_client(url).ping()
        elif kind == "filesystem":
            options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {})
            folders = {options.get(k) for k in ("data_folder_in", "data_folder_out", "control_folder")} - {None}
            if not all(os.path.isdir(f) and os.access(f, os.W_OK | os.X_OK) for f in folders):
                logger.warning("healthz: broker check failed: a folder of the filesystem broker is missing")
                return {"status": FAIL, "kind": kind, "error": "FolderNotWritable"}
        else:
            # Another transport (AMQP, …): one connection attempt within the deadline, no retry loop.
            from kombu import Connection

            with Connection(url, connect_timeout=timeout()) as connection:
                connection.ensure_connection(max_retries=0, timeout=timeout())
    except Exception as e:
        logger.warning("healthz: broker check failed: %s: %s", type(e).__name__, e)
        return {**_failure(e), "kind": kind}
    return {"status": OK, "kind": kind}


def _cache():
    """The default cache; a Redis cache through a twin with short timeouts and no retries (same
    location, key prefix and version, so it reads the same keys)."""
    params = settings.CACHES["default"]
    if params.get("BACKEND") != "django.core.cache.backends.redis.RedisCache":
        return caches["default"]
    from django.core.cache.backends.redis import RedisCache
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    key = ("cache", repr(sorted(params.items())), timeout())
    cache = _clients.get(key)
    if cache is None:
        options = {
            **params.get("OPTIONS", {}),
            "socket_connect_timeout": timeout(),
            "socket_timeout": timeout(),
            "retry": Retry(NoBackoff(), 0),
        }
        cache = RedisCache(params["LOCATION"], {**params, "OPTIONS": options})
        _clients[key] = cache
    return cache


def check_cache_and_heartbeat() -> tuple[dict, dict]:
    stamp = _cache().get(HEARTBEAT_KEY)
    max_age = heartbeat_max_age()
    if not stamp:
        return {"status": OK}, {"status": "missing", "max_age_seconds": max_age}
    try:
        age = (timezone.now() - datetime.fromisoformat(str(stamp))).total_seconds()
    except (TypeError, ValueError):
        return {"status": OK}, {"status": "unreadable", "max_age_seconds": max_age}
    status = OK if age <= max_age else "stale"
    return {"status": OK}, {"status": status, "age_seconds": round(age, 1), "max_age_seconds": max_age}


# --- running them --------------------------------------------------------------------------------


def _database_and_duties() -> dict:
    try:
        database = check_database()
    except Exception as e:
        logger.warning("healthz: database check failed: %s: %s", type(e).__name__, e)
        return {"database": _failure(e), "duties": {"status": "unknown"}}
    try:
        duties = check_duties()
    except Exception as e:
        logger.warning("healthz: duties check failed: %s: %s", type(e).__name__, e)
        duties = {"status": DEGRADED, "error": type(e).__name__}
    return {"database": database, "duties": duties}


def _broker() -> dict:
    return {"broker": check_broker()}


def _cache_and_heartbeat() -> dict:
    cache, heartbeat = check_cache_and_heartbeat()
    return {"cache": cache, "heartbeat": heartbeat}


# Each group runs in one thread and names the parts it answers for.
GROUPS: dict[str, tuple[Callable[[], dict], tuple[str, ...]]] = {
    "database": (_database_and_duties, ("database", "duties")),
    "broker": (_broker, ("broker",)),
    "cache": (_cache_and_heartbeat, ("cache", "heartbeat")),
}


def _run_group(name: str, check: Callable[[], dict], parts: tuple[str, ...], box: dict) -> None:
    started = time.monotonic()
    try:
        box.update(check())
    except Exception as e:
        logger.warning("healthz: %s check failed: %s: %s", name, type(e).__name__, e)
        box[parts[0]] = _failure(e)
        for part in parts[1:]:
            box[part] = {"status": "unknown"}
    finally:
        box["_ms"] = round((time.monotonic() - started) * 1000, 1)
        connections.close_all()  # this thread's connections only
        with _in_flight_lock:
            if _in_flight.get(name, (None,))[0] is threading.current_thread():
                del _in_flight[name]


def run_checks() -> dict[str, dict]:
    """Every part's result, within timeout() seconds whatever the servers do."""
    deadline = time.monotonic() + timeout()
    started: dict[str, tuple[threading.Thread, dict]] = {}
    results: dict[str, dict] = {}
    for name, (check, parts) in GROUPS.items():
        with _in_flight_lock:
            running = _in_flight.get(name)
            if running is None:
                box: dict = {}
                thread = threading.Thread(
                    target=_run_group, args=(name, check, parts, box), name=f"healthz-{name}", daemon=True
                )
                running = _in_flight[name] = (thread, box)
                thread.start()
        started[name] = running
    for name, (thread, box) in started.items():
        thread.join(max(0.0, deadline - time.monotonic()))
        parts = GROUPS[name][1]
        if thread.is_alive():
            logger.warning("healthz: %s check gave no answer within %ss", name, timeout())
            results[parts[0]] = {"status": FAIL, "error": "Timeout"}
            results.update({part: {"status": "unknown"} for part in parts[1:]})
            continue
        box = dict(box)
        ms = box.pop("_ms", None)
        results.update(box)
        results[parts[0]]["ms"] = ms
    return {part: results[part] for group in GROUPS.values() for part in group[1]}


def health(*, strict: bool = False) -> tuple[int, dict]:
    started = time.monotonic()
    checks = run_checks()
    failed = [part for part in CRITICAL if checks[part]["status"] != OK]
    # A part "unknown" for want of the failed one it depends on (the heartbeat without a cache) is
    # not counted again.
    degraded = [part for part in checks if part not in CRITICAL and checks[part]["status"] not in (OK, "unknown")]
    status = FAIL if failed else DEGRADED if degraded else OK
    body = {
        "status": status,
        "failed": failed,
        "degraded": degraded,
        "checks": checks,
        "seconds": round(time.monotonic() - started, 3),
    }
    code = 503 if failed or (strict and degraded) else 200
    return code, body


@login_not_required
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    code, body = health(strict=request.GET.get("strict") in ("1", "true", "yes"))
    response = JsonResponse(body, status=code, json_dumps_params={"ensure_ascii": False})
    add_never_cache_headers(response)
    # A 503 is not logged again as a django.request error on every probe (nor sent to Sentry by
    # its logging integration): the failed check has logged a warning of its own.
    response._has_been_logged = True
    # What SecurityMiddleware and django-csp would add, had the answer gone through them.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
    return response


class HealthCheckMiddleware:
    """Answers GET/HEAD /healthz before anything else in MIDDLEWARE runs (see the module doc)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == PATH and request.method in ("GET", "HEAD"):
            return healthz(request)
        return self.get_response(request)

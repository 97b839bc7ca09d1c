"""/healthz (vipcrm/health.py): what it checks, 200 / 503, its time bound, and what it never does
(ask for a login, touch the session, write, show personal data).

The tests on real Redis use the `redis_broker` fixture (tests/conftest.py): they skip with the
reason outside CI when Redis is not running, and fail in CI. "Redis stopped" is a TCP proxy in
front of the real Redis that the test closes and opens again (the shared Redis is never stopped).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from duties.models import DutyRun, DutyRunStatus
from vipcrm import health

PARTS = {"database", "duties", "broker", "cache", "heartbeat"}


@pytest.fixture(autouse=True)
def _fresh_health_state():
    """No memo, client or hanging check of one test reaches the next."""
    health._duties_memo.clear()
    health._clients.clear()
    yield
    deadline = time.monotonic() + 5
    while health._in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    health._duties_memo.clear()
    health._clients.clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def beat(seconds_ago: float = 0) -> None:
    cache.set(health.HEARTBEAT_KEY, (timezone.now() - timedelta(seconds=seconds_ago)).isoformat(), None)


def get(client, path="/healthz"):
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


# --- healthy, public, cheap ----------------------------------------------------------------------


def test_it_answers_200_to_anyone_without_personal_data(client, member_a, store_a):
    DutyRun.objects.create(duty="daily", store=store_a, date=timezone.localdate(), started_at=timezone.now())
    beat()

    response, seconds = get(client)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert not response.cookies
    body = response.json()
    assert set(body["checks"]) == PARTS
    assert body["failed"] == [] and body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["heartbeat"]["status"] == "ok"
    text = json.dumps(body, ensure_ascii=False)
    for personal in (member_a.name, member_a.phone, member_a.phone[-4:], store_a.name, store_a.code):
        assert personal not in text
    assert seconds < 2


def test_it_is_reachable_by_its_url_name_and_refuses_a_post(client, db):
    assert reverse("healthz") == health.PATH
    assert client.post(health.PATH).status_code == 405


def test_it_touches_no_session_and_writes_nothing_for_a_signed_in_browser(client, staff_a, django_assert_num_queries):
    client.force_login(staff_a.consultant)
    sessions = Session.objects.count()

    # Nothing on the request's own connection: no session read, no user, no axes, no write (the
    # checks use a connection of their own, and only read).
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert not response.cookies
    assert Session.objects.count() == sessions


def test_the_url_alone_serves_it_without_a_login(client, db, settings):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != "vipcrm.health.HealthCheckMiddleware"]

    response = client.get("/healthz")

    assert response.status_code == 200
    assert set(response.json()["checks"]) == PARTS


def test_a_load_balancer_probes_over_http_by_the_node_s_address(client, db, settings):
    # Production redirects to HTTPS and allows only its public host name; a load balancer asks the
    # node itself, over HTTP, by its address.
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["vipcrm.example.com"]

    response = client.get("/healthz", HTTP_HOST="10.0.3.7:8000")

    assert response.status_code == 200
    assert client.get("/login/", HTTP_HOST="10.0.3.7:8000").status_code == 400  # the rest is still guarded


def test_probes_at_the_same_moment_share_one_check_and_all_pass(db):
    answers = []
    probes = [threading.Thread(target=lambda: answers.append(health.health())) for _ in range(6)]
    for probe in probes:
        probe.start()
    for probe in probes:
        probe.join(5)

    assert [code for code, _ in answers] == [200] * 6
    assert all(body["failed"] == [] for _, body in answers)


# --- broker --------------------------------------------------------------------------------------


def test_a_broker_on_a_closed_port_is_a_503_within_2s_naming_the_broker(client, db, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"

    response, seconds = get(client)

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["failed"] == ["broker"]
    assert body["checks"]["broker"] == {"status": "fail", "kind": "redis", "error": "ConnectionError", "ms": ANY_MS}
    assert "127.0.0.1" not in json.dumps(body)  # the error's class, not its text (addresses, ports)
    assert seconds < 2


class _AnyMs:
    def __eq__(self, other):
        return isinstance(other, int | float)


ANY_MS = _AnyMs()


def test_a_broker_that_accepts_but_never_answers_is_a_503_within_2s(client, db, settings):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections complete in the backlog; nothing ever reads or answers
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
    try:
        response, seconds = get(client)
    finally:
        silent.close()

    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]
    assert response.json()["checks"]["broker"]["status"] == "fail"
    assert seconds < 2


def test_the_embedded_broker_is_checked_by_its_folders(client, db, settings, tmp_path):
    folder = tmp_path / "queue"
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(folder), "data_folder_out": str(folder)}

    missing = client.get("/healthz")
    folder.mkdir()
    present = client.get("/healthz")

    assert missing.status_code == 503 and missing.json()["failed"] == ["broker"]
    assert present.status_code == 200 and present.json()["checks"]["broker"]["kind"] == "filesystem"


# --- heartbeat and duties: degraded, not down -------------------------------------------------


def test_a_stale_heartbeat_is_degraded_200_and_503_when_strict(client, db, settings):
    settings.VIPCRM_HEALTH_HEARTBEAT_MAX_AGE = 300
    beat(seconds_ago=301)

    response = client.get("/healthz")
    strict = client.get("/healthz?strict=1")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["degraded"] == ["heartbeat"]
    assert body["checks"]["heartbeat"]["status"] == "stale"
    assert body["checks"]["heartbeat"]["age_seconds"] >= 301
    assert strict.status_code == 503 and strict.json()["degraded"] == ["heartbeat"]


def test_a_missing_heartbeat_is_degraded(client, db):
    cache.delete(health.HEARTBEAT_KEY)

    body = client.get("/healthz").json()

    assert body["status"] == "degraded"
    assert body["checks"]["heartbeat"]["status"] == "missing"


def test_a_fresh_heartbeat_is_ok(client, db):
    beat(seconds_ago=30)

    assert client.get("/healthz").json()["checks"]["heartbeat"]["status"] == "ok"


def test_it_summarises_the_last_run_of_each_duty(store_a, store_b, django_assert_num_queries):
    now = timezone.now()
    today = timezone.localdate()
    DutyRun.objects.create(
        duty="daily", store=store_a, date=today, started_at=now, finished_at=now, status=DutyRunStatus.DONE
    )
    DutyRun.objects.create(
        duty="daily", store=store_b, date=today, started_at=now, finished_at=now, status=DutyRunStatus.FAILED
    )
    two_weeks = now - timedelta(days=14)
    DutyRun.objects.create(
        duty="weekly", store=store_a, date=today - timedelta(days=14), started_at=two_weeks, status="done"
    )
    DutyRun.objects.create(
        duty="complaint_sla", store=store_a, date=today, started_at=now - timedelta(minutes=30), status="done"
    )
    DutyRun.objects.create(  # older than the window: not read
        duty="daily", store=store_a, date=today - timedelta(days=90), started_at=now, status=DutyRunStatus.FAILED
    )

    with django_assert_num_queries(1):
        summary = health.duty_runs_summary(now=now)

    assert summary["daily"]["status"] == "failed" and summary["daily"]["failed"] == 1
    assert summary["daily"]["last_run"] == now.isoformat()
    assert summary["weekly"]["status"] == "late"
    assert summary["complaint_sla"]["status"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_a_failed_duty_makes_it_degraded_not_down(client, store_a):
    # transaction=True: the checks read on a connection of their own, which sees committed rows.
    DutyRun.objects.create(
        duty="daily",
        store=store_a,
        date=timezone.localdate(),
        started_at=timezone.now(),
        status="failed",
        error="Traceback … 13812345678",
    )
    beat()

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded" and body["degraded"] == ["duties"]
    assert body["checks"]["duties"]["problems"] == ["daily"]
    assert "13812345678" not in json.dumps(body) and "Traceback" not in json.dumps(body)


# --- on real Redis -------------------------------------------------------------------------------


class TcpProxy:
    """A TCP forwarder on a port of its own to a real server, that can be stopped (its port
    refuses connections and open ones are cut, as when the server is stopped) and started again
    on the same port."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._running = False

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        listener.settimeout(0.05)
        self._listener, self._running = listener, True
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        self._running = False
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        if self._listener is not None:
            self._listener.close()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._running:
            try:
                downstream, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            downstream.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=2)
                upstream.settimeout(None)
            except OSError:
                downstream.close()
                continue
            with self._lock:
                self._sockets |= {downstream, upstream}
            for a, b in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def _point_at(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, f"127.0.0.1:{port}", parts.path, "", ""))


def _redis_cache(url: str, prefix: str) -> dict:
    # Keys under the test's own prefix: redis_broker deletes them afterwards.
    return {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": prefix}
    }


@pytest.mark.integration
def test_it_answers_200_on_real_redis_as_broker_and_cache(client, db, settings, redis_broker):
    settings.CELERY_BROKER_URL = redis_broker.url
    settings.CACHES = _redis_cache(redis_broker.url, redis_broker.prefix)
    beat()

    response, seconds = get(client)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["checks"]["broker"]["kind"] == "redis"
    assert {body["checks"][part]["status"] for part in ("database", "broker", "cache", "heartbeat")} == {"ok"}
    assert seconds < 2


@pytest.mark.integration
def test_it_answers_503_within_2s_when_redis_stops_and_200_when_it_is_back(client, db, settings, redis_broker):
    parts = urlsplit(redis_broker.url)
    proxy = TcpProxy((parts.hostname, parts.port or 6379))
    proxy.start()
    url = _point_at(redis_broker.url, proxy.port)
    settings.CELERY_BROKER_URL = url
    settings.CACHES = _redis_cache(url, redis_broker.prefix)
    try:
        beat()
        up, _ = get(client)

        proxy.stop()
        down, seconds_down = get(client)
        down_again, seconds_down_again = get(client)

        proxy.start()
        back, _ = get(client)
    finally:
        proxy.stop()

    assert up.status_code == 200, up.json()
    assert down.status_code == 503
    assert down.json()["failed"] == ["broker", "cache"]
    assert down.json()["checks"]["heartbeat"]["status"] == "unknown"
    assert down.json()["degraded"] == []  # the heartbeat is unknown because the cache failed
    assert seconds_down < 2 and seconds_down_again < 2
    assert down_again.status_code == 503
    assert back.status_code == 200, back.json()
    assert back.json()["checks"]["heartbeat"]["status"] == "ok"  # what Redis held is read again

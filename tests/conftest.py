"""Shared fixtures: two stores, each with a consultant, a VIP specialist and a manager; one HQ user.

Tests that need Redis for real use the `redis_broker` / `redis_url` fixtures, which skip
with a reason where the service is absent, except in CI (CI=true) where they fail instead.
"""

import os
import socket
import uuid
from datetime import datetime, time
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import pytest
import redis
import time_machine
from django.conf import settings

from accounts.models import Role

from .factories import MemberFactory, StaffFactory, StoreFactory

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


# The clock. A test reads "today", then the code it tests reads it again (in the test's thread, a
# worker's or the live server's): across midnight, store time, the two disagree and the test fails
# for no fault of the code. So the whole run takes place on today's store date from noon on, the
# clock ticking from there: no run crosses midnight, each run still tests the real date, and a test
# that travels elsewhere (time_machine.travel) does so on top of it. Started here, before the test
# modules are imported, so that dates computed at import agree with those computed in the tests.
# Processes a test starts (a Celery worker, the browser) keep the real clock: no test compares
# their time with this one.
_run_clock: time_machine.travel | None = None


def pytest_configure(config):
    global _run_clock
    store_time = ZoneInfo(settings.TIME_ZONE)
    today = datetime.now(store_time).date()
    _run_clock = time_machine.travel(datetime.combine(today, time(12), tzinfo=store_time), tick=True)
    _run_clock.start()


def pytest_unconfigure(config):
    if _run_clock is not None:
        _run_clock.stop()


@pytest.fixture(autouse=True)
def _empty_cache():
    """Every test starts with an empty cache (the test settings' is one per process): nothing a
    test kept (the chain view's figures, throttle counters) is seen by the next."""
    from django.core.cache import cache

    cache.clear()


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or, in CI, fail) when a real service is not listening."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError as e:
        message = f"{name} is not running at {host}:{port} ({e}); start it to run this test."
        if IN_CI:
            pytest.fail(f"{message} CI requires it.")
        pytest.skip(message)


@pytest.fixture
def redis_broker(monkeypatch):
    """Redis for one test: a database (15 by default; VIPCRM_TEST_REDIS_DB picks another) on the
    host and port of CELERY_BROKER_URL when that names Redis, else 127.0.0.1:6379, and a key
    prefix of the test's own.

    Every key the test's Celery apps and workers write starts with the prefix (kombu's
    global_keyprefix: queues, bindings, unacked messages), and only those keys are deleted
    afterwards. So test runs at the same time on one Redis (a SQLite and a PostgreSQL suite, two
    developers, a helper's run) neither see nor flush each other's messages, and nothing
    else in the database is touched.

    CELERY_BROKER_URL is pointed at it for the test: Celery lets that variable override any app's
    configured broker, so leaving it would send test messages to the real database.
    VIPCRM_TEST_REDIS_KEYPREFIX carries the prefix to a worker started in a subprocess
    (vipcrm/settings/test.py reads it).
    """
    configured = os.environ.get("CELERY_BROKER_URL", "")
    parts = urlsplit(configured if configured.startswith("redis://") else "redis://127.0.0.1:6379/0")
    db = os.environ.get("VIPCRM_TEST_REDIS_DB", "15")
    require_service("Redis", parts.hostname or "127.0.0.1", parts.port or 6379)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))
    prefix = f"vipcrm-test:{uuid.uuid4().hex}:"
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    monkeypatch.setenv("VIPCRM_TEST_REDIS_KEYPREFIX", prefix)
    yield SimpleNamespace(url=url, prefix=prefix, transport_options={"global_keyprefix": prefix})
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_url(redis_broker):
    """The URL of redis_broker's database (its key prefix is in VIPCRM_TEST_REDIS_KEYPREFIX)."""
    return redis_broker.url


@pytest.fixture
def store_a(db):
    return StoreFactory(code="SHA", name="上海店")


@pytest.fixture
def store_b(db):
    return StoreFactory(code="BJB", name="北京店")


def _staff_for(store, prefix):
    return SimpleNamespace(
        consultant=StaffFactory(username=f"{prefix}_consultant", role=Role.CONSULTANT, store=store),
        specialist=StaffFactory(username=f"{prefix}_specialist", role=Role.VIP_SPECIALIST, store=store),
        manager=StaffFactory(username=f"{prefix}_manager", role=Role.MANAGER, store=store),
    )


@pytest.fixture
def staff_a(store_a):
    return _staff_for(store_a, "a")


@pytest.fixture
def staff_b(store_b):
    return _staff_for(store_b, "b")


@pytest.fixture
def hq(db):
    return StaffFactory(username="hq", role=Role.HQ, store=None)


@pytest.fixture
def member_a(store_a, staff_a):
    """A member of store A served by store A's consultant."""
    return MemberFactory(home_store=store_a, consultant=staff_a.consultant, name="张丽", phone="13812345678")


@pytest.fixture
def member_b(store_b, staff_b):
    return MemberFactory(home_store=store_b, consultant=staff_b.consultant, name="王芳", phone="13912345678")

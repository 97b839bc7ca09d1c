"""Shared fixtures: two stores, each with a consultant, a VIP specialist and a manager; one HQ user.

Tests that need PostgreSQL or Redis for real use the `postgres` / `redis_url` fixtures, which skip
with a reason where the service is absent, except in CI (CI=true) where they fail instead.
"""
import os
import socket
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import pytest

from accounts.models import Role

from .factories import MemberFactory, StaffFactory, StoreFactory

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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
def redis_url(monkeypatch):
    """A Redis database for tests only (15 by default: tests flush it), on the host and port of
    CELERY_BROKER_URL when that names Redis, else 127.0.0.1:6379.

    CELERY_BROKER_URL is pointed at it for the test: Celery lets that variable override any app's
    configured broker, so leaving it would send test messages (and a flush) to the real database.
    """
    configured = os.environ.get("CELERY_BROKER_URL", "")
    parts = urlsplit(configured if configured.startswith("redis://") else "redis://127.0.0.1:6379/0")
    db = os.environ.get("VIPCRM_TEST_REDIS_DB", "15")
    require_service("Redis", parts.hostname or "127.0.0.1", parts.port or 6379)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))
    monkeypatch.setenv("CELERY_BROKER_URL", url)
    return url


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

"""The daily duty end to end: beat's entry task on Redis, a real Celery worker, the database.

Needs Redis (skipped with a reason where it is absent, required in CI).
"""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.utils import timezone

from reports.models import DutyRun
from tests.factories import MemberFactory, PurchaseFactory
from vipcrm.celery import app
from visits.models import FollowUpTask
from visits.tasks import daily_duty_all_stores

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_app(redis_url):
    """The project's Celery app pointed at a Redis database of its own, emptied first."""
    saved = {key: app.conf[key] for key in ("broker_url", "broker_transport_options", "task_always_eager")}
    app.conf.update(
        broker_url=redis_url, broker_transport_options={"visibility_timeout": 7200}, task_always_eager=False
    )
    # Eager tasks run earlier in this process cached a producer for the test broker (as Celery
    # does after a fork, forget it, or .delay() would publish there instead of to Redis).
    app._pool = None
    app.amqp._producer_pool = None
    with app.connection_for_write() as conn:
        conn.default_channel.client.flushdb()
    yield app
    app.conf.update(saved)


def wait_for(predicate, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_worker_runs_the_daily_duty_once_per_store_and_day(redis_app, store_a, store_b, staff_a, staff_b):
    today = timezone.localdate()
    a = MemberFactory(home_store=store_a, consultant=staff_a.consultant, joined_on=today - timedelta(days=400))
    b = MemberFactory(home_store=store_b, consultant=staff_b.consultant, joined_on=today - timedelta(days=400))
    PurchaseFactory(member=a, date=today, amount=Decimal("900"))
    PurchaseFactory(member=b, date=today, amount=Decimal("900"))

    with start_worker(redis_app, pool="solo", perform_ping_check=False, shutdown_timeout=20):
        daily_duty_all_stores.delay()
        assert wait_for(lambda: DutyRun.objects.filter(duty="daily", date=today, status="done").count() == 2), list(
            DutyRun.objects.values("store__code", "status", "error")
        )
        created = FollowUpTask.objects.count()
        # Each store: a post-purchase task and a care task for its 400-day member (C, never contacted).
        assert sorted(FollowUpTask.objects.values_list("store__code", "kind")) == [
            ("BJB", "care"),
            ("BJB", "post_purchase"),
            ("SHA", "care"),
            ("SHA", "post_purchase"),
        ]
        # The morning digest reached each consultant with tasks (from the outbox, after the commit).
        assert wait_for(lambda: len(mail.outbox) == 2), mail.outbox
        assert sorted(m.to[0] for m in mail.outbox) == ["a_consultant@example.com", "b_consultant@example.com"]

        # Beat firing again (a restart, a second beat by mistake) changes nothing.
        daily_duty_all_stores.delay()
        daily_duty_all_stores.delay()
        time.sleep(3)
        assert wait_for(lambda: not redis_app.connection_for_write().default_channel.client.llen("celery"), 20)
    assert FollowUpTask.objects.count() == created
    assert DutyRun.objects.filter(duty="daily").count() == 2
    assert len(mail.outbox) == 2

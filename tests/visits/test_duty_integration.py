"""The daily duty end to end: beat's entry task on Redis, a real Celery worker, the database.

Needs Redis (skipped with a reason where it is absent, required in CI).
"""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from django.core import mail
from django.utils import timezone

from duties.models import DutyRun
from tests.factories import MemberFactory, PurchaseFactory
from vipcrm.celery import app
from visits.models import FollowUpTask
from visits.tasks import daily_duty_all_stores

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redis_app(redis_broker):
    """The project's Celery app on Redis, under the test's own key prefix (nothing to empty first:
    no other test or test run writes there)."""
    saved = {key: app.conf[key] for key in ("broker_url", "broker_transport_options", "task_always_eager")}
    app.conf.update(
        broker_url=redis_broker.url,
        broker_transport_options={"visibility_timeout": 7200, **redis_broker.transport_options},
        task_always_eager=False,
    )
    # Eager tasks run earlier in this process cached a producer for the test broker (as Celery
    # does after a fork, forget it, or .delay() would publish there instead of to Redis).
    app._pool = None
    app.amqp._producer_pool = None
    yield app
    app.conf.update(saved)


@pytest.fixture
def finished_tasks():
    """The names of the tasks that the in-process worker has run to success, in order (a failed or
    retried run is not counted, so a wait for it times out and the assertion shows the list)."""
    names: list[str] = []

    def record(sender=None, state=None, **kwargs):
        if state == "SUCCESS":
            names.append(sender.name)

    task_postrun.connect(record, weak=False)
    yield names
    task_postrun.disconnect(record)


def wait_for(predicate, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_a_worker_runs_the_daily_duty_once_per_store_and_day(
    redis_app, finished_tasks, store_a, store_b, staff_a, staff_b
):
    today = timezone.localdate()
    a = MemberFactory(home_store=store_a, consultant=staff_a.consultant, joined_on=today - timedelta(days=400))
    b = MemberFactory(home_store=store_b, consultant=staff_b.consultant, joined_on=today - timedelta(days=400))
    PurchaseFactory(member=a, date=today, amount=Decimal("900"))
    PurchaseFactory(member=b, date=today, amount=Decimal("900"))
    # And one member each, C for 400 days, never contacted and no purchase: due a care call today.
    MemberFactory(home_store=store_a, consultant=staff_a.consultant, joined_on=today - timedelta(days=400))
    MemberFactory(home_store=store_b, consultant=staff_b.consultant, joined_on=today - timedelta(days=400))

    with start_worker(redis_app, pool="solo", perform_ping_check=False, shutdown_timeout=20):
        daily_duty_all_stores.delay()
        assert wait_for(lambda: DutyRun.objects.filter(duty="daily", date=today, status="done").count() == 2), list(
            DutyRun.objects.values("store__code", "status", "error")
        )
        created = FollowUpTask.objects.count()
        # Each store: a post-purchase task for the purchase (which is also a touch: no care call for
        # that member) and a care task for the member never contacted.
        assert sorted(FollowUpTask.objects.values_list("store__code", "kind")) == [
            ("BJB", "care"),
            ("BJB", "post_purchase"),
            ("SHA", "care"),
            ("SHA", "post_purchase"),
        ]
        # The morning digest reached each consultant with tasks (from the outbox, after the commit).
        assert wait_for(lambda: len(mail.outbox) == 2), mail.outbox
        assert sorted(m.to[0] for m in mail.outbox) == ["a_consultant@example.com", "b_consultant@example.com"]

        # Beat firing again (a restart, a second beat by mistake) changes nothing. Wait until the
        # worker has run both firings and every store duty they queued (not only taken them from
        # the queue), so that nothing still runs while the assertions below read the database.
        assert finished_tasks.count("visits.daily_duty_all_stores") == 1
        daily_duty_all_stores.delay()
        daily_duty_all_stores.delay()
        assert wait_for(lambda: finished_tasks.count("visits.daily_duty_all_stores") == 3), finished_tasks
        assert wait_for(lambda: finished_tasks.count("visits.daily_duty") == 6), finished_tasks
    assert FollowUpTask.objects.count() == created
    assert DutyRun.objects.filter(duty="daily").count() == 2
    assert len(mail.outbox) == 2

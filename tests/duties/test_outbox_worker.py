"""The outbox end to end: a real Celery worker on Redis sends the email after the commit, never
before it and never for a rolled-back transaction, and the beat sweep sends a row whose task was lost.

Needs Redis (skipped with a reason where it is absent, required in CI).
"""

import threading
import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import transaction
from django.utils import timezone

from duties.models import OutboxEmail, OutboxStatus
from duties.services import email_queue
from duties.tasks import outbox_flush
from vipcrm.celery import app

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SENDERS: list[str] = []


class RecordingBackend(EmailBackend):
    """locmem, noting which thread sent each message."""

    def send_messages(self, messages):
        SENDERS.extend(threading.current_thread().name for _ in messages)
        return super().send_messages(messages)


@pytest.fixture
def redis_app(redis_broker, settings):
    """The project's Celery app on Redis, under the test's own key prefix (nothing to empty first:
    no other test or test run writes there; tests/conftest.py)."""
    settings.EMAIL_BACKEND = "tests.duties.test_outbox_worker.RecordingBackend"
    SENDERS.clear()
    saved = {key: app.conf[key] for key in ("broker_url", "broker_transport_options", "task_always_eager")}
    app.conf.update(
        broker_url=redis_broker.url,
        broker_transport_options={"visibility_timeout": 7200, **redis_broker.transport_options},
        task_always_eager=False,
    )
    forget_connections(app)
    yield app
    app.conf.update(saved)
    forget_connections(app)


def forget_connections(celery_app) -> None:
    """Drop the app's cached broker connections, as Celery does after a fork: an eager task run
    earlier in this process (tests/duties/test_outbox.py) cached a producer for the test broker,
    and .delay() would publish there instead of to Redis."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def wait_for(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def queued_messages(celery_app) -> int:
    with celery_app.connection_for_write() as conn:
        return conn.default_channel.client.llen("celery")


def test_a_worker_sends_the_email_after_the_commit_once(redis_app):
    with start_worker(redis_app, pool="solo", perform_ping_check=False, shutdown_timeout=20):
        with transaction.atomic():
            email = email_queue(to=["a@example.com"], subject="今日回访", body="3 项到期", key="digest:1:2026-03-10:7")
            time.sleep(1.5)  # the worker is idle: nothing was published before the commit
            assert mail.outbox == [] and queued_messages(redis_app) == 0
        assert wait_for(lambda: OutboxEmail.objects.get(pk=email.pk).status == OutboxStatus.SENT)

        # A rolled-back transaction publishes nothing and sends nothing.
        with pytest.raises(RuntimeError), transaction.atomic():
            email_queue(to=["b@example.com"], subject="周报", body="…", key="weekly:1:2026-03-02:8")
            raise RuntimeError("the duty failed")

        # A row whose task was lost (the broker was down at the commit) is sent by beat's sweep.
        lost = OutboxEmail.objects.create(
            key="complaint-sla:5:response:9",
            kind="complaint-sla",
            to=["m@example.com"],
            subject="投诉超时升级：#5",
            body="…",
            next_attempt_at=timezone.now() - timedelta(seconds=1),
        )
        outbox_flush.delay()
        assert wait_for(lambda: OutboxEmail.objects.get(pk=lost.pk).status == OutboxStatus.SENT)

        # The same email queued again: nothing new.
        email_queue(to=["a@example.com"], subject="今日回访", body="3 项到期", key="digest:1:2026-03-10:7")
        outbox_flush.delay()
        time.sleep(2)
        assert wait_for(lambda: queued_messages(redis_app) == 0, 20)

    assert [m.to for m in mail.outbox] == [["a@example.com"], ["m@example.com"]]
    assert not OutboxEmail.objects.filter(key__startswith="weekly").exists()
    # Sent by the worker's thread, not by the test's.
    assert len(SENDERS) == 2 and threading.main_thread().name not in SENDERS

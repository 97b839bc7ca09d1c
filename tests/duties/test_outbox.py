"""The email outbox (DOMAIN §10): emails go out after the transaction commits, once each, and
neither a worker killed mid-send, a broker hiccup nor a mail server that is down loses one."""

import ast
import smtplib
from datetime import date, timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.core.management import call_command
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts.models import Role
from duties import services
from duties.models import OutboxEmail, OutboxStatus
from duties.runs import duty_run
from duties.services import (
    MAX_ATTEMPTS,
    SENDING_TIMEOUT,
    backoff,
    email_queue,
    email_send,
    emails_flush,
    emails_queue,
)
from duties.tasks import outbox_send, outbox_send_many
from tests.factories import MemberFactory, StaffFactory
from visits.services import daily_work, digest_send

D = date.fromisoformat
LOCMEM = "django.core.mail.backends.locmem.EmailBackend"


class RefusingBackend(EmailBackend):
    """A mail server that answers but refuses every message."""

    def send_messages(self, messages):
        raise smtplib.SMTPException("451 try again later")


class UnreachableBackend(EmailBackend):
    """A mail server that cannot be reached at all."""

    def open(self):
        raise ConnectionRefusedError(111, "Connection refused")

    def send_messages(self, messages):
        self.open()


def queue(key="digest:1:2026-03-10:7", to=("a@example.com",), **kwargs) -> OutboxEmail:
    return email_queue(to=list(to), subject="今日回访", body="3 项到期", key=key, **kwargs)


@pytest.fixture
def sends(django_capture_on_commit_callbacks):
    """Run what is queued on commit (the send task, eager in tests) when the block ends."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def clock():
    with time_machine.travel("2026-03-10 06:30 +0800", tick=False) as traveller:
        yield traveller


def test_it_sends_after_commit_and_marks_the_row_sent(db, sends, clock):
    with sends():
        email = queue(html="<p>3 项到期</p>")
        assert mail.outbox == []  # not before the commit

    email.refresh_from_db()
    assert [m.to for m in mail.outbox] == [["a@example.com"]]
    assert mail.outbox[0].subject == "今日回访" and mail.outbox[0].body == "3 项到期"
    assert mail.outbox[0].alternatives[0][0] == "<p>3 项到期</p>"
    assert (email.status, email.attempts, email.kind) == (OutboxStatus.SENT, 1, "digest")
    assert email.sent_at == timezone.now()


def test_many_queued_together_go_to_the_broker_as_one_task_and_each_is_sent_once(db, sends, clock, monkeypatch):
    published = []
    monkeypatch.setattr(outbox_send, "delay", lambda *a: published.append(("one", a)))
    real = outbox_send_many.delay
    monkeypatch.setattr(outbox_send_many, "delay", lambda ids: (published.append(("many", len(ids))), real(ids)))
    emails = [
        {"to": [f"p{n}@example.com"], "subject": "今日回访", "body": f"{n} 项到期", "key": f"digest:1:2026-03-10:{n}"}
        for n in range(3)
    ]
    with sends():
        assert emails_queue(emails) == 3
        assert mail.outbox == []  # not before the commit

    assert published == [("many", 3)]  # one message for the three
    assert sorted(m.to[0] for m in mail.outbox) == ["p0@example.com", "p1@example.com", "p2@example.com"]
    assert set(OutboxEmail.objects.values_list("status", flat=True)) == {OutboxStatus.SENT}
    ids = list(OutboxEmail.objects.values_list("pk", flat=True))
    assert outbox_send_many(ids) == {"skipped": 3}  # delivered twice by the broker: nothing more
    assert len(mail.outbox) == 3


def test_a_failed_email_of_a_batch_is_handed_to_the_single_send_for_its_retries(
    db, sends, clock, settings, monkeypatch
):
    retried = []
    monkeypatch.setattr(outbox_send, "apply_async", lambda args, countdown: retried.append((args, countdown)))
    monkeypatch.setattr(outbox_send_many, "delay", lambda ids: None)  # sent by hand below
    emails = [{"to": [f"p{n}@example.com"], "subject": "s", "body": "b", "key": f"digest:2:{n}"} for n in range(2)]
    with sends():
        emails_queue(emails)
    settings.EMAIL_BACKEND = "tests.duties.test_outbox.RefusingBackend"

    ids = sorted(OutboxEmail.objects.values_list("pk", flat=True))
    assert outbox_send_many(ids) == {OutboxStatus.FAILED.value: 2}
    assert sorted(args[0] for args, _countdown in retried) == ids
    assert all(countdown >= 1 for _args, countdown in retried)


def test_it_sends_nothing_when_the_transaction_rolls_back(db, sends):
    with sends(), pytest.raises(RuntimeError), transaction.atomic():
        queue()
        raise RuntimeError("the duty failed after queueing")

    assert mail.outbox == []
    assert not OutboxEmail.objects.exists()


def test_it_sends_once_when_the_same_key_is_queued_twice(db, sends, clock):
    with sends():
        first = queue()
        second = queue()
    with sends():
        queue()

    assert first.pk == second.pk and OutboxEmail.objects.count() == 1
    assert len(mail.outbox) == 1
    # The task delivered twice by the broker (a redelivery after a restart) sends nothing more.
    assert email_send(email_id=first.pk) is None
    assert outbox_send(first.pk) == "skipped"
    assert emails_flush() == {"sent": 0, "failed": 0}
    assert len(mail.outbox) == 1


def test_it_refuses_an_email_without_recipient_or_key(db):
    with pytest.raises(ValueError, match="recipient"):
        queue(to=["", ""])
    with pytest.raises(ValueError, match="key"):
        queue(key="")
    assert not OutboxEmail.objects.exists()


def test_a_mail_server_that_refuses_leaves_the_row_failed_and_a_later_flush_sends_it_once(db, sends, clock, settings):
    settings.EMAIL_BACKEND = "tests.duties.test_outbox.RefusingBackend"
    with sends():
        email = queue()

    email.refresh_from_db()
    # The task's own retry (eager here) finds the row waiting for its backoff and sends nothing.
    assert (email.status, email.attempts, mail.outbox) == (OutboxStatus.FAILED, 1, [])
    assert "SMTPException: 451 try again later" in email.last_error
    assert email.next_attempt_at == timezone.now() + backoff(1)

    settings.EMAIL_BACKEND = LOCMEM  # the server is back
    assert emails_flush() == {"sent": 0, "failed": 0}  # not due yet: the backoff holds
    clock.shift(timedelta(minutes=1))
    assert emails_flush() == {"sent": 1, "failed": 0}
    assert emails_flush() == {"sent": 0, "failed": 0}
    clock.shift(timedelta(hours=2))
    assert emails_flush() == {"sent": 0, "failed": 0}

    email.refresh_from_db()
    assert len(mail.outbox) == 1
    assert (email.status, email.attempts, email.last_error) == (OutboxStatus.SENT, 2, "")


def test_a_flush_while_the_server_is_unreachable_changes_nothing_and_loses_nothing(db, sends, clock, settings):
    settings.EMAIL_BACKEND = "tests.duties.test_outbox.UnreachableBackend"
    with sends():
        email = queue()
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutboxStatus.FAILED, 1)
    assert "Connection refused" in email.last_error

    for _ in range(5):  # the server stays down for ten minutes of sweeps
        clock.shift(timedelta(minutes=2))
        assert emails_flush() == {"sent": 0, "failed": 0, "unreachable": 1}
    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutboxStatus.FAILED, 1)

    settings.EMAIL_BACKEND = LOCMEM
    assert emails_flush() == {"sent": 1, "failed": 0}
    assert len(mail.outbox) == 1


def test_it_backs_off_and_gives_up_after_the_last_attempt(db, sends, clock, settings):
    assert [backoff(n).total_seconds() / 60 for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    settings.EMAIL_BACKEND = "tests.duties.test_outbox.RefusingBackend"
    with sends():
        email = queue()
    for _ in range(MAX_ATTEMPTS + 5):
        clock.shift(timedelta(hours=1))
        emails_flush()

    email.refresh_from_db()
    assert (email.status, email.attempts) == (OutboxStatus.FAILED, MAX_ATTEMPTS)
    settings.EMAIL_BACKEND = LOCMEM
    clock.shift(timedelta(hours=1))
    assert emails_flush() == {"sent": 0, "failed": 0}  # left for a person to look at in the admin
    assert mail.outbox == []


def test_a_row_claimed_by_a_worker_killed_mid_send_is_sent_by_the_flush_after_the_timeout(db, clock):
    email = queue()  # (its task never runs: captured by no one, as if the worker died first)
    claimed = services._claim(email.pk, services._due(timezone.now()) | Q(status=OutboxStatus.QUEUED))
    assert claimed.status == OutboxStatus.SENDING
    # ... and the worker is killed here, before sending.

    clock.shift(SENDING_TIMEOUT - timedelta(seconds=1))
    assert emails_flush() == {"sent": 0, "failed": 0}  # it may still be sending: leave it
    assert email_send(email_id=email.pk) is None  # the broker's redelivery of its task too
    clock.shift(timedelta(seconds=1))
    assert emails_flush() == {"sent": 1, "failed": 0}
    assert emails_flush() == {"sent": 0, "failed": 0}

    email.refresh_from_db()
    assert len(mail.outbox) == 1
    assert (email.status, email.attempts) == (OutboxStatus.SENT, 2)


def test_a_late_failure_of_a_timed_out_sender_does_not_undo_the_flush_that_sent_it(db, clock, settings):
    email = queue()
    stale = services._claim(email.pk, Q(status=OutboxStatus.QUEUED))
    clock.shift(SENDING_TIMEOUT)
    assert emails_flush()["sent"] == 1

    # The first worker wakes up and its send fails: the row stays sent.
    settings.EMAIL_BACKEND = "tests.duties.test_outbox.RefusingBackend"
    assert services._deliver(stale) is False
    email.refresh_from_db()
    assert email.status == OutboxStatus.SENT


def test_an_email_whose_task_was_never_queued_is_sent_by_the_flush(db, sends, clock, monkeypatch):
    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(outbox_send, "delay", broker_down)
    with sends():
        email = queue()  # the caller's work commits even though the send could not be queued
    assert OutboxEmail.objects.get(pk=email.pk).status == OutboxStatus.QUEUED
    assert emails_flush() == {"sent": 0, "failed": 0}  # within the grace: its task may still come

    clock.shift(timedelta(minutes=1))
    assert emails_flush() == {"sent": 1, "failed": 0}
    assert len(mail.outbox) == 1


def test_one_flush_sends_over_one_connection_and_stops_when_the_server_keeps_failing(db, clock, settings):
    for n in range(5):
        queue(key=f"weekly:1:2026-03-02:{n}", to=[f"p{n}@example.com"])
    clock.shift(timedelta(minutes=1))
    settings.EMAIL_BACKEND = "tests.duties.test_outbox.RefusingBackend"

    assert emails_flush() == {"sent": 0, "failed": 3}  # three in a row: the rest wait
    assert OutboxEmail.objects.filter(status=OutboxStatus.QUEUED).count() == 2

    settings.EMAIL_BACKEND = LOCMEM
    assert emails_flush() == {"sent": 2, "failed": 0}
    clock.shift(timedelta(minutes=1))
    assert emails_flush() == {"sent": 3, "failed": 0}
    assert sorted(m.to[0] for m in mail.outbox) == [f"p{n}@example.com" for n in range(5)]


# --- The emails the duties send -----------------------------------------------------------------


@pytest.fixture
def two_lists(store_a, staff_a):
    """A care task each for the consultant and the VIP specialist on 2026-03-10 (members joined
    2025-01-01, never contacted: C's 90-day care cadence is long past)."""
    MemberFactory(home_store=store_a, consultant=staff_a.consultant, joined_on=D("2025-01-01"))
    MemberFactory(home_store=store_a, consultant=staff_a.specialist, joined_on=D("2025-01-01"))
    return staff_a


def test_the_digest_duty_run_twice_sends_one_mail_per_person(store_a, two_lists, sends, clock):
    with sends():
        first = duty_run(duty="daily", store=store_a, on=D("2026-03-10"), work=daily_work)
    with sends():
        duty_run(duty="daily", store=store_a, on=D("2026-03-10"), work=daily_work)
        # Even the digest service called again by hand for the day queues nothing new.
        assert digest_send(store=store_a, on=D("2026-03-10")) == 2

    assert first.counts["digests"] == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["a_consultant@example.com", "a_specialist@example.com"]
    assert sorted(OutboxEmail.objects.values_list("key", flat=True)) == [
        f"digest:{store_a.pk}:2026-03-10:{two_lists.consultant.pk}",
        f"digest:{store_a.pk}:2026-03-10:{two_lists.specialist.pk}",
    ]


def test_a_duty_killed_after_queueing_its_digest_sends_nothing_then_the_retry_sends_once(
    store_a, two_lists, sends, clock
):
    def digest_then_die(store, on):
        daily_work(store, on)
        raise SystemExit("worker killed")  # (as a SIGTERM'd worker unwinds)

    with sends(), pytest.raises(SystemExit):
        duty_run(duty="daily", store=store_a, on=D("2026-03-10"), work=digest_then_die)
    assert mail.outbox == [] and not OutboxEmail.objects.exists()

    with sends():
        duty_run(duty="daily", store=store_a, on=D("2026-03-10"), work=daily_work)
    assert sorted(m.to[0] for m in mail.outbox) == ["a_consultant@example.com", "a_specialist@example.com"]


def test_a_digest_the_mail_server_refused_goes_out_once_it_is_back(store_a, two_lists, sends, clock, settings):
    settings.EMAIL_BACKEND = "tests.duties.test_outbox.RefusingBackend"
    with sends():
        run = duty_run(duty="daily", store=store_a, on=D("2026-03-10"), work=daily_work)
    # The day's list is made and recorded; only the emails wait.
    assert run.status == "done" and mail.outbox == []
    assert OutboxEmail.objects.filter(status=OutboxStatus.FAILED).count() == 2

    settings.EMAIL_BACKEND = LOCMEM
    for _ in range(3):
        clock.shift(timedelta(minutes=2))
        emails_flush()
    assert sorted(m.to[0] for m in mail.outbox) == ["a_consultant@example.com", "a_specialist@example.com"]


# --- Boundaries and admin -------------------------------------------------------------------------


def test_the_duties_app_imports_no_domain_app():
    domain = {"visits", "reports", "complaints", "campaigns", "members"}
    root = Path(__file__).resolve().parents[2] / "duties"
    imported = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
    assert imported & domain == set()


def test_the_flush_is_on_the_beat_schedule():
    from vipcrm.celery import app

    entries = {entry["task"]: entry for entry in app.conf.beat_schedule.values()}
    assert "duties.outbox_flush" in entries
    assert "duties.outbox_flush" in app.tasks and "duties.outbox_send" in app.tasks


def test_the_admin_lists_the_outbox_read_only(client, db, sends, settings):
    root = StaffFactory(username="root", role=Role.HQ, store=None, is_staff=True, is_superuser=True)
    client.force_login(root)
    with sends():
        queue()
    settings.EMAIL_BACKEND = "tests.duties.test_outbox.RefusingBackend"
    with sends():
        failed = queue(key="weekly:1:2026-03-02:9", to=["m@example.com"])

    page = client.get(reverse("admin:duties_outboxemail_changelist"))
    assert page.status_code == 200
    assert "m@example.com" in page.content.decode() and "a@example.com" in page.content.decode()
    assert client.get(reverse("admin:duties_outboxemail_change", args=[failed.pk])).status_code == 200
    assert client.get(reverse("admin:duties_outboxemail_add")).status_code == 403


def test_the_outbox_flush_command_sends_what_is_due_and_counts_by_status(db, clock):
    queue()
    queue(key="weekly:1:2026-03-02:8", to=["m@example.com"])
    clock.shift(timedelta(minutes=1))
    out = StringIO()

    call_command("outbox_flush", stdout=out)

    assert out.getvalue().splitlines() == ["sent=2 failed=0", "sent=2"]
    assert sorted(m.to[0] for m in mail.outbox) == ["a@example.com", "m@example.com"]

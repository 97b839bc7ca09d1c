"""Queueing and sending the outbox's emails (DOMAIN §10: after the transaction commits, once each).

How an email goes out:
1. `email_queue` writes the row inside the caller's transaction and, once that commits, queues the
   `duties.outbox_send` task for it (`emails_queue`: one `duties.outbox_send_many` for the lot).
   A rollback leaves neither the row nor the task.
2. Whoever sends (that task, or the periodic flush) first claims the row with one conditional UPDATE
   (queued, or failed/sending and due, → sending). The UPDATE is atomic on PostgreSQL (the row is
   locked and the condition re-checked) and on SQLite (one writer at a time), so of two senders
   one gets the row and the other gets nothing to send. No lock is held while talking to the mail
   server: a row lock held over a network call would keep a transaction open for its duration.
3. Sent → marked sent. Failed → marked failed with the error, and due again after a backoff.
4. `emails_flush` (every two minutes from beat) sends what is due: queued rows whose task never
   came (broker down, worker lost before it ran), failed rows whose backoff has passed, and rows
   stuck in "sending" for longer than SENDING_TIMEOUT (the worker died mid-send).

Once each, with one exception: a worker that dies after the mail server accepted the message but
before the row is marked sent leaves the row in "sending"; after SENDING_TIMEOUT it is sent again.
That window (a few milliseconds per email) is at-least-once; everything else is exactly once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import OutboxEmail, OutboxStatus

logger = logging.getLogger(__name__)

# The task queued on commit normally sends within seconds; the flush leaves a fresh row alone for
# this long so that the two do not race for every email.
QUEUE_GRACE = timedelta(minutes=1)
# Longer than any single send can take (EMAIL_TIMEOUT bounds each SMTP call): a row still "sending"
# after this was claimed by a worker that died.
SENDING_TIMEOUT = timedelta(minutes=10)
# Failures back off 1, 2, 4 … minutes, then every hour: with 30 attempts an email keeps trying for
# about a day, long enough for a mail server outage overnight, then stays failed in the admin.
MAX_ATTEMPTS = 30
MAX_BACKOFF = timedelta(hours=1)
# One flush sends at most this many; the next flush takes the rest.
FLUSH_BATCH = 200
# A flush that fails this many sends in a row stops: the mail server is likely down, and the
# rows wait for their backoff rather than each costing a timeout now.
FLUSH_MAX_FAILURES = 3


def backoff(attempts: int) -> timedelta:
    """How long a row waits after its `attempts`-th failed attempt."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


@transaction.atomic
def email_queue(*, to: list[str], subject: str, body: str, key: str, html: str = "") -> OutboxEmail:
    """Put an email in the outbox; it is sent after the current transaction commits.

    `key` says what the email is about and makes queueing idempotent: a second call with the same
    key returns the first row and sends nothing more. Its first part (before ":") is the kind.
    """
    recipients = [address for address in to if address]
    if not recipients:
        raise ValueError("an email needs at least one recipient")
    if not key:
        raise ValueError("an email needs a key")
    now = timezone.now()
    email, created = OutboxEmail.objects.get_or_create(
        key=key,
        defaults={
            "kind": key.split(":", 1)[0][:40],
            "to": recipients,
            "subject": subject,
            "body": body,
            "html": html,
            "created_at": now,
            "next_attempt_at": now + QUEUE_GRACE,
        },
    )
    if created:
        # robust: a broker that is down must not fail the caller's committed work; the flush
        # sends the row instead. (A lambda, not functools.partial: Django names the callback by
        # its __qualname__ when it logs a robust callback's error.)
        email_id = email.pk
        transaction.on_commit(lambda: _send_after_commit(email_id), robust=True)
    return email


def emails_queue(emails: list[dict]) -> int:
    """`email_queue` for many emails at once (each a dict of its keyword arguments): the keys on
    file are read in one query and the new rows written in one; each is sent after the commit, as
    one queued alone. A key queued meanwhile by another transaction falls back to one at a time.
    Returns how many were asked for (queued now or before)."""
    for email in emails:
        if not [address for address in email["to"] if address]:
            raise ValueError("an email needs at least one recipient")
        if not email.get("key"):
            raise ValueError("an email needs a key")
    on_file = set(OutboxEmail.objects.filter(key__in=[e["key"] for e in emails]).values_list("key", flat=True))
    now = timezone.now()
    fresh = list({e["key"]: e for e in reversed(emails) if e["key"] not in on_file}.values())[::-1]
    rows = [
        OutboxEmail(
            key=e["key"],
            kind=e["key"].split(":", 1)[0][:40],
            to=[address for address in e["to"] if address],
            subject=e["subject"],
            body=e["body"],
            html=e.get("html", ""),
            created_at=now,
            next_attempt_at=now + QUEUE_GRACE,
        )
        for e in fresh
    ]
    try:
        with transaction.atomic():
            OutboxEmail.objects.bulk_create(rows)
    except IntegrityError:
        for e in fresh:
            email_queue(**e)
        return len(emails)
    if rows:
        # One message on the broker for the lot (a store's digests: nine sends were nine publishes).
        email_ids = [row.pk for row in rows]
        transaction.on_commit(lambda: _send_many_after_commit(email_ids), robust=True)
    return len(emails)


def emails_keyed(*, prefixes: list[str]):
    """The outbox rows whose key starts with any of `prefixes` (e.g. everything queued about one
    complaint), for the app that queued them to reach its own emails again (erasure scrubs them)."""
    keys = Q(pk__in=[])
    for prefix in prefixes:
        keys |= Q(key__startswith=prefix)
    return OutboxEmail.objects.filter(keys)


def _send_after_commit(email_id: int) -> None:
    from .tasks import outbox_send  # tasks import this module

    outbox_send.delay(email_id)


def _send_many_after_commit(email_ids: list[int]) -> None:
    from .tasks import outbox_send_many  # tasks import this module

    if len(email_ids) == 1:
        _send_after_commit(email_ids[0])
    else:
        outbox_send_many.delay(email_ids)


def _due(now: datetime) -> Q:
    """Rows the flush may take now."""
    return Q(
        status__in=[OutboxStatus.QUEUED, OutboxStatus.FAILED, OutboxStatus.SENDING],
        next_attempt_at__lte=now,
        attempts__lt=MAX_ATTEMPTS,
    )


def _claim(email_id: int, condition: Q) -> OutboxEmail | None:
    """Take the row for sending if `condition` still holds; None if someone else has it or it is done."""
    now = timezone.now()
    token = uuid.uuid4().hex
    taken = OutboxEmail.objects.filter(condition, pk=email_id).update(
        status=OutboxStatus.SENDING,
        claim=token,
        claimed_at=now,
        attempts=F("attempts") + 1,
        next_attempt_at=now + SENDING_TIMEOUT,
    )
    return OutboxEmail.objects.get(pk=email_id) if taken else None


def _deliver(email: OutboxEmail, connection=None) -> bool:
    """Send a claimed row with Django's mail API and record the outcome. True when sent."""
    message = EmailMultiAlternatives(
        email.subject, email.body, settings.DEFAULT_FROM_EMAIL, email.to, connection=connection
    )
    if email.html:
        message.attach_alternative(email.html, "text/html")
    try:
        message.send(fail_silently=False)
    except Exception as exc:  # any failure (SMTP, network, a bad address) is retried later
        logger.warning("outbox email %s (%s) failed on attempt %s: %s", email.pk, email.key, email.attempts, exc)
        # Only while the claim is still ours: a sender that timed out and was taken over must not
        # overwrite the new holder's outcome.
        OutboxEmail.objects.filter(pk=email.pk, claim=email.claim).update(
            status=OutboxStatus.FAILED,
            claim="",
            last_error=f"{type(exc).__name__}: {exc}"[:2000],
            next_attempt_at=timezone.now() + backoff(email.attempts),
        )
        return False
    # Sent is sent, whoever holds the claim now.
    OutboxEmail.objects.filter(pk=email.pk).update(
        status=OutboxStatus.SENT, claim="", last_error="", sent_at=timezone.now()
    )
    return True


def email_send(*, email_id: int) -> OutboxEmail | None:
    """Send one email if it is still to send: queued, or failed or stuck and due again.

    Returns the row after the attempt, or None when there was nothing to do (already sent, being
    sent by someone else, or waiting for its backoff)."""
    now = timezone.now()
    email = _claim(email_id, Q(status=OutboxStatus.QUEUED, attempts__lt=MAX_ATTEMPTS) | _due(now))
    if email is None:
        return None
    _deliver(email)
    email.refresh_from_db()
    return email


def emails_flush(*, limit: int = FLUSH_BATCH) -> dict:
    """Send every email that is due (see `_due`), oldest due first, over one connection.

    Returns {"sent": n, "failed": n}; a mail server that cannot be reached sends nothing and
    changes no row."""
    now = timezone.now()
    ids = list(OutboxEmail.objects.filter(_due(now)).order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    counts = {"sent": 0, "failed": 0}
    if not ids:
        return counts
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except Exception as exc:
        logger.warning("outbox flush: mail server unreachable, %s emails wait: %s", len(ids), exc)
        return {**counts, "unreachable": len(ids)}
    try:
        failures_in_a_row = 0
        for email_id in ids:
            email = _claim(email_id, _due(timezone.now()))
            if email is None:  # sent meanwhile by its own task, or taken by another flush
                continue
            if _deliver(email, connection):
                counts["sent"] += 1
                failures_in_a_row = 0
            else:
                counts["failed"] += 1
                failures_in_a_row += 1
                if failures_in_a_row >= FLUSH_MAX_FAILURES:
                    break
    finally:
        connection.close()
    if counts["sent"] or counts["failed"]:
        logger.info("outbox flush: %s", counts)
    return counts

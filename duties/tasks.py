"""Celery tasks for the outbox: thin, they take ids and call the services."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from .models import OutboxStatus
from .services import MAX_ATTEMPTS, email_send, emails_flush


@shared_task(name="duties.outbox_send", bind=True, ignore_result=True, max_retries=3)
def outbox_send(self, email_id: int) -> str:
    """Send one outbox email, queued when the transaction that wrote it committed. A failed send
    is retried here after its backoff (1, 2, 4 minutes); after that the flush keeps trying. Safe to
    run twice: the second finds the row sent (or being sent) and does nothing."""
    email = email_send(email_id=email_id)
    if email is None:
        return "skipped"
    countdown = _retry_in(email)
    if countdown is not None and self.request.retries < self.max_retries:
        raise self.retry(countdown=countdown)
    return email.status


def _retry_in(email) -> float | None:
    """Seconds until a failed send may be tried again (just after its backoff); None when it is
    sent or out of attempts (the flush's business then)."""
    if email.status != OutboxStatus.FAILED or email.attempts >= MAX_ATTEMPTS:
        return None
    return max((email.next_attempt_at - timezone.now()).total_seconds(), 0) + 1


@shared_task(name="duties.outbox_send_many", ignore_result=True)
def outbox_send_many(email_ids: list[int]) -> dict:
    """Send the outbox emails one transaction queued together (`emails_queue`: a store's daily
    digests), one message on the broker for all of them. Each is sent as `outbox_send` sends it;
    one that failed and may be tried again is handed to `outbox_send` after its backoff, so it
    keeps that task's retries. Safe to run twice."""
    done: dict[str, int] = {}
    for email_id in email_ids:
        email = email_send(email_id=email_id)
        status = "skipped" if email is None else str(email.status)
        done[status] = done.get(status, 0) + 1
        countdown = None if email is None else _retry_in(email)
        if countdown is not None:
            outbox_send.apply_async((email_id,), countdown=countdown)
    return done


@shared_task(name="duties.outbox_flush", ignore_result=True)
def outbox_flush() -> dict:
    """Beat's sweep: send whatever is still due (see duties.services.emails_flush)."""
    return emails_flush()


# --- Webhooks (issue 13 item 4; duties/webhooks.py) ----------------------------------------------


@shared_task(name="duties.webhook_send", ignore_result=True)
def webhook_send(delivery_id: int) -> str:
    """One attempt at a webhook delivery, queued when the transaction that wrote it committed. A
    failure waits for beat's sweep (its backoff is minutes to hours). Safe to run twice."""
    from .webhooks import delivery_send

    delivery = delivery_send(delivery_id=delivery_id)
    return "skipped" if delivery is None else delivery.status


@shared_task(name="duties.webhooks_flush", ignore_result=True)
def webhooks_flush() -> dict:
    """Beat's sweep: send the webhook deliveries that are due (see duties.webhooks.deliveries_flush)."""
    from .webhooks import deliveries_flush

    return deliveries_flush()

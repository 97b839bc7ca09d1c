"""Webhooks (issue 13 item 4): a signed POST to a store's configured URLs when a member is enrolled
or changes tier, sent once per event and hook, retried with backoff.

The same outbox shape as the emails (duties/services.py):
1. `deliveries_enqueue` writes one WebhookDelivery row per event and active hook inside the
   caller's transaction (set-based: one query for the hooks, one bulk insert), and once that
   commits queues `duties.webhook_send` for each (or one sweep for a large batch). A rollback
   leaves neither rows nor tasks.
2. Whoever sends (that task, or the sweep) first claims the row with one conditional UPDATE
   (pending and never claimed, or pending and due → claimed, attempts + 1, next attempt after the
   claim's timeout). Of two senders one gets the row, the other nothing. No lock is held over the
   network call.
3. A 2xx answer → delivered. Anything else (an error status, a refused connection, a timeout) →
   pending again after the backoff (1, 5, 15, 60, 240 minutes, then every 12 hours), and after
   MAX_ATTEMPTS failed for good: a manager may resend it from the delivery log.
4. `deliveries_flush` (beat, every two minutes) sends what is due, and deletes finished
   deliveries older than LOG_RETENTION (90 days).

At least once: a worker that dies after the receiver accepted the POST but before the row is
marked delivered sends it again after SENDING_TIMEOUT. Receivers drop repeats by X-VIPCRM-Delivery.

Signature: `X-VIPCRM-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Staff, Store
from accounts.services import audit_log

from .models import DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5
# Longer than one attempt can take (the 5 s timeout): a row claimed longer ago than this was held
# by a worker that died, and the sweep takes it again.
SENDING_TIMEOUT = timedelta(minutes=1)
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1), timedelta(hours=4))
LATE_BACKOFF = timedelta(hours=12)
# About three days of trying before a delivery is given up.
MAX_ATTEMPTS = 10
FLUSH_BATCH = 200
# A sweep that fails this many sends to one hook in a row leaves that hook's other rows for later:
# the receiver is likely down, and each further try would cost a timeout now.
FLUSH_MAX_FAILURES_PER_HOOK = 3
# More deliveries than this from one transaction (an import's replay) are left to one sweep
# rather than a task each.
TASKS_PER_COMMIT = 20
USER_AGENT = "VIPCRM-Webhook/1"
# The delivery log keeps finished deliveries (delivered or given up) this long; the sweep deletes
# older ones, so the table stays the size of three months' events.
LOG_RETENTION = timedelta(days=90)


def backoff(attempts: int) -> timedelta:
    """How long a delivery waits after its `attempts`-th failed attempt."""
    return BACKOFF[attempts - 1] if 0 < attempts <= len(BACKOFF) else LATE_BACKOFF


# --- Signing -----------------------------------------------------------------------------------


def sign(*, secret: str, body: bytes, timestamp: int) -> str:
    """The X-VIPCRM-Signature header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signature_valid(*, secret: str, body: bytes, header: str, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver checks (the README has the same in a few lines): the HMAC matches and the
    timestamp is recent (a replayed old request is refused)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret=secret, body=body, timestamp=timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def body_of(delivery: WebhookDelivery) -> bytes:
    """The request body: the stored payload with the delivery's id, the same bytes on every attempt."""
    payload = {"id": str(delivery.uid), "event": delivery.event, **delivery.payload}
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


# --- Configuration (the store's managers and HQ) ---------------------------------------------


def _local_http_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_LOCAL_HTTP", settings.DEBUG))


def url_error(url: str) -> str | None:
    """Why `url` may not receive webhooks, or None. HTTPS only; plain HTTP to 127.0.0.1/localhost
    only in DEBUG (or with WEBHOOKS_ALLOW_LOCAL_HTTP, the tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and _local_http_allowed():
        host = parts.hostname or ""
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return None
    return _("接收地址必须以 https:// 开头。")


def _clean_events(events: Iterable[str]) -> list[str]:
    wanted = set(events)
    chosen = [e for e in WebhookEvent.values if e in wanted]
    if not chosen:
        raise ValidationError({"events": _("请至少选择一个事件。")})
    return chosen


@transaction.atomic
def webhook_create(*, store: Store, url: str, events: Iterable[str], by: Staff) -> Webhook:
    """A new active hook for `store` with a fresh secret."""
    error = url_error(url)
    if error:
        raise ValidationError({"url": error})
    hook = Webhook.objects.create(
        store=store, url=url, events=_clean_events(events), secret=secrets.token_hex(32), created_by=by
    )
    audit_log(actor=by, action="webhook.created", obj=hook, store=store, url=url, events=hook.events)
    return hook


@transaction.atomic
def webhook_set_active(*, webhook: Webhook, active: bool, by: Staff) -> Webhook:
    """Disable (nothing new is queued for it; its pending deliveries still go out) or enable again."""
    if webhook.is_active != active:
        webhook.is_active = active
        webhook.save(update_fields=["is_active"])
        action = "webhook.enabled" if active else "webhook.disabled"
        audit_log(actor=by, action=action, obj=webhook, store=webhook.store)
    return webhook


@transaction.atomic
def delivery_resend(*, delivery: WebhookDelivery, by: Staff) -> WebhookDelivery:
    """Send a failed delivery again, with a fresh round of attempts (same id: a receiver that did
    get it drops the repeat)."""
    if delivery.status != DeliveryStatus.FAILED:
        raise ValidationError(_("只有发送失败的投递可以重发。"))
    WebhookDelivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.FAILED).update(
        status=DeliveryStatus.PENDING, attempts=0, claim="", next_attempt_at=timezone.now()
    )
    hook = delivery.webhook
    audit_log(actor=by, action="webhook.resent", obj=hook, store=hook.store, delivery=delivery.pk)
    delivery_id = delivery.pk
    transaction.on_commit(lambda: _send_after_commit([delivery_id]), robust=True)
    delivery.refresh_from_db()
    return delivery


# --- Queueing ------------------------------------------------------------------------------------


def hooked_store_ids(event: str, store_ids: Iterable[int] | None = None) -> set[int]:
    """The stores with an active hook for `event` (one query): the callers skip building payloads
    for everyone else, so the tier engine pays nothing where no store uses webhooks."""
    hooks = Webhook.objects.filter(is_active=True)
    if store_ids is not None:
        hooks = hooks.filter(store_id__in=set(store_ids))
    return {store_id for store_id, events in hooks.values_list("store_id", "events") if event in events}


@transaction.atomic
def deliveries_enqueue(*, event: str, items: Iterable[tuple[int, dict]]) -> int:
    """Queue `event` for every (store id, payload) in `items`, once per active hook of that store
    listening to it: one query for the hooks, one bulk insert. Sent after the current transaction
    commits. Returns how many deliveries were queued."""
    items = list(items)
    if not items:
        return 0
    hooks: dict[int, list[int]] = {}
    for pk, store_id, events in Webhook.objects.filter(
        is_active=True, store_id__in={item[0] for item in items}
    ).values_list("pk", "store_id", "events"):
        if event in events:
            hooks.setdefault(store_id, []).append(pk)
    now = timezone.now()
    occurred_at = now.isoformat()
    rows = [
        WebhookDelivery(
            webhook_id=hook_id,
            uid=uuid.uuid4(),
            event=event,
            payload={"occurred_at": occurred_at, **payload},
            created_at=now,
            next_attempt_at=now + SENDING_TIMEOUT,  # the task queued on commit normally gets there first
        )
        for store_id, payload in items
        for hook_id in hooks.get(store_id, ())
    ]
    if not rows:
        return 0
    WebhookDelivery.objects.bulk_create(rows, batch_size=1000)
    ids = [row.pk for row in rows]
    # robust: a broker that is down must not fail the caller's committed work; the sweep sends.
    if len(ids) > TASKS_PER_COMMIT or None in ids:
        transaction.on_commit(_flush_after_commit, robust=True)
    else:
        transaction.on_commit(lambda: _send_after_commit(ids), robust=True)
    return len(rows)


def _flush_after_commit() -> None:
    from .tasks import webhooks_flush  # tasks import this module

    webhooks_flush.delay()


def _send_after_commit(delivery_ids: list[int]) -> None:
    from .tasks import webhook_send  # tasks import this module

    for delivery_id in delivery_ids:
        webhook_send.delay(delivery_id)


# --- Sending -------------------------------------------------------------------------------------


def _due(now: datetime) -> Q:
    return Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)


def _claim(delivery_id: int, condition: Q) -> WebhookDelivery | None:
    """Take the row for one attempt if `condition` still holds (one conditional UPDATE); None if
    someone else has it, it is done, or it waits for its backoff."""
    now = timezone.now()
    token = uuid.uuid4().hex
    taken = WebhookDelivery.objects.filter(condition, pk=delivery_id).update(
        claim=token, attempts=F("attempts") + 1, next_attempt_at=now + SENDING_TIMEOUT
    )
    if not taken:
        return None
    return WebhookDelivery.objects.select_related("webhook").get(pk=delivery_id)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer other than 2xx: recorded as a failure, never followed (it would
    turn the POST into a GET, or send the signed body somewhere not configured)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _post(delivery: WebhookDelivery) -> int:
    """POST the delivery; the answer's status code (an HTTPError's too)."""
    body = body_of(delivery)
    if urlsplit(delivery.webhook.url).scheme not in ("http", "https"):  # webhook_create checked it too
        raise ValueError("not an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        delivery.webhook.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "X-VIPCRM-Event": delivery.event,
            "X-VIPCRM-Delivery": str(delivery.uid),
            "X-VIPCRM-Signature": sign(secret=delivery.webhook.secret, body=body, timestamp=int(time.time())),
        },
    )
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


def _attempt(delivery: WebhookDelivery) -> bool:
    """One attempt at a claimed row, its outcome recorded. True when delivered."""
    code, error = None, ""
    try:
        code = _post(delivery)
    except Exception as exc:  # refused, unreachable, timed out, TLS: all retried later
        error = f"{type(exc).__name__}: {exc}"[:2000]
    if code is not None and 200 <= code < 300:
        # Delivered is delivered, whoever holds the claim now.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.DELIVERED, claim="", last_status_code=code, last_error="", delivered_at=timezone.now()
        )
        return True
    if code is not None:
        error = f"HTTP {code}"
    logger.warning("webhook delivery %s failed on attempt %s: %s", delivery.pk, delivery.attempts, error)
    gave_up = delivery.attempts >= MAX_ATTEMPTS
    # Only while the claim is still ours (a sender that timed out and was taken over must not
    # overwrite the new holder's outcome).
    WebhookDelivery.objects.filter(pk=delivery.pk, claim=delivery.claim).update(
        status=DeliveryStatus.FAILED if gave_up else DeliveryStatus.PENDING,
        claim="",
        last_status_code=code,
        last_error=error,
        next_attempt_at=timezone.now() + backoff(delivery.attempts),
    )
    return False


def delivery_send(*, delivery_id: int) -> WebhookDelivery | None:
    """One attempt at a delivery if it is still to send: never tried, or due again. The row after
    the attempt, or None when there was nothing to do."""
    condition = Q(status=DeliveryStatus.PENDING, attempts=0, claim="") | _due(timezone.now())
    delivery = _claim(delivery_id, condition)
    if delivery is None:
        return None
    _attempt(delivery)
    delivery.refresh_from_db()
    return delivery


def deliveries_flush(*, limit: int = FLUSH_BATCH) -> dict:
    """Send every delivery that is due, oldest due first. {"delivered": n, "failed": n}. Also
    forgets finished deliveries older than LOG_RETENTION."""
    WebhookDelivery.objects.filter(
        status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.FAILED], created_at__lt=timezone.now() - LOG_RETENTION
    ).delete()
    due = WebhookDelivery.objects.filter(_due(timezone.now())).order_by("next_attempt_at", "pk")
    counts = {"delivered": 0, "failed": 0}
    failures: dict[int, int] = {}
    for delivery_id, webhook_id in due.values_list("pk", "webhook_id")[:limit]:
        if failures.get(webhook_id, 0) >= FLUSH_MAX_FAILURES_PER_HOOK:
            continue
        delivery = _claim(delivery_id, _due(timezone.now()))
        if delivery is None:  # sent meanwhile by its own task, or by another sweep
            continue
        if _attempt(delivery):
            counts["delivered"] += 1
            failures[webhook_id] = 0
        else:
            counts["failed"] += 1
            failures[webhook_id] = failures.get(webhook_id, 0) + 1
    if counts["delivered"] or counts["failed"]:
        logger.info("webhook flush: %s", counts)
    return counts


# --- Reading (the configuration pages) -----------------------------------------------------------


def webhooks_visible(*, viewer: Staff):
    """The hooks `viewer` may see and manage: their store's (a manager), every store's (HQ)."""
    hooks = Webhook.objects.select_related("store", "created_by")
    if viewer.is_hq:
        return hooks
    if viewer.is_manager and viewer.store_id:
        return hooks.filter(store_id=viewer.store_id)
    return hooks.none()


def webhook_get(*, viewer: Staff, pk: int) -> Webhook:
    """One hook, a 404 outside what `viewer` may see."""
    try:
        return webhooks_visible(viewer=viewer).get(pk=pk)
    except Webhook.DoesNotExist:
        raise Http404 from None

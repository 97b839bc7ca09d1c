"""Webhooks (issue 13 item 4): enrolments and tier changes become signed deliveries in an outbox,
written with the change and sent after the commit, retried with backoff until a receiver that was
down is back, once each; a store's hooks are its manager's (and HQ's) alone."""

from __future__ import annotations

import contextlib
import json
import threading
from datetime import date, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import time_machine
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from duties import webhooks
from duties.models import DeliveryStatus, Webhook, WebhookDelivery, WebhookEvent
from duties.webhooks import (
    MAX_ATTEMPTS,
    backoff,
    deliveries_flush,
    delivery_resend,
    delivery_send,
    sign,
    signature_valid,
    webhook_create,
)
from members.models import Member, Purchase
from members.services import member_enroll, member_set_tier, purchase_record, tiers_replay
from tests.factories import MemberFactory, StoreFactory
from vipcrm.celery import app

D = date.fromisoformat
BOTH = [WebhookEvent.TIER_CHANGED, WebhookEvent.MEMBER_ENROLLED]


class Receiver:
    """A real HTTP server on 127.0.0.1 that records what it is sent; it can be stopped and started
    again on the same port (the receiver going down for a while)."""

    def __init__(self):
        self.received: list[dict] = []
        self.status = 200
        self.port = 0
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/vipcrm"


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS_ALLOW_LOCAL_HTTP = True
    server = Receiver()
    server.start()
    yield server
    if server.server is not None:
        with contextlib.suppress(OSError):
            server.stop()


def hook_for(store, url="https://pos.example.com/hooks", events=BOTH, by=None, **kwargs) -> Webhook:
    hook = webhook_create(store=store, url=url, events=events, by=by)
    if kwargs:
        Webhook.objects.filter(pk=hook.pk).update(**kwargs)
        hook.refresh_from_db()
    return hook


def enrol(store, card="V9000001", phone="13900009999", by=None) -> Member:
    return member_enroll(store=store, by=by, card_no=card, name="新会员", phone=phone, joined_on=D("2026-03-10"))


# --- Signing -------------------------------------------------------------------------------------


def test_a_signature_verifies_with_the_secret_and_not_after_tampering_or_too_late():
    body = b'{"event":"member_enrolled"}'
    header = sign(secret="s3cret", body=body, timestamp=1_700_000_000)
    assert header.startswith("t=1700000000,v1=")
    assert signature_valid(secret="s3cret", body=body, header=header, now=1_700_000_010)
    assert not signature_valid(secret="other", body=body, header=header, now=1_700_000_010)
    assert not signature_valid(secret="s3cret", body=body + b" ", header=header, now=1_700_000_010)
    assert not signature_valid(secret="s3cret", body=body, header=header, now=1_700_000_000 + 3600)
    assert not signature_valid(secret="s3cret", body=body, header="garbage", now=1_700_000_010)


def test_the_backoff_grows_then_stays_at_twelve_hours():
    assert [backoff(n) for n in (1, 2, 3, 4, 5)] == [
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(hours=1),
        timedelta(hours=4),
    ]
    assert backoff(6) == backoff(MAX_ATTEMPTS) == timedelta(hours=12)


# --- Events become deliveries ------------------------------------------------------------------


def test_enrolling_queues_one_delivery_per_active_hook_listening(
    store_a, store_b, staff_a, django_capture_on_commit_callbacks
):
    both = hook_for(store_a, by=staff_a.manager)
    hook_for(store_a, url="https://crm.example.com/tiers", events=[WebhookEvent.TIER_CHANGED])
    hook_for(store_a, url="https://old.example.com/", is_active=False)
    hook_for(store_b)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        member = enrol(store_a, by=staff_a.consultant)
        assert WebhookDelivery.objects.count() == 1  # in the enrolment's transaction
    assert len(callbacks) >= 1  # the send waits for the commit
    delivery = WebhookDelivery.objects.get()
    assert (delivery.webhook, delivery.event, delivery.status, delivery.attempts) == (
        both,
        "member_enrolled",
        "pending",
        0,
    )
    assert delivery.payload["store"] == "SHA"
    assert delivery.payload["member"] == {
        "id": member.pk,
        "card_no": "V9000001",
        "tier": "C",
        "joined_on": "2026-03-10",
    }


def test_a_rolled_back_enrolment_leaves_no_delivery(store_a):
    hook_for(store_a)
    with pytest.raises(RuntimeError), transaction.atomic():
        enrol(store_a)
        raise RuntimeError("the page failed")
    assert not WebhookDelivery.objects.exists()


def test_an_upgrade_by_purchase_and_a_managers_decision_queue_tier_changed(store_a, staff_a):
    hook = hook_for(store_a, events=[WebhookEvent.TIER_CHANGED])
    member = MemberFactory(home_store=store_a, joined_on=D("2024-01-01"))
    purchase_record(
        member=member, store=store_a, receipt_no="R1", date=timezone.localdate(), amount=Decimal("12000"), by=None
    )
    member_set_tier(member=Member.objects.get(pk=member.pk), tier="A", by=staff_a.manager, lock=True)
    payloads = [d.payload for d in WebhookDelivery.objects.filter(webhook=hook).order_by("pk")]
    assert [(p["previous_tier"], p["member"]["tier"]) for p in payloads] == [("C", "B"), ("B", "A")]
    assert payloads[0]["member"]["card_no"] == member.card_no
    assert payloads[0]["changed_on"] == timezone.localdate().isoformat()
    # A replay that changes nothing queues nothing.
    tiers_replay(member_ids=[member.pk])
    assert WebhookDelivery.objects.count() == 2


def test_the_payload_holds_no_phone_name_or_contact(store_a, receiver):
    hook_for(store_a, url=receiver.url)
    member = enrol(store_a, phone="13912345678")
    Member.objects.filter(pk=member.pk).update(email="a@example.com", address="南京路1号")
    member_set_tier(member=Member.objects.get(pk=member.pk), tier="B", by=None, lock=False)
    bodies = [webhooks.body_of(d).decode() for d in WebhookDelivery.objects.all()]
    assert len(bodies) == 2
    for body in bodies:
        for personal in ("13912345678", "5678", "新会员", "a@example.com", "南京路"):
            assert personal not in body
        assert set(json.loads(body)) <= {"id", "event", "occurred_at", "store", "member", "previous_tier", "changed_on"}


def test_a_bulk_replay_queues_its_deliveries_set_based(store_a, store_b, django_assert_max_num_queries):
    hook_for(store_a, events=[WebhookEvent.TIER_CHANGED])
    members = MemberFactory.create_batch(60, home_store=store_a, joined_on=D("2024-01-01"))
    others = MemberFactory.create_batch(5, home_store=store_b, joined_on=D("2024-01-01"))
    Purchase.objects.bulk_create(
        Purchase(
            member=m, store=m.home_store, receipt_no=f"R{m.pk}", date=timezone.localdate(), amount=Decimal("12000")
        )
        for m in members + others
    )
    # Members, purchases, holds, reviews, tier changes, the writes, and for the hooks: one query
    # for the stores hooked, one for their codes, one for the cards, one for the hooks, one insert.
    with django_assert_max_num_queries(22):
        stats = tiers_replay(store=None)
    assert stats.members == 65
    assert WebhookDelivery.objects.count() == 60  # store B has no hook
    assert {d.payload["member"]["tier"] for d in WebhookDelivery.objects.all()} == {"B"}


# --- Sending -------------------------------------------------------------------------------------


def test_the_task_queued_on_commit_delivers_a_signed_post(store_a, receiver, django_capture_on_commit_callbacks):
    hook = hook_for(store_a, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        member = enrol(store_a)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    [request] = receiver.received
    headers = request["headers"]
    assert headers["X-Vipcrm-Event"] == "member_enrolled"
    assert headers["X-Vipcrm-Delivery"] == str(delivery.uid)
    assert signature_valid(secret=hook.secret, body=request["body"], header=headers["X-Vipcrm-Signature"])
    sent = json.loads(request["body"])
    assert (sent["id"], sent["event"], sent["member"]["id"]) == (str(delivery.uid), "member_enrolled", member.pk)


def test_a_delivery_survives_the_receiver_being_down_for_a_while(store_a, receiver):
    hook = hook_for(store_a, url=receiver.url)
    receiver.stop()
    with time_machine.travel("2026-03-10 10:00 +0800", tick=False) as clock:
        enrol(store_a)
        delivery = WebhookDelivery.objects.get()
        # The receiver is down: the attempt fails and is due again after the backoff.
        delivery = delivery_send(delivery_id=delivery.pk)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, None)
        assert "ConnectionRefused" in delivery.last_error or "URLError" in delivery.last_error
        assert delivery.next_attempt_at == timezone.now() + timedelta(minutes=1)
        # Before the backoff has passed the sweep leaves it alone; the task run twice does too.
        assert deliveries_flush() == {"delivered": 0, "failed": 0}
        assert delivery_send(delivery_id=delivery.pk) is None
        # Still down a minute later: the second attempt fails too, the wait grows.
        clock.shift(timedelta(minutes=1))
        assert deliveries_flush() == {"delivered": 0, "failed": 1}
        delivery.refresh_from_db()
        assert (delivery.attempts, delivery.next_attempt_at) == (2, timezone.now() + timedelta(minutes=5))

        receiver.start()  # back, on the same port
        clock.shift(timedelta(minutes=4))
        assert deliveries_flush() == {"delivered": 0, "failed": 0}  # not yet due
        clock.shift(timedelta(minutes=1))
        assert deliveries_flush() == {"delivered": 1, "failed": 0}
        [request] = receiver.received
        # Verified as the receiver does on arrival: the HMAC and a recent timestamp.
        assert signature_valid(
            secret=hook.secret, body=request["body"], header=request["headers"]["X-Vipcrm-Signature"]
        )
        clock.shift(timedelta(hours=1))
        assert deliveries_flush() == {"delivered": 0, "failed": 0}

        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_status_code, delivery.last_error) == (
            "delivered",
            3,
            200,
            "",
        )
        [request] = receiver.received  # once
        assert request["headers"]["X-Vipcrm-Delivery"] == str(delivery.uid)


def test_an_error_status_is_retried_and_given_up_after_the_last_attempt_then_resent(store_a, staff_a, receiver):
    hook_for(store_a, url=receiver.url)
    receiver.status = 500
    with time_machine.travel("2026-03-10 10:00 +0800", tick=False) as clock:
        enrol(store_a)
        delivery = WebhookDelivery.objects.get()
        delivery_send(delivery_id=delivery.pk)
        for _ in range(MAX_ATTEMPTS - 1):
            clock.shift(timedelta(hours=12))
            deliveries_flush()
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", MAX_ATTEMPTS, 500)
        clock.shift(timedelta(days=2))
        assert deliveries_flush() == {"delivered": 0, "failed": 0}  # given up: the sweep leaves it

        receiver.status = 204
        delivery_resend(delivery=delivery, by=staff_a.manager)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("pending", 0)
        assert deliveries_flush() == {"delivered": 1, "failed": 0}
    assert AuditEntry.objects.filter(action="webhook.resent").count() == 1
    assert len(receiver.received) == MAX_ATTEMPTS + 1


def test_a_redirect_is_a_failure_not_followed(store_a, receiver):
    hook_for(store_a, url=receiver.url)
    receiver.status = 302
    enrol(store_a)
    delivery = delivery_send(delivery_id=WebhookDelivery.objects.get().pk)
    assert (delivery.status, delivery.last_status_code, delivery.last_error) == ("pending", 302, "HTTP 302")


def test_a_delivery_claimed_by_a_worker_that_died_is_sent_by_the_sweep_after_the_timeout(store_a, receiver):
    hook_for(store_a, url=receiver.url)
    with time_machine.travel("2026-03-10 10:00 +0800", tick=False) as clock:
        enrol(store_a)
        delivery = WebhookDelivery.objects.get()
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            claim="dead", attempts=1, next_attempt_at=timezone.now() + webhooks.SENDING_TIMEOUT
        )
        assert delivery_send(delivery_id=delivery.pk) is None
        assert deliveries_flush() == {"delivered": 0, "failed": 0}
        clock.shift(webhooks.SENDING_TIMEOUT)
        assert deliveries_flush() == {"delivered": 1, "failed": 0}
    assert len(receiver.received) == 1


@pytest.mark.django_db(transaction=True)
def test_two_senders_at_once_send_a_delivery_once(settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so the race cannot happen there")
    settings.WEBHOOKS_ALLOW_LOCAL_HTTP = True
    server = Receiver()
    server.start()
    try:
        store = StoreFactory(code="RACE")
        hook_for(store, url=server.url)
        enrol(store, card="V7000001", phone="13900007777")
        delivery = WebhookDelivery.objects.get()
        barrier = threading.Barrier(2, timeout=10)
        results, errors = [], []

        def send(sender):
            try:
                barrier.wait()
                results.append(sender(delivery.pk))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
            finally:
                connection.close()

        senders = [lambda pk: delivery_send(delivery_id=pk), lambda pk: deliveries_flush()]
        WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        threads = [threading.Thread(target=send, args=(s,)) for s in senders]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == ("delivered", 1)
        assert len(server.received) == 1
    finally:
        server.stop()


def test_the_sweep_is_on_the_beat_schedule():
    entry = app.conf.beat_schedule["webhooks-flush"]
    assert entry["task"] == "duties.webhooks_flush"
    assert "duties.webhooks_flush" in app.tasks and "duties.webhook_send" in app.tasks


# --- Configuration pages ---------------------------------------------------------------------------


def test_a_manager_adds_a_hook_for_their_store_and_sees_its_secret(client, staff_a, store_b):
    client.force_login(staff_a.manager)
    response = client.post(
        reverse("members:webhook_add"),
        {"url": "https://pos.example.com/hook", "events": ["member_enrolled"], "store": store_b.pk},
    )
    hook = Webhook.objects.get()
    assert response.status_code == 302
    assert (hook.store, hook.events, hook.created_by, len(hook.secret)) == (
        staff_a.manager.store,
        ["member_enrolled"],
        staff_a.manager,
        64,
    )
    page = client.get(reverse("members:webhook", args=[hook.pk]))
    assert hook.secret in page.content.decode()
    assert AuditEntry.objects.filter(action="webhook.created").count() == 1


def test_a_plain_http_url_is_refused_outside_debug(client, staff_a, settings):
    settings.WEBHOOKS_ALLOW_LOCAL_HTTP = False
    client.force_login(staff_a.manager)
    for url in ("http://127.0.0.1:9000/hook", "http://pos.example.com/hook", "ftp://pos.example.com/"):
        response = client.post(reverse("members:webhook_add"), {"url": url, "events": ["tier_changed"]})
        assert response.status_code == 200
        assert response.context["form"].errors["url"]
    assert not Webhook.objects.exists()


def test_another_stores_manager_cannot_see_or_change_a_stores_hooks(client, staff_a, staff_b, store_a):
    hook = hook_for(store_a)
    enrol(store_a)
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    client.force_login(staff_b.manager)
    assert hook.url not in client.get(reverse("members:webhooks")).content.decode()
    assert client.get(reverse("members:webhook", args=[hook.pk])).status_code == 404
    assert client.post(reverse("members:webhook_toggle", args=[hook.pk]), {"active": "0"}).status_code == 404
    assert client.post(reverse("members:webhook_resend", args=[hook.pk, delivery.pk])).status_code == 404
    hook.refresh_from_db()
    delivery.refresh_from_db()
    assert hook.is_active and delivery.status == "failed"


def test_disabling_a_hook_stops_new_deliveries(client, staff_a, store_a):
    hook = hook_for(store_a)
    client.force_login(staff_a.manager)
    assert client.post(reverse("members:webhook_toggle", args=[hook.pk]), {"active": "0"}).status_code == 302
    enrol(store_a)
    assert not WebhookDelivery.objects.exists()
    client.post(reverse("members:webhook_toggle", args=[hook.pk]), {"active": "1"})
    hook.refresh_from_db()
    assert hook.is_active
    assert list(
        AuditEntry.objects.filter(action__startswith="webhook.").values_list("action", flat=True).order_by("pk")
    ) == [
        "webhook.created",
        "webhook.disabled",
        "webhook.enabled",
    ]


def test_the_pages_query_count_does_not_grow_with_rows(client, staff_a, store_a, hq, django_assert_max_num_queries):
    hooks = [hook_for(store_a, url=f"https://h{i}.example.com/") for i in range(12)]
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(webhook=hooks[0], event="tier_changed", payload={"member": {"card_no": f"V{i}"}}, status=s)
        for i in range(120)
        for s in ("failed",)
    )
    for user in (staff_a.manager, hq):
        client.force_login(user)
        with django_assert_max_num_queries(12):
            assert client.get(reverse("members:webhooks")).status_code == 200
        with django_assert_max_num_queries(12):
            page = client.get(reverse("members:webhook", args=[hooks[0].pk]))
        assert page.status_code == 200
        assert page.content.decode().count("重发") >= 50


def test_the_sweep_forgets_finished_deliveries_after_ninety_days(store_a):
    hook = hook_for(store_a)
    old = timezone.now() - timedelta(days=91)
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(webhook=hook, event="tier_changed", status=status, created_at=created, next_attempt_at=later)
        for status, created in [("delivered", old), ("failed", old), ("delivered", timezone.now())]
        for later in [timezone.now() + timedelta(days=1)]
    )
    WebhookDelivery.objects.create(webhook=hook, event="tier_changed", created_at=old, next_attempt_at=old)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(webhooks, "_attempt", lambda delivery: False)
        deliveries_flush()
    assert sorted(WebhookDelivery.objects.values_list("status", flat=True)) == ["delivered", "pending"]

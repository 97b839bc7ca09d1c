"""Webhooks per store (issue 13 item 4): a store's manager and HQ configure them and read the
delivery log; other roles get a 403, and another store's manager (the outsider) a 404 on store A's
hooks (their own list and form answer, showing their store's hooks only)."""

from __future__ import annotations

from duties.models import DeliveryStatus, Webhook, WebhookDelivery
from tests.permission_table import Page, expect

MANAGERS_ONLY = {"manager": 200, "outsider": 200, "hq": 200}


def on_hook_a(o):
    hook, _created = Webhook.objects.get_or_create(
        store=o.member.home_store,
        url="https://pos.example.com/hooks",
        defaults={"secret": "s" * 64, "events": ["tier_changed", "member_enrolled"]},
    )
    return {"pk": hook.pk}


def on_failed_delivery_a(o):
    pk = on_hook_a(o)["pk"]
    delivery, _created = WebhookDelivery.objects.get_or_create(
        webhook_id=pk, event="tier_changed", defaults={"status": DeliveryStatus.FAILED, "payload": {}}
    )
    return {"pk": pk, "delivery_pk": delivery.pk}


def new_hook(o):
    return {"url": "https://pos.example.com/new", "events": ["member_enrolled"], "store": o.member.home_store.pk}


PAGES: list[Page] = [
    Page("members:webhooks", expected=expect(403, **MANAGERS_ONLY)),
    Page("members:webhook_add", expected=expect(403, **MANAGERS_ONLY)),
    Page("members:webhook_add", expected=expect(403, manager=302, outsider=302, hq=302), method="post", data=new_hook),
    Page("members:webhook", on_hook_a, expect(403, manager=200, outsider=404, hq=200)),
    Page(
        "members:webhook_toggle",
        on_hook_a,
        expect(403, manager=302, outsider=404, hq=302),
        method="post",
        data={"active": "0"},
    ),
    Page("members:webhook_toggle", on_hook_a, expect(405), note="a link"),
    Page("members:webhook_resend", on_failed_delivery_a, expect(403, manager=302, outsider=404, hq=302), method="post"),
    Page("members:webhook_resend", on_failed_delivery_a, expect(405), note="a link"),
]

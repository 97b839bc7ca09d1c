"""Members' events for the stores' webhooks (issue 13 item 4): the receivers turn enrolments and
tier changes into deliveries in duties' webhook outbox, inside the transaction that made them.

The payload is minimal personal data (DOMAIN §11): the member's id and card number (what a store's
other systems know the member by), tiers, dates and the store code. Never a name, phone, e-mail or
address. Set-based: a replay of thousands of members costs one query for the hooks (none more when
no store has one) and one for the cards, then one bulk insert.
"""

from __future__ import annotations

from datetime import date

from accounts.models import Store
from duties.models import WebhookEvent
from duties.webhooks import deliveries_enqueue, hooked_store_ids

from .models import Member


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def on_member_enrolled(sender, member: Member, **kwargs) -> None:
    if member.home_store_id not in hooked_store_ids(WebhookEvent.MEMBER_ENROLLED, [member.home_store_id]):
        return
    store_code = Store.objects.values_list("code", flat=True).get(pk=member.home_store_id)
    payload = {
        "store": store_code,
        "member": {
            "id": member.pk,
            "card_no": member.card_no,
            "tier": member.tier,
            "joined_on": _iso(member.joined_on),
        },
    }
    deliveries_enqueue(event=WebhookEvent.MEMBER_ENROLLED, items=[(member.home_store_id, payload)])


def on_member_tiers_changed(sender, changes: list[tuple], **kwargs) -> None:
    """`changes`: (member id, home store id, from tier, to tier, date), see members.signals."""
    stores = hooked_store_ids(WebhookEvent.TIER_CHANGED, {store_id for _, store_id, *_rest in changes})
    changes = [change for change in changes if change[1] in stores]
    if not changes:
        return
    codes = dict(Store.objects.filter(pk__in=stores).values_list("pk", "code"))
    cards = dict(Member.objects.filter(pk__in=[change[0] for change in changes]).values_list("pk", "card_no"))
    items = [
        (
            store_id,
            {
                "store": codes[store_id],
                "member": {"id": member_id, "card_no": cards.get(member_id, ""), "tier": to_tier},
                "previous_tier": from_tier,
                "changed_on": _iso(on),
            },
        )
        for member_id, store_id, from_tier, to_tier, on in changes
    ]
    deliveries_enqueue(event=WebhookEvent.TIER_CHANGED, items=items)


def on_members_imported(members: list[Member]) -> None:
    """`member.enrolled` for each member an import created, as `on_member_enrolled` sends for one
    enrolled on a page, at the till or in the API: the same payload, once per member, queued in the
    import's transaction (the outbox sends after the commit; a rolled-back import sends nothing).
    Set-based for 25,000 members: one query for the hooks (none more when no store has one), one
    for the store codes, one bulk insert."""
    stores = hooked_store_ids(WebhookEvent.MEMBER_ENROLLED, {member.home_store_id for member in members})
    members = [member for member in members if member.home_store_id in stores]
    if not members:
        return
    codes = dict(Store.objects.filter(pk__in=stores).values_list("pk", "code"))
    items = [
        (
            member.home_store_id,
            {
                "store": codes[member.home_store_id],
                "member": {
                    "id": member.pk,
                    "card_no": member.card_no,
                    "tier": member.tier,
                    "joined_on": _iso(member.joined_on),
                },
            },
        )
        for member in members
    ]
    deliveries_enqueue(event=WebhookEvent.MEMBER_ENROLLED, items=items)

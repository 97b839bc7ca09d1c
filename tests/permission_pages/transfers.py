"""Transfers between stores (issue 11 item 3, DOMAIN §13). `member_a` belongs to store A; the
outsider (store B's manager) is the receiving store's lead who asks, store A's VIP specialist and
manager the sending store's leads who agree or decline, HQ may do anything at once. Consultants
have no part in it (403).

The request page names the member by a token signed for one viewer: the outsider's token answers
the outsider and is a 404 for anybody else."""

from __future__ import annotations

from members.models import TransferRequest
from members.transfers import transfer_token
from tests.permission_table import Page, expect

LEADS_ONLY = {"consultant": 403, "other_consultant": 403}


def by_card(o):
    return {"text": o.member.card_no}


def outsiders_token(o):
    return {"token": transfer_token(viewer=o.users["outsider"], member=o.member)}


def outsiders_request(o):
    return {**outsiders_token(o), "reason": "会员搬家到北京"}


def on_request_into_b(o):
    """A pending request, asked by store B's manager, for store A's member."""
    outsider = o.users["outsider"]
    # One per member (a constraint); several rows (and the privacy crawl) ask for it.
    request, _created = TransferRequest.objects.get_or_create(
        member=o.member,
        status="pending",
        defaults={
            "from_store": o.member.home_store,
            "to_store": outsider.store,
            "reason": "搬家",
            "requested_by": outsider,
        },
    )
    return {"pk": request.pk}


def on_member(o):
    return {"pk": o.member.pk}


DECLINE = {"decision": "decline", "note": "会员本人未确认"}

PAGES: list[Page] = [
    Page("members:transfers", expected=expect(200, **LEADS_ONLY)),
    Page("members:transfer_find", expected=expect(200, **LEADS_ONLY, hq=403)),
    Page(
        "members:transfer_find",
        expected=expect(302, **LEADS_ONLY, specialist=200, manager=200, hq=403),
        method="post",
        data=by_card,
        note="store A's own member: not found elsewhere",
    ),
    Page("members:transfer_request", expected=expect(404, **LEADS_ONLY, outsider=200, hq=403), data=outsiders_token),
    Page(
        "members:transfer_request",
        expected=expect(404, **LEADS_ONLY, outsider=302, hq=403),
        method="post",
        data=outsiders_request,
    ),
    # The sending store's leads (and HQ) decide; the receiving store sees the request but may not.
    Page(
        "members:transfer_decide",
        on_request_into_b,
        expect(302, **LEADS_ONLY, outsider=403),
        method="post",
        data=DECLINE,
    ),
    Page("members:transfer_decide", on_request_into_b, expect(405), note="a link"),
    # The receiving store's leads (and HQ) withdraw; the sending store may only decline.
    Page(
        "members:transfer_cancel",
        on_request_into_b,
        expect(302, **LEADS_ONLY, specialist=403, manager=403),
        method="post",
    ),
    Page("members:transfer_direct", on_member, expect(403, hq=200)),
]

"""Cross-store service pages (issue 11 item 4): store staff only (HQ has no till: 403). `member_a`
belongs to store A, so for the outsider (store B's manager) it is another store's member.

The action pages name the member by a token signed for one viewer: rows with the outsider's token
answer them and refuse everybody else (400, the clear "link expired or invalid" page), and a forged
token is a 400 for everyone."""

from __future__ import annotations

from django.utils import timezone

from members.cross_store import cross_store_token
from tests.permission_table import Page, expect

FORGED = {"t": "eyJtIjoxLCJ2IjoxfQ:forged:signature"}


def by_card(o):
    return {"text": o.member.card_no}


def outsiders_token(o):
    return {"t": cross_store_token(viewer=o.users["outsider"], member=o.member)}


def outsiders_receipt(o):
    today = timezone.localdate().isoformat()
    return {**outsiders_token(o), "receipt-receipt_no": "TBL-1", "receipt-date": today, "receipt-amount": "100"}


def outsiders_visit(o):
    return {**outsiders_token(o), "visit-channel": "in_store", "visit-result": "reached", "visit-outcome": "来店"}


def outsiders_complaint(o):
    return {
        **outsiders_token(o),
        "complaint-channel": "in_store",
        "complaint-category": "service_attitude",
        "complaint-severity": "low",
        "complaint-description": "等候太久",
    }


PAGES: list[Page] = [
    Page("members:elsewhere", expected=expect(200, hq=403)),
    # Store A's staff are told it is their own member (200, with a link); the outsider is sent on
    # to the member's card.
    Page("members:elsewhere", expected=expect(200, outsider=302, hq=403), method="post", data=by_card),
    Page("members:elsewhere_member", expected=expect(400, hq=403), data=FORGED, note="forged token"),
    Page("members:elsewhere_member", expected=expect(400, outsider=200, hq=403), data=outsiders_token),
    Page("members:elsewhere_receipt", expected=expect(405), note="a link"),
    Page("members:elsewhere_receipt", expected=expect(400, hq=403), method="post", data=FORGED, note="forged"),
    Page(
        "members:elsewhere_receipt", expected=expect(400, outsider=302, hq=403), method="post", data=outsiders_receipt
    ),
    Page("members:elsewhere_visit", expected=expect(400, hq=403), method="post", data=FORGED, note="forged"),
    Page("members:elsewhere_visit", expected=expect(400, outsider=302, hq=403), method="post", data=outsiders_visit),
    Page("members:elsewhere_complaint", expected=expect(400, hq=403), method="post", data=FORGED, note="forged"),
    Page(
        "members:elsewhere_complaint",
        expected=expect(400, outsider=302, hq=403),
        method="post",
        data=outsiders_complaint,
    ),
]

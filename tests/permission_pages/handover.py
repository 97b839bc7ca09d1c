"""Hand-over and the ownership hub (issue 11 item 1): store leads only; another store's person is a
404 (`outsider` is store B's manager, `consultant` owns member_a in store A)."""

from __future__ import annotations

from tests.permission_table import Page, expect


def from_consultant(o):
    return {"from": o.users["consultant"].pk}


def hand_over_to_colleague(o):
    return {
        "from": o.users["consultant"].pk,
        "to": [o.users["other_consultant"].pk],
        "mode": "one",
        "note": "调往其他门店",
    }


LEADS_ONLY = {"consultant": 403, "other_consultant": 403}

PAGES = [
    Page("members:ownership", expected=expect(200, **LEADS_ONLY)),
    Page("members:handover", expected=expect(200, **LEADS_ONLY), note="nobody chosen"),
    Page("members:handover", expected=expect(200, **LEADS_ONLY, outsider=404), data=from_consultant),
    Page(
        "members:handover",
        expected=expect(302, **LEADS_ONLY, outsider=404),
        method="post",
        data=hand_over_to_colleague,
    ),
]

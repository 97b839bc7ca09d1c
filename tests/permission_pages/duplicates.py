"""Duplicate review and merge pages (issue 11 item 5). The VIP specialist, the manager and HQ see the
review list (store B's manager, the outsider, sees their own store's, empty); only a manager (own
store) or HQ dismisses or merges. `member_a`'s twin is a second store A member made by the row, so
for the outsider both are another store's members: 404."""

from __future__ import annotations

from tests.factories import MemberFactory
from tests.permission_table import Page, expect


def on_a_pair(o):
    twin = MemberFactory(home_store=o.member.home_store, name=o.member.name, joined_on=o.member.joined_on)
    return {"first": o.member.pk, "second": twin.pk}


def on_a_merge(o):
    twin = MemberFactory(home_store=o.member.home_store, name=o.member.name, joined_on=o.member.joined_on)
    return {"survivor": o.member.pk, "merged": twin.pk}


LEADS_ONLY = {"consultant": 403, "other_consultant": 403}
MANAGERS_ONLY = {**LEADS_ONLY, "specialist": 403}

PAGES = [
    Page("members:duplicates", expected=expect(200, **LEADS_ONLY)),
    Page("members:duplicate_dismiss", on_a_pair, expect(302, **MANAGERS_ONLY, outsider=404), method="post"),
    Page("members:duplicate_dismiss", on_a_pair, expect(405, **MANAGERS_ONLY), note="a link"),
    Page("members:merge", on_a_merge, expect(200, **MANAGERS_ONLY, outsider=404)),
    Page(
        "members:merge",
        on_a_merge,
        expect(302, **MANAGERS_ONLY, outsider=404),
        method="post",
        data={"confirm": "on"},
        note="confirmed",
    ),
]

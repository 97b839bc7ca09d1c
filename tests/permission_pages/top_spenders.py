"""The half-month top spenders page (issue 12 item 6): store leads and HQ; consultants 403. Store
B's manager (the outsider) has their own store's list, but asking for store A's is a 404."""

from __future__ import annotations

from tests.permission_table import Page, expect


def store_a(o):
    return {"store": o.member.home_store.pk}


PAGES = [
    Page("visits:top_spenders", expected=expect(200, consultant=403, other_consultant=403)),
    Page(
        "visits:top_spenders",
        expected=expect(200, consultant=403, other_consultant=403, outsider=404),
        data=store_a,
        note="store A",
    ),
    Page("visits:top_spenders", expected=expect(405), method="post", note="read only"),
]

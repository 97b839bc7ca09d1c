"""POS key pages (issue 13 item 3): managers (their own store's keys) and HQ (every store's); VIP
specialists and consultants get a 403. Store B's manager (`outsider`) has a page of their own
store's keys, but store A's key is a 404 to them, to look at and to revoke.

The POS endpoints (/api/v1/pos/) take a POS key only: a person, signed in or not, is a 401 there
(`WWW-Authenticate: Api-Key`); what a key may do is in tests/api/test_pos_keys.py."""

from __future__ import annotations

from accounts.api_keys import api_key_create
from tests.permission_table import Page, expect


def a_store_a_key(o):
    created = api_key_create(store=o.member.home_store, name="1 号收银台", by=o.users["manager"])
    return {"pk": created.api_key.pk}


def a_new_key(o):
    # HQ names the store; a manager's `store` is not read (their own store's key).
    return {"name": "2 号收银台", "store": o.member.home_store.pk}


PAGES = [
    Page("api_keys", expected=expect(200, consultant=403, other_consultant=403, specialist=403)),
    Page(
        "api_keys",
        expected=expect(200, consultant=403, other_consultant=403, specialist=403),
        method="post",
        data=a_new_key,
    ),
    Page(
        "api_key_revoke",
        kwargs=a_store_a_key,
        expected=expect(200, consultant=403, other_consultant=403, specialist=403, outsider=404),
    ),
    Page("api:pos_lookup", expected=expect(401, anonymous=401), data={"q": "13812345678"}, public=True),
    Page("api:pos_purchases", expected=expect(401, anonymous=401), method="post", public=True),
    Page("api:pos_members", expected=expect(401, anonymous=401), method="post", public=True),
    Page(
        "api_key_revoke",
        kwargs=a_store_a_key,
        expected=expect(302, consultant=403, other_consultant=403, specialist=403, outsider=404),
        method="post",
    ),
]

"""The unassigned members page (issue 11 item 2): the VIP specialist, the manager and HQ; not
consultants (403). The outsider (store B's manager) has a list of their own store, but store A's
is a 404, and so is assigning one of store A's members."""

from __future__ import annotations

from members.models import Member
from tests.factories import MemberFactory
from tests.permission_table import Page, expect


def store_a(o):
    return {"store": o.member.home_store.pk}


def an_unassigned_member_of_store_a(o):
    """A fresh member of store A with no consultant, given to store A's consultant by its row."""
    member = MemberFactory(home_store=o.member.home_store)
    assert Member.objects.get(pk=member.pk).consultant_id is None
    return {"one": member.pk, f"pick_{member.pk}": o.users["consultant"].pk, **store_a(o)}


PAGES = [
    Page("members:unassigned", expected=expect(200, consultant=403, other_consultant=403)),
    Page(
        "members:unassigned",
        expected=expect(200, consultant=403, other_consultant=403, outsider=404),
        data=store_a,
        note="store A",
    ),
    Page(
        "members:unassigned_assign",
        expected=expect(302, consultant=403, other_consultant=403, outsider=404),
        method="post",
        data=an_unassigned_member_of_store_a,
    ),
    Page("members:unassigned_assign", expected=expect(405), note="a link"),
]

"""Family links and referrals (issue 11 item 6): whoever may edit the member edits their links;
another store's member is a 404, a consultant's colleague's member a 403."""

from __future__ import annotations

from tests.permission_table import Page, expect


def on_member(o):
    return {"pk": o.member.pk}


def on_relation(o):
    """A relative of member_a's who is not a member, made for the row."""
    from members.models import MemberRelation

    relation = MemberRelation.objects.create(member=o.member, kind="child", name="小明")
    return {"pk": o.member.pk, "relation_pk": relation.pk}


EDITORS = {"other_consultant": 403, "outsider": 404}

PAGES = [
    Page("members:relation_add", on_member, expect(200, **EDITORS)),
    Page(
        "members:relation_add",
        on_member,
        expect(302, **EDITORS),
        method="post",
        data={"rel-kind": "child", "rel-name": "小明", "rel-birthday": "2016-04-01"},
    ),
    Page("members:relation_pick", on_member, expect(200, **EDITORS), data={"rel-find": "张"}),
    Page("members:relation_pick", on_member, expect(405, outsider=405), method="post", note="not a form"),
    Page("members:relation_delete", on_relation, expect(302, **EDITORS), method="post"),
    Page("members:relation_delete", on_relation, expect(405, outsider=405), note="a link"),
]

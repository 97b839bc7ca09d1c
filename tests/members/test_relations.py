"""Family links and referrals (issue 11 item 6): both ways, scoped to the viewer, erased with the member."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from members.models import MemberRelation, RelationKind
from members.relations import member_relations, relation_add, relation_remove
from members.services import member_erase
from tests.factories import MemberFactory


@pytest.fixture
def husband(store_a, staff_a):
    return MemberFactory(home_store=store_a, consultant=staff_a.consultant, name="王强", phone="13700001111")


def labels(viewer, member):
    return [row.label for row in member_relations(viewer=viewer, member=member)]


def errors_of(call) -> dict:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.message_dict


# --- Links both ways ------------------------------------------------------------------------


def test_it_links_spouses_from_both_sides(staff_a, member_a, husband):
    relation_add(member=member_a, kind=RelationKind.SPOUSE, relative=husband, by=staff_a.specialist)

    assert labels(staff_a.specialist, member_a) == ["配偶 王强 (会员)"]
    assert labels(staff_a.specialist, husband) == ["配偶 张丽 (会员)"]
    assert MemberRelation.objects.filter(member=husband, relative=member_a, kind=RelationKind.SPOUSE).exists()


def test_it_reverses_parent_and_child(staff_a, member_a, store_a):
    son = MemberFactory(home_store=store_a, name="王小明")
    relation_add(member=member_a, kind=RelationKind.CHILD, relative=son, by=staff_a.specialist)

    assert labels(staff_a.specialist, member_a) == ["子女 王小明 (会员)"]
    assert labels(staff_a.specialist, son) == ["父母 张丽 (会员)"]


def test_it_shows_a_referral_on_both_profiles(client, staff_a, member_a, store_a):
    """(A, referred_by, B) = B referred A: one row, read both ways."""
    friend = MemberFactory(home_store=store_a, name="李娜")
    relation_add(member=member_a, kind=RelationKind.REFERRED_BY, relative=friend, by=staff_a.specialist)

    assert MemberRelation.objects.count() == 1
    client.force_login(staff_a.specialist)
    assert "由 李娜 推荐" in client.get(reverse("members:detail", args=[member_a.pk])).content.decode()
    assert "推荐了 张丽" in client.get(reverse("members:detail", args=[friend.pk])).content.decode()


def test_it_records_a_relative_who_is_not_a_member(staff_a, member_a):
    relation_add(
        member=member_a,
        kind=RelationKind.CHILD,
        name="小明",
        birthday=date(2015, 3, 8),
        birthday_lunar=True,
        note="喜欢乐高",
        by=staff_a.consultant,
    )

    (row,) = member_relations(viewer=staff_a.consultant, member=member_a)
    assert (row.label, row.other, row.birthday, row.birthday_lunar) == ("子女 小明", None, date(2015, 3, 8), True)
    assert row.lunar_label.startswith("农历")
    entry = AuditEntry.objects.get(action="member.relation.added")
    assert entry.data["kind"] == "child" and "小明" not in str(entry.data)  # the relative's name stays out of the log


def test_removing_a_link_removes_its_reverse_and_is_audited(staff_a, member_a, husband):
    relation = relation_add(member=member_a, kind=RelationKind.SPOUSE, relative=husband, by=staff_a.specialist)

    relation_remove(relation=relation, by=staff_a.specialist)

    assert not MemberRelation.objects.exists()
    assert AuditEntry.objects.filter(action="member.relation.removed", object_id=str(member_a.pk)).count() == 1


# --- Validation -------------------------------------------------------------------------------


def test_it_refuses_bad_links_with_clear_errors(staff_a, member_a, husband, store_a):
    by = staff_a.specialist
    assert "relative" in errors_of(
        lambda: relation_add(member=member_a, kind=RelationKind.FRIEND, relative=member_a, by=by)
    )
    assert "name" in errors_of(lambda: relation_add(member=member_a, kind=RelationKind.CHILD, by=by))
    assert "kind" in errors_of(lambda: relation_add(member=member_a, kind="cousin", name="小红", by=by))
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert errors_of(
        lambda: relation_add(member=member_a, kind=RelationKind.CHILD, name="小明", birthday=tomorrow, by=by)
    )["birthday"] == [f"生日不能晚于今天（{timezone.localdate()}）。"]
    assert errors_of(
        lambda: relation_add(member=member_a, kind=RelationKind.PARENT, name="老王", birthday=date(1899, 1, 1), by=by)
    )["birthday"] == ["生日不能早于 1900 年。"]
    assert "name" in errors_of(  # a member's own data, not typed twice
        lambda: relation_add(member=member_a, kind=RelationKind.SPOUSE, relative=husband, name="王强", by=by)
    )
    assert not MemberRelation.objects.exists()  # nothing written on an error


def test_it_refuses_a_duplicate_a_second_spouse_and_a_referral_loop(staff_a, member_a, husband, store_a):
    by = staff_a.specialist
    relation_add(member=member_a, kind=RelationKind.FRIEND, relative=husband, by=by)
    assert errors_of(lambda: relation_add(member=member_a, kind=RelationKind.FRIEND, relative=husband, by=by)) == {
        "relative": ["这层关系已登记。"]
    }
    relation_add(member=member_a, kind=RelationKind.CHILD, name="小明", by=by)
    assert "name" in errors_of(lambda: relation_add(member=member_a, kind=RelationKind.CHILD, name="小明", by=by))
    relation_add(member=member_a, kind=RelationKind.SPOUSE, name="王强", by=by)
    other = MemberFactory(home_store=store_a)
    assert "kind" in errors_of(lambda: relation_add(member=member_a, kind=RelationKind.SPOUSE, relative=other, by=by))
    assert "relative" in errors_of(  # member_a has a spouse on file already
        lambda: relation_add(member=other, kind=RelationKind.SPOUSE, relative=member_a, by=by)
    )
    relation_add(member=member_a, kind=RelationKind.REFERRED_BY, relative=other, by=by)
    assert "relative" in errors_of(
        lambda: relation_add(member=other, kind=RelationKind.REFERRED_BY, relative=member_a, by=by)
    )


# --- Scope -----------------------------------------------------------------------------------


def test_a_store_user_cannot_link_another_stores_member(staff_a, member_a, member_b):
    assert errors_of(
        lambda: relation_add(member=member_a, kind=RelationKind.FRIEND, relative=member_b, by=staff_a.manager)
    ) == {"relative": ["没有找到这位会员。"]}


def test_the_page_refuses_another_stores_member_without_naming_it(client, staff_a, member_a, member_b):
    client.force_login(staff_a.manager)
    url = reverse("members:relation_add", args=[member_a.pk])

    by_pk = client.post(url, {"rel-kind": "friend", "rel-relative": member_b.pk}, headers={"HX-Request": "true"})
    by_card = client.post(url, {"rel-kind": "friend", "rel-find": member_b.card_no})
    by_name = client.get(reverse("members:relation_pick", args=[member_a.pk]), {"rel-find": "王芳"})

    assert "没有找到这位会员" in by_pk.content.decode() and "没有找到这位会员" in by_card.content.decode()
    assert "王芳" not in by_pk.content.decode() + by_card.content.decode()
    assert "王芳" not in by_name.content.decode() and "没有找到可关联的会员" in by_name.content.decode()
    assert not MemberRelation.objects.exists()


def test_hq_links_across_stores_and_a_store_user_sees_the_name_only(client, staff_a, staff_b, hq, member_a, member_b):
    relation_add(member=member_a, kind=RelationKind.SIBLING, relative=member_b, by=hq)

    (row,) = member_relations(viewer=staff_a.manager, member=member_a)
    assert (row.label, row.visible) == ("兄弟姐妹 王芳 (会员)", False)
    client.force_login(staff_a.manager)
    page = client.get(reverse("members:detail", args=[member_a.pk])).content.decode()
    assert "兄弟姐妹 王芳 (会员)" in page and "其他门店" in page
    assert reverse("members:detail", args=[member_b.pk]) not in page
    assert member_b.card_no not in page and "1391" not in page and "5678" not in page.replace("138****5678", "")
    (row_b,) = member_relations(viewer=hq, member=member_b)
    assert (row_b.label, row_b.visible) == ("兄弟姐妹 张丽 (会员)", True)


def test_the_picker_finds_the_viewers_members_by_card_or_name(client, staff_a, member_a, husband):
    client.force_login(staff_a.consultant)
    url = reverse("members:relation_pick", args=[member_a.pk])

    by_name = client.get(url, {"rel-find": "王强"}).content.decode()
    by_card = client.get(url, {"rel-find": husband.card_no}).content.decode()

    assert "王强" in by_name and f'value="{husband.pk}"' in by_name and "137****1111" in by_name
    assert f'value="{husband.pk}"' in by_card
    assert "13700001111" not in by_name


def test_a_full_number_in_the_picker_is_audited_like_every_exact_search(client, staff_a, member_a, husband):
    client.force_login(staff_a.specialist)

    found = client.get(reverse("members:relation_pick", args=[member_a.pk]), {"rel-find": "137 0000 1111"})

    assert f'value="{husband.pk}"' in found.content.decode()
    entry = AuditEntry.objects.get(action="member.phone_search")
    assert entry.data["members"] == [husband.pk] and entry.data["via"] == "relation_picker"


# --- Pages -----------------------------------------------------------------------------------


def test_a_consultant_adds_and_removes_links_on_the_member_page(client, staff_a, member_a, husband):
    client.force_login(staff_a.consultant)
    add = reverse("members:relation_add", args=[member_a.pk])

    response = client.post(add, {"rel-kind": "spouse", "rel-relative": husband.pk}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "配偶 王强 (会员)" in response.content.decode()
    response = client.post(add, {"rel-kind": "child", "rel-name": "小明", "rel-birthday": "2016-04-01"})
    assert response.status_code == 302
    assert labels(staff_a.consultant, member_a) == ["配偶 王强 (会员)", "子女 小明"]

    child = MemberRelation.objects.get(name="小明")
    remove = reverse("members:relation_delete", args=[member_a.pk, child.pk])
    assert client.post(remove, headers={"HX-Request": "true"}).status_code == 200
    assert labels(staff_a.consultant, member_a) == ["配偶 王强 (会员)"]


def test_the_referrer_may_remove_the_referral_from_their_own_page(client, staff_a, member_a, husband):
    relation = relation_add(member=member_a, kind=RelationKind.REFERRED_BY, relative=husband, by=None)
    client.force_login(staff_a.specialist)

    response = client.post(reverse("members:relation_delete", args=[husband.pk, relation.pk]))

    assert response.status_code == 302 and not MemberRelation.objects.exists()


def test_a_link_of_someone_else_is_a_404(client, staff_a, member_a, husband, store_a):
    stranger = MemberFactory(home_store=store_a)
    relation = relation_add(member=stranger, kind=RelationKind.CHILD, name="小明", by=None)
    client.force_login(staff_a.specialist)

    response = client.post(reverse("members:relation_delete", args=[member_a.pk, relation.pk]))

    assert response.status_code == 404 and MemberRelation.objects.exists()


def test_a_bad_form_comes_back_with_its_error_and_keeps_the_input(client, staff_a, member_a):
    client.force_login(staff_a.consultant)
    response = client.post(
        reverse("members:relation_add", args=[member_a.pk]),
        {"rel-kind": "child", "rel-name": "小明", "rel-birthday": "1890-01-01", "rel-note": "老大"},
    )

    body = response.content.decode()
    assert response.status_code == 200 and "生日不能早于 1900 年。" in body
    assert 'value="小明"' in body and 'value="老大"' in body


def test_the_member_page_reads_many_links_in_few_queries(client, django_assert_max_num_queries, staff_a, member_a):
    """The section costs two queries (the links both ways, then which of the others the viewer may
    open; with no links, only the first) however many links there are."""
    client.force_login(staff_a.specialist)
    url = reverse("members:detail", args=[member_a.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as without_links:
        client.get(url)
    for i in range(30):
        friend = MemberFactory(home_store=member_a.home_store)
        relation_add(member=member_a, kind=RelationKind.FRIEND, relative=friend, by=None)
        relation_add(member=member_a, kind=RelationKind.CHILD, name=f"孩子{i}", birthday=date(2010, 1, 1 + i), by=None)

    with django_assert_max_num_queries(len(without_links) + 1):
        response = client.get(url)

    assert response.content.decode().count("朋友 会员") == 30
    assert response.content.decode().count("子女 孩子") == 30


# --- Erasure ---------------------------------------------------------------------------------


def test_erasing_a_member_erases_their_relatives_and_links(staff_a, member_a, husband, store_a):
    referred = MemberFactory(home_store=store_a, name="赵敏")
    relation_add(member=member_a, kind=RelationKind.SPOUSE, relative=husband, by=None)
    relation_add(member=member_a, kind=RelationKind.CHILD, name="王小明", birthday=date(2015, 3, 8), by=None)
    relation_add(member=referred, kind=RelationKind.REFERRED_BY, relative=member_a, by=None)

    member_erase(member=member_a, by=staff_a.manager)

    assert not MemberRelation.objects.exists()  # the child's name and birthday, and every link
    assert labels(staff_a.manager, husband) == [] and labels(staff_a.manager, referred) == []
    assert AuditEntry.objects.filter(action="member.relation.removed", object_id=str(member_a.pk)).exists()

"""Member tags managed in the app (issue 11 item 7): store leads add them; managers and HQ rename,
merge and delete them (chain-wide), seeing the member count first; every change is audited."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from accounts.models import AuditEntry
from members.models import MemberTag
from members.tags import tag_create, tag_delete, tag_merge_into, tag_rename
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def wedding(member_a, member_b):
    tag = MemberTag.objects.create(name="婚礼季")
    member_a.tags.add(tag)
    member_b.tags.add(tag)
    return tag


def test_it_lets_a_vip_specialist_add_a_tag_trimmed(client, staff_a):
    client.force_login(staff_a.specialist)

    response = client.post(reverse("members:tag_add"), {"name": "  偏好   真丝 "})

    assert response.status_code == 302
    tag = MemberTag.objects.get()
    assert tag.name == "偏好 真丝"
    assert AuditEntry.objects.get(action="tag.created").actor == staff_a.specialist


@pytest.mark.parametrize(("name", "error"), [("   ", "请填写"), ("婚" * 31, "不能超过"), ("婚礼季", "已有标签")])
def test_it_refuses_an_empty_long_or_taken_name(client, staff_a, wedding, name, error):
    client.force_login(staff_a.manager)

    response = client.post(reverse("members:tag_add"), {"name": name})

    assert response.status_code == 400
    assert error in response.content.decode()
    assert MemberTag.objects.count() == 1


def test_it_treats_names_differing_in_case_as_the_same_tag(staff_a):
    tag_create(name="VIP", by=staff_a.manager)

    with pytest.raises(ValidationError):
        tag_create(name="vip", by=staff_a.specialist)


def test_it_keeps_consultants_out_and_renames_to_managers(client, staff_a, wedding):
    client.force_login(staff_a.consultant)
    assert client.get(reverse("members:tags")).status_code == 403
    assert client.post(reverse("members:tag_add"), {"name": "新"}).status_code == 403
    client.force_login(staff_a.specialist)
    assert client.get(reverse("members:tags")).status_code == 200
    assert client.post(reverse("members:tag_rename", args=[wedding.pk]), {"name": "新"}).status_code == 403
    assert client.post(reverse("members:tag_delete", args=[wedding.pk])).status_code == 403
    with pytest.raises(PermissionDenied):
        tag_rename(tag=wedding, name="新", by=staff_a.specialist)
    with pytest.raises(PermissionDenied):
        tag_create(name="新", by=staff_a.consultant)


def test_it_renames_a_tag_for_every_member(client, staff_a, wedding, member_b):
    client.force_login(staff_a.manager)

    response = client.post(reverse("members:tag_rename", args=[wedding.pk]), {"name": "婚礼旺季"})

    assert response.status_code == 302
    assert [t.name for t in member_b.tags.all()] == ["婚礼旺季"]
    entry = AuditEntry.objects.get(action="tag.renamed")
    assert (entry.data["old"], entry.data["new"]) == ("婚礼季", "婚礼旺季")


def test_it_shows_the_member_count_before_a_delete_and_deletes(client, staff_a, wedding, member_a):
    client.force_login(staff_a.manager)

    confirm = client.get(reverse("members:tag_delete", args=[wedding.pk]))
    response = client.post(reverse("members:tag_delete", args=[wedding.pk]))

    assert "共 2 位会员" in confirm.content.decode()  # store B's member counts too: the tag is chain-wide
    assert response.status_code == 302
    assert not MemberTag.objects.exists()
    assert not member_a.tags.exists()
    assert AuditEntry.objects.get(action="tag.deleted").data == {"name": "婚礼季", "members": 2}


def test_it_merges_a_tag_into_another_keeping_each_member_once(staff_a, wedding, member_a, member_b):
    bridal = MemberTag.objects.create(name="新娘")
    member_a.tags.add(bridal)  # member_a had both
    third = MemberFactory(home_store=member_a.home_store)
    third.tags.add(bridal)

    moved = tag_merge_into(tag=bridal, target=wedding, by=staff_a.manager)

    assert moved == 2
    assert not MemberTag.objects.filter(name="新娘").exists()
    assert set(wedding.members.all()) == {member_a, member_b, third}
    assert AuditEntry.objects.get(action="tag.merged").data["members"] == 2
    with pytest.raises(ValidationError):
        tag_merge_into(tag=wedding, target=wedding, by=staff_a.manager)


def test_it_merges_from_the_page(client, hq, wedding):
    silk = MemberTag.objects.create(name="偏好真丝")
    client.force_login(hq)

    response = client.post(reverse("members:tag_merge", args=[silk.pk]), {"target": wedding.pk})

    assert response.status_code == 302
    assert list(MemberTag.objects.values_list("name", flat=True)) == ["婚礼季"]


def test_it_deletes_through_the_service_with_the_count(staff_a, wedding):
    assert tag_delete(tag=wedding, by=staff_a.manager) == 2


def test_it_lists_many_tags_in_a_bounded_number_of_queries(client, staff_a, member_a, django_assert_max_num_queries):
    for i in range(60):
        member_a.tags.add(MemberTag.objects.create(name=f"标签{i}"))
    client.force_login(staff_a.specialist)

    with django_assert_max_num_queries(6):
        response = client.get(reverse("members:tags"))

    assert len(response.context["tags"]) == 60

"""The members viewset (/api/v1/members/): scoped, filtered, cursor-paged, written through the
services, and deaf to fields a client may not set (issue 13)."""

from datetime import date

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import AuditEntry
from members.models import ImportantDate, Member, MemberTag
from tests.factories import MemberFactory


@pytest.fixture
def api():
    return APIClient()


def enrol_body(**extra):
    return {"card_no": "V9000001", "name": "李娜", "phone": "13700001111", "gender": "F"} | extra


def test_it_lists_the_callers_store_only_newest_first_in_cursor_pages(api, staff_a, member_a, member_b, store_a):
    more = [MemberFactory(home_store=store_a) for _ in range(4)]
    api.force_authenticate(staff_a.manager)

    first = api.get(reverse("api:members"), {"page_size": 3}).json()
    second = api.get(first["next"]).json()

    ids = [row["id"] for row in first["results"] + second["results"]]
    assert ids == sorted([member_a.pk, *(m.pk for m in more)], reverse=True)
    assert member_b.pk not in ids
    assert second["next"] is None and second["previous"]
    assert "count" not in first  # a cursor: no COUNT(*) over a large list


def test_the_list_runs_few_queries_with_many_members(api, staff_a, store_a, django_assert_max_num_queries):
    tag = MemberTag.objects.create(name="真丝")
    for member in MemberFactory.create_batch(60, home_store=store_a, consultant=staff_a.consultant):
        member.tags.add(tag)
    api.force_authenticate(staff_a.manager)

    with django_assert_max_num_queries(2):  # the page of members and their tags
        response = api.get(reverse("api:members"), {"page_size": 200})

    assert len(response.json()["results"]) == 60
    assert response.json()["results"][0]["tags"] == ["真丝"]


def test_it_filters_through_the_shared_filterset(api, staff_a, member_a, store_a):
    gold = MemberFactory(home_store=store_a, tier="A")
    api.force_authenticate(staff_a.manager)

    by_tier = api.get(reverse("api:members"), {"tier": "A"}).json()["results"]
    mine = api.get(reverse("api:members"), {"scope": "mine"}).json()["results"]
    api.force_authenticate(staff_a.consultant)
    consultants_own = api.get(reverse("api:members"), {"scope": "mine"}).json()["results"]

    assert [r["id"] for r in by_tier] == [gold.pk]
    assert mine == []
    assert [r["id"] for r in consultants_own] == [member_a.pk]


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ({"tier": "Z"}, "tier", "invalid_choice"),
        ({"birthday_month": "13"}, "birthday_month", "invalid_choice"),
        ({"q": "x" * 51}, "q", "max_length"),
        ({"consultant": "abc"}, "consultant", "invalid"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api, staff_a, query, field, code):
    api.force_authenticate(staff_a.manager)

    response = api.get(reverse("api:members"), query)

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
    assert response.json()["errors"][0]["code"] == code


def test_another_stores_member_is_a_404_everywhere(api, staff_a, member_b):
    api.force_authenticate(staff_a.manager)

    assert api.get(reverse("api:member", args=[member_b.pk])).status_code == 404
    assert api.patch(reverse("api:member", args=[member_b.pk]), {"name": "改"}, format="json").status_code == 404
    assert api.get(reverse("api:member-dates", args=[member_b.pk])).status_code == 404
    assert api.get(f"{reverse('api:members')}{2**70}/").status_code == 404


def test_the_detail_masks_the_phone_and_lists_dates_and_tags(api, staff_a, member_a):
    ImportantDate.objects.create(member=member_a, kind="wedding_anniversary", date=date(2015, 5, 20))
    member_a.tags.add(MemberTag.objects.create(name="婚礼季"))
    api.force_authenticate(staff_a.consultant)

    body = api.get(reverse("api:member", args=[member_a.pk])).json()

    assert body["phone"] == "138****5678"
    assert body["tags"] == ["婚礼季"]
    assert body["important_dates"][0]["kind"] == "wedding_anniversary"


def test_it_enrols_into_the_callers_store_at_c_whatever_the_body_says(api, staff_a, staff_b, store_a):
    api.force_authenticate(staff_a.consultant)

    response = api.post(
        reverse("api:members"),
        enrol_body(store="BJB", tier="A", id=999, home_store=staff_b.manager.store_id, role="hq", tier_locked=True),
        format="json",
    )

    assert response.status_code == 201, response.json()
    member = Member.objects.get(card_no="V9000001")
    assert (member.home_store, member.tier, member.tier_locked) == (store_a, "C", False)
    assert member.pk != 999 and response.json()["id"] == member.pk
    assert member.consultant == staff_a.consultant  # a consultant enrolling serves the member
    assert response.json()["phone"] == "137****1111"
    assert AuditEntry.objects.filter(action="member.created", object_id=str(member.pk)).exists()


def test_it_refuses_a_consultant_of_another_store(api, staff_a, staff_b):
    api.force_authenticate(staff_a.manager)

    response = api.post(reverse("api:members"), enrol_body(consultant=staff_b.consultant.username), format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "consultant"
    assert not Member.objects.filter(card_no="V9000001").exists()


def test_it_enrols_with_a_consultant_of_the_store(api, staff_a):
    api.force_authenticate(staff_a.manager)

    response = api.post(reverse("api:members"), enrol_body(consultant=staff_a.consultant.username), format="json")

    assert response.status_code == 201
    assert response.json()["consultant"] == staff_a.consultant.username


def test_a_taken_phone_is_a_field_error_from_the_service(api, staff_a, member_a):
    api.force_authenticate(staff_a.manager)

    response = api.post(reverse("api:members"), enrol_body(phone=member_a.phone), format="json")

    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["phone"]


def test_a_partial_update_changes_the_profile_and_nothing_else(api, staff_a, staff_b, member_a):
    api.force_authenticate(staff_a.manager)

    response = api.patch(
        reverse("api:member", args=[member_a.pk]),
        {"name": "张丽华", "tier": "A", "store": "BJB", "home_store": staff_b.manager.store_id, "id": 1},
        format="json",
    )

    assert response.status_code == 200, response.json()
    member_a.refresh_from_db()
    assert (member_a.name, member_a.tier, member_a.home_store.code) == ("张丽华", "C", "SHA")
    assert AuditEntry.objects.filter(action="member.edited", object_id=str(member_a.pk)).exists()


def test_a_partial_update_cannot_move_the_member_to_another_consultant(api, staff_a, member_a):
    api.force_authenticate(staff_a.manager)

    response = api.patch(
        reverse("api:member", args=[member_a.pk]), {"consultant": staff_a.specialist.username}, format="json"
    )

    assert response.status_code == 400
    member_a.refresh_from_db()
    assert member_a.consultant == staff_a.consultant


def test_put_and_delete_are_not_offered(api, staff_a, member_a):
    api.force_authenticate(staff_a.manager)
    url = reverse("api:member", args=[member_a.pk])

    assert api.put(url, enrol_body(), format="json").status_code == 405
    assert api.delete(url).status_code == 405
    assert Member.objects.filter(pk=member_a.pk).exists()


def test_another_consultant_of_the_store_cannot_edit(api, staff_a, member_a):
    other = MemberFactory(home_store=member_a.home_store)
    api.force_authenticate(staff_a.consultant)

    assert api.patch(reverse("api:member", args=[other.pk]), {"name": "改"}, format="json").status_code == 403
    other.refresh_from_db()
    assert other.name != "改"


def test_important_dates_are_added_through_the_service(api, staff_a, member_a):
    api.force_authenticate(staff_a.consultant)
    url = reverse("api:member-dates", args=[member_a.pk])

    added = api.post(url, {"kind": "child_birthday", "date": "2018-03-02"}, format="json")
    again = api.post(url, {"kind": "child_birthday", "date": "2018-03-02"}, format="json")

    assert added.status_code == 201
    assert again.status_code == 400 and again.json()["errors"][0]["field"] == "date"
    assert [d["date"] for d in api.get(url).json()] == ["2018-03-02"]
    assert AuditEntry.objects.filter(action="member.date.added").count() == 1

"""A member's important dates and tags in the API, the cross-store lookup by exact card or full
phone (audited, as the cross-store page), and the API's one error format for a query refused
before any view runs (vipcrm.security.QueryCheckMiddleware). Issue 13 item 2."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import AuditEntry
from members.models import ImportantDate, MemberTag
from tests.factories import ImportantDateFactory, MemberFactory


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def tag(db):
    return MemberTag.objects.create(name="婚礼季")


# --- Important dates -----------------------------------------------------------------------------


def test_a_date_is_deleted_through_the_service(api, staff_a, member_a):
    important = ImportantDateFactory(member=member_a)
    api.force_authenticate(staff_a.consultant)

    response = api.delete(reverse("api:member-date", args=[member_a.pk, important.pk]))

    assert response.status_code == 204
    assert not ImportantDate.objects.filter(pk=important.pk).exists()
    assert AuditEntry.objects.filter(action="member.date.deleted", object_id=str(member_a.pk)).exists()


def test_a_date_is_deleted_only_by_who_may_edit_the_member(api, staff_a, staff_b, member_a, member_b):
    mine = ImportantDateFactory(member=member_a)
    theirs = ImportantDateFactory(member=member_b)
    other = MemberFactory(home_store=member_a.home_store)
    api.force_authenticate(staff_a.consultant)

    assert api.delete(reverse("api:member-date", args=[other.pk, mine.pk])).status_code == 403
    assert api.delete(reverse("api:member-date", args=[member_a.pk, theirs.pk])).status_code == 404
    assert api.delete(reverse("api:member-date", args=[member_b.pk, theirs.pk])).status_code == 404
    assert api.delete(f"{reverse('api:member', args=[member_a.pk])}dates/{2**70}/").status_code == 404
    assert ImportantDate.objects.count() == 2


# --- Tags ----------------------------------------------------------------------------------------


def test_tags_are_listed_added_and_removed_by_name(api, staff_a, member_a, tag):
    api.force_authenticate(staff_a.consultant)
    url = reverse("api:member-tags", args=[member_a.pk])

    added = api.post(url, {"name": " 婚礼季 "}, format="json")
    again = api.post(url, {"name": "婚礼季"}, format="json")
    listed = api.get(url)
    removed = api.delete(reverse("api:member-tag", args=[member_a.pk, "婚礼季"]))
    gone = api.delete(reverse("api:member-tag", args=[member_a.pk, "婚礼季"]))

    assert (added.status_code, again.status_code) == (201, 200)
    assert listed.json() == {"tags": ["婚礼季"]}
    assert removed.status_code == 200 and removed.json() == {"tags": []}
    assert gone.status_code == 404
    actions = list(AuditEntry.objects.filter(object_id=str(member_a.pk)).values_list("action", flat=True))
    assert actions.count("member.tag.added") == 1 and actions.count("member.tag.removed") == 1


def test_an_unknown_tag_is_not_created_on_the_fly(api, staff_a, member_a):
    api.force_authenticate(staff_a.consultant)

    response = api.post(reverse("api:member-tags", args=[member_a.pk]), {"name": "新标签"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "field": "name",
        "code": "not_found",
        "message": response.json()["errors"][0]["message"],
    }
    assert not MemberTag.objects.exists()


def test_tags_follow_the_member_scope_and_edit_rights(api, staff_a, member_a, member_b, tag):
    other = MemberFactory(home_store=member_a.home_store)
    member_b.tags.add(tag)
    api.force_authenticate(staff_a.consultant)

    assert api.get(reverse("api:member-tags", args=[member_b.pk])).status_code == 404
    assert (
        api.post(reverse("api:member-tags", args=[member_b.pk]), {"name": "婚礼季"}, format="json").status_code == 404
    )
    assert api.delete(reverse("api:member-tag", args=[member_b.pk, "婚礼季"])).status_code == 404
    assert api.post(reverse("api:member-tags", args=[other.pk]), {"name": "婚礼季"}, format="json").status_code == 403
    assert api.get(reverse("api:member-tags", args=[other.pk])).status_code == 200  # seeing is the store's
    assert list(member_b.tags.all()) == [tag] and not other.tags.exists()


# --- Cross-store lookup --------------------------------------------------------------------------


def test_the_lookup_answers_what_the_cross_store_page_shows_and_audits_it(api, staff_b, member_a):
    api.force_authenticate(staff_b.consultant)

    response = api.get(reverse("api:member-lookup"), {"q": "138 1234 5678"})

    assert response.status_code == 200, response.json()
    assert response.json() == {
        "own_store": False,
        "id": None,
        "card_no": member_a.card_no,
        "name": "张丽",
        "tier": "C",
        "masked_phone": "138****5678",
        "home_store": "上海店",
    }
    entry = AuditEntry.objects.get(action="member.cross_store.lookup")
    assert (entry.actor, entry.object_id, entry.data["own_store"]) == (staff_b.consultant, str(member_a.pk), False)
    assert "13812345678" not in str(entry.data)
    # The lookup shows the card; the member stays a 404 everywhere else in the API.
    assert api.get(reverse("api:member", args=[member_a.pk])).status_code == 404


@pytest.mark.parametrize("text", ["张丽", "5678", "1381234", ""])
def test_the_lookup_finds_nobody_by_a_name_a_prefix_or_last_four(api, staff_b, member_a, text):
    api.force_authenticate(staff_b.consultant)

    response = api.get(reverse("api:member-lookup"), {"q": text})

    assert response.status_code == 404
    assert "张丽" not in response.content.decode()


def test_the_lookup_of_an_own_member_carries_the_id_and_hq_has_no_till(api, staff_a, hq, member_a):
    api.force_authenticate(staff_a.consultant)
    own = api.get(reverse("api:member-lookup"), {"q": member_a.card_no})
    api.force_authenticate(hq)
    refused = api.get(reverse("api:member-lookup"), {"q": member_a.card_no})

    assert own.status_code == 200 and (own.json()["own_store"], own.json()["id"]) == (True, member_a.pk)
    assert refused.status_code == 403


# --- The one error format, before any view ------------------------------------------------------


def test_a_control_character_in_the_query_is_a_400_in_the_api_error_format(api, staff_a):
    api.force_authenticate(staff_a.manager)

    response = api.get(reverse("api:purchases") + "?receipt_no=%00")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "errors": [{"field": "receipt_no", "code": "invalid", "message": "control characters are not allowed"}],
        "detail": "receipt_no: control characters are not allowed",
    }

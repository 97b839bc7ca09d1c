"""The members/purchases API: scoped like the pages, idempotent for a POS, clear errors."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from members.models import Purchase


@pytest.fixture
def api():
    return APIClient()


def push(api, user, **data):
    api.force_authenticate(user)
    body = {"receipt_no": "POS-1", "card_no": "V0000001", "date": "2026-11-20", "amount": "1280.00"} | data
    return api.post(reverse("api:purchases"), body, format="json")


@pytest.fixture
def card(member_a):
    member_a.card_no = "V0000001"
    member_a.save()
    return member_a


def test_it_records_a_pushed_purchase_once(api, card, staff_a):
    first = push(api, staff_a.consultant)
    again = push(api, staff_a.consultant)
    assert first.status_code == 201, first.json()
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Purchase.objects.count() == 1


def test_it_refuses_the_same_receipt_with_other_content(api, card, staff_a):
    push(api, staff_a.consultant)
    response = push(api, staff_a.consultant, amount="999.00")
    assert response.status_code == 409  # as at the POS: not a bad request, another receipt's number
    [error] = response.json()["errors"]
    assert error["field"] == "receipt_no" and error["code"] == "receipt_conflict" and "POS-1" in error["message"]
    assert Purchase.objects.count() == 1


def test_it_refuses_a_future_date_and_saves_nothing(api, card, staff_a):
    # Tomorrow in store time: the first future day (a year ahead by replace() fails on 29 February).
    response = push(api, staff_a.consultant, date=(timezone.localdate() + timedelta(days=1)).isoformat())
    assert response.status_code == 400 and [e["field"] for e in response.json()["errors"]] == ["date"]
    assert not Purchase.objects.exists()


def test_it_does_not_let_a_store_push_for_another_store(api, card, staff_b):
    assert push(api, staff_b.manager).status_code == 400  # card unknown in store B
    assert push(api, staff_b.manager, store="SHA").status_code == 400
    assert not Purchase.objects.exists()


def test_hq_must_name_the_store(api, card, hq):
    assert push(api, hq).status_code == 400
    assert push(api, hq, store="SHA").status_code == 201


def test_it_needs_authentication(api, card):
    response = api.post(reverse("api:purchases"), {}, format="json")
    assert response.status_code in (401, 403)
    assert api.get(reverse("api:members")).status_code in (401, 403)


def test_it_accepts_basic_authentication(api, card, staff_a):
    api.credentials(HTTP_AUTHORIZATION="Basic " + __import__("base64").b64encode(b"a_manager:pw").decode())
    response = api.get(reverse("api:members"))
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_it_lists_only_the_callers_members_masked(api, member_a, member_b, staff_a):
    api.force_authenticate(staff_a.specialist)
    rows = api.get(reverse("api:members")).json()["results"]
    assert [r["card_no"] for r in rows] == [member_a.card_no]
    assert rows[0]["phone"] == "138****5678"
    assert api.get(reverse("api:member", args=[member_b.pk])).status_code == 404
    assert api.get(reverse("api:member", args=[member_a.pk])).status_code == 200


def test_a_client_cannot_set_the_tier(api, card, staff_a):
    api.force_authenticate(staff_a.manager)
    assert push(api, staff_a.manager, tier="A").status_code == 201
    card.refresh_from_db()
    assert card.tier == "C"

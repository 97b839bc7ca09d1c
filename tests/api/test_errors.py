"""One error format for the whole API (vipcrm/api/errors.py): a list of {field, code, message} in the
request's language, DRF's headers kept (401 WWW-Authenticate, 429 Retry-After)."""

import pytest
from django.core.cache import cache
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle


@pytest.fixture
def api():
    return APIClient()


def test_a_field_error_names_the_field_and_its_code(api, staff_a):
    api.force_authenticate(staff_a.manager)

    response = api.post(reverse("api:members"), {"name": "李娜"}, format="json")

    assert response.status_code == 400
    errors = {e["field"]: e["code"] for e in response.json()["errors"]}
    assert errors == {"card_no": "required", "phone": "required"}
    assert response.json()["detail"].startswith(("card_no: ", "phone: "))


def test_an_error_of_the_whole_request_has_no_field(api, staff_a, member_b):
    api.force_authenticate(staff_a.manager)

    response = api.get(reverse("api:member", args=[member_b.pk]))

    assert response.status_code == 404
    [error] = response.json()["errors"]
    assert error["field"] is None and error["code"] == "not_found" and error["message"]


def test_a_bad_query_value_from_the_params_helpers_has_the_same_format(api, hq):
    api.force_authenticate(hq)

    response = api.get(reverse("api:reports_monthly"), {"month": "2026-01", "until": "2026-02-30"})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "until"


@pytest.mark.parametrize(
    ("language", "message"),
    [("en", "Authentication credentials were not provided."), ("zh-hans", "身份认证信息未提供。")],
)
def test_messages_are_in_the_requests_language(api, language, message):
    response = api.get(reverse("api:members"), HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="api"'
    assert response.json()["errors"] == [{"field": None, "code": "not_authenticated", "message": message}]


def test_the_projects_own_messages_are_translated_too(api, staff_a):
    api.force_authenticate(staff_a.manager)

    chinese = api.post(reverse("api:members"), {"consultant": "nobody"}, format="json")
    english = api.post(reverse("api:members"), {"consultant": "nobody"}, format="json", HTTP_ACCEPT_LANGUAGE="en")

    by_field = {e["field"]: e["message"] for e in chinese.json()["errors"]}
    assert by_field["consultant"] == "本店没有这位员工。"
    assert {e["field"] for e in english.json()["errors"]} == set(by_field)
    assert {e["field"]: e["message"] for e in english.json()["errors"]}["card_no"] == "This field is required."


def test_a_caller_over_the_rate_gets_429_with_retry_after(api, staff_a, monkeypatch):
    cache.clear()
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "3/minute", "anon": "3/minute"})
    api.force_authenticate(staff_a.manager)

    statuses = [api.get(reverse("api:members")).status_code for _ in range(4)]
    other = APIClient()
    other.force_authenticate(staff_a.consultant)

    assert statuses == [200, 200, 200, 429]
    last = api.get(reverse("api:members"))
    assert last.json()["errors"][0]["code"] == "throttled"
    assert int(last["Retry-After"]) > 0
    assert other.get(reverse("api:members")).status_code == 200  # per person, not for everyone
    cache.clear()

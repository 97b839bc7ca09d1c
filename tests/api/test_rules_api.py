"""The program rules (/api/v1/program/rules/): everyone signed in reads them; HQ changes them
through the service the admin uses, with its checks and audit (issue 13 item 2)."""

from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import AuditEntry, Role
from members.models import ProgramRules
from members.services import PROGRAM_RULE_FIELDS
from tests.factories import StaffFactory


@pytest.fixture
def api():
    return APIClient()


URL = "api:program-rules"


def every_rule(**changes):
    rules = ProgramRules.load()
    return {name: str(getattr(rules, name)) for name in PROGRAM_RULE_FIELDS} | changes


def test_everyone_signed_in_reads_them(api, staff_a):
    api.force_authenticate(staff_a.consultant)

    body = api.get(reverse(URL)).json()

    assert set(body) == {*PROGRAM_RULE_FIELDS, "updated_at"}
    assert (body["tier_a_min"], body["care_days_a"], body["complaint_response_hours"]) == ("50000.00", 30, 24)


def test_anonymous_callers_get_a_401(api, db):
    assert api.get(reverse(URL)).status_code == 401


@pytest.mark.parametrize("role", ["consultant", "specialist", "manager"])
def test_only_hq_changes_them(api, staff_a, role):
    api.force_authenticate(getattr(staff_a, role))

    patched = api.patch(reverse(URL), {"churn_days": 200}, format="json")
    put = api.put(reverse(URL), every_rule(churn_days="200"), format="json")

    assert patched.status_code == 403 and put.status_code == 403
    assert ProgramRules.load().churn_days == 180
    assert not AuditEntry.objects.filter(action="program_rules.changed").exists()


def test_hq_patches_some_rules_audited_before_and_after(api, hq):
    api.force_authenticate(hq)

    response = api.patch(reverse(URL), {"churn_days": 200, "tier_a_min": "60000"}, format="json")

    assert response.status_code == 200, response.json()
    rules = ProgramRules.load()
    assert (rules.churn_days, rules.tier_a_min) == (200, Decimal("60000.00"))
    assert response.json()["churn_days"] == 200
    entry = AuditEntry.objects.get(action="program_rules.changed")
    assert entry.actor == hq
    assert entry.data["changes"] == {"churn_days": ["180", "200"], "tier_a_min": ["50000.00", "60000.00"]}


def test_hq_puts_every_rule_and_a_missing_one_is_a_400(api, hq):
    api.force_authenticate(hq)
    partial = every_rule(care_days_b="45")
    del partial["lead_days"]

    missing = api.put(reverse(URL), partial, format="json")
    full = api.put(reverse(URL), every_rule(care_days_b="45"), format="json")

    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "lead_days"
    assert full.status_code == 200
    assert ProgramRules.load().care_days_b == 45


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"tier_a_min": "9000"}, "tier_a_min"),  # not above B's 10,000: the admin's rule
        ({"tier_b_min": "0"}, "tier_b_min"),
        ({"churn_days": 0}, "churn_days"),  # a window of zero would make everyone churned
        ({"daily_care_capacity": 0}, "daily_care_capacity"),
        ({"upgrade_candidate_ratio": "1.5"}, "upgrade_candidate_ratio"),
        ({"care_days_a": -1}, "care_days_a"),
        ({"tier_a_min": "abc"}, "tier_a_min"),
    ],
)
def test_the_services_checks_answer_400_naming_the_rule(api, hq, changes, field):
    api.force_authenticate(hq)

    response = api.patch(reverse(URL), changes, format="json")

    assert response.status_code == 400
    assert field in [e["field"] for e in response.json()["errors"]]
    assert ProgramRules.load().tier_a_min == Decimal("50000.00") and ProgramRules.load().churn_days == 180


def test_updated_at_and_unknown_fields_are_ignored(api, hq):
    before = ProgramRules.load().updated_at
    api.force_authenticate(hq)

    response = api.patch(reverse(URL), {"updated_at": "2000-01-01T00:00:00Z", "id": 7, "pk": 2}, format="json")

    assert response.status_code == 200
    assert list(ProgramRules.objects.values_list("pk", flat=True)) == [1]
    assert ProgramRules.load().updated_at == before  # nothing changed, nothing saved
    assert not AuditEntry.objects.filter(action="program_rules.changed").exists()


def test_the_admin_goes_through_the_same_service(client, db):
    root = StaffFactory(username="root", role=Role.HQ, store=None, is_staff=True, is_superuser=True)
    client.force_login(root)
    rules = ProgramRules.load()
    data = {name: getattr(rules, name) for name in PROGRAM_RULE_FIELDS}
    url = reverse("admin:members_programrules_change", args=[1])

    refused = client.post(url, data | {"churn_days": "0"})
    saved = client.post(url, data | {"churn_days": "150"})

    assert refused.status_code == 200  # the form again: a window of zero, the service's check
    assert "churn_days" in refused.context["adminform"].form.errors
    assert saved.status_code == 302
    assert ProgramRules.load().churn_days == 150
    entry = AuditEntry.objects.get(action="program_rules.changed")
    assert entry.data["changes"] == {"churn_days": ["180", "150"]}

"""The campaigns viewset (/api/v1/campaigns/): read only, scoped like the pages, and its results are
the results page's figures (issue 13 item 2)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Campaign
from campaigns.segments import Segment
from campaigns.services import campaign_save
from tests.campaigns import test_pages as campaign_pages

# The results pages' worked example and its fixtures (tests/campaigns/test_pages.py).
at = campaign_pages.at
plan = campaign_pages.plan
small_campaign = campaign_pages.small_campaign


@pytest.fixture
def api():
    return APIClient()


def a_campaign(by, stores, name="春季私享会", days=7):
    start = timezone.localdate() + timedelta(days=days)
    return campaign_save(
        by=by,
        stores=stores,
        segment=Segment(),
        name=name,
        type="private_viewing",
        start_date=start,
        end_date=start + timedelta(days=2),
    )


def test_it_lists_the_campaigns_of_the_callers_store(api, staff_a, staff_b, hq, store_a, store_b):
    ours = a_campaign(staff_a.specialist, [store_a], "上海店的")
    theirs = a_campaign(staff_b.specialist, [store_b], "北京店的")
    both = a_campaign(hq, [store_a, store_b], "全国的", days=20)

    def names(user):
        api.force_authenticate(user)
        return [row["name"] for row in api.get(reverse("api:campaigns")).json()["results"]]

    assert names(staff_a.consultant) == ["全国的", "上海店的"]  # newest start first, as the list page
    assert names(staff_b.manager) == ["全国的", "北京店的"]
    assert names(hq) == ["全国的", "北京店的", "上海店的"]
    api.force_authenticate(staff_a.manager)
    row = api.get(reverse("api:campaigns")).json()["results"][0]
    assert row["stores"] == ["BJB", "SHA"] and row["id"] == both.pk
    assert (row["status"], row["phase"], row["audience_size"]) == ("draft", "draft", 0)
    assert theirs.pk and ours.pk


def test_it_filters_by_the_list_pages_status(api, staff_a, store_a):
    draft = a_campaign(staff_a.specialist, [store_a])
    past = a_campaign(staff_a.specialist, [store_a], "去年的", days=-400)
    Campaign.objects.filter(pk=past.pk).update(status="launched")  # launched, past its last day: ended
    api.force_authenticate(staff_a.manager)

    def ids(status):
        return [row["id"] for row in api.get(reverse("api:campaigns"), {"status": status}).json()["results"]]

    assert ids("draft") == [draft.pk]
    assert ids("ended") == [past.pk]
    assert ids("launched") == []
    bad = api.get(reverse("api:campaigns"), {"status": "running"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "status"


def test_another_stores_campaign_is_a_404(api, staff_a, staff_b, store_b):
    theirs = a_campaign(staff_b.specialist, [store_b])
    api.force_authenticate(staff_a.manager)

    assert api.get(reverse("api:campaign", args=[theirs.pk])).status_code == 404
    assert api.get(reverse("api:campaign-results", args=[theirs.pk])).status_code == 404
    assert api.get(f"{reverse('api:campaigns')}{2**70}/").status_code == 404


def test_it_is_read_only(api, staff_a, store_a):
    campaign = a_campaign(staff_a.specialist, [store_a])
    api.force_authenticate(staff_a.manager)
    url = reverse("api:campaign", args=[campaign.pk])

    assert api.post(reverse("api:campaigns"), {"name": "新活动"}, format="json").status_code == 405
    assert api.patch(url, {"name": "改名", "status": "archived"}, format="json").status_code == 405
    assert api.delete(url).status_code == 405
    campaign.refresh_from_db()
    assert (campaign.name, campaign.status) == ("春季私享会", "draft")


def test_the_detail_has_the_plan(api, staff_a, store_a):
    campaign = a_campaign(staff_a.specialist, [store_a])
    api.force_authenticate(staff_a.consultant)

    body = api.get(reverse("api:campaign", args=[campaign.pk])).json()

    assert (body["name"], body["stores"], body["budget"], body["goal_invitees"]) == (
        "春季私享会",
        ["SHA"],
        "0.00",
        0,
    )


def test_the_results_are_the_results_pages_figures(api, client, small_campaign, staff_a):
    """small_campaign's worked example (tests/campaigns/test_pages.py): invited 4, confirmed 3,
    attended 2, buyers 1, sales 18,000; goals 4/5, 2/3, 18,000/50,000."""
    client.force_login(staff_a.manager)
    api.force_authenticate(staff_a.manager)

    with at("2026-03-16"):
        page = client.get(reverse("campaigns:results", args=[small_campaign.pk])).context["figures"]
        body = api.get(reverse("api:campaign-results", args=[small_campaign.pk])).json()

    total = body["total"]
    assert (total["invited"], total["confirmed"], total["attended"], total["buyers"]) == (4, 3, 2, 1)
    for key in ("audience", "invited", "confirmed", "attended", "buyers", "sales", "sales_per_invitee"):
        assert total[key] == page["total"][key], key
    assert (total["cost_per_buyer"], total["attendance_rate"]) == ("3000.00", 0.5)
    assert body["goals"]["invitees"] == {"actual": 4, "goal": 5, "rate": 0.8}
    assert body["goals"]["sales"] == {"actual": "18000.00", "goal": "50000.00", "rate": 0.36}
    assert body["window"] == {"start": "2026-03-10", "end": "2026-03-19"}
    assert [(line["label"], line["invited"], line["sales"]) for line in body["by_consultant"]] == [
        (line["label"], line["invited"], line["sales"]) for line in page["by_consultant"]
    ]
    assert body["own_only"] is False


def test_a_consultant_sees_the_totals_and_their_own_line(api, small_campaign, staff_a):
    api.force_authenticate(staff_a.consultant)

    with at("2026-03-16"):
        body = api.get(reverse("api:campaign-results", args=[small_campaign.pk])).json()

    assert body["total"]["invited"] == 4 and body["own_only"] is True
    assert [(line["label"], line["invited"]) for line in body["by_consultant"]] == [("a_consultant", 2)]

"""The gift plans viewset (/api/v1/gift-plans/): a month's plans in the caller's scope and `mark`,
the gift page's service with its effect (issue 13 item 2)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import MemberFactory
from visits.forms import add_months
from visits.models import ClosedBy, FollowUpTask, GiftPlan, GiftStatus, Occasion, TaskKind, TaskStatus
from visits.services import task_create


@pytest.fixture
def api():
    return APIClient()


def plan(member, on: date, status=GiftStatus.PLANNED, occasion=Occasion.BIRTHDAY):
    return GiftPlan.objects.create(
        member=member,
        store=member.home_store,
        occasion=occasion,
        occasion_date=on,
        tier=member.tier,
        gift="丝巾",
        budget=Decimal("300.00"),
        status=status,
    )


def next_month(day: int = 8) -> date:
    return add_months(timezone.localdate(), 1).replace(day=day)


def test_it_lists_next_months_plans_of_the_callers_store_by_default(api, staff_a, member_a, member_b):
    later = plan(member_a, next_month(20))
    sooner = plan(member_a, next_month(3), occasion=Occasion.ANNIVERSARY)
    plan(member_a, timezone.localdate().replace(day=1))  # this month
    plan(member_b, next_month(8))  # another store's
    api.force_authenticate(staff_a.consultant)

    rows = api.get(reverse("api:gift_plans")).json()["results"]

    assert [row["id"] for row in rows] == [sooner.pk, later.pk]  # date order, as the page
    assert (rows[0]["store"], rows[0]["card_no"], rows[0]["member_name"]) == ("SHA", member_a.card_no, "张丽")
    assert (rows[0]["status"], rows[0]["next_statuses"]) == ("planned", ["prepared", "declined"])
    assert rows[0]["consultant"] == "a_consultant"


def test_it_lists_a_month_and_hq_a_store(api, staff_a, hq, member_a, member_b):
    march_a = plan(member_a, date(2026, 3, 8))
    march_b = plan(member_b, date(2026, 3, 9))
    plan(member_a, date(2026, 4, 8))

    def ids(user, **query):
        api.force_authenticate(user)
        return [row["id"] for row in api.get(reverse("api:gift_plans"), query).json()["results"]]

    assert ids(staff_a.manager, month="2026-03") == [march_a.pk]
    assert ids(staff_a.manager, month="2026-03", store="BJB") == []  # not a way into another store
    assert ids(hq, month="2026-03") == [march_a.pk, march_b.pk]
    assert ids(hq, month="2026-03", store="bjb") == [march_b.pk]
    assert ids(hq, month="2026-03", store="NONE") == []


@pytest.mark.parametrize("month", ["2026-13", "26-03", "1899-12", "march"])
def test_a_bad_month_is_a_400_naming_it(api, staff_a, month):
    api.force_authenticate(staff_a.manager)

    response = api.get(reverse("api:gift_plans"), {"month": month})

    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "month"


def test_another_stores_plan_is_a_404_everywhere(api, staff_a, member_b):
    theirs = plan(member_b, next_month())
    api.force_authenticate(staff_a.manager)

    assert api.get(reverse("api:gift_plan", args=[theirs.pk])).status_code == 404
    marked = api.post(reverse("api:gift_plan-mark", args=[theirs.pk]), {"status": "prepared"}, format="json")
    assert marked.status_code == 404
    assert api.get(f"{reverse('api:gift_plans')}{2**70}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == GiftStatus.PLANNED


def test_marking_does_what_the_page_does(api, client, staff_a, member_a):
    """Prepared: who and when are recorded, and the member's preparation task for the day is done."""
    other = MemberFactory(home_store=member_a.home_store, consultant=staff_a.consultant)
    on = timezone.localdate() + timedelta(days=5)
    by_page, by_api = plan(other, on), plan(member_a, on)
    for member in (other, member_a):
        task_create(member=member, kind=TaskKind.BIRTHDAY_PREP, due_date=timezone.localdate(), origin=f"birthday:{on}")
    client.force_login(staff_a.consultant)
    client.post(reverse("visits:gift_mark", args=[by_page.pk]), {"status": "prepared"})
    api.force_authenticate(staff_a.consultant)

    response = api.post(reverse("api:gift_plan-mark", args=[by_api.pk]), {"status": "prepared"}, format="json")

    assert response.status_code == 200, response.json()
    by_page.refresh_from_db()
    by_api.refresh_from_db()
    assert (by_api.status, by_api.status_by) == (by_page.status, by_page.status_by) == ("prepared", staff_a.consultant)
    assert by_api.status_at is not None
    tasks = FollowUpTask.objects.filter(kind=TaskKind.BIRTHDAY_PREP)
    assert {(t.member_id, t.status, t.closed_by) for t in tasks} == {
        (other.pk, TaskStatus.DONE, ClosedBy.GIFT),
        (member_a.pk, TaskStatus.DONE, ClosedBy.GIFT),
    }
    assert (response.json()["status"], response.json()["next_statuses"]) == ("prepared", ["delivered", "declined"])
    assert response.json()["status_by"] == "a_consultant"


def test_a_step_the_plan_cannot_take_is_a_409_with_the_message(api, staff_a, member_a):
    gift = plan(member_a, next_month())
    api.force_authenticate(staff_a.consultant)

    response = api.post(reverse("api:gift_plan-mark", args=[gift.pk]), {"status": "delivered"}, format="json")

    assert response.status_code == 409
    assert response.json()["errors"][0]["message"] == "礼品不能从“已计划”变为“已送达”。"
    gift.refresh_from_db()
    assert gift.status == GiftStatus.PLANNED


@pytest.mark.parametrize("payload", [{}, {"status": "lost"}, {"status": ""}])
def test_a_missing_or_unknown_status_is_a_400(api, staff_a, member_a, payload):
    gift = plan(member_a, next_month())
    api.force_authenticate(staff_a.consultant)

    response = api.post(reverse("api:gift_plan-mark", args=[gift.pk]), payload, format="json")

    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "status"


def test_marking_changes_the_status_and_nothing_else(api, staff_a, staff_b, member_a, member_b):
    gift = plan(member_a, next_month())
    api.force_authenticate(staff_a.consultant)

    response = api.post(
        reverse("api:gift_plan-mark", args=[gift.pk]),
        {
            "status": "declined",
            "gift": "钻石项链",
            "budget": "99999",
            "store": "BJB",
            "member": member_b.pk,
            "tier": "A",
            "status_by": staff_b.manager.pk,
        },
        format="json",
    )

    assert response.status_code == 200
    gift.refresh_from_db()
    assert (gift.status, gift.gift, gift.budget, gift.store.code, gift.member, gift.tier) == (
        "declined",
        "丝巾",
        Decimal("300.00"),
        "SHA",
        member_a,
        member_a.tier,
    )
    assert gift.status_by == staff_a.consultant


def test_plans_are_not_created_or_edited_through_the_api(api, staff_a, member_a):
    gift = plan(member_a, next_month())
    api.force_authenticate(staff_a.manager)

    assert api.post(reverse("api:gift_plans"), {"member": member_a.pk}, format="json").status_code == 405
    assert api.patch(reverse("api:gift_plan", args=[gift.pk]), {"gift": "改"}, format="json").status_code == 405
    assert GiftPlan.objects.count() == 1


def test_the_list_runs_few_queries(api, staff_a, store_a, django_assert_max_num_queries):
    for member in MemberFactory.create_batch(40, home_store=store_a, consultant=staff_a.consultant):
        plan(member, next_month())
    api.force_authenticate(staff_a.manager)

    with django_assert_max_num_queries(1):  # the page, with members, consultants, store and who marked
        response = api.get(reverse("api:gift_plans"), {"page_size": 100})

    assert len(response.json()["results"]) == 40

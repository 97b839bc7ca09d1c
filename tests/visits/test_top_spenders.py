"""The half-month top spenders (issue 12 item 6; seed: 每半个月根据消费前三名客户和重要客户进行回访).

The figures, worked by hand. Store A, half-month 2026-10-01 – 10-15, duty on 10-16:

    member  purchases (date: amount)                         net in 10-01..10-15   rank
    m1      10-03: 8,000                                     8,000                 1
    m2      10-05: 5,000, 10-12: −4,000 (a return)           1,000                 4 (the return drops it)
    m3      10-08: 3,000                                     3,000                 2
    m4      10-15: 2,500 at store B's till; 10-16: 9,000     2,500                 3 (home store counts; 10-16 is out)
    m5      09-30: 10,000; 10-01: 500; tagged 重要客户        500                   5, listed as important

Top 3: m1, m3, m4; plus m5 (important). m2 gets nothing. Store B's member spent 99,999 and store
B's important member is tagged too: never on store A's list.
"""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from duties.models import DutyRun
from members.models import MemberTag
from tests.factories import MemberFactory, PurchaseFactory
from visits.models import FollowUpTask, TaskKind, TaskReason
from visits.services import task_create
from visits.top_spenders import (
    IMPORTANT_TAG,
    TOP_SPENDERS_DUTY,
    half_month_before,
    half_month_of,
    top_spenders,
    top_spenders_catch_up,
    top_spenders_days_to_run,
    top_spenders_work,
)

pytestmark = pytest.mark.django_db

ON = date(2026, 10, 16)
START, END = date(2026, 10, 1), date(2026, 10, 15)


def _buy(member, day, amount, store=None, original=None):
    return PurchaseFactory(
        member=member, date=day, amount=Decimal(amount), store=store or member.home_store, original=original
    )


@pytest.fixture
def ledger(store_a, store_b, staff_a, staff_b):
    important = MemberTag.objects.create(name=IMPORTANT_TAG)
    m = {
        name: MemberFactory(home_store=store_a, consultant=staff_a.consultant, name=name, card_no=f"A{i}")
        for i, name in enumerate(["m1", "m2", "m3", "m4", "m5"], start=1)
    }
    _buy(m["m1"], date(2026, 10, 3), "8000")
    sale = _buy(m["m2"], date(2026, 10, 5), "5000")
    _buy(m["m2"], date(2026, 10, 12), "-4000", original=sale)
    _buy(m["m3"], date(2026, 10, 8), "3000")
    _buy(m["m4"], date(2026, 10, 15), "2500", store=store_b)
    _buy(m["m4"], date(2026, 10, 16), "9000")
    _buy(m["m5"], date(2026, 9, 30), "10000")
    _buy(m["m5"], date(2026, 10, 1), "500")
    m["m5"].tags.add(important)
    other = MemberFactory(home_store=store_b, consultant=staff_b.consultant, name="other")
    _buy(other, date(2026, 10, 10), "99999")
    flagged = MemberFactory(home_store=store_b, name="flagged")
    flagged.tags.add(important)
    m["other"], m["flagged"] = other, flagged
    return m


def test_half_months():
    assert half_month_of(date(2026, 10, 15)) == (date(2026, 10, 1), date(2026, 10, 15))
    assert half_month_of(date(2026, 2, 16)) == (date(2026, 2, 16), date(2026, 2, 28))
    assert half_month_before(date(2026, 10, 16)) == (date(2026, 10, 1), date(2026, 10, 15))
    assert half_month_before(date(2026, 10, 1)) == (date(2026, 9, 16), date(2026, 9, 30))
    assert half_month_before(date(2026, 1, 1)) == (date(2025, 12, 16), date(2025, 12, 31))


def test_the_top_three_by_net_spend_then_the_important_ones(ledger, store_a):
    rows = top_spenders(store=store_a, start=START, end=END)

    assert [(r.member.name, r.rank, r.spend, r.important) for r in rows] == [
        ("m1", 1, Decimal("8000.00"), False),
        ("m3", 2, Decimal("3000.00"), False),
        ("m4", 3, Decimal("2500.00"), False),
        ("m5", None, Decimal("500.00"), True),
    ]


def test_n_is_a_setting(ledger, store_a, settings):
    settings.VIPCRM_TOP_SPENDERS = 4

    rows = top_spenders(store=store_a, start=START, end=END)

    assert [r.member.name for r in rows] == ["m1", "m3", "m4", "m2", "m5"]


def test_an_important_member_among_the_top_is_listed_once(ledger, store_a):
    ledger["m1"].tags.add(MemberTag.objects.get(name=IMPORTANT_TAG))

    rows = top_spenders(store=store_a, start=START, end=END)

    assert [(r.member.name, r.rank, r.important) for r in rows] == [
        ("m1", 1, True),
        ("m3", 2, False),
        ("m4", 3, False),
        ("m5", None, True),
    ]


def test_the_duty_gives_each_a_revisit_once(ledger, store_a, staff_a):
    counts = top_spenders_work(store_a, ON)

    assert counts == {"top_spenders": 3, "important": 1, "tasks": 4}
    reasons = TaskReason.objects.filter(origin="top-spender:2026-10-16")
    assert {r.member.name for r in reasons} == {"m1", "m3", "m4", "m5"}
    assert {r.kind for r in reasons} == {TaskKind.MANUAL}
    assert {r.task.assignee_id for r in reasons} == {staff_a.consultant.pk}
    assert {r.due_date for r in reasons} == {ON}
    notes = {r.member.name: r.note for r in reasons}
    assert notes["m1"] == "半月回访：10-01–10-15 消费第 1 名 ¥8,000.00"
    assert notes["m5"] == "半月回访：重要客户（10-01–10-15 消费 ¥500.00）"
    before = FollowUpTask.objects.count()

    again = top_spenders_work(store_a, ON)

    assert again["tasks"] == 0
    assert FollowUpTask.objects.count() == before
    assert not TaskReason.objects.filter(member__in=[ledger["m2"], ledger["other"], ledger["flagged"]]).exists()


def test_the_revisit_joins_the_members_open_card(ledger, store_a, staff_a):
    card, _ = task_create(
        member=ledger["m1"],
        kind=TaskKind.CARE,
        due_date=ON + timedelta(days=3),
        origin="care:x",
        assignee=staff_a.consultant,
    )

    top_spenders_work(store_a, ON)

    assert TaskReason.objects.get(member=ledger["m1"], origin="top-spender:2026-10-16").task_id == card.pk
    assert FollowUpTask.objects.filter(member=ledger["m1"], status="open").count() == 1
    card.refresh_from_db()
    assert card.due_date == ON


def test_another_stores_members_are_never_listed(ledger, store_b, staff_b):
    rows = top_spenders(store=store_b, start=START, end=END)

    assert [(r.member.name, r.rank, r.important) for r in rows] == [("other", 1, False), ("flagged", None, True)]
    # m4 bought at store B's till: their spend is theirs, and their home store is A.
    assert "m4" not in {r.member.name for r in rows}


def test_it_runs_only_on_the_1st_and_16th():
    with pytest.raises(ValueError):
        top_spenders_work(None, date(2026, 10, 15))


def test_the_duty_runs_once_per_store_and_date(ledger, store_a):
    runs = top_spenders_catch_up(store=store_a, through=ON)
    assert [r.date for r in runs] == [ON]
    assert runs[0].counts["tasks"] == 4

    assert top_spenders_catch_up(store=store_a, through=ON) == []
    assert top_spenders_catch_up(store=store_a, through=ON + timedelta(days=3)) == []
    assert DutyRun.objects.filter(duty=TOP_SPENDERS_DUTY).count() == 1


def test_missed_dates_are_caught_up_oldest_first(store_a):
    DutyRun.objects.create(
        duty=TOP_SPENDERS_DUTY, store=store_a, date=date(2026, 9, 16), status="done", started_at=timezone.now()
    )

    assert top_spenders_days_to_run(store=store_a, through=date(2026, 10, 20)) == [date(2026, 10, 1), ON]
    # A store that never ran it starts with the latest date, not with history.
    DutyRun.objects.all().delete()
    assert top_spenders_days_to_run(store=store_a, through=date(2026, 10, 20)) == [ON]
    assert top_spenders_days_to_run(store=store_a, through=date(2026, 10, 31)) == [ON]


# --- The page ------------------------------------------------------------------------------------


def test_the_page_lists_the_half_month_with_the_revisits(client, ledger, staff_a):
    top_spenders_work(ledger["m1"].home_store, ON)
    client.force_login(staff_a.specialist)

    response = client.get(reverse("visits:top_spenders"), {"half": "2026-10-09"})

    assert response.status_code == 200
    assert [r.member.name for r in response.context["rows"]] == ["m1", "m3", "m4", "m5"]
    assert all(r.task is not None for r in response.context["rows"])
    content = response.content.decode()
    # Names as the page writes them in a cell: a bare "m2" could be part of a random CSRF token.
    assert ">m2<" not in content and ">other<" not in content
    assert ">m1<" in content
    assert ledger["m1"].phone not in content  # masked


def test_the_page_defaults_to_the_half_month_in_progress(client, staff_a):
    client.force_login(staff_a.manager)

    response = client.get(reverse("visits:top_spenders"))

    assert (response.context["start"], response.context["end"]) == half_month_of(timezone.localdate())
    assert response.context["in_progress"]


def test_hq_picks_a_store(client, ledger, hq, store_b):
    client.force_login(hq)

    response = client.get(reverse("visits:top_spenders"), {"half": "2026-10-01", "store": store_b.pk})

    assert [r.member.name for r in response.context["rows"]] == ["other", "flagged"]


def test_bad_input(client, staff_a, store_b):
    client.force_login(staff_a.specialist)
    url = reverse("visits:top_spenders")

    assert client.get(url, {"half": "2026-13-01"}).status_code == 400
    assert client.get(url, {"store": store_b.pk}).status_code == 404
    assert client.get(url, {"half": "2999-01-01"}).context["in_progress"]  # the future shows today's


def test_the_page_query_count_with_many_members(client, store_a, staff_a, django_assert_max_num_queries):
    tag = MemberTag.objects.create(name=IMPORTANT_TAG)
    for i in range(60):
        member = MemberFactory(home_store=store_a, consultant=staff_a.consultant)
        _buy(member, date(2026, 10, 2), str(100 + i))
        if i % 3 == 0:
            member.tags.add(tag)
    top_spenders_work(store_a, ON)
    client.force_login(staff_a.specialist)

    with django_assert_max_num_queries(9):
        response = client.get(reverse("visits:top_spenders"), {"half": "2026-10-01"})

    # Top 3: i = 59, 58, 57; tagged: i = 0, 3, …, 57 (20), of whom 57 is among the top already.
    assert len(response.context["rows"]) == 3 + 20 - 1


def test_run_duties_runs_it_by_hand_on_its_days_only(ledger, store_a):
    from django.core.management import CommandError, call_command

    call_command("run_duties", "top_spenders", "--date", ON.isoformat(), "--store", store_a.code)
    assert TaskReason.objects.filter(origin=f"top-spender:{ON}").count() == 4

    with pytest.raises(CommandError, match="the 1st and the 16th"):
        call_command("run_duties", "top_spenders", "--date", (ON + timedelta(days=1)).isoformat())

"""Today at chain scale (issue 14): the listed cards come from two plain reads (the listed tasks,
then their reasons by id) and the card condition is worked out in Python; what a card prints is
made once per card (or once per date a page) instead of by a filter per card. The page must show
the same as before: these pin what the rewrite could get wrong.

Dates are pinned to Tuesday 10 March 2026, 09:00 in Shanghai.
"""

from datetime import date
from itertools import count

import pytest
import time_machine
from django.db import connection
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import truncatechars
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from members.templatetags.money import format_money
from visits.models import TaskKind
from visits.services import task_create

from ..factories import MemberFactory

pytestmark = pytest.mark.django_db

D = date.fromisoformat
_origins = count()


@pytest.fixture(autouse=True)
def pinned_today():
    with time_machine.travel("2026-03-10 09:00 +0800", tick=False):
        yield


def reason(member, kind, due, assignee=None, **extra):
    task, _new = task_create(
        member=member, kind=kind, due_date=D(due), origin=f"speed:{next(_origins)}", assignee=assignee, **extra
    )
    return task


def listing(client, **params):
    return client.get(reverse("visits:today"), params).context["listing"]


def names(page):
    return sorted((c.member.name, c.kind) for c in page.cards)


def test_a_preparation_goes_on_the_card_of_the_same_person_and_stands_alone_without_one(client, store_a, staff_a):
    mine = staff_a.consultant
    carded = MemberFactory(home_store=store_a, consultant=mine, name="有卡")
    alone = MemberFactory(home_store=store_a, consultant=mine, name="无卡")
    other = MemberFactory(home_store=store_a, consultant=mine, name="别人的卡")
    reason(carded, TaskKind.BIRTHDAY, "2026-03-10")
    reason(carded, TaskKind.BIRTHDAY_PREP, "2026-03-09")
    reason(alone, TaskKind.BIRTHDAY_PREP, "2026-03-10")
    reason(other, TaskKind.POST_PURCHASE, "2026-03-10", assignee=staff_a.specialist)  # someone else's card
    reason(other, TaskKind.COMPLAINT_REVISIT, "2026-03-10", assignee=mine)
    client.force_login(mine)

    page = listing(client)

    assert names(page) == [
        ("别人的卡", TaskKind.COMPLAINT_REVISIT),
        ("无卡", TaskKind.BIRTHDAY_PREP),
        ("有卡", "birthday"),
    ]
    assert page.page.paginator.count == 3
    (card,) = [c for c in page.cards if c.member == carded]
    assert [t.kind for t in card.extra_tasks] == [TaskKind.BIRTHDAY_PREP]
    # The chips count every listed task with a reason of the kind, folded ones too (as before).
    assert {kind: n for kind, _label, n in page.kind_counts}[TaskKind.BIRTHDAY_PREP] == 2


def test_the_store_view_folds_by_person_not_by_member(client, store_a, staff_a):
    member = MemberFactory(home_store=store_a, consultant=staff_a.consultant, name="两人")
    reason(member, TaskKind.POST_PURCHASE, "2026-03-10", assignee=staff_a.specialist)
    reason(member, TaskKind.COMPLAINT_REVISIT, "2026-03-10", assignee=staff_a.specialist)
    reason(member, TaskKind.BIRTHDAY_PREP, "2026-03-10", assignee=staff_a.consultant)
    client.force_login(staff_a.manager)

    page = listing(client, scope="store")

    assert names(page) == [("两人", TaskKind.BIRTHDAY_PREP), ("两人", "post_purchase")]


def test_a_picked_kind_lists_every_task_with_it_folded_or_not(client, store_a, staff_a):
    mine = staff_a.consultant
    carded = MemberFactory(home_store=store_a, consultant=mine, name="有卡")
    reason(carded, TaskKind.BIRTHDAY, "2026-03-10")
    reason(carded, TaskKind.BIRTHDAY_PREP, "2026-03-09")
    client.force_login(mine)

    page = listing(client, kind=TaskKind.BIRTHDAY_PREP)

    assert names(page) == [("有卡", TaskKind.BIRTHDAY_PREP)]
    assert page.page.paginator.count == 1


def test_upcoming_folds_a_preparation_only_into_a_card_no_later_than_it(client, store_a, staff_a):
    mine = staff_a.consultant
    early = MemberFactory(home_store=store_a, consultant=mine, name="卡早")
    late = MemberFactory(home_store=store_a, consultant=mine, name="卡晚")
    reason(early, TaskKind.BIRTHDAY, "2026-03-11")
    reason(early, TaskKind.BIRTHDAY_PREP, "2026-03-12")
    reason(late, TaskKind.BIRTHDAY, "2026-03-13")
    reason(late, TaskKind.BIRTHDAY_PREP, "2026-03-12")
    client.force_login(mine)

    page = listing(client, when="upcoming")

    assert names(page) == [("卡早", "birthday"), ("卡晚", "birthday"), ("卡晚", TaskKind.BIRTHDAY_PREP)]


def test_what_a_card_prints_is_what_the_filters_made(client, store_a, staff_a):
    mine = staff_a.consultant
    member = MemberFactory(
        home_store=store_a, consultant=mine, style_preferences="偏爱真丝连衣裙，" * 6, notes="周末下午方便联系"
    )
    reason(member, TaskKind.BIRTHDAY, "2026-03-02")
    reason(member, TaskKind.BIRTHDAY_PREP, "2026-03-09")
    client.force_login(mine)

    response = client.get(reverse("visits:today"))

    (card,) = response.context["listing"].cards
    t = response.context["t"]
    assert [r.day for r in card.reason_list] == [date_filter(r.due_date, t["day"]) for r in card.reason_list]
    assert [x.day for x in card.extra_tasks] == [date_filter(x.due_date, t["day"]) for x in card.extra_tasks]
    assert card.style_short == truncatechars(member.style_preferences, 40)
    assert card.notes_short == truncatechars(member.notes, 40)
    assert card.spend_text == format_money(card.spend, 0)
    html = response.content.decode()
    assert f'min="{t["snooze_min"]}"' in html and 'min="2026-03-11"' in html
    assert card.style_short in html and "· 3月2日" in html


def test_the_queries_do_not_grow_with_preparations_to_fold(client, store_a, staff_a):
    mine = staff_a.consultant
    client.force_login(mine)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            client.get(reverse("visits:today"))
        return len(captured)

    member = MemberFactory(home_store=store_a, consultant=mine)
    reason(member, TaskKind.BIRTHDAY, "2026-03-10")
    queries()  # the first request after sign-in does more
    few = queries()
    for i in range(5):
        other = MemberFactory(home_store=store_a, consultant=mine)
        reason(other, TaskKind.BIRTHDAY, "2026-03-10")
        reason(other, TaskKind.BIRTHDAY_PREP, f"2026-03-0{i + 1}")
    assert queries() == few <= 15

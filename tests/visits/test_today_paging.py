"""Today at chain scale (issue 14): a page of cards whatever the number of open tasks; the pages
together hold every card once, in the page order; the counts above them are the totals; the
queries and the links reversed per page do not grow with the cards.

Dates are pinned to Tuesday 10 March 2026, 09:00 in Shanghai (as tests/visits/test_today.py).
"""

from datetime import timedelta
from unittest import mock

import django.urls
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from members.models import ProgramRules
from visits.models import FollowUpTask, TaskStatus
from visits.selectors import TODAY_PER_PAGE

from .test_today import TODAY, _many_cards

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def pinned_today():
    with time_machine.travel("2026-03-10 09:00 +0800", tick=False):
        yield


def today_page(client, **params):
    return client.get(reverse("visits:today"), params)


def card_ids(response) -> list[int]:
    return [card.pk for card in response.context["listing"].cards]


def test_it_puts_the_cards_after_the_first_page_on_the_next(client, store_a, staff_a):
    ProgramRules.load()
    _many_cards(store_a, staff_a.consultant, TODAY_PER_PAGE + 7)
    client.force_login(staff_a.specialist)

    first = today_page(client, scope="store")
    second = today_page(client, scope="store", page=2)

    assert len(card_ids(first)) == TODAY_PER_PAGE and len(card_ids(second)) == 7
    open_ids = set(FollowUpTask.objects.filter(status=TaskStatus.OPEN).values_list("pk", flat=True))
    assert set(card_ids(first)) | set(card_ids(second)) == open_ids
    assert not set(card_ids(first)) & set(card_ids(second))
    # The order runs on across the pages: every overdue card (half of them) before any due today.
    lateness = [c.overdue_days > 0 for c in first.context["listing"].cards + second.context["listing"].cards]
    assert lateness == sorted(lateness, reverse=True)
    assert "page=2" in first.content.decode() and "page=1" in second.content.decode()


def test_a_page_past_the_last_shows_the_last(client, store_a, staff_a):
    _many_cards(store_a, staff_a.consultant, TODAY_PER_PAGE + 3)
    client.force_login(staff_a.consultant)

    assert len(card_ids(today_page(client, page=99))) == 3
    assert len(card_ids(today_page(client, page="x"))) == TODAY_PER_PAGE


def test_the_counts_above_the_cards_are_the_totals_not_the_page(client, store_a, staff_a):
    _many_cards(store_a, staff_a.consultant, 2 * TODAY_PER_PAGE + 10)  # half overdue by a day, half due today
    upcoming = FollowUpTask.objects.filter(status=TaskStatus.OPEN)[:4]
    FollowUpTask.objects.filter(pk__in=[t.pk for t in upcoming]).update(scheduled_for=TODAY + timedelta(days=2))
    client.force_login(staff_a.specialist)

    listing = today_page(client, scope="store", page=3).context["listing"]

    tasks = FollowUpTask.objects.filter(status=TaskStatus.OPEN, scheduled_for__lte=TODAY)
    assert listing.overdue == tasks.filter(due_date__lt=TODAY).count()
    assert listing.due_today == tasks.filter(due_date__gte=TODAY).count()
    assert listing.overdue + listing.due_today == listing.page.paginator.count == 2 * TODAY_PER_PAGE + 6
    assert listing.upcoming == 4
    assert {kind: n for kind, _label, n in listing.kind_counts} == {"post_purchase": 106, "birthday": 106}


def _cost(client, **params) -> tuple[int, int]:
    """(queries, URLs reversed by the templates) for one Today page."""
    # {% url %} looks `reverse` up in django.urls each time it renders.
    spy = mock.patch.object(django.urls, "reverse", wraps=django.urls.reverse)
    with spy as reversed_, CaptureQueriesContext(connection) as queries:
        assert today_page(client, **params).status_code == 200
    return len(queries), reversed_.call_count


def test_the_queries_and_links_do_not_grow_with_the_cards(client, store_a, store_b, staff_a, staff_b):
    ProgramRules.load()
    _many_cards(store_a, staff_a.consultant, 10)
    _many_cards(store_b, staff_b.consultant, 200)

    def costs(staff):
        client.force_login(staff.specialist)
        today_page(client, scope="store")  # the session and caches warmed
        return _cost(client, scope="store"), _cost(client, scope="store", page=4)

    (few, _), (many, deep) = costs(staff_a), costs(staff_b)
    client.force_login(staff_b.consultant)
    today_page(client)

    # 10 cards on the page or 50 (page 1 or 4 of 200): the same queries and the same links
    # reversed (the navigation's): a card's links come from one reversed URL per action.
    assert few == many == deep
    assert _cost(client)[0] <= many[0]


def test_a_deeper_page_holds_the_next_cards_of_the_one_order(client, store_a, staff_a):
    """The first page is read in one query with what its cards show, a deeper page picks its ids
    in a subquery first: both are slices of the one order, and print the same cards."""
    ProgramRules.load()
    _many_cards(store_a, staff_a.consultant, 23)
    client.force_login(staff_a.specialist)

    def shown(response) -> list[dict]:
        return [{k: v for k, v in c.show.items() if not callable(v)} for c in response.context["listing"].cards]

    with mock.patch("visits.selectors.TODAY_PER_PAGE", 100):
        whole = shown(today_page(client, scope="store"))
    with mock.patch("visits.selectors.TODAY_PER_PAGE", 5):
        paged = [card for n in range(1, 6) for card in shown(today_page(client, scope="store", page=n))]

    assert len(whole) == 23
    assert paged == whole

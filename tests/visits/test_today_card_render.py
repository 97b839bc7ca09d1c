"""How the Today cards are printed (issue 14): what a card shows is made once in the selector
(`card.show`), the labels and counts once a page, and the actions once per page and shape with
stand-in ids that each card's own replace. Each card must still carry its own ids only, and a card
re-read on its own (after an action) must print exactly as on the list.

Dates are pinned to Tuesday 10 March 2026, 09:00 in Shanghai.
"""

import re

import pytest
import time_machine
from django.urls import reverse

from accounts.models import Role
from visits.models import FollowUpTask, TaskKind
from visits.selectors import STAND_IN_ID as _TASK
from visits.selectors import STAND_IN_MEMBER_ID as _MEMBER

from ..factories import MemberFactory, StaffFactory
from .test_today import reason, today_page

pytestmark = pytest.mark.django_db

CSRF = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*"')


@pytest.fixture(autouse=True)
def pinned_today():
    with time_machine.travel("2026-03-10 09:00 +0800", tick=False):
        yield


def card_html(html: str, pk: int) -> str:
    """The card's <li>, its CSRF tokens blanked (each render masks the token anew)."""
    start = html.index(f'<li id="card-{pk}"')
    end = html.index("</details></li>", start) + len("</details></li>")
    return CSRF.sub(r'\1"', html[start:end])


def task_urls(task: FollowUpTask) -> list[str]:
    names = ("visits:task_complete", "visits:task_snooze", "visits:task_reassign", "visits:task_message")
    return [reverse(name, args=[task.pk]) for name in names]


def member_urls(task: FollowUpTask) -> list[str]:
    return [reverse("visits:call", args=[task.member_id]), reverse("members:detail", args=[task.member_id])]


@pytest.fixture
def two_cards(store_a, staff_a, member_a):
    other = StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a)
    second = MemberFactory(home_store=store_a, consultant=other, name="王芳")
    first = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-08", note="小票 R1")
    reason(member_a, TaskKind.BIRTHDAY, "2026-03-10")
    FollowUpTask.objects.filter(pk=first.pk).update(attempts=2)
    return first, reason(second, TaskKind.BIRTHDAY, "2026-03-10")


def test_each_card_carries_its_own_ids_and_no_other_cards(client, staff_a, two_cards):
    client.force_login(staff_a.specialist)  # the whole store: both cards, with reassign and call

    html = today_page(client, scope="store").content.decode()

    for card, other in (two_cards, two_cards[::-1]):
        own = card_html(html, card.pk)
        for url in task_urls(card) + member_urls(card):
            assert url in own
        assert f'hx-target="#card-{card.pk}"' in own
        for url in task_urls(other) + member_urls(other):
            assert url not in own
    assert str(_TASK) not in html
    assert str(_MEMBER) not in html


def test_a_card_reread_alone_prints_as_on_the_list(client, staff_a, two_cards):
    client.force_login(staff_a.specialist)
    html = today_page(client, scope="store").content.decode()

    for card in two_cards:
        alone = client.get(reverse("visits:task", args=[card.pk]), HTTP_HX_REQUEST="true").content.decode()
        assert card_html(alone, card.pk) == card_html(html, card.pk)


def test_it_prints_the_counts_and_the_tier_badge_per_card(client, staff_a, two_cards):
    late, on_time = two_cards
    client.force_login(staff_a.specialist)

    html = today_page(client, scope="store").content.decode()

    first = card_html(html, late.pk)
    assert "逾期 2 天" in first
    assert '<span class="d-block text-secondary card-attempts">未接通 2 次</span>' in first
    assert f'class="badge tier-{late.member.tier}"' in first
    second = card_html(html, on_time.pk)
    assert "逾期" not in second
    assert "card-attempts" not in second
    assert f'class="badge tier-{on_time.member.tier}"' in second

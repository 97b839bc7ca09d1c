"""The Today page (issue 9): one card per member and person with every reason and the context to
call with, ordered overdue first then by tier and value, filtered by kind and tier, paged 50 a
page in a fixed number of queries; a reached contact closes the card with all its reasons, an
unanswered call is an attempt that brings the card back tomorrow.

Dates are pinned to Tuesday 10 March 2026, 09:00 in Shanghai.
"""

from datetime import date, timedelta
from decimal import Decimal
from itertools import count

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, Role
from members.models import ProgramRules, Purchase, Tier
from visits.models import (
    FollowUpTask,
    GiftPlan,
    Occasion,
    TaskKind,
    TaskReason,
    TaskStatus,
    Visit,
    VisitResult,
)
from visits.services import task_create

from ..factories import MemberFactory, PurchaseFactory, StaffFactory

pytestmark = pytest.mark.django_db

D = date.fromisoformat
TODAY = D("2026-03-10")
HTMX = {"HTTP_HX_REQUEST": "true"}
_origins = count()


@pytest.fixture(autouse=True)
def pinned_today():
    with time_machine.travel("2026-03-10 09:00 +0800", tick=False):
        yield


def reason(member, kind, due, assignee=None, **extra):
    """A reason through the card engine (it joins the person's open card for the member)."""
    task, _new = task_create(
        member=member,
        kind=kind,
        due_date=D(due) if isinstance(due, str) else due,
        origin=f"test:{next(_origins)}",
        assignee=assignee,
        **extra,
    )
    return task


def today_page(client, **params):
    return client.get(reverse("visits:today"), params)


def cards(response):
    return [(c.member.name, c.due_date.isoformat()) for c in response.context["listing"].cards]


def bought(member, days_ago, amount):
    return PurchaseFactory(member=member, date=TODAY - timedelta(days=days_ago), amount=Decimal(amount))


def contacted(member, staff, days_ago, *, result=VisitResult.REACHED, channel="wechat"):
    return Visit.objects.create(
        member=member,
        store=member.home_store,
        staff=staff,
        channel=channel,
        at=timezone.now() - timedelta(days=days_ago),
        outcome="已联系",
        result=result,
    )


# --- One card per member, with every reason ----------------------------------------------------


def test_it_shows_one_card_per_member_with_every_reason(client, staff_a, member_a):
    mine = staff_a.consultant
    reason(member_a, TaskKind.POST_PURCHASE, "2026-03-09", note="小票 R1")
    reason(member_a, TaskKind.BIRTHDAY, "2026-03-10")
    reason(member_a, TaskKind.MANUAL, "2026-03-10", note="试穿新款", assignee=mine)
    client.force_login(mine)

    response = today_page(client)

    listing = response.context["listing"]
    assert cards(response) == [("张丽", "2026-03-09")]  # the earliest reason's date
    (card,) = listing.cards
    assert [r.kind for r in card.reason_list] == [TaskKind.POST_PURCHASE, TaskKind.BIRTHDAY, TaskKind.MANUAL]
    html = response.content.decode()
    assert html.count('class="list-group-item today-card') == 1
    assert "购后回访" in html and "生日祝福" in html and "手动回访" in html
    assert "小票 R1" in html and "试穿新款" in html
    assert "逾期 1 天" in html


def test_it_shows_a_preparation_and_a_complaint_revisit_on_the_members_card(client, staff_a, member_a):
    reason(member_a, TaskKind.BIRTHDAY, "2026-03-10")
    reason(member_a, TaskKind.BIRTHDAY_PREP, "2026-03-09", note="生日礼品")  # a birthday on the 16th
    revisit = reason(member_a, TaskKind.COMPLAINT_REVISIT, "2026-03-10", note="投诉回访")
    client.force_login(staff_a.consultant)

    response = today_page(client)

    (card,) = response.context["listing"].cards
    assert [t.kind for t in card.extra_tasks] == [TaskKind.BIRTHDAY_PREP, TaskKind.COMPLAINT_REVISIT]
    html = response.content.decode()
    assert "生日准备" in html and "投诉回访" in html
    assert reverse("visits:gifts") + "?month=2026-03" in html  # the gift is prepared on the gifts page
    assert reverse("visits:task_complete", args=[revisit.pk]) in html  # the revisit is logged on its own


def test_it_orders_overdue_first_then_today_by_tier_and_value(client, store_a, staff_a):
    mine = staff_a.consultant

    def member(name, tier, spend=None):
        m = MemberFactory(home_store=store_a, consultant=mine, name=name, tier=tier)
        if spend:
            bought(m, 30, spend)
        return m

    reason(member("逾期C", Tier.C), TaskKind.POST_PURCHASE, "2026-03-05")
    reason(member("逾期A", Tier.A, "60000"), TaskKind.POST_PURCHASE, "2026-03-09")
    reason(member("今天C", Tier.C, "500"), TaskKind.MANUAL, "2026-03-10", assignee=mine)
    reason(member("今天B小", Tier.B, "11000"), TaskKind.MANUAL, "2026-03-10", assignee=mine)
    reason(member("今天B大", Tier.B, "30000"), TaskKind.MANUAL, "2026-03-10", assignee=mine)
    reason(member("今天A", Tier.A, "52000"), TaskKind.BIRTHDAY, "2026-03-10")
    reason(member("明天A", Tier.A, "90000"), TaskKind.BIRTHDAY, "2026-03-11")  # not today's
    client.force_login(mine)

    response = today_page(client)

    assert [name for name, _due in cards(response)] == ["逾期A", "逾期C", "今天A", "今天B大", "今天B小", "今天C"]
    listing = response.context["listing"]
    assert (listing.overdue, listing.due_today, listing.upcoming) == (2, 4, 1)
    upcoming = today_page(client, when="upcoming")
    assert [name for name, _due in cards(upcoming)] == ["明天A"]


def test_it_shows_what_to_call_with(client, store_a, staff_a, member_a):
    mine = staff_a.consultant
    member_a.style_preferences = "偏爱真丝，M 码"
    member_a.open_complaints = 1
    member_a.joined_on = D("2024-01-01")
    member_a.tier = Tier.B
    member_a.save()
    bought(member_a, 170, "12800.00")  # inside the 12 months; 170 days ago: the churn window closes soon
    contacted(member_a, staff_a.specialist, days_ago=20, channel="wechat")
    contacted(member_a, mine, days_ago=2, result=VisitResult.NO_ANSWER)  # an attempt, not a contact
    task = reason(member_a, TaskKind.WIN_BACK, "2026-03-10")
    FollowUpTask.objects.filter(pk=task.pk).update(attempts=2)
    client.force_login(mine)

    response = today_page(client)

    (card,) = response.context["listing"].cards
    assert card.last_contact_at.date() == TODAY - timedelta(days=20)
    assert (card.last_contact_channel_label, card.last_contact_by) == ("微信", "a_specialist")
    assert (card.last_purchase_on, card.last_purchase_amount) == (TODAY - timedelta(days=170), Decimal("12800.00"))
    assert card.spend == Decimal("12800.00")
    assert (card.next_tier, card.to_next_tier) == (Tier.A, Decimal("37200.00"))  # 50,000 − 12,800
    assert card.lapse == "lapsing"  # 170 days without a purchase: within 30 days of the 180-day window
    html = response.content.decode()
    assert "¥12,800" in html and "距 A 级差 ¥37,200" in html
    assert "偏爱真丝，M 码" in html
    assert "投诉未结" in html and "即将流失" in html
    assert "未接通 2 次" in html


def test_it_marks_a_lapsed_member(client, store_a, staff_a, member_a):
    member_a.joined_on = D("2024-01-01")
    member_a.save()
    bought(member_a, 200, "800")
    reason(member_a, TaskKind.WIN_BACK, "2026-03-10")
    client.force_login(staff_a.consultant)

    assert "已流失" in today_page(client).content.decode()


# --- Filters, counts, pages, queries -------------------------------------------------------------


def test_it_filters_by_kind_and_tier_and_counts_cards_per_kind(client, store_a, staff_a):
    mine = staff_a.consultant
    a = MemberFactory(home_store=store_a, consultant=mine, name="甲", tier=Tier.A)
    b = MemberFactory(home_store=store_a, consultant=mine, name="乙", tier=Tier.B)
    reason(a, TaskKind.BIRTHDAY, "2026-03-10")
    reason(a, TaskKind.POST_PURCHASE, "2026-03-10")
    reason(b, TaskKind.POST_PURCHASE, "2026-03-10")
    client.force_login(mine)

    everything = today_page(client)
    birthdays = today_page(client, kind="birthday")
    tier_b = today_page(client, tier="B")

    assert everything.context["listing"].kind_counts == [("post_purchase", "购后回访", 2), ("birthday", "生日祝福", 1)]
    assert [name for name, _ in cards(birthdays)] == ["甲"]
    assert [name for name, _ in cards(tier_b)] == ["乙"]
    assert tier_b.context["listing"].kind_counts == [("post_purchase", "购后回访", 1)]
    assert "kind=birthday" in everything.content.decode()


def test_it_ignores_filter_values_it_does_not_know(client, staff_a, member_a):
    reason(member_a, TaskKind.BIRTHDAY, "2026-03-10")
    client.force_login(staff_a.consultant)

    response = today_page(client, kind="nonsense", tier="Z", when="later", page="x")

    assert response.status_code == 200
    assert cards(response) == [("张丽", "2026-03-10")]


def _many_cards(store, assignee, n):
    """n members of `store`, each with a two-reason card for `assignee` (half overdue), a purchase,
    a reached contact and a gift plan: everything a card shows, for every card."""
    members = MemberFactory.create_batch(n, home_store=store, consultant=assignee, style_preferences="简约")
    tasks = FollowUpTask.objects.bulk_create(
        FollowUpTask(
            store=store,
            member=m,
            assignee=assignee,
            kind=TaskKind.POST_PURCHASE,
            is_contact=True,
            due_date=TODAY - timedelta(days=i % 2),
            scheduled_for=TODAY,
            origin=f"bulk:{i}",
        )
        for i, m in enumerate(members)
    )
    TaskReason.objects.bulk_create(
        TaskReason(task=t, member_id=t.member_id, kind=kind, origin=f"{t.origin}:{kind}", due_date=t.due_date)
        for t in tasks
        for kind in (TaskKind.POST_PURCHASE, TaskKind.BIRTHDAY)
    )
    Purchase.objects.bulk_create(
        Purchase(member=m, store=store, receipt_no=f"B{i}", date=TODAY - timedelta(days=3), amount=1000 + i)
        for i, m in enumerate(members)
    )
    Visit.objects.bulk_create(
        Visit(member=m, store=store, staff=assignee, channel="phone", at=timezone.now(), outcome="好") for m in members
    )
    GiftPlan.objects.bulk_create(
        GiftPlan(member=m, store=store, occasion=Occasion.BIRTHDAY, occasion_date=TODAY, tier="C", gift="丝巾")
        for m in members
    )
    return members


# Session, user, agreement, the program rules, the counts, the counts per kind, the page's count
# and rows (every fact of a card joined in), their reasons, the tasks shown on their cards, the
# names of who reached them, the navbar's store and notifications: the same handful for 3 cards
# or 3,000.
MAX_QUERIES = 15


def test_it_pages_the_whole_store_at_50_cards_in_a_fixed_number_of_queries(
    client, store_a, staff_a, django_assert_max_num_queries
):
    ProgramRules.load()
    _many_cards(store_a, staff_a.consultant, 120)
    client.force_login(staff_a.specialist)

    with django_assert_max_num_queries(MAX_QUERIES):
        first = today_page(client, scope="store")
    with django_assert_max_num_queries(MAX_QUERIES):
        last = today_page(client, scope="store", page=3)

    assert first.context["listing"].page.paginator.count == 120
    html = first.content.decode()
    assert html.count('class="list-group-item today-card') == 50
    # Each card's greetings come when its panel is opened, the gift filled in, in a few queries.
    card = first.context["listing"].cards[0]
    with django_assert_max_num_queries(MAX_QUERIES):
        panel = client.get(reverse("visits:task_message", args=[card.pk]), **HTMX)
    assert "丝巾" in panel.content.decode()
    assert len(last.context["listing"].cards) == 20
    assert "scope=store&amp;page=2" in html

    client.force_login(staff_a.consultant)
    with django_assert_max_num_queries(MAX_QUERIES):
        assert today_page(client).context["listing"].page.paginator.count == 120


def test_it_shows_a_store_lead_the_whole_store_on_request(client, store_a, staff_a, member_a):
    other = StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a)
    second = MemberFactory(home_store=store_a, consultant=other)
    reason(member_a, TaskKind.BIRTHDAY, "2026-03-10")
    reason(second, TaskKind.BIRTHDAY, "2026-03-10")
    reason(member_a, TaskKind.MANUAL, "2026-03-10", assignee=staff_a.specialist)
    client.force_login(staff_a.specialist)

    mine = today_page(client).context["listing"]
    store = today_page(client, scope="store").context["listing"]

    assert mine.page.paginator.count == 1
    assert store.page.paginator.count == 3  # 张丽 twice: on the consultant's and on the specialist's list
    assert store.whole_store


def test_it_ignores_the_whole_store_switch_for_a_consultant(client, staff_a, member_a):
    reason(member_a, TaskKind.BIRTHDAY, "2026-03-10")
    reason(member_a, TaskKind.MANUAL, "2026-03-10", assignee=staff_a.specialist)
    client.force_login(staff_a.consultant)

    listing = today_page(client, scope="store").context["listing"]

    assert listing.page.paginator.count == 1
    assert not listing.whole_store


def test_it_shows_hq_the_store_it_picks(client, store_a, store_b, staff_a, staff_b, member_a, member_b, hq):
    reason(member_a, TaskKind.BIRTHDAY, "2026-03-10")
    reason(member_b, TaskKind.BIRTHDAY, "2026-03-10")
    reason(MemberFactory(home_store=store_b, consultant=staff_b.consultant), TaskKind.BIRTHDAY, "2026-03-10")
    client.force_login(hq)

    first = today_page(client).context["listing"]  # stores by code: BJB before SHA
    picked = today_page(client, store=store_a.pk).context["listing"]

    assert (first.store, first.page.paginator.count) == (store_b, 2)
    assert (picked.store, picked.page.paginator.count) == (store_a, 1)
    html = today_page(client, store=store_a.pk).content.decode()
    assert f"?when=upcoming&amp;store={store_a.pk}" in html  # the counts link within the store picked


def test_it_links_a_call_only_for_those_who_may_see_the_number(client, store_a, staff_a, member_a):
    reason(member_a, TaskKind.BIRTHDAY, "2026-03-10")
    call_url = reverse("visits:call", args=[member_a.pk])

    client.force_login(staff_a.consultant)
    html = today_page(client).content.decode()
    assert call_url in html
    assert "13812345678" not in html  # the number itself is never on the page

    unsigned = StaffFactory(username="a_new", role=Role.CONSULTANT, store=store_a, signed=False)
    member_a.consultant = unsigned
    member_a.save()
    FollowUpTask.objects.update(assignee=unsigned)
    client.force_login(unsigned)
    assert call_url not in today_page(client).content.decode()


def test_it_audits_a_call_and_redirects_to_the_dialer(client, staff_a, member_a):
    client.force_login(staff_a.consultant)

    response = client.post(reverse("visits:call", args=[member_a.pk]))

    assert response.status_code == 302
    assert response["Location"] == "tel:13812345678"
    entry = AuditEntry.objects.get(action="member.phone.viewed")
    assert (entry.actor, entry.object_id, entry.data) == (staff_a.consultant, str(member_a.pk), {"via": "call"})


def test_it_refuses_a_call_without_a_signed_agreement(client, store_a, member_a):
    unsigned = StaffFactory(username="a_new", role=Role.CONSULTANT, store=store_a, signed=False)
    member_a.consultant = unsigned
    member_a.save()
    client.force_login(unsigned)

    response = client.post(reverse("visits:call", args=[member_a.pk]))

    assert response.status_code == 403
    assert not AuditEntry.objects.exists()


def test_a_call_link_followed_from_elsewhere_dials_nothing_and_writes_nothing(client, staff_a, member_a):
    # The attack (finding 4): <img src=".../members/1/call/"> on another site made the victim's
    # browser write a phone-view entry in their name. A GET is now refused before anything runs.
    client.force_login(staff_a.consultant)

    response = client.get(reverse("visits:call", args=[member_a.pk]))

    assert response.status_code == 405
    assert "13812345678" not in response.content.decode()
    assert not AuditEntry.objects.exists()


# --- Completing a card -------------------------------------------------------------------------


def complete(client, task, **data):
    return client.post(reverse("visits:task_complete", args=[task.pk]), {"channel": "phone", **data}, **HTMX)


def test_it_opens_the_inline_form_in_place(client, staff_a, member_a):
    task = reason(member_a, TaskKind.BIRTHDAY, "2026-03-10")
    client.force_login(staff_a.consultant)

    response = client.get(reverse("visits:task_complete", args=[task.pk]), **HTMX)

    assert [t.name for t in response.templates][0] == "visits/_task_complete_form.html"
    html = response.content.decode()
    assert f'id="card-{task.pk}"' in html
    assert "已联系，满意" in html and "未接通" in html and "已预约到店" in html and "关机/停机" in html
    assert "<html" not in html


def test_it_closes_every_reason_with_one_reached_contact_and_the_card_leaves(client, staff_a, member_a):
    mine = staff_a.consultant
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-09")
    reason(member_a, TaskKind.CARE, "2026-03-10")
    reason(member_a, TaskKind.MANUAL, "2026-03-10", assignee=mine)
    client.force_login(mine)

    response = complete(client, task, outcome="已联系，满意", satisfaction="5", next_follow_up="2026-03-20")

    assert [t.name for t in response.templates][0] == "visits/_card_closed.html"
    html = response.content.decode()
    assert "已完成：张丽（3 项原因已关闭）" in html and "3月20日" in html
    task.refresh_from_db()
    assert (task.status, task.done_on) == (TaskStatus.DONE, TODAY)
    visit = Visit.objects.get(result=VisitResult.REACHED)
    assert (visit.channel, visit.outcome, visit.satisfaction, visit.staff) == ("phone", "已联系，满意", 5, mine)
    assert cards(today_page(client)) == []  # gone from today's list
    assert today_page(client).context["listing"].done_today == 1


def test_it_logs_a_complaint_revisit_from_the_members_card(client, staff_a, member_a):
    reason(member_a, TaskKind.BIRTHDAY, "2026-03-10")  # her card, which shows the revisit
    revisit = reason(member_a, TaskKind.COMPLAINT_REVISIT, "2026-03-10", note="投诉回访")
    client.force_login(staff_a.consultant)

    response = client.post(
        reverse("visits:task_complete", args=[revisit.pk]), {"channel": "phone", "outcome": "已联系，满意"}
    )

    assert response["Location"] == reverse("visits:today")
    revisit.refresh_from_db()
    assert revisit.status == TaskStatus.DONE


def test_it_records_no_answer_as_an_attempt_and_brings_the_card_back_tomorrow(client, staff_a, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-09")
    client.force_login(staff_a.consultant)

    response = complete(client, task, outcome="未接通")

    assert [t.name for t in response.templates][0] == "visits/_card.html"
    html = response.content.decode()
    assert "未接通：已记第 1 次，3月11日 再联系。" in html
    assert "未接通 1 次" in html
    task.refresh_from_db()
    assert (task.status, task.attempts, task.scheduled_for) == (TaskStatus.OPEN, 1, D("2026-03-11"))
    assert task.due_date == D("2026-03-09")  # the lateness stays
    assert Visit.objects.get().result == VisitResult.NO_ANSWER
    assert cards(today_page(client)) == []  # not today any more…
    assert cards(today_page(client, when="upcoming")) == [("张丽", "2026-03-09")]  # …but tomorrow
    assert today_page(client).context["listing"].done_today == 0
    with time_machine.travel("2026-03-11 09:00 +0800", tick=False):
        client.force_login(staff_a.consultant)  # a new day, a new sign-in
        (card,) = today_page(client).context["listing"].cards
        assert (card.attempts, card.overdue_days) == (1, 2)


def test_it_retries_on_a_chosen_date(client, staff_a, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-10")
    client.force_login(staff_a.consultant)

    complete(client, task, outcome="关机/停机", retry_on="2026-03-13")

    task.refresh_from_db()
    assert (task.attempts, task.scheduled_for) == (1, D("2026-03-13"))
    assert Visit.objects.get().result == VisitResult.SWITCHED_OFF


def test_it_hands_the_card_to_the_vip_specialist_after_the_last_attempt(client, staff_a, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-10")
    FollowUpTask.objects.filter(pk=task.pk).update(attempts=2)
    client.force_login(staff_a.consultant)

    response = complete(client, task, outcome="未接通")

    task.refresh_from_db()
    assert (task.assignee, task.attempts) == (staff_a.specialist, 3)
    assert [t.name for t in response.templates][0] == "visits/_card_closed.html"
    assert "已转给 a_specialist 跟进" in response.content.decode()


def test_it_adds_typed_text_to_a_quick_outcome(client, staff_a, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-10")
    client.force_login(staff_a.consultant)

    complete(client, task, outcome="未接通", outcome_text="晚上再打")

    assert Visit.objects.get().outcome == "未接通；晚上再打"


def test_it_asks_for_an_outcome_and_keeps_the_card_open(client, staff_a, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-10")
    client.force_login(staff_a.consultant)

    response = complete(client, task)

    assert [t.name for t in response.templates][0] == "visits/_task_complete_form.html"
    assert "请选择或填写回访结果。" in response.content.decode()
    assert FollowUpTask.objects.get(pk=task.pk).status == TaskStatus.OPEN
    assert not Visit.objects.exists()


def test_it_shows_the_services_refusal_of_a_next_date_in_the_past(client, staff_a, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-10")
    client.force_login(staff_a.consultant)

    response = complete(client, task, outcome="已联系，满意", next_follow_up="2026-03-10")

    assert "下次回访日期须晚于今天。" in response.content.decode()
    assert not Visit.objects.exists()


def test_it_completes_without_javascript_and_goes_back_to_today(client, staff_a, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-10")
    client.force_login(staff_a.consultant)

    response = client.post(
        reverse("visits:task_complete", args=[task.pk]), {"channel": "phone", "outcome": "已联系，满意"}
    )

    assert response["Location"] == reverse("visits:today")
    assert FollowUpTask.objects.get(pk=task.pk).status == TaskStatus.DONE


def test_it_does_not_let_a_consultant_complete_another_consultants_card(client, store_a, staff_a, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-10")
    client.force_login(StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a))

    response = complete(client, task, outcome="已联系，满意")

    assert response.status_code == 403
    assert FollowUpTask.objects.get(pk=task.pk).status == TaskStatus.OPEN
    assert not Visit.objects.exists()


def test_it_lets_a_store_lead_complete_any_card_of_the_store(client, staff_a, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-10")
    client.force_login(staff_a.specialist)

    response = complete(client, task, outcome="已联系，满意", channel="in_store")

    assert response.status_code == 200
    assert Visit.objects.get().staff == staff_a.specialist


def test_it_hides_another_stores_card_behind_a_404(client, staff_b, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-10")
    client.force_login(staff_b.manager)

    assert complete(client, task, outcome="已联系，满意").status_code == 404
    assert client.get(reverse("visits:task", args=[task.pk]), **HTMX).status_code == 404
    assert not Visit.objects.exists()


# --- Snooze and reassign -----------------------------------------------------------------------


def test_it_snoozes_a_card_keeping_its_lateness(client, staff_a, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-08")
    client.force_login(staff_a.consultant)

    response = client.post(reverse("visits:task_snooze", args=[task.pk]), {"days": "1"}, **HTMX)

    task.refresh_from_db()
    assert (task.due_date, task.scheduled_for) == (D("2026-03-08"), D("2026-03-11"))
    assert "已推迟到 2026-03-11" in response.content.decode()
    assert AuditEntry.objects.filter(action="task.snoozed").count() == 1
    with time_machine.travel("2026-03-11 09:00 +0800", tick=False):
        client.force_login(staff_a.consultant)
        (card,) = today_page(client).context["listing"].cards
        assert card.overdue_days == 3


def test_it_shows_why_a_snooze_was_refused(client, staff_a, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-10")
    client.force_login(staff_a.consultant)

    response = client.post(reverse("visits:task_snooze", args=[task.pk]), {"until": "2026-03-09"}, **HTMX)

    assert "推迟到的日期须在明天到 90 天之内。" in response.content.decode()
    assert FollowUpTask.objects.get(pk=task.pk).scheduled_for == TODAY


def test_it_does_not_let_a_consultant_snooze_another_consultants_card(client, store_a, staff_a, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-10")
    client.force_login(StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a))

    response = client.post(reverse("visits:task_snooze", args=[task.pk]), {"days": "3"}, **HTMX)

    assert response.status_code == 403
    assert FollowUpTask.objects.get(pk=task.pk).scheduled_for == TODAY


def test_it_lets_a_store_lead_reassign_a_card(client, store_a, staff_a, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-10")
    other = StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a)
    client.force_login(staff_a.specialist)

    form = client.get(reverse("visits:task_reassign", args=[task.pk]), **HTMX)
    response = client.post(reverse("visits:task_reassign", args=[task.pk]), {"assignee": other.pk}, **HTMX)

    assert [t.name for t in form.templates][0] == "visits/_task_reassign_form.html"
    assert FollowUpTask.objects.get(pk=task.pk).assignee == other
    assert "已转派给 a_consultant2" in response.content.decode()


def test_it_joins_a_reassigned_card_to_the_card_that_person_already_has(client, staff_a, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-10")
    theirs = reason(member_a, TaskKind.MANUAL, "2026-03-11", assignee=staff_a.specialist)
    client.force_login(staff_a.manager)

    response = client.post(reverse("visits:task_reassign", args=[task.pk]), {"assignee": staff_a.specialist.pk}, **HTMX)

    assert [t.name for t in response.templates][0] == "visits/_card_closed.html"
    assert "已转派给 a_specialist（并入其已有的卡片）" in response.content.decode()
    assert sorted(TaskReason.objects.filter(task=theirs).values_list("kind", flat=True)) == ["manual", "post_purchase"]
    assert FollowUpTask.objects.get(pk=task.pk).status == TaskStatus.CANCELLED


def test_it_does_not_let_a_consultant_reassign(client, staff_a, member_a):
    task = reason(member_a, TaskKind.POST_PURCHASE, "2026-03-10")
    client.force_login(staff_a.consultant)

    response = client.post(reverse("visits:task_reassign", args=[task.pk]), {"assignee": staff_a.specialist.pk})

    assert response.status_code == 403
    assert FollowUpTask.objects.get(pk=task.pk).assignee == staff_a.consultant


def test_it_puts_today_first_after_sign_in(client, staff_a):
    client.force_login(staff_a.consultant)

    assert client.get(reverse("home"))["Location"] == reverse("visits:today")

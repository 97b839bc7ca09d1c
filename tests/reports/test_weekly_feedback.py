"""The weekly report's customer feedback (issue 12 item 6): the week's opinions and suggestions with
a count, and the low satisfaction scores, from visits made at the store; member names shortened.

Last week (Monday–Sunday) at store A:
    Tue  张丽   4/5  suggestions "希望增加大码"
    Wed  王小明 2/5  suggestions "试衣间灯光太暗"          (a suggestion and a low score)
    Thu  王小明 1/5  no suggestion, outcome "对改衣不满"   (a low score)
Not counted: the Sunday before (outside the week), a visit at store B.
→ suggestions 2 (Wed, Tue: newest first); low scores 2 (Thu, Wed).
"""

from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from duties.models import OutboxEmail
from members.services import member_erase
from reports.models import ReportSnapshot
from reports.services import weekly_context, weekly_work
from tests.factories import MemberFactory
from visits.services import visit_record

pytestmark = pytest.mark.django_db


def _at(day, hour=15):
    return timezone.make_aware(datetime.combine(day, time(hour)))


@pytest.fixture
def week(member_a, member_b, staff_a, staff_b):
    today = timezone.localdate()
    monday = today - timedelta(days=today.weekday() + 7)
    other = MemberFactory(home_store=member_a.home_store, consultant=staff_a.consultant, name="王小明")
    by = staff_a.consultant

    def record(member, day, satisfaction, suggestions="", outcome="已回访", staff=by):
        return visit_record(
            member=member,
            by=staff,
            channel="phone",
            outcome=outcome,
            satisfaction=satisfaction,
            suggestions=suggestions,
            at=_at(day),
        )

    record(member_a, monday + timedelta(days=1), 4, "希望增加大码")
    record(other, monday + timedelta(days=2), 2, "试衣间灯光太暗")
    record(other, monday + timedelta(days=3), 1, outcome="对改衣不满")
    record(member_a, monday - timedelta(days=1), 5, "上周以前的建议")
    record(member_b, monday + timedelta(days=2), 1, "北京店的建议", staff=staff_b.consultant)
    return monday


def test_the_weekly_context_lists_the_weeks_suggestions_and_low_scores(week, store_a):
    weekly_work(store_a, week + timedelta(days=7))
    snapshot = ReportSnapshot.objects.get(store=store_a, kind="weekly", period_start=week)

    feedback = weekly_context(snapshot)["feedback"]

    assert feedback.suggestions_count == 2
    assert [(r.member, r.text, r.day) for r in feedback.suggestions] == [
        ("王**", "试衣间灯光太暗", week + timedelta(days=2)),
        ("张*", "希望增加大码", week + timedelta(days=1)),
    ]
    assert feedback.low_count == 2
    assert [(r.member, r.satisfaction, r.text) for r in feedback.low] == [
        ("王**", 1, "对改衣不满"),
        ("王**", 2, "试衣间灯光太暗"),
    ]


def test_the_weekly_email_carries_them_with_names_shortened(week, store_a, staff_a):
    weekly_work(store_a, week + timedelta(days=7))

    email = OutboxEmail.objects.get(key__startswith=f"weekly:{store_a.pk}:", to=[staff_a.manager.email])

    assert "顾客意见和建议（2 条）" in email.body
    assert "张*: 希望增加大码" in email.body
    assert "王** 1/5: 对改衣不满" in email.body
    assert "张丽" not in email.body and "北京店的建议" not in email.body and "上周以前的建议" not in email.body


def test_the_weekly_page_shows_them(client, week, staff_a):
    client.force_login(staff_a.specialist)

    response = client.get(reverse("reports:weekly"), {"week": week.isoformat()})

    assert response.status_code == 200
    content = response.content.decode()
    assert "试衣间灯光太暗" in content and "希望增加大码" in content and "对改衣不满" in content
    assert "北京店的建议" not in content


def test_an_erased_members_suggestions_leave_the_report(week, store_a, member_a, staff_a):
    visit_record(
        member=member_a,
        by=staff_a.consultant,
        channel="phone",
        outcome="已回访",
        suggestions=f"{member_a.name} 希望店员记住她的尺码",
        at=_at(week + timedelta(days=4)),
    )
    weekly_work(store_a, week + timedelta(days=7))
    snapshot = ReportSnapshot.objects.get(store=store_a, kind="weekly", period_start=week)

    member_erase(member=member_a, by=staff_a.manager)

    texts = [r.text for r in weekly_context(snapshot)["feedback"].suggestions]
    assert all(member_a.name not in text for text in texts)
    assert weekly_context(snapshot)["feedback"].suggestions_count == 3

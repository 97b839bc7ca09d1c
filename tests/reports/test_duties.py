"""Snapshots and the weekly, mid-month and month-end duties (DOMAIN §10)."""

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command

from duties.models import DutyRun
from members.services import tiers_replay
from reports.models import ReportSnapshot
from reports.services import snapshot_take
from reports.tasks import periodic_catch_up
from tests.factories import MemberFactory, PurchaseFactory
from visits.models import FollowUpTask, GiftPlan, Invitation, TaskReason, Visit

D = date.fromisoformat
M = Decimal


def at(moment: str):
    return time_machine.travel(f"{moment} +0800", tick=False)


def test_a_snapshot_taken_twice_is_one_snapshot(store_a, member_a):
    first = snapshot_take(store=store_a, kind="monthly", start=D("2026-03-01"), end=D("2026-03-31"))
    # Later data does not change a snapshot: it was frozen when taken.
    PurchaseFactory(member=member_a, date=D("2026-03-20"), amount=M("999"))
    again = snapshot_take(store=store_a, kind="monthly", start=D("2026-03-01"), end=D("2026-03-31"))
    assert again.pk == first.pk and ReportSnapshot.objects.count() == 1
    assert again.figures["old_vip_sales"] == "0.00"
    assert set(first.figures["members"]) >= {"churned", "repurchased", "upgraded", "new_members", "tier_A"}


def test_the_weekly_report_for_a_hand_made_week(store_a, staff_a, django_capture_on_commit_callbacks):
    # Week Mon 2026-03-02 – Sun 03-08, sent Monday 03-09 07:00.
    old = MemberFactory(home_store=store_a, name="老会员", joined_on=D("2025-01-01"), consultant=staff_a.consultant)
    new = MemberFactory(
        home_store=store_a,
        name="新会员",
        joined_on=D("2026-03-04"),
        consultant=staff_a.consultant,
        birthday=D("1990-03-12"),
    )
    PurchaseFactory(member=old, date=D("2026-03-03"), amount=M("3000"), consultant=staff_a.consultant)
    PurchaseFactory(member=new, date=D("2026-03-04"), amount=M("1200"), consultant=staff_a.consultant)
    # Tasks due in the week: one done on time, one open.
    FollowUpTask.objects.create(
        store=store_a,
        member=old,
        kind="care",
        origin="w1",
        due_date=D("2026-03-03"),
        status="done",
        done_on=D("2026-03-03"),
        assignee=staff_a.consultant,
    )
    FollowUpTask.objects.create(
        store=store_a, member=new, kind="care", origin="w2", due_date=D("2026-03-05"), assignee=staff_a.consultant
    )
    Visit.objects.create(
        member=old,
        store=store_a,
        staff=staff_a.consultant,
        channel="wechat",
        outcome="ok",
        satisfaction=5,
        at="2026-03-03T15:00+08:00",
    )
    Invitation.objects.create(
        member=old,
        store=store_a,
        invited_by=staff_a.consultant,
        for_date=D("2026-03-07"),
        purpose="新品",
        status="arrived",
    )
    # (The emails leave the outbox once the duty commits.)
    with at("2026-03-09 07:00"), django_capture_on_commit_callbacks(execute=True):
        call_command("run_duties", "weekly", "--store", "SHA", stdout=StringIO())
    snapshot = ReportSnapshot.objects.get(kind="weekly")
    assert (snapshot.period_start, snapshot.period_end) == (D("2026-03-02"), D("2026-03-08"))
    assert sorted(m.to[0] for m in mail.outbox) == ["a_manager@example.com", "a_specialist@example.com"]
    body = mail.outbox[0].body
    assert "周报" in mail.outbox[0].subject
    assert "新开卡: 1" in body
    assert "VIP 销售: ¥4,200.00（老会员 ¥3,000.00，新会员 ¥1,200.00）" in body
    assert "到期 2，完成 1，按时 1" in body
    assert "微信 1" in body and "满意度: 5.0（1 次评分）" in body
    assert "已到店 1" in body
    assert "2026-03-12 新会员（C）" in body  # birthday in the coming week
    assert "a_consultant: 到期 2，完成 1，按时 1，回访 1，销售 ¥4,200.00" in body
    # Monday's duty again: nothing new, no second email.
    with at("2026-03-09 08:00"), django_capture_on_commit_callbacks(execute=True):
        call_command("run_duties", "weekly", "--store", "SHA", stdout=StringIO())
    assert ReportSnapshot.objects.count() == 1 and len(mail.outbox) == 2


def test_the_month_end_duty(store_a, staff_a):
    # A: 50,000 on 2025-03-20 → A; at 2026-03-31 nothing is left in the window → downgraded to C.
    # B candidate: 42,000 in the window (≥ 80% of 50,000, < 50,000) → "¥8,000 to A".
    # At risk: B with 11,000 on 2025-04-15, which leaves the window before 04-30's review.
    lapsing = MemberFactory(home_store=store_a, name="降级", joined_on=D("2025-01-01"))
    PurchaseFactory(member=lapsing, date=D("2025-03-20"), amount=M("50000"))
    near = MemberFactory(home_store=store_a, name="候选", joined_on=D("2025-01-01"), consultant=staff_a.consultant)
    PurchaseFactory(member=near, date=D("2026-01-10"), amount=M("42000"))
    risk = MemberFactory(
        home_store=store_a,
        name="保级",
        joined_on=D("2025-01-01"),
        consultant=staff_a.consultant,
        birthday=D("1990-04-02"),
    )
    PurchaseFactory(member=risk, date=D("2025-04-15"), amount=M("11000"))
    with at("2026-03-31 12:00"):
        tiers_replay()
    with at("2026-03-31 23:30"):
        call_command("run_duties", "monthly", "--store", "SHA", "--date", "2026-03-31", stdout=StringIO())
    run = DutyRun.objects.get(duty="monthly")
    assert run.status == "done", run.error
    lapsing.refresh_from_db()
    assert lapsing.tier == "C" and run.counts["downgrades"] == 1
    assert ReportSnapshot.objects.get(kind="monthly").figures["downgrades"] == 1
    assert GiftPlan.objects.filter(member=risk, occasion_date=D("2026-04-02")).exists()  # next month's plan
    pushes = dict(TaskReason.objects.filter(kind="upgrade_push").values_list("task__member__name", "note"))
    assert pushes == {"候选": "距 A 级还差 ¥8,000.00"}
    # A member at risk of a downgrade gets a keep-tier reason (its own greeting), not an upgrade push.
    keeps = dict(TaskReason.objects.filter(kind="keep_tier").values_list("task__member__name", "note"))
    assert keeps == {"保级": "保级：下月底前还需消费 ¥10,000.00 才能保持 B 级"}
    assert (run.counts["upgrade_candidates"], run.counts["downgrade_risks"]) == (1, 1)


def test_periodic_duties_catch_up_what_was_missed(store_a):
    # The month end last ran on 02-28; beat was down on 03-31: the trigger on 04-30 runs 03-31 first.
    DutyRun.objects.create(
        duty="monthly", store=store_a, date=D("2026-02-28"), status="done", started_at="2026-02-28T23:30+08:00"
    )
    with at("2026-04-30 23:30"):
        runs = periodic_catch_up(duty="monthly", store=store_a, through=D("2026-04-30"))
        again = periodic_catch_up(duty="monthly", store=store_a, through=D("2026-04-30"))
        # Mid-month never ran: it starts where the store went live with the duties (its first run
        # of any duty, 02-28) and runs every 15th since, oldest first.
        mid = periodic_catch_up(duty="mid_month", store=store_a, through=D("2026-04-30"))
    assert [r.date for r in runs] == [D("2026-03-31"), D("2026-04-30")]
    assert again == []
    assert [r.date for r in mid] == [D("2026-03-15"), D("2026-04-15")]
    assert ReportSnapshot.objects.filter(
        kind="mid_month", period_start=D("2026-04-01"), period_end=D("2026-04-15")
    ).exists()


def test_a_periodic_duty_refuses_a_date_it_is_not_due_on(store_a):
    with at("2026-03-20 12:00"), pytest.raises(CommandError, match="not due"):
        call_command("run_duties", "monthly", "--date", "2026-03-20", "--no-catch-up", stdout=StringIO())

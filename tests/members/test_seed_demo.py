"""seed_demo: a plausible demo shop, living with the app for a while, written fast, and a second
run changes nothing."""

from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db.models import Count, F, Max
from django.utils import timezone

from accounts.models import ConfidentialityAgreement, Role, Staff, Store
from duties.models import DutyRun
from members.models import (
    ImportantDate,
    Member,
    ProgramRules,
    Purchase,
    Tier,
    TierChange,
    TierChangeReason,
    TierReview,
)
from reports.models import ReportSnapshot, SnapshotKind
from visits.models import FollowUpTask, GiftPlan, Invitation, TaskKind, TaskStatus, Visit, VisitResult

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = (
        Store,
        Staff,
        ConfidentialityAgreement,
        Member,
        ImportantDate,
        Purchase,
        TierChange,
        TierReview,
        Visit,
        FollowUpTask,
        GiftPlan,
        Invitation,
        ReportSnapshot,
        DutyRun,
    )
    return {model.__name__: model.objects.count() for model in models}


def test_it_seeds_two_stores_with_their_staff():
    seed()

    assert set(Store.objects.values_list("code", flat=True)) == {"SH01", "BJ01"}
    for code in ("sh01", "bj01"):
        roles = sorted(Staff.objects.filter(username__startswith=f"{code}_").values_list("role", flat=True))
        assert roles == sorted([Role.MANAGER, Role.VIP_SPECIALIST] + [Role.CONSULTANT] * 4)
    assert Staff.objects.get(username="hq").role == Role.HQ
    # Everyone signed the confidentiality agreement and logs in with the shared demo password.
    assert ConfidentialityAgreement.objects.count() == Staff.objects.count() == 13
    assert authenticate(username="sh01_c1", password="vipcrm-demo") is not None


def test_it_seeds_a_realistic_ledger():
    output = seed()

    members = Member.objects.all()
    total = members.count()
    assert total == 600
    assert members.filter(home_store__code="SH01").count() == 300
    assert members.filter(purchases__isnull=False).distinct().count() > 550
    # Returns are negative and point at the purchase they return, from the same member.
    returns = Purchase.objects.filter(amount__lt=0)
    assert returns.count() > 50
    assert not returns.filter(original__isnull=True).exists()
    assert not returns.exclude(original__member=F("member")).exists()
    assert not Purchase.objects.filter(date__lt=F("member__joined_on")).exists()
    # Solar and lunar birthdays, two born on 29 February; anniversaries and family dates.
    with_birthday = members.exclude(birthday=None).count()
    assert 0.15 < members.filter(birthday_lunar=True).count() / with_birthday < 0.40
    assert members.filter(birthday__month=2, birthday__day=29).count() >= 2
    assert ImportantDate.objects.filter(kind="wedding_anniversary").exists()
    assert ImportantDate.objects.filter(lunar=True).exists()
    assert 0.7 < members.filter(marketing_consent=True).count() / total < 0.95
    # A plausible tier mix, reached through the engine: upgrades, month-end downgrades, a lock.
    share = {tier: members.filter(tier=tier).count() / total for tier in Tier.values}
    assert 0.04 <= share[Tier.A] <= 0.12
    assert 0.22 <= share[Tier.B] <= 0.38
    assert TierChange.objects.filter(reason=TierChangeReason.PURCHASE).exists()
    assert TierChange.objects.filter(reason=TierChangeReason.REVIEW).exists()
    assert members.filter(tier_locked=True).count() == 2
    assert "SH01" in output and "vipcrm-demo" in output


def test_it_changes_nothing_when_run_twice():
    seed()
    before = counts()

    output = seed()

    assert counts() == before
    assert "nothing to add" in output


def test_it_leaves_a_living_store():
    output = seed()
    today = timezone.localdate()

    # Contacts over the past weeks, reached and not reached, by the stores' staff.
    visits = Visit.objects.filter(at__date__lt=today)
    assert visits.filter(result=VisitResult.REACHED).count() > 300
    assert visits.exclude(result=VisitResult.REACHED).count() > 30
    assert visits.filter(at__date__lt=today - timedelta(days=21)).exists()
    assert visits.filter(at__date=today - timedelta(days=1)).exists()
    # The daily duty ran every day since going live, through today, and left today's lists.
    daily = DutyRun.objects.filter(duty="daily", status="done")
    assert daily.filter(date=today).count() == 2
    assert daily.aggregate(n=Count("date", distinct=True))["n"] >= 10
    for code in ("SH01", "BJ01"):
        open_today = FollowUpTask.objects.filter(
            store__code=code, status=TaskStatus.OPEN, scheduled_for__lte=today, assignee__role=Role.CONSULTANT
        )
        assert open_today.exists(), code
    # The first day's care list was spread by the capacity: nobody got more than the capacity
    # of care and win-back on one day.
    capacity = ProgramRules.load().daily_care_capacity
    per_day = (
        FollowUpTask.objects.filter(kind__in=[TaskKind.CARE, TaskKind.WIN_BACK])
        .values("assignee_id", "due_date")
        .annotate(n=Count("pk"))
        .aggregate(most=Max("n"))["most"]
    )
    assert 0 < per_day <= capacity
    assert FollowUpTask.objects.filter(status=TaskStatus.DONE, closed_by_visit__isnull=False).count() > 200
    # Next month's gift plans, and twelve monthly snapshots a store for the trends.
    next_month = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    assert (
        GiftPlan.objects.filter(occasion_date__year=next_month.year, occasion_date__month=next_month.month).count() > 20
    )
    for code in ("SH01", "BJ01"):
        monthly = ReportSnapshot.objects.filter(store__code=code, kind=SnapshotKind.MONTHLY)
        ends = sorted(monthly.values_list("period_end", flat=True))
        assert len(ends) == 12, code
        assert ends[-1] == today.replace(day=1) - timedelta(days=1)
        assert (ends[-1].year * 12 + ends[-1].month) - (ends[0].year * 12 + ends[0].month) == 11  # consecutive
    assert "History:" in output

    # `make run` (scripts/run.sh) runs the daily duty after seeding, before the servers start: on
    # the seeded store today's lists are already there, so it adds nothing.
    tasks, out = FollowUpTask.objects.count(), StringIO()
    call_command("run_duties", "daily", stdout=out)
    assert FollowUpTask.objects.count() == tasks
    assert "already run" in out.getvalue()
    script = (ROOT / "scripts" / "run.sh").read_text()
    assert script.index("scripts/first_run.py") < script.index("run_duties daily") < script.index("exec honcho")

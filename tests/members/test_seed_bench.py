"""seed_bench (issue 14): a small chain is deterministic and valid — tiers as the engine replays them,
one open card per member and person, returns against their sale, complaint counts kept. PostgreSQL only."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count, F, Q
from django.utils import timezone

pytestmark = pytest.mark.django_db

SIZES = {"stores": 2, "members": 400, "purchases": 4000, "seed": 7}

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="seed_bench loads with COPY: PostgreSQL only (set DATABASE_URL)"
)


def digest() -> str:
    """What the seed decided (not when it ran): members, ledger, tiers, contacts, tasks."""
    queries = [
        "SELECT card_no, name, phone, birthday, birthday_lunar, tier, consultant_id, home_store_id, joined_on, "
        "open_complaints FROM members_member ORDER BY id",
        "SELECT receipt_no, member_id, store_id, date, amount, original_id FROM members_purchase ORDER BY id",
        "SELECT member_id, date, from_tier, to_tier, reason FROM members_tierchange ORDER BY id",
        "SELECT member_id, staff_id, at, result FROM visits_visit ORDER BY id",
        "SELECT member_id, assignee_id, kind, origin, status, due_date FROM visits_followuptask ORDER BY id",
        "SELECT member_id, status, received_at FROM complaints_complaint ORDER BY id",
        "SELECT campaign_id, member_id FROM campaigns_campaignmember ORDER BY id",
    ]
    h = hashlib.sha256()
    with connection.cursor() as cursor:
        for sql in queries:
            cursor.execute(sql)
            h.update(repr(cursor.fetchall()).encode())
    return h.hexdigest()


def seed() -> str:
    out = StringIO()
    call_command("seed_bench", **SIZES, stdout=out)
    return out.getvalue()


def wipe() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE accounts_store, accounts_staff, members_member, members_membertag CASCADE")


@needs_postgresql
def test_seed_bench_is_deterministic_and_refuses_a_filled_database():
    seed()
    first = digest()
    with pytest.raises(CommandError, match="empty database"):
        seed()
    wipe()
    seed()
    assert digest() == first


@needs_postgresql
def test_seed_bench_makes_valid_data():
    from accounts.models import Staff, Store
    from complaints.models import OPEN_STATES, Complaint
    from members.models import Member, Purchase, TierChange
    from members.services import tiers_replay
    from visits.models import FollowUpTask, TaskReason, TaskStatus

    output = seed()
    assert "Seeded 2 stores" in output
    assert Store.objects.count() == 2
    assert Staff.objects.count() == 21
    assert Member.objects.count() == 400
    purchases = Purchase.objects.count()
    assert 3600 <= purchases <= 4400
    returns = Purchase.objects.filter(amount__lt=0)
    assert 0.02 * purchases <= returns.count() <= 0.08 * purchases
    # A return points at a sale of the same member and gives back no more than was paid.
    assert not returns.filter(
        Q(original__isnull=True) | ~Q(original__member=F("member_id")) | Q(original__amount__lt=-F("amount"))
    ).exists()
    assert set(Member.objects.values_list("tier", flat=True)) == {"A", "B", "C"}
    assert Member.objects.filter(birthday_lunar=True).exists()
    assert TierChange.objects.exists()

    # The tier engine, replaying every ledger, finds nothing to change: tiers agree with the spend.
    stats = tiers_replay(today=timezone.localdate())
    assert (stats.changed_members, stats.created, stats.deleted) == (0, 0, 0)

    # One open card per member and person; every task has its reason.
    doubled = (
        FollowUpTask.objects.filter(status=TaskStatus.OPEN, is_contact=True)
        .values("member", "assignee")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
    )
    assert not doubled.exists()
    assert FollowUpTask.objects.filter(status=TaskStatus.OPEN).exists()
    assert FollowUpTask.objects.filter(status=TaskStatus.DONE, done_on__isnull=False).exists()
    assert TaskReason.objects.count() == FollowUpTask.objects.count()

    # The members' open-complaint counts are their open complaints.
    open_counts = dict(
        Complaint.objects.filter(status__in=OPEN_STATES)
        .values("member")
        .annotate(n=Count("pk"))
        .values_list("member", "n")
    )
    assert dict(Member.objects.filter(open_complaints__gt=0).values_list("pk", "open_complaints")) == open_counts

    # The app runs on it: today's daily duty for a store, and last month's KPIs.
    from duties.runs import duty_run
    from reports.kpis import compute_kpis
    from visits.services import DAILY_DUTY, daily_work

    today = timezone.localdate()
    run = duty_run(duty=DAILY_DUTY, store=Store.objects.first(), on=today, work=daily_work)
    assert run.status == "done", run.error
    last_month_end = today.replace(day=1) - timedelta(days=1)
    kpis = compute_kpis(start=last_month_end.replace(day=1), end=last_month_end, store_ids=None).as_json()
    assert kpis


def test_seed_bench_refuses_sqlite():
    if connection.vendor == "postgresql":
        pytest.skip("checks the refusal on SQLite")
    with pytest.raises(CommandError, match="PostgreSQL"):
        seed()

"""Snapshots and the periodic duties of DOMAIN §10: weekly, mid-month and month-end."""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Min, Q, QuerySet
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _

from accounts.models import Role, Staff, Store
from duties.runs import MID_MONTH, MONTH_END, WEEKLY
from duties.services import email_queue
from members.models import Member, Purchase, TierChange
from members.selectors import downgrade_risks, sales_by_consultant, upgrade_candidates
from members.services import tiers_review
from members.tiers import month_end
from visits.feedback import week_feedback
from visits.models import TaskKind
from visits.selectors import week_figures
from visits.services import gift_plans_for_month, tasks_bulk_create

from .commentary import report_mail
from .kpis import compute_kpis
from .models import ReportSnapshot, SnapshotKind

# Figures whose members a report links to, frozen with the snapshot.
DRILL_DOWN = ("base", "churned", "repurchased", "win_backs", "upgrade_base", "upgraded", "downgraded", "new_members")
MONTHLY_DUTY, MID_MONTH_DUTY, WEEKLY_DUTY = "monthly", "mid_month", "weekly"


def snapshot_figures(*, store: Store, start: date, end: date) -> dict:
    """The figures a snapshot freezes (the kind's extras aside): the KPI object and the members
    behind each figure. The restatement check recomputes a frozen period with this."""
    kpis = compute_kpis(start=start, end=end, store_ids=[store.pk], store_label=store.code)
    figures = kpis.as_json()
    figures["members"] = {name: sorted(kpis.members_behind(name)) for name in DRILL_DOWN}
    figures["members"].update({f"tier_{t}": sorted(ids) for t, ids in kpis.tier_mix.items()})
    return figures


def snapshot_take(*, store: Store, kind: str, start: date, end: date, extra: dict | None = None) -> ReportSnapshot:
    """Freeze the period's figures for the store. Taken twice, it is one snapshot: the first."""
    existing = ReportSnapshot.objects.filter(store=store, kind=kind, period_start=start, period_end=end).first()
    if existing is not None:
        return existing
    figures = snapshot_figures(store=store, start=start, end=end)
    figures.update(extra or {})
    try:
        with transaction.atomic():
            return ReportSnapshot.objects.create(
                store=store, kind=kind, period_start=start, period_end=end, figures=figures
            )
    except IntegrityError:  # taken at the same moment elsewhere: that one stands
        return ReportSnapshot.objects.get(store=store, kind=kind, period_start=start, period_end=end)


# --- Restated snapshots (issue 12) -------------------------------------------------------------
# A frozen snapshot never changes. When its period's ledger changes later (a late import, a
# back-dated purchase or return, a missed month-end review run late), the figures the ledger makes
# are recomputed and kept beside the frozen ones, and the report says 已重述. Follow-ups,
# satisfaction and complaints are the store's work as of the snapshot, not the ledger: not restated.

LEDGER_FIGURES = (
    "active_at_start",
    "churn_rate",
    "repurchase_rate",
    "upgrade_rate",
    "win_backs",
    "downgrades",
    "new_members",
    "tier_mix",
    "old_vip_sales",
    "new_vip_sales",
    "members",
)
RESTATE_DUTY = "restatements"
logger = logging.getLogger(__name__)


def ledger_figures(figures: dict) -> dict:
    """The part of a snapshot's figures the ledger makes, as JSON stores it."""
    picked = {name: figures.get(name) for name in LEDGER_FIGURES}
    return json.loads(json.dumps(picked, cls=DjangoJSONEncoder))


def _earliest_change(store_id: int, since) -> date | None:
    """The earliest business date of the store's ledger rows written after `since`: a purchase or
    return at its till or of its members, a tier change of its members, a member who joined it.
    Three aggregates."""
    ledgers = (
        (Purchase.objects.filter(Q(store_id=store_id) | Q(member__home_store_id=store_id)), "date"),
        (TierChange.objects.filter(member__home_store_id=store_id), "date"),
        (Member.objects.filter(home_store_id=store_id), "joined_on"),
    )
    days = [rows.filter(created_at__gt=since).aggregate(day=Min(field))["day"] for rows, field in ledgers]
    days = [day for day in days if day is not None]
    return min(days) if days else None


def snapshots_touched(*, store_ids: list[int] | None = None) -> QuerySet[ReportSnapshot]:
    """The snapshots whose ledger may have changed since the store's snapshots were last checked
    (or taken): per store, the earliest date among the ledger rows written since (a late import,
    a back-dated purchase or return, a review run late) touches every snapshot whose period ends
    on or after it (churn, the 12-month spend and the tier mix look back, so a date before the
    period counts too). Set-based: three aggregates a store, then one query."""
    snapshots = ReportSnapshot.objects.all()
    if store_ids is not None:
        snapshots = snapshots.filter(store_id__in=store_ids)
    marks = snapshots.order_by().values("store_id").annotate(since=Min(Coalesce("ledger_checked_at", "taken_at")))
    touched = Q(pk__in=[])
    for row in marks:
        earliest = _earliest_change(row["store_id"], row["since"])
        if earliest is not None:
            touched |= Q(store_id=row["store_id"], period_end__gte=earliest)
    return snapshots.filter(touched).select_related("store")


@transaction.atomic
def snapshots_restate(*, store_ids: list[int] | None = None) -> dict:
    """Recompute the touched snapshots (`snapshots_touched`); mark those whose ledger figures
    differ from the frozen ones as restated with the figures now (a snapshot the ledger brought
    back to its frozen figures is no longer restated); then every snapshot of those stores counts
    as checked now. Returns {"checked": n, "restated": n}."""
    now = timezone.now()
    checked = restated = 0
    for snapshot in snapshots_touched(store_ids=store_ids).order_by("period_end", "pk"):
        figures = snapshot_figures(store=snapshot.store, start=snapshot.period_start, end=snapshot.period_end)
        current = ledger_figures(figures)
        checked += 1
        if current != ledger_figures(snapshot.figures):
            snapshot.restated_at = now
            snapshot.restated_figures = current
            restated += 1
        elif snapshot.restated_at is not None:
            snapshot.restated_at = None
            snapshot.restated_figures = {}
        else:
            continue
        snapshot.save(update_fields=["restated_at", "restated_figures"])
    everything = ReportSnapshot.objects.filter(taken_at__lte=now)
    if store_ids is not None:
        everything = everything.filter(store_id__in=store_ids)
    everything.update(ledger_checked_at=now)
    if restated:
        logger.info("snapshots restated: %s of %s checked", restated, checked)
    return {"checked": checked, "restated": restated}


def restatements_work(store: Store, on: date) -> dict:
    """The daily restatement check as a duty (recorded on the duty runs page)."""
    return snapshots_restate(store_ids=[store.pk])


# --- Trends from day one: monthly snapshots of past months --------------------------------------

BACKFILL_MONTHS = 12


def snapshots_backfill(*, store: Store, through: date, months: int = BACKFILL_MONTHS) -> int:
    """The monthly snapshots of the `months` complete months up to `through` (a month end, or the
    last one before it) that the store has data in, taken now from the ledger as it stands, so
    the 12-month trends show on a new installation or after an import. A month already taken is
    kept (it may be restated instead). Returns how many were taken."""
    first = _first_data_day(store)
    if first is None:
        return 0
    end = through if through == month_end(through) else through.replace(day=1) - timedelta(days=1)
    taken = 0
    for _month in range(months):
        if end < first:
            break
        start = end.replace(day=1)
        if not ReportSnapshot.objects.filter(
            store=store, kind=SnapshotKind.MONTHLY, period_start=start, period_end=end
        ).exists():
            snapshot_take(store=store, kind=SnapshotKind.MONTHLY, start=start, end=end)
            taken += 1
        end = start - timedelta(days=1)
    return taken


def _first_data_day(store: Store) -> date | None:
    joined = Member.objects.filter(home_store=store).order_by("joined_on").values_list("joined_on", flat=True).first()
    bought = Purchase.objects.filter(store=store).order_by("date").values_list("date", flat=True).first()
    days = [d for d in (joined, bought) if d is not None]
    return min(days) if days else None


# --- Month end ---------------------------------------------------------------------------------


def monthly_work(store: Store, on: date) -> dict:
    """On a month's last day, after that day's purchases: the tier review, the monthly snapshot
    (after the review, so its downgrades count), next month's birthday and occasion gift plans,
    and a task for each upgrade candidate and each member at risk of a downgrade."""
    if on != month_end(on):
        raise ValueError(f"{on} is not a month's last day")
    review = tiers_review(store=store, on=on)
    snapshot = snapshot_take(store=store, kind=SnapshotKind.MONTHLY, start=on.replace(day=1), end=on)
    following = on + timedelta(days=1)
    plans = gift_plans_for_month(store=store, year=following.year, month=following.month)
    due = following
    month = following.strftime("%Y-%m")
    rows = [
        (
            c.member_id,
            c.consultant_id,
            TaskKind.UPGRADE_PUSH,
            due,
            f"upgrade:{month}",
            _("距 %(tier)s 级还差 ¥%(missing)s") % {"tier": c.target, "missing": f"{c.missing:,.2f}"},
        )
        for c in upgrade_candidates(store_id=store.pk, on=on)
    ]
    rows += [
        (
            r.member_id,
            r.consultant_id,
            TaskKind.KEEP_TIER,
            due,
            f"keep:{month}",
            _("保级：下月底前还需消费 ¥%(missing)s 才能保持 %(tier)s 级")
            % {"tier": r.tier, "missing": f"{r.missing:,.2f}"},
        )
        for r in downgrade_risks(store_id=store.pk, on=on)
    ]
    pushes = tasks_bulk_create(store=store, rows=rows)
    emails = report_mail(snapshot=snapshot)  # to the store's leads and HQ, after the commit, once
    return {
        "emails": emails,
        "downgrades": review.downgrades,
        "held": review.held,
        "snapshot": snapshot.pk,
        "gift_plans": plans,
        "upgrade_candidates": sum(1 for r in rows if r[4].startswith("upgrade")),
        "downgrade_risks": sum(1 for r in rows if r[4].startswith("keep")),
        "tasks": pushes,
    }


# --- Mid-month ---------------------------------------------------------------------------------


def mid_month_work(store: Store, on: date) -> dict:
    """On the 15th: the month-to-date snapshot (upgrade, churn and repurchase rates so far),
    mailed to the store's manager and VIP specialist and to HQ (reports/commentary.py)."""
    if on.day != 15:
        raise ValueError(f"{on} is not the 15th")
    snapshot = snapshot_take(store=store, kind=SnapshotKind.MID_MONTH, start=on.replace(day=1), end=on)
    return {"snapshot": snapshot.pk, "emails": report_mail(snapshot=snapshot)}


# --- Weekly ------------------------------------------------------------------------------------


def previous_week(monday: date) -> tuple[date, date]:
    return monday - timedelta(days=7), monday - timedelta(days=1)


def weekly_work(store: Store, on: date) -> dict:
    """On Monday: the report for the previous Monday–Sunday, as a snapshot and an email to the
    store's manager and VIP specialist."""
    if on.weekday() != 0:
        raise ValueError(f"{on} is not a Monday")
    start, end = previous_week(on)
    extra = week_figures(store=store, start=start, end=end)
    sales = sales_by_consultant(store_id=store.pk, start=start, end=end)
    extra["sales_by_consultant"] = sales_by_consultant_json(sales)
    extra["people"] = {str(k): v for k, v in extra["people"].items()}
    snapshot = snapshot_take(store=store, kind=SnapshotKind.WEEKLY, start=start, end=end, extra=extra)
    sent = weekly_email_send(snapshot=snapshot)
    return {"snapshot": snapshot.pk, "emails": sent}


# The weekly figures' key for receipts naming no consultant (DOMAIN §6: the staff rows add up to
# the store).
NO_CONSULTANT = "none"


def sales_by_consultant_json(sales: dict) -> dict[str, str]:
    """`sales_by_consultant` as the snapshot keeps it: staff ids as strings, nobody as "none"."""
    return {(NO_CONSULTANT if k is None else str(k)): f"{v:.2f}" for k, v in sales.items()}


def weekly_email_send(*, snapshot: ReportSnapshot) -> int:
    """Queue the weekly report to the store's manager and VIP specialist in the outbox, keyed by
    store, week and person: sent after the duty commits, once each."""
    recipients = list(
        Staff.objects.filter(
            store=snapshot.store, role__in=[Role.MANAGER, Role.VIP_SPECIALIST], is_active=True
        ).exclude(email="")
    )
    if not recipients:
        return 0
    context = weekly_context(snapshot)
    subject = _("%(store)s 周报 %(start)s – %(end)s") % {
        "store": snapshot.store.name,
        "start": snapshot.period_start,
        "end": snapshot.period_end,
    }
    body = render_to_string("reports/email/weekly.txt", context)
    for person in recipients:
        key = f"weekly:{snapshot.store_id}:{snapshot.period_start}:{person.pk}"
        email_queue(to=[person.email], subject=subject, body=body, key=key)
    return len(recipients)


def weekly_context(snapshot: ReportSnapshot) -> dict:
    """What the weekly page and email show: the frozen figures with names for the ids."""
    from members.models import Member
    from visits.models import Channel, InvitationStatus

    f = snapshot.figures
    staff_ids = {int(k) for k in f.get("people", {}) if k.isdigit()}
    staff_ids |= {int(k) for k in f.get("sales_by_consultant", {}) if k.isdigit()}
    names = {s.pk: str(s) for s in Staff.objects.filter(pk__in=staff_ids)}
    people = []
    for staff_id in sorted(staff_ids, key=lambda pk: names.get(pk, "")):
        row = f.get("people", {}).get(str(staff_id), {})
        people.append(
            {
                "name": names.get(staff_id, "—"),
                "due": row.get("due", 0),
                "done": row.get("done", 0),
                "on_time": row.get("on_time", 0),
                "visits": row.get("visits", 0),
                "sales": f.get("sales_by_consultant", {}).get(str(staff_id), "0.00"),
            }
        )
    if NO_CONSULTANT in f.get("sales_by_consultant", {}):
        people.append(
            {
                "name": _("无专属顾问"),
                "no_consultant": True,
                "due": 0,
                "done": 0,
                "on_time": 0,
                "visits": 0,
                "sales": f["sales_by_consultant"][NO_CONSULTANT],
            }
        )
    birthday_ids = [member_id for member_id, _day, _tier in f.get("birthdays_next_week", [])]
    members = {m.pk: m for m in Member.objects.filter(pk__in=birthday_ids)}
    birthdays = [(members.get(member_id), day, tier) for member_id, day, tier in f.get("birthdays_next_week", [])]
    channels = dict(Channel.choices)
    statuses = dict(InvitationStatus.choices)
    return {
        "snapshot": snapshot,
        "f": f,
        "vip_sales": Decimal(f["old_vip_sales"]) + Decimal(f["new_vip_sales"]),
        "visits_by_channel": [(channels.get(k, k), v) for k, v in f.get("visits_by_channel", {}).items()],
        "invitations": [(statuses.get(k, k), v) for k, v in f.get("invitations", {}).items()],
        "people": people,
        "birthdays": birthdays,
        # Opinions, suggestions and low scores of the week (issue 12 item 6): read live, not frozen,
        # so that a member's erasure reaches the report too; lazily, once, where they are shown.
        "feedback": SimpleLazyObject(
            lambda: week_feedback(store=snapshot.store, start=snapshot.period_start, end=snapshot.period_end)
        ),
    }


WORK = {MONTHLY_DUTY: monthly_work, MID_MONTH_DUTY: mid_month_work, WEEKLY_DUTY: weekly_work}
# When each periodic duty is due (duties.runs' calendars); the restatement check runs daily.
SCHEDULES = {MONTHLY_DUTY: MONTH_END, MID_MONTH_DUTY: MID_MONTH, WEEKLY_DUTY: WEEKLY}

"""Snapshots and the periodic duties of DOMAIN §10: weekly, mid-month and month-end."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from accounts.models import Role, Staff, Store
from duties.services import email_queue
from members.selectors import downgrade_risks, sales_by_consultant, upgrade_candidates
from members.services import tiers_review
from members.tiers import month_end
from visits.models import TaskKind
from visits.selectors import week_figures
from visits.services import gift_plans_for_month, tasks_bulk_create

from .kpis import compute_kpis
from .models import ReportSnapshot, SnapshotKind

# Figures whose members a report links to, frozen with the snapshot.
DRILL_DOWN = ("base", "churned", "repurchased", "win_backs", "upgrade_base", "upgraded", "downgraded", "new_members")
MONTHLY_DUTY, MID_MONTH_DUTY, WEEKLY_DUTY = "monthly", "mid_month", "weekly"


def snapshot_take(*, store: Store, kind: str, start: date, end: date, extra: dict | None = None) -> ReportSnapshot:
    """Freeze the period's figures for the store. Taken twice, it is one snapshot: the first."""
    existing = ReportSnapshot.objects.filter(store=store, kind=kind, period_start=start, period_end=end).first()
    if existing is not None:
        return existing
    kpis = compute_kpis(start=start, end=end, store_ids=[store.pk], store_label=store.code)
    figures = kpis.as_json()
    figures["members"] = {name: sorted(kpis.members_behind(name)) for name in DRILL_DOWN}
    figures["members"].update({f"tier_{t}": sorted(ids) for t, ids in kpis.tier_mix.items()})
    figures.update(extra or {})
    try:
        with transaction.atomic():
            return ReportSnapshot.objects.create(
                store=store, kind=kind, period_start=start, period_end=end, figures=figures
            )
    except IntegrityError:  # taken at the same moment elsewhere: that one stands
        return ReportSnapshot.objects.get(store=store, kind=kind, period_start=start, period_end=end)


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
    return {
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
    """On the 15th: the month-to-date snapshot (upgrade, churn and repurchase rates so far)."""
    if on.day != 15:
        raise ValueError(f"{on} is not the 15th")
    snapshot = snapshot_take(store=store, kind=SnapshotKind.MID_MONTH, start=on.replace(day=1), end=on)
    return {"snapshot": snapshot.pk}


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
    }


def due_dates(duty: str, *, through: date, back_days: int = 62) -> list[date]:
    """The business dates a periodic duty was due on in the last `back_days` up to `through`: month
    ends, 15ths or Mondays. The duties catch up those that have no completed run."""
    days = [through - timedelta(days=n) for n in range(back_days, -1, -1)]
    if duty == MONTHLY_DUTY:
        return [d for d in days if d.day == calendar.monthrange(d.year, d.month)[1]]
    if duty == MID_MONTH_DUTY:
        return [d for d in days if d.day == 15]
    return [d for d in days if d.weekday() == 0]


WORK = {MONTHLY_DUTY: monthly_work, MID_MONTH_DUTY: mid_month_work, WEEKLY_DUTY: weekly_work}

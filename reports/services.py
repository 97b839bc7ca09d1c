"""Writes of the reports app: the snapshots and the periodic duties of DOMAIN §10 (weekly, mid-month
and month-end, the restatement check, the backfill), and the targets and the store's daily sales."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Min, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext as _

from accounts.models import Role, Staff, Store
from duties.runs import MID_MONTH, MONTH_END, WEEKLY
from duties.services import email_queue
from members.models import Member, Purchase, TierChange
from members.selectors import downgrade_risks, sales_by_consultant, sales_by_consultant_split, upgrade_candidates
from members.services import tiers_review
from members.tiers import month_end
from visits.feedback import week_feedback
from visits.models import TaskKind
from visits.selectors import week_figures
from visits.services import gift_plans_for_month, tasks_bulk_create

from .commentary import WITH_ACHIEVEMENT, report_link, report_mail
from .kpis import Kpis, compute_kpis
from .metrics import (
    CENT,
    METRIC_LABELS,
    ONE,
    STAFF_METRICS,
    STAFF_ROLES,
    ZERO,
    Achievement,
    amount_display,
    metric_kind,
    split_amounts,
)
from .models import (
    ADDITIVE_METRICS,
    STORE_ONLY_METRICS,
    AnnualTarget,
    MonthlyTarget,
    ReportSnapshot,
    SalesSource,
    SnapshotKind,
    StaffTarget,
    StoreDailySales,
    TargetMetric,
)
from .permissions import can_record_sales, can_set_targets, require
from .selectors import (
    consultant_sales,
    staff_achievement,
    staff_actuals,
    store_achievement,
    target_people,
    target_plans,
)

# Figures whose members a report links to, frozen with the snapshot.
DRILL_DOWN = ("base", "churned", "repurchased", "win_backs", "upgrade_base", "upgraded", "downgraded", "new_members")
MONTHLY_DUTY, MID_MONTH_DUTY, WEEKLY_DUTY = "monthly", "mid_month", "weekly"


def snapshot_figures(
    *,
    store: Store,
    start: date,
    end: date,
    kpis: Kpis | None = None,
    sales: dict[int | None, tuple[Decimal, Decimal]] | None = None,
) -> dict:
    """The figures a snapshot freezes (the kind's extras aside): the KPI object, the members
    behind each figure and the sales per person (the weekly table's, restated with the rest). The
    restatement check recomputes a frozen period with this. `kpis` / `sales` (the period's
    `sales_by_consultant_split`): read already."""
    kpis = kpis or compute_kpis(start=start, end=end, store_ids=[store.pk], store_label=store.code)
    figures = kpis.as_json()
    figures["members"] = {name: sorted(kpis.members_behind(name)) for name in DRILL_DOWN}
    figures["members"].update({f"tier_{t}": sorted(ids) for t, ids in kpis.tier_mix.items()})
    if sales is None:
        sales = sales_by_consultant_split(store_id=store.pk, start=start, end=end)
    figures["sales_by_consultant"] = sales_by_consultant_json(consultant_sales(sales))
    return figures


def _number_json(value):
    return value if value is None or isinstance(value, int) else str(value)


def _achievement_json(a: Achievement) -> dict:
    actual = a.actual
    return {
        "metric": str(a.metric),
        "target": _number_json(a.target),
        "value": _number_json(actual.value),
        "numerator": _number_json(actual.numerator),
        "denominator": _number_json(actual.denominator),
        "note": str(actual.note),
    }


def achievement_json(
    *,
    store: Store,
    start: date,
    end: date,
    kpis: Kpis | None = None,
    sales: dict[int | None, tuple[Decimal, Decimal]] | None = None,
) -> dict:
    """The month's achievement against its targets as a monthly or mid-month snapshot freezes it
    (issue 12 item 5): the store's, and each person's (under "none": the receipts naming nobody),
    the actuals in [start, end] against the whole month's targets. `kpis` / `sales` (the period's
    `sales_by_consultant_split`): read already."""
    plans = target_plans(store=store, year=start.year)
    people = target_people(store=store)
    actuals = staff_actuals(store=store, start=start, end=end, sales=sales)
    rows = staff_achievement(
        store=store,
        people=people,
        year=start.year,
        month=start.month,
        start=start,
        end=end,
        add_up=True,
        actuals=actuals,
    )
    return {
        "until": end.isoformat(),
        "store": [
            _achievement_json(a)
            for a in store_achievement(store=store, plans=plans, months=[start.month], start=start, end=end, kpis=kpis)
        ],
        "people": [
            {
                "staff_id": row.staff.pk,
                "rows": [_achievement_json(row.rows[m]) for m in STAFF_METRICS if m in row.rows],
            }
            for row in rows
        ],
    }


def snapshot_take(*, store: Store, kind: str, start: date, end: date, extra: dict | None = None) -> ReportSnapshot:
    """Freeze the period's figures for the store. Taken twice, it is one snapshot: the first."""
    existing = ReportSnapshot.objects.filter(store=store, kind=kind, period_start=start, period_end=end).first()
    if existing is not None:
        return existing
    kpis = compute_kpis(start=start, end=end, store_ids=[store.pk], store_label=store.code)
    # The sales per person, read once for the figures and the achievement.
    sales = sales_by_consultant_split(store_id=store.pk, start=start, end=end)
    figures = snapshot_figures(store=store, start=start, end=end, kpis=kpis, sales=sales)
    if kind in WITH_ACHIEVEMENT:
        figures["achievement"] = achievement_json(store=store, start=start, end=end, kpis=kpis, sales=sales)
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
    "sales_by_consultant",  # the weekly table's sales per person
)
RESTATE_DUTY = "restatements"
logger = logging.getLogger(__name__)


def ledger_figures(figures: dict) -> dict:
    """The part of a snapshot's figures the ledger makes, as JSON stores it."""
    picked = {name: figures.get(name) for name in LEDGER_FIGURES}
    return json.loads(json.dumps(picked, cls=DjangoJSONEncoder))


def _restated(snapshot: ReportSnapshot, current: dict) -> bool:
    """Whether the ledger figures now differ from the frozen ones. A figure the snapshot was taken
    without (one frozen before it was kept) is no difference."""
    frozen = ledger_figures(snapshot.figures)
    return any(frozen[name] != current[name] for name in LEDGER_FIGURES if name in snapshot.figures)


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
        if _restated(snapshot, current):
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
    context = {**weekly_context(snapshot), "link": report_link(snapshot)}
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


def _weekly_people(snapshot: ReportSnapshot) -> list[dict]:
    """The weekly table's rows: each person's tasks, visits and sales as frozen, with the sales
    now (`sales_restated`) where the snapshot was restated and the ledger changed theirs; last the
    receipts naming nobody. One query (the names)."""
    f = snapshot.figures
    sales = f.get("sales_by_consultant", {})
    restated_at = getattr(snapshot, "restated_at", None)  # an unsaved snapshot (a live week) has none
    now = snapshot.restated_figures.get("sales_by_consultant") if restated_at else None

    def restated(key: str) -> str | None:
        value = None if now is None else now.get(key, "0.00")
        return value if value is not None and value != sales.get(key, "0.00") else None

    keys = {*f.get("people", {}), *sales, *(now or {})}
    staff_ids = {int(k) for k in keys if k.isdigit()}
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
                "sales": sales.get(str(staff_id), "0.00"),
                "sales_restated": restated(str(staff_id)),
            }
        )
    if NO_CONSULTANT in keys:
        people.append(
            {
                "name": _("无专属顾问"),
                "no_consultant": True,
                "due": 0,
                "done": 0,
                "on_time": 0,
                "visits": 0,
                "sales": sales.get(NO_CONSULTANT, "0.00"),
                "sales_restated": restated(NO_CONSULTANT),
            }
        )
    return people


def weekly_context(snapshot: ReportSnapshot) -> dict:
    """What the weekly page and email show: the frozen figures with names for the ids."""
    from members.models import Member
    from visits.models import Channel, InvitationStatus

    f = snapshot.figures
    people = _weekly_people(snapshot)
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


# --- Targets and the store's daily sales ---------------------------------------------------------
# Keyword-only, atomic, validated before anything is written: a bad value raises a ValidationError
# with a message a manager can act on and saves nothing. The store's manager sets their store's
# targets and sales, HQ any store's (reports/permissions.py).

MAX_MONEY = Decimal("9999999999.99")  # fits max_digits=14, decimal_places=4
MAX_WEIGHT = Decimal("9999.99")


def error_dict(e: ValidationError) -> dict[str, list[str]]:
    """A refusal's messages by field ("__all__" for the form's)."""
    return e.message_dict if hasattr(e, "error_dict") else {"__all__": e.messages}


def _decimal(value, *, field_name: str) -> Decimal:
    if isinstance(value, Decimal):
        number = value
    else:
        text = str(value if value is not None else "").strip().replace(",", "").replace("，", "")
        if not text:
            raise ValidationError({field_name: _("请填写数值。")})
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValidationError({field_name: _("“%(value)s”不是数字。") % {"value": text}}) from None
    if not number.is_finite():
        raise ValidationError({field_name: _("请填写有效的数字。")})
    return number


def target_amount_clean(metric: str, value, *, field_name: str = "amount") -> Decimal:
    """A target amount for the metric: money ≥ 0 with at most 2 decimals, a count a whole number
    ≥ 0, a rate a fraction in (0, 1] (0.35 = 35%)."""
    number = _decimal(value, field_name=field_name)
    kind = metric_kind(metric)
    if kind == "rate":
        if not ZERO < number <= ONE:
            message = _("比率目标须大于 0 且不超过 1（如 0.35 表示 35%%），而不是 %(value)s。")
            raise ValidationError({field_name: message % {"value": number}})
        if number != number.quantize(Decimal("0.0001")):
            raise ValidationError({field_name: _("比率目标最多保留 4 位小数。")})
        return number
    if number < 0:
        raise ValidationError({field_name: _("目标不能为负数。")})
    if kind == "count":
        if number != number.to_integral_value():
            raise ValidationError({field_name: _("新开卡数须为整数。")})
        return number.quantize(ONE)
    if number != number.quantize(CENT):
        raise ValidationError({field_name: _("金额最多保留 2 位小数。")})
    if number > MAX_MONEY:
        raise ValidationError({field_name: _("金额过大。")})
    return number.quantize(CENT)


def _metric_clean(metric: str) -> str:
    if metric not in TargetMetric.values:
        raise ValidationError({"metric": _("没有这个指标：%(metric)s。") % {"metric": metric}})
    return metric


def _year_clean(year) -> int:
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ValidationError({"year": _("年度须为数字。")}) from None
    if not 2000 <= year <= 2100:
        raise ValidationError({"year": _("年度须在 2000 至 2100 之间。")})
    return year


def _months_apply(annual: AnnualTarget, weights: list[Decimal]) -> None:
    """Write the months' weights and amounts; refuse (ValidationError) a month whose amount would
    fall below what is already allocated to staff."""
    amounts = split_amounts(annual.metric, annual.amount, weights)
    months = {m.month: m for m in annual.months.select_for_update().order_by("month")}
    allocated = _allocated_by_month(annual)
    if annual.metric in ADDITIVE_METRICS:
        short = [
            _("%(month)s月已分配 %(allocated)s，超过新的月目标 %(amount)s")
            % {
                "month": number,
                "allocated": amount_display(annual.metric, allocated[number]),
                "amount": amount_display(annual.metric, amounts[number - 1]),
            }
            for number in range(1, 13)
            if allocated.get(number, ZERO) > amounts[number - 1]
        ]
        if short:
            raise ValidationError(_("请先减少员工分配：%(months)s。") % {"months": "；".join(short)})
    for number in range(1, 13):
        month = months.get(number)
        if month is None:
            MonthlyTarget.objects.create(
                annual=annual, month=number, weight=weights[number - 1], amount=amounts[number - 1]
            )
        elif (month.weight, month.amount) != (weights[number - 1], amounts[number - 1]):
            month.weight, month.amount = weights[number - 1], amounts[number - 1]
            month.save(update_fields=["weight", "amount"])


def _allocated_by_month(annual: AnnualTarget) -> dict[int, Decimal]:
    if annual.pk is None:
        return {}
    rows = (
        StaffTarget.objects.filter(monthly__annual=annual)
        .values_list("monthly__month")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    return dict(rows)


@transaction.atomic
def annual_target_set(*, store: Store, year: int, metric: str, amount, by: Staff) -> AnnualTarget:
    """Set the store's annual target for a metric. A new plan is split into twelve equally weighted
    months; a changed amount is re-split with the months' weights as they are."""
    require(can_set_targets(by, store))
    year = _year_clean(year)
    metric = _metric_clean(metric)
    amount = target_amount_clean(metric, amount)
    annual = AnnualTarget.objects.select_for_update().filter(store=store, year=year, metric=metric).first()
    if annual is None:
        annual = AnnualTarget.objects.create(store=store, year=year, metric=metric, amount=amount, set_by=by)
        weights = [ONE] * 12
    else:
        weights = [m.weight for m in annual.months.order_by("month")] or [ONE] * 12
        annual.amount, annual.set_by = amount, by
        annual.save(update_fields=["amount", "set_by", "updated_at"])
    _months_apply(annual, weights)
    return annual


@transaction.atomic
def month_weights_set(*, annual: AnnualTarget, weights: Mapping[int, object], by: Staff) -> AnnualTarget:
    """Set the twelve months' weights (month → weight; months not given keep theirs) and re-split
    the year. Weights are ≥ 0 with at most 2 decimals and add up to more than 0."""
    require(can_set_targets(by, annual.store))
    annual = AnnualTarget.objects.select_for_update().get(pk=annual.pk)
    current = {m.month: m.weight for m in annual.months.all()}
    new: list[Decimal] = []
    errors: dict[str, list[str]] = {}
    for number in range(1, 13):
        key = f"w{number}"
        try:
            weight = _decimal(weights.get(number, current.get(number, ONE)), field_name=key)
        except ValidationError:
            errors[key] = [_("%(month)s月权重不是有效的数字。") % {"month": number}]
            continue
        if not ZERO <= weight <= MAX_WEIGHT or weight != weight.quantize(CENT):
            errors[key] = [_("%(month)s月权重须在 0 至 9999.99 之间，最多 2 位小数。") % {"month": number}]
            continue
        new.append(weight)
    if errors:
        raise ValidationError(errors)
    if sum(new, ZERO) <= 0:
        raise ValidationError({"weights": _("权重之和须大于 0。")})
    _months_apply(annual, new)
    return annual


def _allocations_clean(annual: AnnualTarget, allocations: Mapping[int, object]) -> dict[int, Decimal | None]:
    """{staff id: amount, or None to remove}: each person one of the store's own active staff,
    each amount valid for the metric; else a ValidationError naming every refused field."""
    staff = {
        s.pk: s
        for s in Staff.objects.filter(
            pk__in=[int(pk) for pk in allocations], store_id=annual.store_id, role__in=STAFF_ROLES, is_active=True
        )
    }
    cleaned: dict[int, Decimal | None] = {}
    errors: dict[str, list[str]] = {}
    for pk, raw in allocations.items():
        key = f"staff_{pk}"
        person = staff.get(int(pk))
        if person is None:
            errors.setdefault(key, []).append(_("员工 #%(pk)s 不是本店在职员工。") % {"pk": pk})
            continue
        if raw is None or str(raw).strip() == "":
            cleaned[person.pk] = None
            continue
        try:
            cleaned[person.pk] = target_amount_clean(annual.metric, raw, field_name=key)
        except ValidationError as e:
            errors.setdefault(key, []).extend(f"{person}：{m}" for m in e.message_dict[key])
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def staff_allocation_set(*, monthly: MonthlyTarget, allocations: Mapping[int, object], by: Staff) -> list[StaffTarget]:
    """Set a month's targets per person (staff id → amount; empty or None removes the person's).
    The people are the store's own active staff; for amounts that add up, their sum may not
    exceed the month's target. The VIP sales share is the store's alone."""
    annual = monthly.annual
    require(can_set_targets(by, annual.store))
    metric = annual.metric
    if metric in STORE_ONLY_METRICS:
        raise ValidationError(_("%(metric)s是门店整体指标，不分配到个人。") % {"metric": METRIC_LABELS[metric]})
    monthly = MonthlyTarget.objects.select_for_update().select_related("annual").get(pk=monthly.pk)
    cleaned = _allocations_clean(annual, allocations)
    existing = {t.staff_id: t for t in monthly.allocations.all()}
    final = {pk: t.amount for pk, t in existing.items()}
    for pk, amount in cleaned.items():
        if amount is None or amount == 0:
            final.pop(pk, None)
        else:
            final[pk] = amount
    if metric in ADDITIVE_METRICS:
        total = sum(final.values(), ZERO)
        if total > monthly.amount:
            raise ValidationError(
                _("分配合计 %(total)s 超过%(month)s月目标 %(amount)s，请调整后再保存。")
                % {
                    "total": amount_display(metric, total),
                    "month": monthly.month,
                    "amount": amount_display(metric, monthly.amount),
                }
            )
    for pk, target in existing.items():
        if pk not in final:
            target.delete()
        elif final[pk] != target.amount:
            target.amount = final[pk]
            target.save(update_fields=["amount"])
    for pk, amount in final.items():
        if pk not in existing:
            StaffTarget.objects.create(monthly=monthly, staff_id=pk, amount=amount)
    return list(monthly.allocations.select_related("staff").order_by("staff_id"))


@transaction.atomic
def daily_sales_record(
    *, store: Store, day: date, total_sales, by: Staff | None, source: str = SalesSource.MANUAL
) -> StoreDailySales:
    """Enter or correct the store's total sales of a day (members or not). A day already entered
    is overwritten: one row per store and day. Not for a future day (the store's local date) or
    before 1900; the amount ≥ 0 with at most 2 decimals. `by` is None only for the POS."""
    if source == SalesSource.MANUAL or by is not None:
        require(by is not None and can_record_sales(by, store))
    if not isinstance(day, date):
        raise ValidationError({"date": _("日期无效。")})
    if day > timezone.localdate():
        raise ValidationError({"date": _("%(day)s 还没到，不能录入销售额。") % {"day": day.isoformat()}})
    if day.year < 1900:
        raise ValidationError({"date": _("日期不能早于 1900 年。")})
    amount = _decimal(total_sales, field_name="total_sales")
    if amount < 0:
        raise ValidationError({"total_sales": _("销售总额不能为负数。")})
    if amount != amount.quantize(CENT):
        raise ValidationError({"total_sales": _("金额最多保留 2 位小数。")})
    if amount > MAX_MONEY:
        raise ValidationError({"total_sales": _("金额过大。")})
    row, _created = StoreDailySales.objects.update_or_create(
        store=store, date=day, defaults={"total_sales": amount.quantize(CENT), "source": source, "entered_by": by}
    )
    return row


def daily_sales_month_record(*, store: Store, entries: Mapping[date, str], by: Staff) -> tuple[int, dict[date, str]]:
    """Enter or correct several days' totals together (the month's form): all or none. A value
    equal to the one entered is no change. Returns (days changed, {day: why refused}); with any
    refusal nothing is saved."""
    entered = dict(
        StoreDailySales.objects.filter(store=store, date__in=list(entries)).values_list("date", "total_sales")
    )
    changed, errors = 0, {}
    with transaction.atomic():
        for day, raw in sorted(entries.items()):
            if day in entered and raw == f"{entered[day]:.2f}":
                continue
            try:
                daily_sales_record(store=store, day=day, total_sales=raw, by=by)
                changed += 1
            except ValidationError as e:
                errors[day] = " ".join(m for ms in error_dict(e).values() for m in ms)
        if errors:
            transaction.set_rollback(True)
    return (0 if errors else changed), errors

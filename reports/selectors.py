"""Reads of the reports app (DOMAIN §6, §11), always given the viewer or the store:

- the page's store and period from the request (another store's is a 404);
- the record of the scheduled duties (DOMAIN §10);
- targets: the plan per metric and achievement against it, live. A store's actuals come from
  `compute_kpis` for the period (the exact DOMAIN §6 figures); the VIP sales share divides the VIP
  sales by the store's entered totals; a person's come from the grouped reads in members and visits;
- what the targets and daily sales pages show.

The report pages' and dashboards' reads are in reports/dashboards.py, the chain view's in
reports/chain.py; writes are in reports/services.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Staff, Store
from duties.models import DutyRun
from members.selectors import (
    new_members_by_opener,
    sales_by_consultant_split,
    store_staff,
    vip_sales_by_store_and_day,
)
from vipcrm import params
from vipcrm.rates import Rate
from visits.selectors import follow_up_figures_by

from .kpis import Kpis, compute_kpis, sales_months
from .metrics import (
    METRIC_LABELS,
    METRICS,
    NO_CONSULTANT,
    STAFF_METRICS,
    STAFF_ROLES,
    ZERO,
    Achievement,
    Actual,
    MetricPlan,
    MonthPlan,
    StaffAchievement,
    amount_display,
    amount_plain,
    empty_staff_actuals,
    metric_kind,
    month_period,
    vip_sales_share,
    weighted_rate_target,
)
from .models import RATE_METRICS, AnnualTarget, MonthlyTarget, StaffTarget, StoreDailySales, TargetMetric
from .periods import QUARTERS, Period, add_months, parse_month, quarter_of
from .permissions import can_set_targets

# --- The page's store and period -----------------------------------------------------------------


def store_for(viewer: Staff, raw: str | None) -> Store | None:
    """The store a page is about. HQ names one (None if not named); everyone else has their own,
    and naming another store is a 404: it does not exist for them. A store id that is not a number
    (`?store=²`: isdigit() is true, int() fails) is a 400 (vipcrm.params)."""
    store_id = params.as_pk("store", raw)
    if viewer.is_hq:
        if store_id is None:
            return None
        store = Store.objects.filter(pk=store_id).first()
        if store is None:
            raise Http404
        return store
    if viewer.store_id is None or (store_id is not None and store_id != viewer.store_id):
        raise Http404
    return viewer.store


def store_or_first(viewer: Staff, raw: str | None) -> Store:
    """The page's store: the viewer's own, or for HQ the one named (else the first open store)."""
    store = store_for(viewer, raw)
    if store is None:
        store = Store.objects.filter(is_active=True).order_by("code").first()
        if store is None:
            raise Http404
    return store


def hq_stores(viewer: Staff) -> list[Store]:
    """The stores HQ's store picker lists (nobody else has one)."""
    return list(Store.objects.filter(is_active=True).order_by("code")) if viewer.is_hq else []


def month_bounds(raw: str | None, today: date) -> tuple[date, date]:
    """?month=YYYY-MM (default: this month) as a full month; ValueError with a message to show."""
    if not raw:
        return parse_month(today.strftime("%Y-%m"))
    try:
        start, end = parse_month(raw)
    except ValueError:
        raise ValueError(_("月份格式应为 YYYY-MM，例如 %(example)s。") % {"example": today.strftime("%Y-%m")}) from None
    if start > today:
        raise ValueError(_("%(month)s 还没开始。") % {"month": raw})
    if start.year < 2000:
        raise ValueError(_("月份太早。"))
    return start, end


def week_bounds(raw: str | None, today: date) -> tuple[date, date]:
    """?week=<a date in the week> as its Monday–Sunday (default: last week, the latest complete)."""
    if raw:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise ValueError(_("周应为该周的周一日期，例如 %(example)s。") % {"example": today.isoformat()}) from None
    else:
        day = today - timedelta(days=7)
    monday = day - timedelta(days=day.weekday())
    if monday > today:
        raise ValueError(_("%(week)s 这一周还没开始。") % {"week": monday.isoformat()})
    if monday.year < 2000:
        raise ValueError(_("日期太早。"))
    return monday, monday + timedelta(days=6)


def month_nav(start: date, today: date) -> tuple[str, str]:
    """The previous and next month's ?month= (no next one in the future)."""
    following = add_months(start, 1)
    return add_months(start, -1).strftime("%Y-%m"), following.strftime("%Y-%m") if following <= today else ""


# --- Duty runs -----------------------------------------------------------------------------------

# What staff call each duty (DOMAIN §10); a duty not named here shows its code.
DUTY_LABELS = {
    "daily": gettext_lazy("每日回访任务与晨报"),
    "complaint_sla": gettext_lazy("投诉时限检查（每小时）"),
    "weekly": gettext_lazy("周报"),
    "mid_month": gettext_lazy("月中快照"),
    "monthly": gettext_lazy("月末等级评审与月报"),
    "restatements": gettext_lazy("快照重述检查"),
    "top_spenders": gettext_lazy("半月消费前列回访名单"),
}


def duty_run_list(*, viewer: Staff, store: Store | None = None, status: str = "", duty: str = "") -> QuerySet[DutyRun]:
    """The runs the viewer may see, newest first: their store's, or for HQ every store's."""
    runs = DutyRun.objects.select_related("store")
    if not viewer.is_hq:
        runs = runs.filter(store_id=viewer.store_id) if viewer.store_id else runs.none()
    elif store is not None:
        runs = runs.filter(store=store)
    if status:
        runs = runs.filter(status=status)
    if duty:
        runs = runs.filter(duty=duty)
    return runs.order_by("-date", "-slot", "duty", "store__code", "-pk")


def duties_known() -> list[tuple[str, str]]:
    """Every duty that has run (and every named one), as (code, what staff call it)."""
    duties = sorted({*DUTY_LABELS, *DutyRun.objects.order_by().values_list("duty", flat=True).distinct()})
    return [(duty, DUTY_LABELS.get(duty, duty)) for duty in duties]


def duty_runs_labelled(runs: Iterable[DutyRun]) -> None:
    """Name each run's duty as staff know it (`duty_label`)."""
    for run in runs:
        run.duty_label = DUTY_LABELS.get(run.duty, run.duty)


# --- Targets: the plan ---------------------------------------------------------------------------


def annual_target_get(*, viewer: Staff, pk: int) -> AnnualTarget:
    """A store's annual target through the viewer's scope: another store's is a 404."""
    qs = AnnualTarget.objects.select_related("store")
    if not viewer.is_hq:
        qs = qs.filter(store_id=viewer.store_id)
    return get_object_or_404(qs, pk=pk)


def monthly_target_get(*, viewer: Staff, pk: int) -> MonthlyTarget:
    """A month of a store's target through the viewer's scope: another store's is a 404."""
    qs = MonthlyTarget.objects.select_related("annual__store")
    if not viewer.is_hq:
        qs = qs.filter(annual__store_id=viewer.store_id)
    return get_object_or_404(qs, pk=pk)


def target_people(*, store: Store) -> list[Staff]:
    """The store's staff who can carry a target, in the order the tables list them."""
    people = Staff.objects.filter(store=store, role__in=STAFF_ROLES, is_active=True)
    return list(people.order_by("role", "display_name", "username"))


def target_plans(*, store: Store, year: int, today: date | None = None) -> dict[str, MetricPlan]:
    """Every metric's plan for the store and year (None where no target is set): three queries,
    plus one per begun month that allocates a rate (its people's tasks due, the weights of their
    weighted rate: `weighted_rate_target`)."""
    today = today or timezone.localdate()
    annuals = {a.metric: a for a in AnnualTarget.objects.filter(store=store, year=year)}
    plans = {metric: MetricPlan(metric=metric, annual=annuals.get(metric)) for metric in METRICS}
    by_monthly: dict[int, dict[int, Decimal]] = {}
    rows = StaffTarget.objects.filter(monthly__annual__in=annuals.values()).values_list(
        "monthly_id", "staff_id", "amount"
    )
    for monthly_id, staff_id, amount in rows:
        by_monthly.setdefault(monthly_id, {})[staff_id] = amount
    for m in MonthlyTarget.objects.filter(annual__in=annuals.values()).select_related("annual").order_by("month"):
        people = by_monthly.get(m.pk, {})
        note = ""
        if m.annual.metric in RATE_METRICS:
            weights = {}
            period = Period.month(year, m.month)
            if people and period.start <= today:
                due = follow_up_figures_by(by="assignee", store_ids=[store.pk], start=period.start, end=period.end)
                weights = {pk: figures["due"] for pk, figures in due.items()}
            allocated, note = weighted_rate_target(people, weights)
        else:
            allocated = sum(people.values(), ZERO)
        plans[m.annual.metric].months.append(
            MonthPlan(
                month=m.month, weight=m.weight, amount=m.amount, allocated=allocated, pk=m.pk, allocated_note=note
            )
        )
    return plans


# --- Targets: achievement -----------------------------------------------------------------------


def store_sales_entered(*, store_ids: list[int] | None, start: date, end: date) -> dict[int, dict[date, Decimal]]:
    """The entered daily totals per store and day in [start, end]: one query."""
    rows = StoreDailySales.objects.filter(date__gte=start, date__lte=end)
    if store_ids is not None:
        rows = rows.filter(store_id__in=store_ids)
    found: dict[int, dict[date, Decimal]] = {}
    for store_id, day, total in rows.values_list("store_id", "date", "total_sales"):
        found.setdefault(store_id, {})[day] = total
    return found


def store_vip_sales_share(*, store: Store, start: date, end: date, vip_sales: Decimal) -> Actual:
    """The store's VIP sales share in [start, end], given its VIP sales for the whole period."""
    entered = store_sales_entered(store_ids=[store.pk], start=start, end=end).get(store.pk)

    def by_day() -> dict[date, Decimal]:
        sales = vip_sales_by_store_and_day(store_ids=[store.pk], start=start, end=end)
        return {day: amount for (_store, day), amount in sales.items()}

    return vip_sales_share(vip_sales=vip_sales, entered=entered, days=(end - start).days + 1, vip_by_day=by_day)


def store_actuals(
    *, store: Store, start: date, end: date, kpis: Kpis | None = None, vip_share: Actual | None = None
) -> dict[str, Actual]:
    """The store's actual for each target metric in [start, end], from `compute_kpis` (given, or
    computed here) and the entered daily totals (`vip_share`: the VIP sales share, if read already)."""
    kpis = kpis or compute_kpis(start=start, end=end, store_ids=[store.pk], store_label=store.code)
    due = kpis.follow_ups.get("due", 0)
    done = kpis.follow_ups.get("done", 0)
    vip_sales = kpis.old_vip_sales + kpis.new_vip_sales
    if vip_share is None:
        vip_share = store_vip_sales_share(store=store, start=start, end=end, vip_sales=vip_sales)
    return {
        TargetMetric.OLD_VIP_SALES: Actual(kpis.old_vip_sales),
        TargetMetric.NEW_VIP_SALES: Actual(kpis.new_vip_sales),
        TargetMetric.NEW_MEMBERS: Actual(Decimal(len(kpis.new_members))),
        TargetMetric.VIP_SALES_SHARE: vip_share,
        TargetMetric.FOLLOW_UP_COMPLETION: Actual(Rate(done, due).decimal, done, due),
    }


def store_achievement(
    *,
    store: Store,
    plans: dict[str, MetricPlan],
    months: Iterable[int],
    start: date,
    end: date,
    kpis: Kpis | None = None,
) -> list[Achievement]:
    """Each metric's actual in [start, end] against the target of `months` (a month, a quarter,
    the year)."""
    actuals = store_actuals(store=store, start=start, end=end, kpis=kpis)
    months = list(months)
    return [Achievement(metric, plans[metric].target_for(months), actuals[metric]) for metric in METRICS]


def consultant_sales(split: dict[int | None, tuple[Decimal, Decimal]]) -> dict[int | None, Decimal]:
    """`members.selectors.sales_by_consultant` for the same store and period from its split: the
    old and new VIP sales add up to the receipts' total (every receipt is one or the other)."""
    return {staff_id: old + new for staff_id, (old, new) in split.items()}


def staff_actuals(
    *, store: Store, start: date, end: date, sales: dict[int | None, tuple[Decimal, Decimal]] | None = None
) -> dict[int | None, dict[str, Actual]]:
    """Each person's actuals in the period: sales credited to them on the store's receipts (old /
    new VIP as DOMAIN §6 splits them), the members whose cards they opened, and the completion of
    the tasks assigned to them. Under None: receipts naming nobody and cards opened by nobody, so
    that the people add up to the store. Three queries (a period spanning months: one more per
    month, as DOMAIN §6 sums a quarter's old / new VIP sales over its months). `sales`: the
    period's `sales_by_consultant_split` read already (used only where the period is one part)."""
    parts = sales_months(start, end)
    if sales is None or len(parts) > 1:
        sales = {}
        for part in parts:
            for pk, (old, new) in sales_by_consultant_split(store_id=store.pk, start=part.start, end=part.end).items():
                was_old, was_new = sales.get(pk, (ZERO, ZERO))
                sales[pk] = (was_old + old, was_new + new)
    opened = new_members_by_opener(store_id=store.pk, start=start, end=end)
    tasks = follow_up_figures_by(by="assignee", store_ids=[store.pk], start=start, end=end)
    return staff_actuals_from(sales=sales, opened=opened, tasks=tasks)


def staff_actuals_from(
    *, sales: dict[int | None, tuple[Decimal, Decimal]], opened: dict[int | None, int], tasks: dict[int, dict]
) -> dict[int | None, dict[str, Actual]]:
    """`staff_actuals` from its three grouped reads, made already (the dashboard reads them with
    its other figures in one query)."""
    people = set(sales) | set(opened) | set(tasks)
    found: dict[int | None, dict[str, Actual]] = {}
    for pk in people:
        old, new = sales.get(pk, (ZERO, ZERO))
        t = tasks.get(pk, {"due": 0, "done": 0})
        found[pk] = {
            TargetMetric.OLD_VIP_SALES: Actual(old),
            TargetMetric.NEW_VIP_SALES: Actual(new),
            TargetMetric.NEW_MEMBERS: Actual(Decimal(opened.get(pk, 0))),
            TargetMetric.FOLLOW_UP_COMPLETION: Actual(Rate(t["done"], t["due"]).decimal, t["done"], t["due"]),
        }
    return found


def staff_targets(*, store: Store, year: int, month: int) -> dict[int, dict[str, Decimal]]:
    """{staff id: {metric: amount}} for the store's month: one query."""
    found: dict[int, dict[str, Decimal]] = {}
    rows = StaffTarget.objects.filter(
        monthly__annual__store=store, monthly__annual__year=year, monthly__month=month
    ).values_list("staff_id", "monthly__annual__metric", "amount")
    for staff_id, metric, amount in rows:
        found.setdefault(staff_id, {})[metric] = amount
    return found


def staff_achievement(
    *,
    store: Store,
    people: list[Staff],
    year: int,
    month: int,
    start: date,
    end: date,
    add_up: bool = False,
    actuals: dict[int | None, dict[str, Actual]] | None = None,
    targets: dict[int, dict[str, Decimal]] | None = None,
) -> list[StaffAchievement]:
    """Each person's achievement for the month (actuals in [start, end]): four queries.

    `add_up`: the table must add up to the store (DOMAIN §6): after `people`, anyone else named
    on the store's receipts or cards in the period (someone since deactivated or moved: one more
    query, only then), and last a "no consultant" row (`NO_CONSULTANT`) for receipts naming nobody.
    `actuals` / `targets`: `staff_actuals` / `staff_targets` read already (no query for them here)."""
    if actuals is None:
        actuals = staff_actuals(store=store, start=start, end=end)
    if targets is None:
        targets = staff_targets(store=store, year=year, month=month)
    rows = []
    if add_up:
        listed = {person.pk for person in people}
        others = [pk for pk in actuals if pk is not None and pk not in listed]
        extra = list(Staff.objects.filter(pk__in=others).order_by("display_name", "username")) if others else []
        for person in extra:
            person.listed = False
        people = [*people, *extra, None]
    for person in people:
        if person is None:
            mine = actuals.get(None) or empty_staff_actuals()
            rows.append(
                StaffAchievement(
                    staff=NO_CONSULTANT,
                    rows={metric: Achievement(metric, None, mine[metric]) for metric in STAFF_METRICS},
                )
            )
            continue
        mine = actuals.get(person.pk) or empty_staff_actuals()
        goals = targets.get(person.pk, {})
        rows.append(
            StaffAchievement(
                staff=person,
                rows={metric: Achievement(metric, goals.get(metric), mine[metric]) for metric in STAFF_METRICS},
            )
        )
    return rows


# --- The targets page ----------------------------------------------------------------------------


@dataclass
class Refused:
    """A refused save on the targets page: which form (`annual-<metric>`, `weights-<metric>`,
    `allocation-<metric>`), what was typed and why; that form shows them again (nothing was saved)."""

    form: str = ""
    posted: Mapping = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)

    def value(self, form: str, key: str, saved: str) -> str:
        return self.posted.get(key, "") if form == self.form else saved

    def error(self, form: str, key: str) -> list[str] | None:
        return self.errors.get(key) if form == self.form else None

    @property
    def messages(self) -> list[str]:
        return [m for ms in self.errors.values() for m in ms] if self.form else []


def _plan_months(metric: str, plan: MetricPlan, refused: Refused) -> list[dict]:
    form = f"weights-{metric}"
    months = []
    for number in range(1, 13):
        m = plan.month(number)
        months.append(
            {
                "number": number,
                "weight": refused.value(form, f"w{number}", f"{m.weight:.2f}" if m else "1.00"),
                "amount": amount_display(metric, m.amount, brief=True) if m else "—",
                "allocated": amount_display(metric, m.allocated, brief=True) if m and m.allocated else "",
                "error": refused.error(form, f"w{number}"),
                "quarter_end": number % 3 == 0,
                "quarter": quarter_of(number),
            }
        )
    return months


def _plan_cards(plans: dict[str, MetricPlan], refused: Refused) -> list[dict]:
    """Each metric's year: its amount (editable), quarters and months with their weights."""
    return [
        {
            "plan": plan,
            "amount": refused.value(
                f"annual-{metric}", "amount", amount_plain(metric, plan.annual and plan.annual.amount)
            ),
            "annual_display": amount_display(metric, plan.annual.amount) if plan.annual else "",
            "months": _plan_months(metric, plan, refused),
            "quarters": [(q, amount_display(metric, v, brief=True)) for q, v in plan.quarters],
            "annual_failed": refused.form == f"annual-{metric}",
            "weights_failed": refused.form == f"weights-{metric}",
        }
        for metric, plan in plans.items()
    ]


def _achievement_periods(*, store: Store, plans: dict[str, MetricPlan], year: int, month: int, today: date) -> list:
    """Achievement to date: the month, its quarter and the year, each one `compute_kpis`."""
    quarter = quarter_of(month)
    q_months = QUARTERS[quarter]
    periods = []
    for label, months, start, end in (
        (_("%(month)s月") % {"month": month}, [month], *month_period(year, month)),
        (
            _("第%(q)s季度") % {"q": quarter},
            list(q_months),
            month_period(year, q_months[0])[0],
            month_period(year, q_months[-1])[1],
        ),
        (_("全年"), list(range(1, 13)), date(year, 1, 1), date(year, 12, 31)),
    ):
        if start > today:
            periods.append({"label": label, "until": None, "rows": []})
            continue
        until = min(end, today)
        rows = store_achievement(store=store, plans=plans, months=months, start=start, end=until)
        periods.append({"label": label, "until": until if until < end else None, "rows": rows})
    return periods


def _allocation_rows(metric: str, staff_rows: list[StaffAchievement], refused: Refused) -> list[dict]:
    form = f"allocation-{metric}"
    rows = []
    for row in staff_rows:
        a = row.get(metric)
        key = f"staff_{row.staff.pk}" if row.listed else ""  # added rows (DOMAIN §6) take no target
        rows.append(
            {
                "staff": row.staff,
                "key": key,
                "value": refused.value(form, key, amount_plain(metric, a.target)),
                "achievement": a,
                "error": refused.error(form, key),
            }
        )
    return rows


def _allocations(
    *, viewer: Staff, store: Store, plans: dict[str, MetricPlan], year: int, month: int, today: date, refused: Refused
) -> list[dict]:
    """The month's allocation to people, with their achievement so far."""
    people = list(store_staff(viewer=viewer, store_id=store.pk).order_by("role", "display_name", "username"))
    m_start, m_end = month_period(year, month)
    # A month not begun yet has nothing achieved: its actuals are read for its first day only.
    until = min(m_end, today) if m_start <= today else m_start
    staff_rows = staff_achievement(
        store=store, people=people, year=year, month=month, start=m_start, end=until, add_up=True
    )
    allocations = []
    for metric in STAFF_METRICS:
        monthly = plans[metric].month(month)
        allocations.append(
            {
                "metric": metric,
                "label": METRIC_LABELS[metric],
                "kind": metric_kind(metric),
                "monthly": monthly,
                "month_amount": amount_display(metric, monthly.amount) if monthly else "",
                "allocated": amount_display(metric, monthly.allocated) if monthly else "",
                "rows": _allocation_rows(metric, staff_rows, refused),
                "failed": refused.form == f"allocation-{metric}",
                "started": m_start <= today,
            }
        )
    return allocations


def targets_context(*, viewer: Staff, store: Store, year: int, month: int, refused: Refused | None = None) -> dict:
    """Everything the targets page shows: the year's plan per metric with quarters and months, the
    achievement of the month, quarter and year so far, and the month's allocation to people.
    After a refused save (`refused`), that form shows what was typed with the reasons."""
    today = timezone.localdate()
    refused = refused or Refused()
    plans = target_plans(store=store, year=year)
    return {
        "store": store,
        "stores": hq_stores(viewer),
        "year": year,
        "month": month,
        "years": sorted({*range(today.year - 2, today.year + 2), year}),
        "months": list(range(1, 13)),
        "editable": can_set_targets(viewer, store),
        "cards": _plan_cards(plans, refused),
        "periods": _achievement_periods(store=store, plans=plans, year=year, month=month, today=today),
        "allocations": _allocations(
            viewer=viewer, store=store, plans=plans, year=year, month=month, today=today, refused=refused
        ),
        "form_errors": refused.messages,
        "failed": refused.form,
        "today": today,
    }


# --- The daily sales page ------------------------------------------------------------------------


def daily_sales_context(
    *, viewer: Staff, store: Store, start: date, end: date, today: date, posted=None, errors=None
) -> dict:
    """The month's days with the store's entered totals; after a refused save, what was typed
    (`posted`) with the reason per day (`errors`)."""
    errors = errors or {}
    existing = {
        row.date: row
        for row in StoreDailySales.objects.filter(store=store, date__range=(start, end)).select_related("entered_by")
    }
    days = []
    day = start
    while day <= end:
        row = existing.get(day)
        key = f"sales_{day.isoformat()}"
        value = (posted or {}).get(key, "") if errors else (f"{row.total_sales:.2f}" if row else "")
        days.append(
            {"date": day, "key": key, "row": row, "value": value, "error": errors.get(day), "future": day > today}
        )
        day += timedelta(days=1)
    return {
        "store": store,
        "stores": hq_stores(viewer),
        "start": start,
        "days": days,
        "total": sum((r.total_sales for r in existing.values()), Decimal("0.00")),
        "entered": len(existing),
        "errors": errors,
        "nav": month_nav(start, today),
    }

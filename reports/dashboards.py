"""Reads for the report pages and dashboards (DOMAIN §6, §11).

- Monthly and weekly reports: from the period's `ReportSnapshot` when one was taken (frozen: the
  figures and the members behind them as they were then), else live from `compute_kpis`.
- The drill-down: the members behind a figure, narrowed to what the viewer may see (a consultant:
  their own members).
- The store dashboard: the month so far against target (live), the tier mix, a 12-month trend of
  the upgrade, churn and repurchase rates read from the monthly snapshots (never recomputed from
  the ledger), and a table per person. The consultant's: their own figures. HQ's: the stores side
  by side, from their latest monthly snapshots and grouped month-to-date reads.

Every read takes the store (resolved from the viewer: another store's is a 404) and runs a fixed
number of queries whatever the number of members or purchases. The store dashboard is
`compute_kpis` (live: the running month), one grouped read for everything else of the month
(`month_figures`: the staff table, the month's targets, the entered totals), the staff and the
trend: at most 15 queries a page with the session's (issue 14).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import CharField, Count, DecimalField, F, IntegerField, Q, Sum, Value
from django.db.models.functions import Cast, Concat, ExtractDay
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Staff, Store
from complaints.models import Complaint
from members.models import MONEY, Member, Purchase, Tier
from members.selectors import (
    member_ids_of_consultant,
    member_scope,
    member_tier_counts,
    members_home_on,
    sales_by_consultant,
    store_staff,
)
from members.validators import mask_phone
from vipcrm.rates import FORMULAS, Rate
from visits.models import FollowUpTask, TaskStatus, Visit
from visits.selectors import _follow_up_counts, week_figures

from .kpis import compute_kpis
from .metrics import METRICS, Achievement, Actual, NoConsultant, StaffAchievement, vip_sales_share
from .models import (
    RATE_METRICS,
    TARGET_AMOUNT,
    AnnualTarget,
    MonthlyTarget,
    ReportSnapshot,
    SnapshotKind,
    StaffTarget,
    StoreDailySales,
    TargetMetric,
)
from .periods import add_months
from .selectors import (
    hq_stores,
    month_bounds,
    month_nav,
    staff_achievement,
    staff_actuals_from,
    store_actuals,
    store_vip_sales_share,
    week_bounds,
)
from .services import DRILL_DOWN, sales_by_consultant_json, weekly_context

ZERO = Decimal("0.00")
TIER_FIGURES = tuple(f"tier_{t}" for t in Tier.values)
FIGURES = (*DRILL_DOWN, *TIER_FIGURES)
TREND_MONTHS = 12

# What each figure is, for the drill-down's heading.
FIGURE_LABELS = {
    "base": gettext_lazy("期初活跃会员"),
    "churned": gettext_lazy("流失会员"),
    "repurchased": gettext_lazy("返单会员"),
    "win_backs": gettext_lazy("回流会员"),
    "upgrade_base": gettext_lazy("期初 B/C 级会员"),
    "upgraded": gettext_lazy("升级会员"),
    "downgraded": gettext_lazy("降级会员"),
    "new_members": gettext_lazy("新开卡会员"),
    "tier_A": gettext_lazy("期末 A 级会员"),
    "tier_B": gettext_lazy("期末 B 级会员"),
    "tier_C": gettext_lazy("期末 C 级会员"),
}


def money(value) -> Decimal:
    """A money figure from a snapshot (a decimal string; SQLite's JSON may hand back a number)."""
    if value is None or value == "":
        return ZERO
    return Decimal(str(value)).quantize(Decimal("0.01"))


# --- Monthly and weekly reports ------------------------------------------------------------------


@dataclass
class FigureRow:
    """A line of the report: a count (and its rate) with the members behind it."""

    label: str
    count: int | None
    figure: str = ""  # drill-down key ("" when the members are not kept)
    rate: Rate | None = None
    share: float | None = None  # tier mix: share of the members at the end
    of_figure: str = ""  # the denominator's members (upgrade base)
    of_count: int | None = None


@dataclass
class Report:
    store: Store
    kind: str
    start: date
    end: date  # the period's end
    figures: dict
    snapshot: ReportSnapshot | None = None
    live_until: date | None = None  # live and the period not over: figures up to this day
    weekly: dict = field(default_factory=dict)  # the weekly report's extras, named (weekly_context)
    vip_share: Actual | None = None

    @property
    def frozen(self) -> bool:
        return self.snapshot is not None

    def rate(self, key: str) -> Rate:
        return Rate.figure(key, self.figures.get(key))

    @property
    def drill_down(self) -> set[str]:
        """The figures whose members can be listed: a snapshot's kept lists, or any when live."""
        if self.snapshot is not None:
            return set(self.figures.get("members", {}))
        return set(FIGURES)

    @property
    def member_rows(self) -> list[FigureRow]:
        f = self.figures
        kept = self.drill_down
        churn, repurchase, upgrade = self.rate("churn_rate"), self.rate("repurchase_rate"), self.rate("upgrade_rate")

        def key(name: str) -> str:
            return name if name in kept else ""

        return [
            FigureRow(_("期初活跃会员"), f.get("active_at_start", churn.denominator), key("base")),
            FigureRow(_("流失"), churn.numerator, key("churned"), churn, of_figure=key("base")),
            FigureRow(
                _("返单（再次消费）"), repurchase.numerator, key("repurchased"), repurchase, of_figure=key("base")
            ),
            FigureRow(
                _("升级"),
                upgrade.numerator,
                key("upgraded"),
                upgrade,
                of_figure=key("upgrade_base"),
                of_count=upgrade.denominator,
            ),
            FigureRow(_("回流（沉睡后再消费）"), f.get("win_backs"), key("win_backs")),
            FigureRow(_("降级（月末评审）"), f.get("downgrades"), key("downgraded")),
            FigureRow(_("新开卡"), f.get("new_members"), key("new_members")),
        ]

    @property
    def tier_rows(self) -> list[FigureRow]:
        mix = self.figures.get("tier_mix", {})
        labels = dict(Tier.choices)
        return [
            FigureRow(
                str(labels[t]),
                mix.get(t, {}).get("count"),
                f"tier_{t}" if f"tier_{t}" in self.drill_down else "",
                share=mix.get(t, {}).get("share"),
            )
            for t in Tier.values
        ]

    @property
    def old_vip_sales(self) -> Decimal:
        return money(self.figures.get("old_vip_sales"))

    @property
    def new_vip_sales(self) -> Decimal:
        return money(self.figures.get("new_vip_sales"))

    @property
    def vip_sales(self) -> Decimal:
        return self.old_vip_sales + self.new_vip_sales

    @property
    def rate_completion(self) -> Rate:
        return self.rate("follow_up_completion")

    @property
    def rate_on_time(self) -> Rate:
        return self.rate("follow_up_on_time")

    @property
    def complaint_categories(self) -> list[tuple[str, dict]]:
        from complaints.models import Category

        labels = dict(Category.choices)
        by = self.figures.get("complaints", {}).get("by_category", {})
        return [(str(labels.get(k, k)), v) for k, v in by.items()]

    @property
    def satisfaction(self) -> dict:
        s = self.figures.get("satisfaction", {})
        return {
            "scored": s.get("scored", 0),
            "mean": s.get("mean"),
            "satisfied": Rate.figure("satisfied", s.get("satisfied")),
        }

    @property
    def complaint_rates(self) -> tuple[Rate, Rate]:
        c = self.figures.get("complaints", {})
        return (
            Rate.figure("response_within_sla", c.get("response_within_sla")),
            Rate.figure("solution_within_sla", c.get("solution_within_sla")),
        )


def report_for(*, store: Store, kind: str, start: date, end: date, today: date) -> Report:
    """The period's report: its snapshot if taken, else live (up to today if the period is not
    over). Live: `compute_kpis` once, plus for a week the weekly extras."""
    snapshot = ReportSnapshot.objects.filter(store=store, kind=kind, period_start=start, period_end=end).first()
    if snapshot is not None:
        report = Report(store, kind, start, end, snapshot.figures, snapshot=snapshot)
    else:
        until = min(end, today)
        figures = compute_kpis(start=start, end=until, store_ids=[store.pk], store_label=store.code).as_json()
        if kind == SnapshotKind.WEEKLY:
            extra = week_figures(store=store, start=start, end=until)
            sales = sales_by_consultant(store_id=store.pk, start=start, end=until)
            extra["sales_by_consultant"] = sales_by_consultant_json(sales)
            extra["people"] = {str(k): v for k, v in extra["people"].items()}
            figures.update(extra)
        report = Report(store, kind, start, end, figures, live_until=until if until < end else None)
    if kind == SnapshotKind.WEEKLY:
        unsaved = report.snapshot or ReportSnapshot(
            store=store, kind=kind, period_start=start, period_end=end, figures=report.figures
        )
        report.weekly = weekly_context(unsaved)
    report.vip_share = store_vip_sales_share(
        store=store, start=start, end=report.live_until or end, vip_sales=report.vip_sales
    )
    return report


def report_period(kind: str, raw: str | None, today: date) -> tuple[date, date]:
    """A report page's period from its ?month= (monthly, mid-month: the 1st–15th) or ?week=;
    ValueError with a message to show."""
    if kind == SnapshotKind.WEEKLY:
        return week_bounds(raw, today)
    start, end = month_bounds(raw, today)
    return start, (start.replace(day=15) if kind == SnapshotKind.MID_MONTH else end)


def report_page(*, viewer: Staff, store: Store, kind: str, raw: str | None, today: date) -> dict:
    """What a monthly, mid-month or weekly report page shows for ?month= / ?week= (`raw`): the
    report, the previous and next periods, and where its figures drill down to (the snapshot's
    frozen lists, or the live figure of the same period). ValueError for a period to refuse."""
    start, end = report_period(kind, raw, today)
    report = report_for(store=store, kind=kind, start=start, end=end, today=today)
    if kind == SnapshotKind.WEEKLY:
        previous, following = start - timedelta(days=7), start + timedelta(days=7)
        nav = (previous.isoformat(), following.isoformat() if following <= today else "")
        period_arg = ("week", start.isoformat())
    else:
        nav = month_nav(start, today)
        period_arg = ("month", start.strftime("%Y-%m"))
    if report.snapshot is not None:
        drill_query = urlencode({"snapshot": report.snapshot.pk})
    else:
        drill_query = urlencode({period_arg[0]: period_arg[1], **({"store": store.pk} if viewer.is_hq else {})})
    return {
        "report": report,
        "drill_query": drill_query,
        "kind": kind,
        "store": store,
        "stores": hq_stores(viewer),
        "store_keep": [period_arg],
        "nav": nav,
        "period_arg": period_arg,
        "today": today,
    }


# --- The drill-down ------------------------------------------------------------------------------


@dataclass
class DrillDown:
    store: Store
    figure: str
    start: date
    end: date
    ids: set[int]
    snapshot: ReportSnapshot | None = None
    mine_only: bool = False

    @property
    def label(self) -> str:
        return str(FIGURE_LABELS.get(self.figure, self.figure))


def snapshot_get(*, viewer: Staff, pk) -> ReportSnapshot:
    """A snapshot of the viewer's store (HQ: any), else 404."""
    qs = ReportSnapshot.objects.select_related("store")
    if not viewer.is_hq:
        qs = qs.filter(store_id=viewer.store_id)
    try:
        return qs.get(pk=int(pk))
    except (ReportSnapshot.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def drill_down_for(
    *, viewer: Staff, figure: str, snapshot: ReportSnapshot | None, store: Store | None, start: date, end: date
) -> DrillDown:
    """The members behind a figure: a snapshot's kept list, or the live figure's for the period."""
    if figure not in FIGURES:
        raise Http404
    if snapshot is not None:
        kept = snapshot.figures.get("members", {})
        if figure not in kept:
            raise Http404
        found = DrillDown(
            snapshot.store, figure, snapshot.period_start, snapshot.period_end, set(kept[figure]), snapshot
        )
    else:
        kpis = compute_kpis(start=start, end=end, store_ids=[store.pk], store_label=store.code)
        found = DrillDown(store, figure, start, end, set(kpis.members_behind(figure)))
    found.mine_only = viewer.is_consultant
    return found


def drill_down_members(*, viewer: Staff, drill: DrillDown):
    """The listed members as the viewer may see them, by name: their scope (a consultant's own
    members only), with the consultant joined in."""
    qs = member_scope(viewer=viewer).filter(pk__in=drill.ids)
    if viewer.is_consultant:
        qs = qs.filter(consultant=viewer)
    return qs.select_related("consultant").order_by("name", "pk")


def masked(member: Member) -> str:
    return mask_phone(member.phone)


# --- The store dashboard -------------------------------------------------------------------------


@dataclass
class TrendPoint:
    month: str
    snapshot_id: int | None
    churn: Rate | None
    repurchase: Rate | None
    upgrade: Rate | None


def rate_trend(*, store: Store, through: date, months: int = TREND_MONTHS) -> list[TrendPoint]:
    """The upgrade, churn and repurchase rates of the last `months` months, from the store's
    monthly snapshots (one query, reading only those keys of the figures): the months up to the
    latest snapshot, or up to last month if this month has none yet. A month without a snapshot
    is a gap, not a recomputation."""
    this_month = through.replace(day=1)
    first = add_months(this_month, -months)
    rows = (
        ReportSnapshot.objects.filter(
            store=store, kind=SnapshotKind.MONTHLY, period_start__gte=first, period_end__lte=through
        )
        .order_by("period_start")
        .values("pk", "period_start", "figures__churn_rate", "figures__repurchase_rate", "figures__upgrade_rate")
    )
    by_month = {row["period_start"]: row for row in rows}
    last = this_month if this_month in by_month else add_months(this_month, -1)
    points = []
    for offset in range(months - 1, -1, -1):
        start = add_months(last, -offset)
        row = by_month.get(start)
        points.append(
            TrendPoint(
                month=start.strftime("%Y-%m"),
                snapshot_id=row["pk"] if row else None,
                churn=Rate.figure("churn_rate", row["figures__churn_rate"]) if row else None,
                repurchase=Rate.figure("repurchase_rate", row["figures__repurchase_rate"]) if row else None,
                upgrade=Rate.figure("upgrade_rate", row["figures__upgrade_rate"]) if row else None,
            )
        )
    return points


def trend_chart(points: list[TrendPoint]) -> dict:
    """The line chart's data: percentages (null for a gap) and the hover text of each point."""

    def series(name: str, key: str, label: str, color: str) -> dict:
        rates = [getattr(p, name) for p in points]
        return {
            "label": label,
            "color": color,
            "data": [r.percent if r else None for r in rates],
            "titles": [r.title if r else _("该月没有月报快照") for r in rates],
            # The hover: "流失率 4.1%（9 / 220）", with the formula below it.
            "details": [f"{r.numerator} / {r.denominator}" if r and r.denominator is not None else "" for r in rates],
            "formula": str(FORMULAS[key]),
        }

    return {
        "type": "line",
        "labels": [p.month for p in points],
        "percent": True,
        "datasets": [
            series("upgrade", "upgrade_rate", _("升级率"), "#198754"),
            series("churn", "churn_rate", _("流失率"), "#dc3545"),
            series("repurchase", "repurchase_rate", _("返单率"), "#0d6efd"),
        ],
    }


TIER_COLORS = {"A": "#b8860b", "B": "#4a6fa5", "C": "#6c757d"}


def tier_chart(tier_mix: dict) -> dict:
    labels = dict(Tier.choices)
    return {
        "type": "doughnut",
        "labels": [str(labels[t]) for t in Tier.values],
        "datasets": [
            {
                "label": _("会员数"),
                "data": [tier_mix.get(t, {}).get("count", 0) for t in Tier.values],
                "colors": [TIER_COLORS[t] for t in Tier.values],
            }
        ],
    }


@dataclass
class StaffRow:
    staff: Staff | NoConsultant  # NO_CONSULTANT: receipts, members and tasks naming nobody
    members: int
    due: int
    done: int
    on_time: int
    satisfaction_mean: float | None
    scored: int
    sales: Decimal
    sales_target: Decimal | None
    complaints: int
    achievement: StaffAchievement

    @property
    def completion(self) -> Rate:
        return Rate(self.done, self.due, "follow_up_completion")

    @property
    def on_time_rate(self) -> Rate:
        return Rate(self.on_time, self.due, "follow_up_on_time")

    @property
    def sales_percent(self) -> float | None:
        if not self.sales_target:
            return None
        return round(float(self.sales / self.sales_target) * 100, 1)

    @property
    def sales_bar(self) -> float:
        return min(100.0, max(0.0, self.sales_percent or 0.0))


@dataclass
class MonthFigures:
    """The grouped figures of a store's month so far that the dashboards show beside
    `compute_kpis`, read in one query (`month_figures`). Keyed by member of staff (None: naming
    nobody) as the selectors they stand for key them: `sales_by_consultant_split`,
    `new_members_by_opener`, `follow_up_figures_by(by="assignee")`, `members_by_consultant`,
    `satisfaction_by_staff`, the complaints each person is responsible for, `staff_targets`; and
    for the store: its targets for the month, the entered daily totals and the VIP sales by day."""

    sales: dict = field(default_factory=dict)  # {staff: (old, new)}
    opened: dict = field(default_factory=dict)  # {staff: n}
    tasks: dict = field(default_factory=dict)  # {staff: {"due", "done", "on_time"}}, no None
    served: dict = field(default_factory=dict)  # {staff: n}
    scores: dict = field(default_factory=dict)  # {staff: {"scored", "mean", "satisfied"}}, no None
    complaints: dict = field(default_factory=dict)  # {staff: n}, no None
    staff_targets: dict = field(default_factory=dict)  # {staff: {metric: amount}}
    annual: dict = field(default_factory=dict)  # {metric: the year's amount}
    monthly: dict = field(default_factory=dict)  # {metric: the month's amount}
    entered: dict = field(default_factory=dict)  # {day: the store's entered total}
    vip_by_day: dict = field(default_factory=dict)  # {day: VIP sales}

    def targets(self) -> dict[str, Decimal | None]:
        """Each metric's target for the month, as `MetricPlan.target_for([month])` gives it."""
        found = {}
        for metric in METRICS:
            if metric not in self.annual:
                found[metric] = None
            elif metric in RATE_METRICS:
                found[metric] = self.annual[metric]
            else:
                found[metric] = self.monthly.get(metric, ZERO)
        return found


CENT = Decimal("0.01")
TARGET_PLACES = Decimal(1).scaleb(-TARGET_AMOUNT["decimal_places"])


def month_figures(*, store: Store, start: date, end: date, store_figures: bool = True) -> MonthFigures:
    """`MonthFigures` for [start, end] (within one month) in one query: a UNION ALL of the grouped
    reads, each row (part, key, a, b, c, text). `store_figures`: also the store's targets and
    entered totals (the store dashboard; the consultant's needs only the people's). The same
    filters as the selectors named in `MonthFigures` (tests/reports/test_dashboard_figures.py
    holds them equal). Within one month only: DOMAIN §6 splits old / new VIP sales by month."""
    if (start.year, start.month) != (end.year, end.month):
        raise ValueError("month_figures reads one month (so far)")
    lo = timezone.make_aware(datetime.combine(start, time.min))
    hi = timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min))
    money_sum = DecimalField(max_digits=MONEY["max_digits"], decimal_places=MONEY["decimal_places"])
    zero = Value(0, output_field=IntegerField())
    no_key = Value(None, output_field=IntegerField())
    no_text = Value("", output_field=CharField())

    day = Cast(ExtractDay("date"), IntegerField())  # PostgreSQL's EXTRACT gives a numeric

    def part(qs, name, key, a, b=zero, c=zero, text=no_text, by_day=False):
        label = name if hasattr(name, "resolve_expression") else Value(name, output_field=CharField())
        if by_day:  # grouped by the day too, in c
            qs = qs.order_by().values(k=key, c=day).annotate(p=label, a=a, b=b, t=text)
        else:
            qs = qs.order_by().values(k=key).annotate(p=label, a=a, b=b, c=c, t=text)
        return qs.values_list("p", "k", "a", "b", "c", "t")

    # The store's receipts of members joined by `end`, "new" when joined in the period (DOMAIN §6).
    # Not a join on the members: PostgreSQL would hash all of the chain's to split a store's month;
    # the few joined since `start` are an index read of the join date (issue 14).
    joined_new = Member.objects.filter(joined_on__gte=start, joined_on__lte=end).values("pk")
    purchases = Purchase.objects.filter(store_id=store.pk, date__gte=start, date__lte=end).exclude(
        member_id__in=Member.objects.filter(joined_on__gt=end).values("pk")
    )
    tasks = FollowUpTask.objects.filter(store_id=store.pk, due_date__gte=start, due_date__lte=end).exclude(
        status=TaskStatus.CANCELLED
    )
    counts = _follow_up_counts(end)
    parts = [
        part(
            purchases,
            "sales",
            F("consultant_id"),
            Sum("amount", filter=~Q(member_id__in=joined_new), output_field=money_sum),
            Sum("amount", filter=Q(member_id__in=joined_new), output_field=money_sum),
            by_day=True,
        ),
        part(
            members_home_on(store_ids=[store.pk], on=end).filter(joined_on__gte=start, joined_on__lte=end),
            "opened",
            F("opened_by_id"),
            Count("pk"),
        ),
        part(tasks, "tasks", F("assignee_id"), counts["due"], counts["done"], counts["on_time"]),
        part(
            Member.objects.filter(home_store_id=store.pk, erased_at__isnull=True),
            "served",
            F("consultant_id"),
            Count("pk"),
        ),
        part(
            Visit.objects.filter(
                store_id=store.pk, at__gte=lo, at__lt=hi, satisfaction__isnull=False, staff__isnull=False
            ),
            "scores",
            F("staff_id"),
            Count("pk"),
            Sum("satisfaction"),
            Count("pk", filter=Q(satisfaction__gte=4)),
        ),
        part(
            Complaint.objects.filter(
                store_id=store.pk, received_at__gte=lo, received_at__lt=hi, responsible_staff__isnull=False
            ),
            "complaints",
            F("responsible_staff_id"),
            Count("pk"),
        ),
        part(
            StaffTarget.objects.filter(
                monthly__annual__store=store, monthly__annual__year=start.year, monthly__month=start.month
            ),
            Concat(Value("staff_target "), F("monthly__annual__metric"), output_field=CharField()),
            F("staff_id"),
            zero,
            text=Cast("amount", CharField()),
        ),
    ]
    if store_figures:
        parts += [
            part(
                AnnualTarget.objects.filter(store=store, year=start.year),
                Concat(Value("annual "), F("metric"), output_field=CharField()),
                no_key,
                zero,
                text=Cast("amount", CharField()),
            ),
            part(
                MonthlyTarget.objects.filter(annual__store=store, annual__year=start.year, month=start.month),
                Concat(Value("monthly "), F("annual__metric"), output_field=CharField()),
                no_key,
                zero,
                text=Cast("amount", CharField()),
            ),
            part(
                StoreDailySales.objects.filter(store=store, date__gte=start, date__lte=end),
                "entered",
                day,
                Sum("total_sales", output_field=money_sum),
            ),
        ]
    found = MonthFigures()
    for name, key, a, b, c, text in parts[0].union(*parts[1:], all=True):
        key = int(key) if key is not None else None
        if name == "sales":  # per person and day: added up (exact: cents)
            old, new = (a or ZERO).quantize(CENT), (b or ZERO).quantize(CENT)
            was_old, was_new = found.sales.get(key, (ZERO, ZERO))
            found.sales[key] = (was_old + old, was_new + new)
            on = start.replace(day=int(c))
            found.vip_by_day[on] = found.vip_by_day.get(on, ZERO) + old + new
        elif name == "opened":
            found.opened[key] = int(a)
        elif name == "tasks":
            if key:
                found.tasks[key] = {"due": int(a), "done": int(b), "on_time": int(c)}
        elif name == "served":
            found.served[key] = int(a)
        elif name == "scores":
            scored = int(a)
            found.scores[key] = {"scored": scored, "mean": Decimal(b) / scored, "satisfied": int(c)}
        elif name == "complaints":
            found.complaints[key] = int(a)
        elif name == "entered":
            found.entered[start.replace(day=key)] = Decimal(a).quantize(CENT)
        else:
            kind, metric = name.split(" ", 1)
            amount = Decimal(text).quantize(TARGET_PLACES)
            if kind == "staff_target":
                found.staff_targets.setdefault(key, {})[metric] = amount
            else:
                getattr(found, kind)[metric] = amount
    return found


def staff_table(
    *,
    store: Store,
    people: list[Staff],
    start: date,
    end: date,
    add_up: bool = False,
    figures: MonthFigures | None = None,
) -> list[StaffRow]:
    """Per person of the store, the month so far: members served, tasks due / done / on time,
    satisfaction of their visits, sales against their target, complaints they are responsible
    for, from `month_figures` (given, or read here: one query). `add_up` (the store's table): also
    whoever else is named on the store's receipts, and a last "no consultant" row, so that the
    rows' sales add up to the store's VIP sales (DOMAIN §6)."""
    if figures is None:
        figures = month_figures(store=store, start=start, end=end, store_figures=False)
    actuals = staff_actuals_from(sales=figures.sales, opened=figures.opened, tasks=figures.tasks)
    achievements = staff_achievement(
        store=store,
        people=people,
        year=start.year,
        month=start.month,
        start=start,
        end=end,
        add_up=add_up,
        actuals=actuals,
        targets=figures.staff_targets,
    )
    served, tasks, scores, complaints = figures.served, figures.tasks, figures.scores, figures.complaints
    rows = []
    for a in achievements:
        person = a.staff
        pk = person.pk
        old, new = a.get(TargetMetric.OLD_VIP_SALES), a.get(TargetMetric.NEW_VIP_SALES)
        targets = [t for t in (old.target, new.target) if t is not None]
        t = tasks.get(pk, {"due": 0, "done": 0, "on_time": 0})
        s = scores.get(pk, {}) if pk is not None else {}
        rows.append(
            StaffRow(
                staff=person,
                members=served.get(pk, 0),
                due=t["due"],
                done=t["done"],
                on_time=t["on_time"],
                satisfaction_mean=round(float(s["mean"]), 2) if s.get("mean") is not None else None,
                scored=s.get("scored", 0),
                sales=Decimal(old.actual.value) + Decimal(new.actual.value),
                sales_target=sum(targets, ZERO) if targets else None,
                complaints=complaints.get(pk, 0) if pk is not None else 0,
                achievement=a,
            )
        )
    return rows


@dataclass
class StoreDashboard:
    store: Store
    start: date
    end: date
    achievement: list[Achievement]
    figures: dict
    trend: list[TrendPoint]
    staff: list[StaffRow]

    @property
    def rates(self) -> list[Rate]:
        f = self.figures
        return [
            Rate.figure("churn_rate", f["churn_rate"]),
            Rate.figure("repurchase_rate", f["repurchase_rate"]),
            Rate.figure("upgrade_rate", f["upgrade_rate"]),
            Rate.figure("follow_up_completion", f["follow_up_completion"]),
            Rate.figure("follow_up_on_time", f["follow_up_on_time"]),
            Rate.figure("satisfied", f["satisfaction"]["satisfied"]),
        ]

    @property
    def tier_rows(self) -> list[tuple[str, str, int, float | None]]:
        labels = dict(Tier.choices)
        mix = self.figures["tier_mix"]
        return [(t, str(labels[t]), mix[t]["count"], mix[t]["share"]) for t in Tier.values]

    @property
    def tier_chart(self) -> dict:
        return tier_chart(self.figures["tier_mix"])

    @property
    def trend_chart(self) -> dict:
        return trend_chart(self.trend)

    @property
    def has_trend(self) -> bool:
        return any(p.snapshot_id for p in self.trend)


def store_dashboard(*, store: Store, viewer: Staff, today: date) -> StoreDashboard:
    """The store's month so far (live, against target), its trend (snapshots) and its people."""
    start, end = today.replace(day=1), today
    kpis = compute_kpis(start=start, end=end, store_ids=[store.pk], store_label=store.code)
    figures = month_figures(store=store, start=start, end=end)
    vip_share = vip_sales_share(
        vip_sales=kpis.old_vip_sales + kpis.new_vip_sales,
        entered=figures.entered or None,
        days=(end - start).days + 1,
        vip_by_day=figures.vip_by_day,
    )
    actuals = store_actuals(store=store, start=start, end=end, kpis=kpis, vip_share=vip_share)
    targets = figures.targets()
    achievement = [Achievement(metric, targets[metric], actuals[metric]) for metric in METRICS]
    people = list(store_staff(viewer=viewer, store_id=store.pk).order_by("role", "display_name", "username"))
    return StoreDashboard(
        store=store,
        start=start,
        end=end,
        achievement=achievement,
        figures=kpis.as_json(),
        trend=rate_trend(store=store, through=today),
        staff=staff_table(store=store, people=people, start=start, end=end, add_up=True, figures=figures),
    )


# --- The consultant's own dashboard --------------------------------------------------------------


@dataclass
class MineInReport:
    """How many of my members are behind a figure of the latest monthly report."""

    figure: str
    label: str
    count: int


@dataclass
class ConsultantDashboard:
    staff: Staff
    start: date
    end: date
    row: StaffRow
    tiers: list[tuple[str, str, int]]
    snapshot: ReportSnapshot | None
    mine_in_report: list[MineInReport]

    @property
    def achievement(self) -> list[Achievement]:
        return list(self.row.achievement.rows.values())

    @property
    def members(self) -> int:
        return sum(n for _t, _l, n in self.tiers)


def consultant_dashboard(*, viewer: Staff, today: date) -> ConsultantDashboard:
    """A consultant's own month so far: tasks, sales, members, target achievement, satisfaction,
    and their members among the latest monthly report's figures."""
    store = viewer.store
    start, end = today.replace(day=1), today
    row = staff_table(store=store, people=[viewer], start=start, end=end)[0]
    counts = member_tier_counts(store_id=store.pk, consultant_id=viewer.pk)
    labels = dict(Tier.choices)
    tiers = [(t, str(labels[t]), counts.get(t, 0)) for t in Tier.values]
    snapshot = (
        ReportSnapshot.objects.filter(store=store, kind=SnapshotKind.MONTHLY, period_end__lte=today)
        .order_by("-period_end")
        .first()
    )
    mine_in_report = []
    if snapshot is not None:
        mine = member_ids_of_consultant(store_id=store.pk, consultant_id=viewer.pk)
        kept = snapshot.figures.get("members", {})
        for figure in ("churned", "repurchased", "upgraded", "win_backs", "downgraded", "new_members"):
            if figure in kept:
                mine_in_report.append(
                    MineInReport(figure, str(FIGURE_LABELS[figure]), len(mine.intersection(kept[figure])))
                )
    return ConsultantDashboard(viewer, start, end, row, tiers, snapshot, mine_in_report)

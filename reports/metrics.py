"""Target metrics: what each metric is, how its amounts are split and shown, and the value types
of a plan and of achievement (DOMAIN §1, §6). No queries and no writes: the reads are in
reports/selectors.py, the writes in reports/services.py, who may write in reports/permissions.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accounts.models import Role, Staff
from vipcrm.rates import Rate

from .models import COUNT_METRICS, MONEY_METRICS, RATE_METRICS, STORE_ONLY_METRICS, AnnualTarget, TargetMetric
from .periods import QUARTERS, Period

ZERO = Decimal("0")
CENT = Decimal("0.01")
ONE = Decimal("1")
METRICS = list(TargetMetric)
METRIC_LABELS = dict(TargetMetric.choices)
# Metrics a person can be given a share of (the VIP sales share is the store's till, not a person's).
STAFF_METRICS = [m for m in METRICS if m not in STORE_ONLY_METRICS]
# Who can carry a target: the store's own staff (HQ plans, it does not sell).
STAFF_ROLES = (Role.CONSULTANT, Role.VIP_SPECIALIST, Role.MANAGER)


def metric_kind(metric: str) -> str:
    """ "money", "count" or "rate": how a metric's amounts are validated, split and shown."""
    if metric in MONEY_METRICS:
        return "money"
    if metric in COUNT_METRICS:
        return "count"
    return "rate"


def month_period(year: int, month: int) -> tuple[date, date]:
    period = Period.month(year, month)
    return period.start, period.end


def amount_display(metric: str, value: Decimal | None, *, brief: bool = False) -> str:
    """¥12,345.00, 12, 35% (brief: money in whole yuan, for tables of many figures)."""
    if value is None:
        return "—"
    kind = metric_kind(metric)
    if kind == "money":
        return f"¥{value:,.0f}" if brief else f"¥{value:,.2f}"
    if kind == "count":
        return f"{value:,.0f}"
    return f"{value * 100:.1f}%".replace(".0%", "%")


def amount_plain(metric: str, value) -> str:
    """A target amount as typed into a form: 120000.00, 120, 0.35."""
    if value is None:
        return ""
    kind = metric_kind(metric)
    if kind == "count":
        return f"{value:.0f}"
    if kind == "money":
        return f"{value:.2f}"
    return f"{value.normalize():f}"


# --- The split -----------------------------------------------------------------------------------


def split_amounts(metric: str, total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """The months' amounts: total × weight / Σ weights, rounded to the metric's unit (a cent, one
    member) so that they add up to the total exactly: each month gets its share rounded down, and
    the units left over go to the months with the largest remainders (the earlier month on a tie).
    A rate is not split: every month aims at the year's rate."""
    if metric in RATE_METRICS:
        return [total for _weight in weights]
    weight_sum = sum(weights, ZERO)
    if weight_sum <= 0:
        raise ValidationError({"weights": _("权重之和须大于 0。")})
    unit = ONE if metric in COUNT_METRICS else CENT
    raw = [total * w / weight_sum for w in weights]
    floors = [r.quantize(unit, rounding=ROUND_DOWN) for r in raw]
    left = int(((total - sum(floors, ZERO)) / unit).to_integral_value())
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += unit
    return floors


def weighted_rate_target(amounts: Mapping[int, Decimal], weights: Mapping[int, int]) -> tuple[Decimal | None, str]:
    """The rate the store reaches if every person reaches their own rate target: a weighted rate,
    Σ target × denominator / Σ denominator (DOMAIN §6: rates add by their numerators and
    denominators), never a sum of percentages (35% + 40% is not 75%). The weights are each
    person's tasks due in the month (`weights`, staff id → due); with none due yet (a month not
    begun), each person counts once: the plain mean, and the note says so."""
    if not amounts:
        return None, ""
    due = {pk: weights.get(pk, 0) for pk in amounts}
    if sum(due.values()):
        total = sum((Rate(amount * due[pk], due[pk]) for pk, amount in amounts.items()), Rate.zero())
        return total.decimal, ""
    total = sum((Rate(amount, 1) for amount in amounts.values()), Rate.zero())
    return total.decimal, _("尚无到期任务，按人数平均")


# --- The plan -----------------------------------------------------------------------------------


@dataclass
class MonthPlan:
    month: int
    weight: Decimal
    amount: Decimal
    allocated: Decimal | None  # money, count: the people's sum; a rate: their weighted rate
    pk: int
    allocated_note: str = ""


@dataclass
class MetricPlan:
    metric: str
    annual: AnnualTarget | None
    months: list[MonthPlan] = field(default_factory=list)

    @property
    def label(self) -> str:
        return METRIC_LABELS[self.metric]

    @property
    def kind(self) -> str:
        return metric_kind(self.metric)

    @property
    def is_rate(self) -> bool:
        return self.metric in RATE_METRICS

    @property
    def quarters(self) -> list[tuple[int, Decimal]]:
        """Each quarter's target: the sum of its months (a rate: the year's)."""
        by_month = {m.month: m.amount for m in self.months}
        if self.is_rate:
            return [(q, self.annual.amount) for q in QUARTERS] if self.annual else []
        return [(q, sum((by_month.get(m, ZERO) for m in months), ZERO)) for q, months in QUARTERS.items()]

    def month(self, number: int) -> MonthPlan | None:
        return next((m for m in self.months if m.month == number), None)

    def target_for(self, months: Iterable[int]) -> Decimal | None:
        """The target for a run of months: their sum, or the year's rate for a rate."""
        if self.annual is None:
            return None
        if self.is_rate:
            return self.annual.amount
        by_month = {m.month: m.amount for m in self.months}
        return sum((by_month.get(m, ZERO) for m in months), ZERO)


# --- Achievement --------------------------------------------------------------------------------


@dataclass
class Actual:
    """What was achieved: an amount, or a rate with its numerator and denominator."""

    value: Decimal | None
    numerator: Decimal | int | None = None
    denominator: Decimal | int | None = None
    note: str = ""


@dataclass
class Achievement:
    """achievement = actual / target (DOMAIN §6); none without a target or an actual."""

    metric: str
    target: Decimal | None
    actual: Actual

    @property
    def label(self) -> str:
        return METRIC_LABELS[self.metric]

    @property
    def kind(self) -> str:
        return metric_kind(self.metric)

    @property
    def ratio(self) -> Decimal | None:
        if self.target is None or self.target == 0 or self.actual.value is None:
            return None
        return (Decimal(self.actual.value) / self.target).quantize(Decimal("0.0001"))

    @property
    def percent(self) -> float | None:
        return None if self.ratio is None else round(float(self.ratio) * 100, 1)

    @property
    def bar(self) -> float:
        """The progress bar's width in % (0–100)."""
        return min(100.0, max(0.0, self.percent or 0.0))

    @property
    def target_display(self) -> str:
        return amount_display(self.metric, self.target)

    @property
    def actual_display(self) -> str:
        return amount_display(self.metric, None if self.actual.value is None else Decimal(self.actual.value))

    @property
    def target_brief(self) -> str:
        return amount_display(self.metric, self.target, brief=True)

    @property
    def actual_brief(self) -> str:
        value = self.actual.value
        return amount_display(self.metric, None if value is None else Decimal(value), brief=True)

    @property
    def parts_display(self) -> str:
        """What a rate is made of, e.g. "VIP ¥8,000.00 / 门店 ¥20,000.00"."""
        a = self.actual
        if a.numerator is None or a.denominator is None:
            return ""
        if self.metric == TargetMetric.VIP_SALES_SHARE:
            return _("VIP ¥%(n)s / 门店 ¥%(d)s") % {"n": f"{a.numerator:,.2f}", "d": f"{a.denominator:,.2f}"}
        return f"{a.numerator} / {a.denominator}"

    @property
    def formula(self) -> str:
        """For the hover: 达成率 = 实际 / 目标 = … ."""
        if self.ratio is None:
            return _("%(label)s达成率 = 实际 / 目标：无目标或无实际数，不计算") % {"label": self.label}
        return _("%(label)s达成率 = 实际 / 目标 = %(actual)s / %(target)s") % {
            "label": self.label,
            "actual": self.actual_display,
            "target": self.target_display,
        }


def vip_sales_share(*, vip_sales: Decimal, entered: dict[date, Decimal] | None, days: int, vip_by_day=None) -> Actual:
    """VIP sales / the store's total sales (DOMAIN §6); none when no totals were entered.

    With every day entered it is the period's VIP sales over the period's totals. With some days
    missing, like is compared with like: the VIP sales of the entered days only (`vip_by_day`,
    a callable giving {day: VIP sales}, asked only then), and the page says how many days count.
    """
    total = sum((entered or {}).values(), ZERO)
    if not entered or not total:
        return Actual(value=None, numerator=None, denominator=None, note=_("未录入门店销售总额"))
    note = ""
    if len(entered) < days:
        by_day = vip_by_day() if callable(vip_by_day) else (vip_by_day or {})
        vip_sales = sum((by_day.get(day, ZERO) for day in entered), ZERO)
        note = _("按已录入的 %(entered)s / %(days)s 天计算") % {"entered": len(entered), "days": days}
    share = (vip_sales / total).quantize(Decimal("0.0001"))
    return Actual(value=share, numerator=vip_sales, denominator=total, note=note)


class NoConsultant:
    """The person of a staff table's "no consultant" row (DOMAIN §6): receipts, cards and tasks
    naming nobody, so that the rows add up to the store. Reads like a Staff where a table does."""

    pk = None
    is_active = True
    listed = False

    def __str__(self) -> str:
        return _("无专属顾问")

    def get_role_display(self) -> str:
        return ""


NO_CONSULTANT = NoConsultant()


@dataclass
class StaffAchievement:
    staff: Staff | NoConsultant
    rows: dict[str, Achievement]

    @property
    def listed(self) -> bool:
        """One of the people asked for (whose targets can be set), not an added row."""
        return getattr(self.staff, "listed", True)

    def get(self, metric: str) -> Achievement | None:
        return self.rows.get(metric)


def empty_staff_actuals() -> dict[str, Actual]:
    return {
        TargetMetric.OLD_VIP_SALES: Actual(ZERO),
        TargetMetric.NEW_VIP_SALES: Actual(ZERO),
        TargetMetric.NEW_MEMBERS: Actual(ZERO),
        TargetMetric.FOLLOW_UP_COMPLETION: Actual(None, 0, 0),
    }

"""Targets (目标) and the store's daily sales: the annual plan per store and metric, its split into
months by weight, its allocation to staff, and achievement against it (DOMAIN §1, §6, §11).

Writes are services: keyword-only, atomic, and validated before anything is written, so a bad value
raises a ValidationError with a message a manager can act on and saves nothing. The store's manager
sets their store's targets and sales, HQ any store's; everyone else only reads.

Reads: achievement = actual / target for each metric, live. A store's actuals come from
`compute_kpis` for the period (the exact DOMAIN §6 figures); the VIP sales share divides the VIP
sales by the store's entered totals; a person's come from the grouped reads in members and visits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, Decimal, InvalidOperation

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Role, Staff, Store
from members.selectors import new_members_by_opener, sales_by_consultant_split, vip_sales_by_store_and_day
from visits.selectors import follow_up_figures_by

from .kpis import Kpis, compute_kpis, sales_months
from .models import (
    ADDITIVE_METRICS,
    COUNT_METRICS,
    MONEY_METRICS,
    RATE_METRICS,
    STORE_ONLY_METRICS,
    AnnualTarget,
    MonthlyTarget,
    SalesSource,
    StaffTarget,
    StoreDailySales,
    TargetMetric,
)
from .periods import QUARTERS, Period, quarter_of  # noqa: F401 (quarter_of: the views read it here)
from .rates import Rate

ZERO = Decimal("0")
CENT = Decimal("0.01")
ONE = Decimal("1")
MAX_MONEY = Decimal("9999999999.99")  # fits max_digits=14, decimal_places=4
MAX_WEIGHT = Decimal("9999.99")
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


# --- Permissions ---------------------------------------------------------------------------------


def can_set_targets(viewer: Staff, store: Store) -> bool:
    """DOMAIN §11: the store's manager sets its targets; HQ any store's."""
    return viewer.is_hq or (viewer.is_manager and viewer.store_id == store.pk)


def can_record_sales(viewer: Staff, store: Store) -> bool:
    """The store's manager enters its daily totals; HQ any store's."""
    return can_set_targets(viewer, store)


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied(_("只有本店店长或总部可以修改。"))


# --- Validation ----------------------------------------------------------------------------------


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


# --- Writes --------------------------------------------------------------------------------------


@transaction.atomic
def annual_target_set(*, store: Store, year: int, metric: str, amount, by: Staff) -> AnnualTarget:
    """Set the store's annual target for a metric. A new plan is split into twelve equally weighted
    months; a changed amount is re-split with the months' weights as they are."""
    _require(can_set_targets(by, store))
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
    _require(can_set_targets(by, annual.store))
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


@transaction.atomic
def staff_allocation_set(*, monthly: MonthlyTarget, allocations: Mapping[int, object], by: Staff) -> list[StaffTarget]:
    """Set a month's targets per person (staff id → amount; empty or None removes the person's).
    The people are the store's own active staff; for amounts that add up, their sum may not
    exceed the month's target. The VIP sales share is the store's alone."""
    annual = monthly.annual
    _require(can_set_targets(by, annual.store))
    metric = annual.metric
    if metric in STORE_ONLY_METRICS:
        raise ValidationError(_("%(metric)s是门店整体指标，不分配到个人。") % {"metric": METRIC_LABELS[metric]})
    monthly = MonthlyTarget.objects.select_for_update().select_related("annual").get(pk=monthly.pk)
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
            amount = target_amount_clean(metric, raw, field_name=key)
        except ValidationError as e:
            errors.setdefault(key, []).extend(f"{person}：{m}" for m in e.message_dict[key])
            continue
        cleaned[person.pk] = amount
    if errors:
        raise ValidationError(errors)
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
        _require(by is not None and can_record_sales(by, store))
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


# --- Reads: the plan -----------------------------------------------------------------------------


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


@dataclass
class MonthPlan:
    month: int
    weight: Decimal
    amount: Decimal
    allocated: Decimal | None  # money, count: the people's sum; a rate: their weighted rate
    pk: int
    allocated_note: str = ""


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


# --- Reads: achievement --------------------------------------------------------------------------


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


def store_sales_entered(*, store_ids: list[int] | None, start: date, end: date) -> dict[int, dict[date, Decimal]]:
    """The entered daily totals per store and day in [start, end]: one query."""
    rows = StoreDailySales.objects.filter(date__gte=start, date__lte=end)
    if store_ids is not None:
        rows = rows.filter(store_id__in=store_ids)
    found: dict[int, dict[date, Decimal]] = {}
    for store_id, day, total in rows.values_list("store_id", "date", "total_sales"):
        found.setdefault(store_id, {})[day] = total
    return found


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


def store_vip_sales_share(*, store: Store, start: date, end: date, vip_sales: Decimal) -> Actual:
    """The store's VIP sales share in [start, end], given its VIP sales for the whole period."""
    entered = store_sales_entered(store_ids=[store.pk], start=start, end=end).get(store.pk)

    def by_day() -> dict[date, Decimal]:
        sales = vip_sales_by_store_and_day(store_ids=[store.pk], start=start, end=end)
        return {day: amount for (_store, day), amount in sales.items()}

    return vip_sales_share(vip_sales=vip_sales, entered=entered, days=(end - start).days + 1, vip_by_day=by_day)


def store_actuals(*, store: Store, start: date, end: date, kpis: Kpis | None = None) -> dict[str, Actual]:
    """The store's actual for each target metric in [start, end], from `compute_kpis` (given, or
    computed here) and the entered daily totals."""
    kpis = kpis or compute_kpis(start=start, end=end, store_ids=[store.pk], store_label=store.code)
    due = kpis.follow_ups.get("due", 0)
    done = kpis.follow_ups.get("done", 0)
    vip_sales = kpis.old_vip_sales + kpis.new_vip_sales
    return {
        TargetMetric.OLD_VIP_SALES: Actual(kpis.old_vip_sales),
        TargetMetric.NEW_VIP_SALES: Actual(kpis.new_vip_sales),
        TargetMetric.NEW_MEMBERS: Actual(Decimal(len(kpis.new_members))),
        TargetMetric.VIP_SALES_SHARE: store_vip_sales_share(store=store, start=start, end=end, vip_sales=vip_sales),
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


def staff_actuals(*, store: Store, start: date, end: date) -> dict[int | None, dict[str, Actual]]:
    """Each person's actuals in the period: sales credited to them on the store's receipts (old /
    new VIP as DOMAIN §6 splits them), the members whose cards they opened, and the completion of
    the tasks assigned to them. Under None: receipts naming nobody and cards opened by nobody, so
    that the people add up to the store. Three queries (a period spanning months: one more per
    month, as DOMAIN §6 sums a quarter's old / new VIP sales over its months)."""
    sales: dict[int | None, tuple[Decimal, Decimal]] = {}
    for part in sales_months(start, end):
        for pk, (old, new) in sales_by_consultant_split(store_id=store.pk, start=part.start, end=part.end).items():
            was_old, was_new = sales.get(pk, (ZERO, ZERO))
            sales[pk] = (was_old + old, was_new + new)
    opened = new_members_by_opener(store_id=store.pk, start=start, end=end)
    tasks = follow_up_figures_by(by="assignee", store_ids=[store.pk], start=start, end=end)
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


def empty_staff_actuals() -> dict[str, Actual]:
    return {
        TargetMetric.OLD_VIP_SALES: Actual(ZERO),
        TargetMetric.NEW_VIP_SALES: Actual(ZERO),
        TargetMetric.NEW_MEMBERS: Actual(ZERO),
        TargetMetric.FOLLOW_UP_COMPLETION: Actual(None, 0, 0),
    }


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
    *, store: Store, people: list[Staff], year: int, month: int, start: date, end: date, add_up: bool = False
) -> list[StaffAchievement]:
    """Each person's achievement for the month (actuals in [start, end]): four queries.

    `add_up`: the table must add up to the store (DOMAIN §6): after `people`, anyone else named
    on the store's receipts or cards in the period (someone since deactivated or moved: one more
    query, only then), and last a "no consultant" row (`NO_CONSULTANT`) for receipts naming nobody."""
    actuals = staff_actuals(store=store, start=start, end=end)
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

"""Report pages: the record of the scheduled duties (DOMAIN §10: managers and HQ see each run, so
a missed or failed morning list is noticed by someone who can act on it); the monthly and weekly
reports with the members behind each figure; targets and the store's daily sales; dashboards."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role, Staff, Store
from duties.models import DutyRun, DutyRunStatus
from members.selectors import store_staff
from vipcrm import params
from vipcrm.permissions import MANAGERS, STORE_LEADS, role_required

from . import dashboards, targets
from .models import AnnualTarget, MonthlyTarget, SnapshotKind, StoreDailySales
from .periods import add_months

RUNS_PER_PAGE = 50
# What staff call each duty (DOMAIN §10); a duty not named here shows its code.
DUTY_LABELS = {
    "daily": _("每日回访任务与晨报"),
    "complaint_sla": _("投诉时限检查（每小时）"),
    "weekly": _("周报"),
    "mid_month": _("月中快照"),
    "monthly": _("月末等级评审与月报"),
    "restatements": _("快照重述检查"),
    "top_spenders": _("半月消费前列回访名单"),
}


def duty_run_list(*, viewer: Staff, store: Store | None = None, status: str = "", duty: str = "") -> QuerySet[DutyRun]:
    """The runs the viewer may see, newest first: their store's, or for HQ every store's.

    (A read for one page; it belongs in reports/selectors.py once that module exists.)
    """
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


class DutyRunFilterForm(forms.Form):
    duty = forms.ChoiceField(label=_("任务"), required=False, choices=[("", _("全部任务"))])
    status = forms.ChoiceField(label=_("状态"), required=False, choices=[("", _("全部状态")), *DutyRunStatus.choices])

    def __init__(self, *args, viewer: Staff, **kwargs):
        super().__init__(*args, **kwargs)
        # Every duty that has run, named as staff know it: hourly ones would otherwise bury the rest.
        duties = sorted({*DUTY_LABELS, *DutyRun.objects.order_by().values_list("duty", flat=True).distinct()})
        self.fields["duty"].choices += [(duty, DUTY_LABELS.get(duty, duty)) for duty in duties]
        if viewer.is_hq:
            self.fields["store"] = forms.ModelChoiceField(
                label=_("门店"), required=False, queryset=Store.objects.order_by("code"), empty_label=_("全部门店")
            )
        for field in self.fields.values():
            field.widget.attrs["class"] = "form-select form-select-sm"

    def value(self, name: str):
        # An invalid value (a hand-edited URL) is ignored, like the other filter forms.
        if not self.is_bound or name not in self.fields:
            return None
        self.is_valid()
        return self.cleaned_data.get(name)


@require_GET
@role_required(*MANAGERS)
def duty_runs(request: HttpRequest) -> HttpResponse:
    form = DutyRunFilterForm(request.GET or None, viewer=request.user)
    runs = duty_run_list(
        viewer=request.user,
        store=form.value("store"),
        status=form.value("status") or "",
        duty=form.value("duty") or "",
    )
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    for run in page:
        run.duty_label = DUTY_LABELS.get(run.duty, run.duty)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reports/duty_runs.html", {"form": form, "page": page, "query": query.urlencode()})


# --- Reports, targets and dashboards (issue 6) --------------------------------------------------
# Reads live in reports/dashboards.py and reports/targets.py; writes are the target services.
# Each view: one role check, the store from the viewer (another store's is a 404), one read or
# one service call.

ALL_STAFF = (Role.CONSULTANT, *STORE_LEADS)
MEMBERS_PER_PAGE = 100


def _store_or_first(viewer: Staff, raw: str | None) -> Store:
    """The page's store: the viewer's own, or for HQ the one named (else the first open store)."""
    store = dashboards.store_for(viewer, raw)
    if store is None:
        store = Store.objects.filter(is_active=True).order_by("code").first()
        if store is None:
            raise Http404
    return store


def _hq_stores(viewer: Staff) -> list[Store]:
    return list(Store.objects.filter(is_active=True).order_by("code")) if viewer.is_hq else []


@require_GET
@role_required(*ALL_STAFF)
def dashboard(request: HttpRequest) -> HttpResponse:
    """The consultant's own figures; the store's for its VIP specialist and manager; HQ opens any
    store's (and without one, the stores side by side)."""
    viewer = request.user
    store = dashboards.store_for(viewer, request.GET.get("store"))
    if viewer.is_hq and store is None:
        return redirect("reports:chain")
    today = timezone.localdate()
    if viewer.is_consultant:
        board = dashboards.consultant_dashboard(viewer=viewer, today=today)
        return render(request, "reports/dashboard_mine.html", {"board": board, "today": today})
    board = dashboards.store_dashboard(store=store, viewer=viewer, today=today)
    context = {"board": board, "today": today, "stores": _hq_stores(viewer)}
    return render(request, "reports/dashboard.html", context)


def _report_page(request: HttpRequest, kind: str) -> HttpResponse:
    viewer = request.user
    store = _store_or_first(viewer, request.GET.get("store"))
    today = timezone.localdate()
    raw = request.GET.get("month" if kind == SnapshotKind.MONTHLY else "week")
    try:
        if kind == SnapshotKind.MONTHLY:
            start, end = dashboards.month_bounds(raw, today)
        else:
            start, end = dashboards.week_bounds(raw, today)
    except ValueError as e:
        context = {"error": str(e), "kind": kind, "store": store, "stores": _hq_stores(viewer), "today": today}
        return render(request, "reports/report.html", context, status=400)
    report = dashboards.report_for(store=store, kind=kind, start=start, end=end, today=today)
    if kind == SnapshotKind.MONTHLY:
        previous, following = add_months(start, -1), add_months(start, 1)
        nav = (previous.strftime("%Y-%m"), following.strftime("%Y-%m") if following <= today else "")
        period_arg = ("month", start.strftime("%Y-%m"))
    else:
        previous, following = start - timedelta(days=7), start + timedelta(days=7)
        nav = (previous.isoformat(), following.isoformat() if following <= today else "")
        period_arg = ("week", start.isoformat())
    # Drill-down links: to the snapshot's frozen lists, or to the live figure of the same period.
    if report.snapshot is not None:
        drill_query = urlencode({"snapshot": report.snapshot.pk})
    else:
        drill_query = urlencode({period_arg[0]: period_arg[1], **({"store": store.pk} if viewer.is_hq else {})})
    context = {
        "report": report,
        "drill_query": drill_query,
        "kind": kind,
        "store": store,
        "stores": _hq_stores(viewer),
        "store_keep": [period_arg],
        "nav": nav,
        "period_arg": period_arg,
        "today": today,
    }
    return render(request, "reports/report.html", context)


@require_GET
@role_required(*STORE_LEADS)
def monthly(request: HttpRequest) -> HttpResponse:
    """月报: ?month=YYYY-MM (this month by default), ?store= for HQ."""
    return _report_page(request, SnapshotKind.MONTHLY)


@require_GET
@role_required(*STORE_LEADS)
def weekly(request: HttpRequest) -> HttpResponse:
    """周报: ?week=<Monday> (last week by default), ?store= for HQ."""
    return _report_page(request, SnapshotKind.WEEKLY)


@require_GET
@role_required(*ALL_STAFF)
def report_members(request: HttpRequest) -> HttpResponse:
    """The members behind a report figure: ?snapshot=<id>&figure=…, or live ?month= / ?week=
    (&store= for HQ). Scoped to the viewer: a consultant sees only their own members."""
    viewer = request.user
    today = timezone.localdate()
    figure = request.GET.get("figure", "")
    if snapshot_pk := params.pk(request.GET, "snapshot"):
        snapshot = dashboards.snapshot_get(viewer=viewer, pk=snapshot_pk)
        drill = dashboards.drill_down_for(
            viewer=viewer, figure=figure, snapshot=snapshot, store=None, start=None, end=None
        )
    else:
        store = _store_or_first(viewer, request.GET.get("store"))
        try:
            if request.GET.get("week"):
                start, end = dashboards.week_bounds(request.GET["week"], today)
            else:
                start, end = dashboards.month_bounds(request.GET.get("month"), today)
        except ValueError as e:
            raise params.BadParameter("week" if request.GET.get("week") else "month", str(e)) from None
        drill = dashboards.drill_down_for(
            viewer=viewer, figure=figure, snapshot=None, store=store, start=start, end=min(end, today)
        )
    page = Paginator(dashboards.drill_down_members(viewer=viewer, drill=drill), MEMBERS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    for member in page:
        member.masked_phone = dashboards.masked(member)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reports/members.html", {"drill": drill, "page": page, "query": query.urlencode()})


# --- Targets -------------------------------------------------------------------------------------


def _target_period(request_data, today: date) -> tuple[int, int]:
    """?year= (this year by default) and ?month= (this month in this year, else January); a value
    that is not a year from 2000 to 2100 or a month 1–12 is a 400 (vipcrm.params)."""
    year = params.integer(request_data, "year", default=today.year, min_value=2000, max_value=2100)
    default_month = today.month if year == today.year else 1
    month = params.integer(request_data, "month", default=default_month, min_value=1, max_value=12)
    return year, month


def _plain(metric: str, value) -> str:
    """A target amount as typed into a form: 120000.00, 120, 0.35."""
    if value is None:
        return ""
    kind = targets.metric_kind(metric)
    if kind == "count":
        return f"{value:.0f}"
    if kind == "money":
        return f"{value:.2f}"
    return f"{value.normalize():f}"


def _targets_context(
    *, viewer: Staff, store: Store, year: int, month: int, failed: str = "", posted=None, errors=None
) -> dict:
    """Everything the targets page shows. After a refused save, `failed` names the form and its
    typed values (`posted`) are shown again with the `errors`."""
    today = timezone.localdate()
    posted = posted or {}
    plans = targets.target_plans(store=store, year=year)
    editable = targets.can_set_targets(viewer, store)
    cards = []
    for metric, plan in plans.items():
        annual_form = f"annual-{metric}"
        weights_form = f"weights-{metric}"
        months = []
        for number in range(1, 13):
            m = plan.month(number)
            weight = posted.get(f"w{number}", "") if failed == weights_form else (f"{m.weight:.2f}" if m else "1.00")
            months.append(
                {
                    "number": number,
                    "weight": weight,
                    "amount": targets.amount_display(metric, m.amount, brief=True) if m else "—",
                    "allocated": targets.amount_display(metric, m.allocated, brief=True) if m and m.allocated else "",
                    "error": (errors or {}).get(f"w{number}") if failed == weights_form else None,
                    "quarter_end": number % 3 == 0,
                    "quarter": targets.quarter_of(number),
                }
            )
        cards.append(
            {
                "plan": plan,
                "amount": posted.get("amount", "")
                if failed == annual_form
                else _plain(metric, plan.annual and plan.annual.amount),
                "annual_display": targets.amount_display(metric, plan.annual.amount) if plan.annual else "",
                "months": months,
                "quarters": [(q, targets.amount_display(metric, v, brief=True)) for q, v in plan.quarters],
                "annual_failed": failed == annual_form,
                "weights_failed": failed == weights_form,
            }
        )
    # Achievement to date: the month, its quarter and the year, each one compute_kpis.
    periods = []
    quarter = targets.quarter_of(month)
    q_months = targets.QUARTERS[quarter]
    for label, months, start, end in (
        (_("%(month)s月") % {"month": month}, [month], *targets.month_period(year, month)),
        (
            _("第%(q)s季度") % {"q": quarter},
            list(q_months),
            targets.month_period(year, q_months[0])[0],
            targets.month_period(year, q_months[-1])[1],
        ),
        (_("全年"), list(range(1, 13)), date(year, 1, 1), date(year, 12, 31)),
    ):
        if start > today:
            periods.append({"label": label, "until": None, "rows": []})
            continue
        until = min(end, today)
        rows = targets.store_achievement(store=store, plans=plans, months=months, start=start, end=until)
        periods.append({"label": label, "until": until if until < end else None, "rows": rows})
    # The month's allocation to people, with their achievement so far.
    people = list(store_staff(viewer=viewer, store_id=store.pk).order_by("role", "display_name", "username"))
    m_start, m_end = targets.month_period(year, month)
    # A month not begun yet has nothing achieved: its actuals are read for its first day only.
    until = min(m_end, today) if m_start <= today else m_start
    staff_rows = targets.staff_achievement(
        store=store, people=people, year=year, month=month, start=m_start, end=until, add_up=True
    )
    allocations = []
    for metric in targets.STAFF_METRICS:
        plan = plans[metric]
        monthly = plan.month(month)
        form = f"allocation-{metric}"
        rows = []
        for row in staff_rows:
            a = row.get(metric)
            key = f"staff_{row.staff.pk}" if row.listed else ""  # added rows (DOMAIN §6) take no target
            rows.append(
                {
                    "staff": row.staff,
                    "key": key,
                    "value": posted.get(key, "") if failed == form else _plain(metric, a.target),
                    "achievement": a,
                    "error": (errors or {}).get(key) if failed == form else None,
                }
            )
        allocations.append(
            {
                "metric": metric,
                "label": targets.METRIC_LABELS[metric],
                "kind": targets.metric_kind(metric),
                "monthly": monthly,
                "month_amount": targets.amount_display(metric, monthly.amount) if monthly else "",
                "allocated": targets.amount_display(metric, monthly.allocated) if monthly else "",
                "rows": rows,
                "failed": failed == form,
                "started": m_start <= today,
            }
        )
    return {
        "store": store,
        "stores": _hq_stores(viewer),
        "year": year,
        "month": month,
        "years": sorted({*range(today.year - 2, today.year + 2), year}),
        "months": list(range(1, 13)),
        "editable": editable,
        "cards": cards,
        "periods": periods,
        "allocations": allocations,
        "form_errors": [m for key, ms in (errors or {}).items() for m in ms] if failed else [],
        "failed": failed,
        "today": today,
    }


def _targets_url(store: Store, year: int, month: int, viewer: Staff, anchor: str = "") -> str:
    query = {"year": year, "month": month}
    if viewer.is_hq:
        query["store"] = store.pk
    return f"{reverse('reports:targets')}?{urlencode(query)}{'#' + anchor if anchor else ''}"


def _error_dict(e: ValidationError) -> dict[str, list[str]]:
    return e.message_dict if hasattr(e, "error_dict") else {"__all__": e.messages}


@require_GET
@role_required(*ALL_STAFF)
def targets_page(request: HttpRequest) -> HttpResponse:
    """目标: the year's plan per metric with quarters and months, the month's allocation to people
    and achievement so far. The manager (HQ: any store) edits; everyone else reads."""
    viewer = request.user
    store = _store_or_first(viewer, request.GET.get("store"))
    year, month = _target_period(request.GET, timezone.localdate())
    return render(request, "reports/targets.html", _targets_context(viewer=viewer, store=store, year=year, month=month))


def _target_saved_or_page(request, *, store, year, month, form, save, message) -> HttpResponse:
    """Run a target service; on success back to the page, on a refusal the page again with the
    typed values and the reasons (nothing was saved)."""
    try:
        save()
    except ValidationError as e:
        context = _targets_context(
            viewer=request.user,
            store=store,
            year=year,
            month=month,
            failed=form,
            posted=request.POST,
            errors=_error_dict(e),
        )
        return render(request, "reports/targets.html", context, status=400)
    messages.success(request, message)
    return redirect(_targets_url(store, year, month, request.user, form))


@require_POST
@role_required(*MANAGERS)
def target_annual(request: HttpRequest) -> HttpResponse:
    viewer = request.user
    store = _store_or_first(viewer, request.POST.get("store"))
    year, month = _target_period(request.POST, timezone.localdate())
    metric = request.POST.get("metric", "")
    return _target_saved_or_page(
        request,
        store=store,
        year=year,
        month=month,
        form=f"annual-{metric}",
        save=lambda: targets.annual_target_set(
            store=store, year=year, metric=metric, amount=request.POST.get("amount"), by=viewer
        ),
        message=_("年度目标已保存，并按权重拆分到各月。"),
    )


def _annual_get(viewer: Staff, pk: int) -> AnnualTarget:
    qs = AnnualTarget.objects.select_related("store")
    if not viewer.is_hq:
        qs = qs.filter(store_id=viewer.store_id)
    return get_object_or_404(qs, pk=pk)


def _monthly_get(viewer: Staff, pk: int) -> MonthlyTarget:
    qs = MonthlyTarget.objects.select_related("annual__store")
    if not viewer.is_hq:
        qs = qs.filter(annual__store_id=viewer.store_id)
    return get_object_or_404(qs, pk=pk)


@require_POST
@role_required(*MANAGERS)
def target_weights(request: HttpRequest, pk: int) -> HttpResponse:
    annual = _annual_get(request.user, pk)
    _year, month = _target_period(request.POST, timezone.localdate())
    weights = {n: request.POST[f"w{n}"] for n in range(1, 13) if f"w{n}" in request.POST}
    return _target_saved_or_page(
        request,
        store=annual.store,
        year=annual.year,
        month=month,
        form=f"weights-{annual.metric}",
        save=lambda: targets.month_weights_set(annual=annual, weights=weights, by=request.user),
        message=_("月度权重已保存，各月目标已重新计算。"),
    )


@require_POST
@role_required(*MANAGERS)
def target_allocation(request: HttpRequest, pk: int) -> HttpResponse:
    monthly = _monthly_get(request.user, pk)
    annual = monthly.annual
    allocations = {}
    for key, value in request.POST.items():
        # staff_<id>; an id that is not a number (staff_²) is a 400, not a crash.
        if key.startswith("staff_") and (staff_id := params.as_pk(key, key[6:])):
            allocations[staff_id] = value
    return _target_saved_or_page(
        request,
        store=annual.store,
        year=annual.year,
        month=monthly.month,
        form=f"allocation-{annual.metric}",
        save=lambda: targets.staff_allocation_set(monthly=monthly, allocations=allocations, by=request.user),
        message=_("%(month)s月个人目标已保存。") % {"month": monthly.month},
    )


# --- Store daily sales ---------------------------------------------------------------------------


@role_required(*MANAGERS)
def daily_sales(request: HttpRequest) -> HttpResponse:
    """门店日销售: the month's days with the store's total sales, entered or corrected together.
    A refused value (a future day, a negative or malformed amount) saves none of the form."""
    viewer = request.user
    data = request.POST if request.method == "POST" else request.GET
    store = _store_or_first(viewer, data.get("store"))
    today = timezone.localdate()
    try:
        start, end = dashboards.month_bounds(data.get("month"), today)
    except ValueError:
        start, end = dashboards.month_bounds(None, today)
    existing = {
        row.date: row
        for row in StoreDailySales.objects.filter(store=store, date__range=(start, end)).select_related("entered_by")
    }
    errors: dict[date, str] = {}
    if request.method == "POST":
        changed = 0
        with transaction.atomic():
            day = start
            while day <= end:
                raw = (request.POST.get(f"sales_{day.isoformat()}") or "").strip()
                current = existing.get(day)
                if raw and not (current and raw == f"{current.total_sales:.2f}"):
                    try:
                        targets.daily_sales_record(store=store, day=day, total_sales=raw, by=viewer)
                        changed += 1
                    except ValidationError as e:
                        errors[day] = " ".join(m for ms in _error_dict(e).values() for m in ms)
                day += timedelta(days=1)
            if errors:
                transaction.set_rollback(True)
        if not errors:
            if changed:
                messages.success(request, _("已保存 %(n)s 天的销售总额。") % {"n": changed})
            else:
                messages.info(request, _("没有需要保存的修改。"))
            query = {"month": start.strftime("%Y-%m")}
            if viewer.is_hq:
                query["store"] = store.pk
            return redirect(f"{reverse('reports:daily_sales')}?{urlencode(query)}")
    days = []
    day = start
    while day <= end:
        row = existing.get(day)
        key = f"sales_{day.isoformat()}"
        value = request.POST.get(key, "") if errors else (f"{row.total_sales:.2f}" if row else "")
        days.append(
            {"date": day, "key": key, "row": row, "value": value, "error": errors.get(day), "future": day > today}
        )
        day += timedelta(days=1)
    total = sum((r.total_sales for r in existing.values()), Decimal("0.00"))
    previous = add_months(start, -1)
    following = add_months(start, 1)
    context = {
        "store": store,
        "stores": _hq_stores(viewer),
        "start": start,
        "days": days,
        "total": total,
        "entered": len(existing),
        "errors": errors,
        "nav": (previous.strftime("%Y-%m"), following.strftime("%Y-%m") if following <= today else ""),
    }
    return render(request, "reports/daily_sales.html", context, status=400 if errors else 200)

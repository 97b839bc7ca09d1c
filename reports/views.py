"""Report pages: the record of the scheduled duties (DOMAIN §10: managers and HQ see each run, so
a missed or failed morning list is noticed by someone who can act on it); the monthly and weekly
reports with the members behind each figure; targets and the store's daily sales; dashboards.

Each view: one role check, the store from the viewer (another store's is a 404), a form to parse,
one read (reports/selectors.py, reports/dashboards.py) or one write (reports/services.py)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role, Staff, Store
from vipcrm import params
from vipcrm.permissions import MANAGERS, STORE_LEADS, role_required

from . import dashboards, selectors, services
from .forms import DutyRunFilterForm, daily_sales_entries, target_allocations, target_period
from .models import SnapshotKind

RUNS_PER_PAGE = 50
ALL_STAFF = (Role.CONSULTANT, *STORE_LEADS)
MEMBERS_PER_PAGE = 100


@require_GET
@role_required(*MANAGERS)
def duty_runs(request: HttpRequest) -> HttpResponse:
    form = DutyRunFilterForm(request.GET or None, viewer=request.user)
    runs = selectors.duty_run_list(
        viewer=request.user,
        store=form.value("store"),
        status=form.value("status") or "",
        duty=form.value("duty") or "",
    )
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    selectors.duty_runs_labelled(page)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reports/duty_runs.html", {"form": form, "page": page, "query": query.urlencode()})


# --- Reports and dashboards (issue 6) ----------------------------------------------------------


@require_GET
@role_required(*ALL_STAFF)
def dashboard(request: HttpRequest) -> HttpResponse:
    """The consultant's own figures; the store's for its VIP specialist and manager; HQ opens any
    store's (and without one, the stores side by side)."""
    viewer = request.user
    store = selectors.store_for(viewer, request.GET.get("store"))
    if viewer.is_hq and store is None:
        return redirect("reports:chain")
    today = timezone.localdate()
    if viewer.is_consultant:
        board = dashboards.consultant_dashboard(viewer=viewer, today=today)
        return render(request, "reports/dashboard_mine.html", {"board": board, "today": today})
    board = dashboards.store_dashboard(store=store, viewer=viewer, today=today)
    context = {"board": board, "today": today, "stores": selectors.hq_stores(viewer)}
    return render(request, "reports/dashboard.html", context)


def report_page(request: HttpRequest, kind: str) -> HttpResponse:
    """A monthly, mid-month or weekly report: ?month= or ?week=, ?store= for HQ (a bad period is a
    400 with the page's message)."""
    viewer, today = request.user, timezone.localdate()
    store = selectors.store_or_first(viewer, request.GET.get("store"))
    raw = request.GET.get("week" if kind == SnapshotKind.WEEKLY else "month")
    try:
        context = dashboards.report_page(viewer=viewer, store=store, kind=kind, raw=raw, today=today)
    except ValueError as e:
        context = {"error": str(e), "kind": kind, "store": store, "stores": selectors.hq_stores(viewer), "today": today}
        return render(request, "reports/report.html", context, status=400)
    return render(request, "reports/report.html", context)


@require_GET
@role_required(*STORE_LEADS)
def monthly(request: HttpRequest) -> HttpResponse:
    """月报: ?month=YYYY-MM (this month by default), ?store= for HQ."""
    return report_page(request, SnapshotKind.MONTHLY)


@require_GET
@role_required(*STORE_LEADS)
def weekly(request: HttpRequest) -> HttpResponse:
    """周报: ?week=<Monday> (last week by default), ?store= for HQ."""
    return report_page(request, SnapshotKind.WEEKLY)


@require_GET
@role_required(*ALL_STAFF)
def report_members(request: HttpRequest) -> HttpResponse:
    """The members behind a report figure: ?snapshot=<id>&figure=…, or live ?month= / ?week=
    (&store= for HQ). Scoped to the viewer: a consultant sees only their own members."""
    viewer, today = request.user, timezone.localdate()
    figure = request.GET.get("figure", "")
    if snapshot_pk := params.pk(request.GET, "snapshot"):
        snapshot = dashboards.snapshot_get(viewer=viewer, pk=snapshot_pk)
        drill = dashboards.drill_down_for(
            viewer=viewer, figure=figure, snapshot=snapshot, store=None, start=None, end=None
        )
    else:
        store = selectors.store_or_first(viewer, request.GET.get("store"))
        kind, name = (SnapshotKind.WEEKLY, "week") if request.GET.get("week") else (SnapshotKind.MONTHLY, "month")
        try:
            start, end = dashboards.report_period(kind, request.GET.get(name), today)
        except ValueError as e:
            raise params.BadParameter(name, str(e)) from None
        drill = dashboards.drill_down_for(
            viewer=viewer, figure=figure, snapshot=None, store=store, start=start, end=min(end, today)
        )
    members = dashboards.drill_down_members(viewer=viewer, drill=drill)
    page = Paginator(members, MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
    for member in page:
        member.masked_phone = dashboards.masked(member)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reports/members.html", {"drill": drill, "page": page, "query": query.urlencode()})


# --- Targets -------------------------------------------------------------------------------------


def _targets_url(store: Store, year: int, month: int, viewer: Staff, anchor: str = "") -> str:
    query = {"year": year, "month": month}
    if viewer.is_hq:
        query["store"] = store.pk
    return f"{reverse('reports:targets')}?{urlencode(query)}{'#' + anchor if anchor else ''}"


@require_GET
@role_required(*ALL_STAFF)
def targets_page(request: HttpRequest) -> HttpResponse:
    """目标: the year's plan per metric with quarters and months, the month's allocation to people
    and achievement so far. The manager (HQ: any store) edits; everyone else reads."""
    viewer = request.user
    store = selectors.store_or_first(viewer, request.GET.get("store"))
    year, month = target_period(request.GET, timezone.localdate())
    context = selectors.targets_context(viewer=viewer, store=store, year=year, month=month)
    return render(request, "reports/targets.html", context)


def _target_saved_or_page(
    request, *, store: Store, year: int, month: int, form: str, save: Callable[[], object], message: str
) -> HttpResponse:
    """Run a target service; on success back to the page, on a refusal the page again with the
    typed values and the reasons (nothing was saved)."""
    try:
        save()
    except ValidationError as e:
        refused = selectors.Refused(form=form, posted=request.POST, errors=services.error_dict(e))
        context = selectors.targets_context(viewer=request.user, store=store, year=year, month=month, refused=refused)
        return render(request, "reports/targets.html", context, status=400)
    messages.success(request, message)
    return redirect(_targets_url(store, year, month, request.user, form))


@require_POST
@role_required(*MANAGERS)
def target_annual(request: HttpRequest) -> HttpResponse:
    viewer = request.user
    store = selectors.store_or_first(viewer, request.POST.get("store"))
    year, month = target_period(request.POST, timezone.localdate())
    metric = request.POST.get("metric", "")
    return _target_saved_or_page(
        request,
        store=store,
        year=year,
        month=month,
        form=f"annual-{metric}",
        save=lambda: services.annual_target_set(
            store=store, year=year, metric=metric, amount=request.POST.get("amount"), by=viewer
        ),
        message=_("年度目标已保存，并按权重拆分到各月。"),
    )


@require_POST
@role_required(*MANAGERS)
def target_weights(request: HttpRequest, pk: int) -> HttpResponse:
    annual = selectors.annual_target_get(viewer=request.user, pk=pk)
    _year, month = target_period(request.POST, timezone.localdate())
    weights = {n: request.POST[f"w{n}"] for n in range(1, 13) if f"w{n}" in request.POST}
    return _target_saved_or_page(
        request,
        store=annual.store,
        year=annual.year,
        month=month,
        form=f"weights-{annual.metric}",
        save=lambda: services.month_weights_set(annual=annual, weights=weights, by=request.user),
        message=_("月度权重已保存，各月目标已重新计算。"),
    )


@require_POST
@role_required(*MANAGERS)
def target_allocation(request: HttpRequest, pk: int) -> HttpResponse:
    monthly = selectors.monthly_target_get(viewer=request.user, pk=pk)
    allocations = target_allocations(request.POST)
    return _target_saved_or_page(
        request,
        store=monthly.annual.store,
        year=monthly.annual.year,
        month=monthly.month,
        form=f"allocation-{monthly.annual.metric}",
        save=lambda: services.staff_allocation_set(monthly=monthly, allocations=allocations, by=request.user),
        message=_("%(month)s月个人目标已保存。") % {"month": monthly.month},
    )


# --- Store daily sales ---------------------------------------------------------------------------


def _daily_sales_saved(request: HttpRequest, store: Store, month: str, changed: int) -> HttpResponse:
    if changed:
        messages.success(request, _("已保存 %(n)s 天的销售总额。") % {"n": changed})
    else:
        messages.info(request, _("没有需要保存的修改。"))
    query = {"month": month, **({"store": store.pk} if request.user.is_hq else {})}
    return redirect(f"{reverse('reports:daily_sales')}?{urlencode(query)}")


@role_required(*MANAGERS)
def daily_sales(request: HttpRequest) -> HttpResponse:
    """门店日销售: the month's days with the store's total sales, entered or corrected together.
    A refused value (a future day, a negative or malformed amount) saves none of the form."""
    viewer, today = request.user, timezone.localdate()
    data = request.POST if request.method == "POST" else request.GET
    store = selectors.store_or_first(viewer, data.get("store"))
    try:
        start, end = selectors.month_bounds(data.get("month"), today)
    except ValueError:
        start, end = selectors.month_bounds(None, today)
    errors = {}
    if request.method == "POST":
        entries = daily_sales_entries(request.POST, start=start, end=end)
        changed, errors = services.daily_sales_month_record(store=store, entries=entries, by=viewer)
        if not errors:
            return _daily_sales_saved(request, store, start.strftime("%Y-%m"), changed)
    context = selectors.daily_sales_context(
        viewer=viewer, store=store, start=start, end=end, today=today, posted=request.POST, errors=errors
    )
    return render(request, "reports/daily_sales.html", context, status=400 if errors else 200)

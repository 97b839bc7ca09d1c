"""HQ's chain view (issue 12 item 4): the stores (or regions) side by side for a month, a quarter,
a year or any range, sortable by any column, every figure linked to what is behind it; HQ's
landing page. Reads are in reports/chain.py."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role
from members.models import Tier
from vipcrm import params
from vipcrm.permissions import role_required

from . import chain, dashboards
from .exports import chain_csv
from .periods import Period

MEMBERS_PER_PAGE = 100
# Where a header click sorts first: the biggest first, except the names.
ASCENDING_FIRST = ("name",)


def _quick_periods(today: date) -> list[tuple[str, Period]]:
    month, quarter, year = Period.month(today), Period.quarter_of(today), Period.year(today.year)
    return [
        (_("本月"), month),
        (_("上月"), month.previous()),
        (_("本季度"), quarter),
        (_("上季度"), quarter.previous()),
        (_("本年"), year),
        (_("上年"), year.previous()),
    ]


def _sort_headers(query: dict[str, str], key: str, descending: bool) -> dict[str, dict]:
    """For each sortable column, the link that sorts by it (again: the other way) and its arrow."""
    headers = {}
    for column in chain.SORTS:
        flip = not descending if column == key else column not in ASCENDING_FIRST
        headers[column] = {
            "column": column,
            "href": "?" + urlencode({**query, "sort": ("-" if flip else "") + column}),
            "arrow": ("▼" if descending else "▲") if column == key else "",
            "sort": ("descending" if descending else "ascending") if column == key else "none",
        }
    return headers


def _context(request: HttpRequest, today: date) -> dict:
    by = "region" if request.GET.get("by") == "region" else "store"
    key, descending = chain.sort_key(request.GET.get("sort"))
    quick = [(label, urlencode(p.as_params()), False) for label, p in _quick_periods(today)]
    # What a period link keeps of the page: the grouping and the sort.
    keep = urlencode({**({"by": "region"} if by == "region" else {}), "sort": ("-" if descending else "") + key})
    return {"by": by, "sort": key, "descending": descending, "today": today, "quick": quick, "keep": keep}


@require_GET
@role_required(Role.HQ)
def chain_view(request: HttpRequest) -> HttpResponse:
    """门店对比: ?period=month|quarter|year|range (reports.periods), ?by=region, ?sort=[-]column,
    ?format=csv for the table as a file."""
    today = timezone.localdate()
    context = _context(request, today)
    try:
        period = Period.from_params(request.GET, today=today)
    except ValueError as e:
        context.update(error=str(e), form=request.GET)
        return render(request, "reports/chain.html", context, status=400)
    # The kept figures (reports.chain, "The figures cache"); the drill-downs below stay live.
    cached = chain.chain_figures_cached(period=period, today=today)
    figures = cached.chain
    lines = figures.regions if context["by"] == "region" else figures.stores
    lines = chain.sorted_lines(lines, context["sort"], context["descending"])
    if request.GET.get("format") == "csv":
        return _csv_response(figures, lines, context["by"])
    query = {**period.as_params(), **({"by": "region"} if context["by"] == "region" else {})}
    context.update(
        figures=figures,
        lines=lines,
        period=period,
        form=period.as_params(),
        drill_query=urlencode(period.as_params()),
        headers=_sort_headers(query, context["sort"], context["descending"]),
        query=urlencode({**query, "sort": ("-" if context["descending"] else "") + context["sort"]}),
        previous=urlencode(period.previous().as_params()),
        following=urlencode(period.next().as_params()) if period.next().start <= today else "",
        quick=[(label, urlencode(p.as_params()), p == period) for label, p in _quick_periods(today)],
        tiers=Tier.values,
        as_of=cached.computed_at,
        # The time alone when the figures were worked out today, else with the day.
        as_of_format="H:i" if timezone.localtime(cached.computed_at).date() == today else "Y-m-d H:i",
        refreshing=cached.refreshing,
        # The table is the same for everyone who sees these figures so sorted: rendered once, kept
        # with them (the {% cache %} fragment in reports/chain.html) until they are worked out again.
        table_key=f"{cached.key}@{cached.version}",
        table_seconds=chain.TABLE_SECONDS,
    )
    return render(request, "reports/chain.html", context)


@require_POST
@role_required(Role.HQ)
def chain_refresh(request: HttpRequest) -> HttpResponse:
    """刷新: the chain view's figures for the period in the query worked out again now, then
    back to the page (with the same period, grouping and sort)."""
    today = timezone.localdate()
    try:
        period = Period.from_params(request.GET, today=today)
    except ValueError as e:
        raise params.BadParameter("period", str(e)) from None
    chain.chain_figures_compute(period=period, today=today)
    by = "region" if request.GET.get("by") == "region" else "store"
    key, descending = chain.sort_key(request.GET.get("sort"))
    query = {
        **period.as_params(),
        **({"by": "region"} if by == "region" else {}),
        "sort": ("-" if descending else "") + key,
    }
    return redirect(reverse("reports:chain") + "?" + urlencode(query))


def _csv_response(figures: chain.Chain, lines: list[chain.Line], by: str) -> HttpResponse:
    """The table as a CSV file (reports.exports.chain_csv)."""
    response = HttpResponse(chain_csv(figures=figures, lines=lines, by=by), content_type="text/csv; charset=utf-8")
    name = f"chain-{figures.period.start.isoformat()}-{figures.period.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@role_required(Role.HQ)
def hq_redirect(request: HttpRequest) -> HttpResponse:
    """The former store comparison's address: now the chain view, with the same query."""
    query = request.GET.urlencode()
    return redirect(reverse("reports:chain") + (f"?{query}" if query else ""))


@require_GET
@role_required(Role.HQ)
def chain_members(request: HttpRequest) -> HttpResponse:
    """The members behind a figure of the chain view: ?figure=, the period's parameters, and
    ?store= or ?region= (neither: the whole chain)."""
    today = timezone.localdate()
    figure = request.GET.get("figure", "")
    if figure not in chain.DRILL_FIGURES:
        raise Http404
    try:
        period = Period.from_params(request.GET, today=today)
    except ValueError as e:
        raise params.BadParameter("period", str(e)) from None
    scope = chain.chain_scope(store_id=params.pk(request.GET, "store"), region=request.GET.get("region"))
    if scope is None:
        raise Http404
    ids = chain.members_behind(figure=figure, scope=scope, period=period, today=today)
    # The report pages' drill-down (reports/members.html) shows a store's name: here the scope's.
    drill = dashboards.DrillDown(SimpleNamespace(name=scope.name), figure, period.start, min(period.end, today), ids)
    page = Paginator(dashboards.drill_down_members(viewer=request.user, drill=drill), MEMBERS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    for member in page:
        member.masked_phone = dashboards.masked(member)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "reports/members.html", {"drill": drill, "page": page, "query": query.urlencode()})

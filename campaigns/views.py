"""The campaign pages (DOMAIN §9, issue 5): list and month calendar, plan (create / edit), segment
preview, launch, live results, summary and archive.

Which campaigns a viewer may see is decided by `campaign_get` (another store's campaign is a 404);
what they may do by the role decorators and `campaign_is_own` (a 403: store staff change only a
campaign of their own store alone). Every write is a service call; when a service refuses, the
page shows the service's own message and nothing is saved.
"""

from __future__ import annotations

import calendar as pycalendar
from dataclasses import dataclass
from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, prefetch_related_objects
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role, Store
from members.validators import mask_phone
from vipcrm.permissions import MANAGERS, STORE_LEADS, has_role, role_required

from . import selectors
from .forms import CampaignForm, ListFilterForm, MonthForm, SegmentForm, SummaryForm
from .models import Campaign, CampaignStatus
from .segments import Segment
from .services import (
    campaign_archive,
    campaign_extend,
    campaign_has_ended,
    campaign_launch,
    campaign_preview,
    campaign_save,
    campaign_summary_save,
)

ALL_STAFF = (Role.CONSULTANT, *STORE_LEADS)
CAMPAIGNS_PER_PAGE = 30
BAR_COLOURS = 6  # .cal-c0 … .cal-c5: a campaign keeps its colour on every day of the calendar


def _campaign(request: HttpRequest, pk: int) -> Campaign:
    """The campaign if the viewer may see it (404 otherwise), its stores fetched once."""
    campaign = selectors.campaign_get(viewer=request.user, pk=pk)
    prefetch_related_objects([campaign], Prefetch("stores", queryset=Store.objects.order_by("code")))
    return campaign


def _own_campaign(request: HttpRequest, pk: int) -> Campaign:
    """…and one the viewer may change: 403 for a store's staff on a campaign across stores."""
    campaign = _campaign(request, pk)
    if not selectors.campaign_is_own(request.user, campaign):
        raise PermissionDenied
    return campaign


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def _with_percents(data):
    """Add `percent` (and `bar`, capped at 100 for a progress bar) to every rate in the figures,
    live (`CampaignResults.as_json()`) or frozen (`summary_figures`); a copy, never the model's."""
    if isinstance(data, dict):
        data = {key: _with_percents(value) for key, value in data.items()}
        if {"numerator", "denominator", "rate"} <= data.keys() and data["rate"] is not None:
            data["percent"] = round(data["rate"] * 100, 1)
            data["bar"] = min(100, data["percent"])
        return data
    if isinstance(data, list):
        return [_with_percents(item) for item in data]
    return data


def _header(request: HttpRequest, campaign: Campaign, tab: str) -> dict:
    """What the campaign's heading and tabs need."""
    viewer = request.user
    today = timezone.localdate()
    start, end = selectors.attribution_window(campaign)
    return {
        "campaign": campaign,
        "tab": tab,
        "phase": selectors.campaign_phase(campaign, today=today),
        "window_start": start,
        "window_end": end,
        "can_plan": selectors.campaign_can_plan(viewer, campaign),
        "can_extend": (
            campaign.status == CampaignStatus.LAUNCHED
            and today <= campaign.end_date
            and selectors.campaign_can_plan(viewer, campaign)
        ),
        "can_summarise": selectors.campaign_can_summarise(viewer, campaign),
    }


# --- List and calendar -----------------------------------------------------------------------


@require_GET
@role_required(*ALL_STAFF)
def index(request: HttpRequest) -> HttpResponse:
    """The campaigns of the viewer's store (all stores for HQ), newest first, by status."""
    form = ListFilterForm(request.GET or None)
    today = timezone.localdate()
    listed = selectors.campaign_list(viewer=request.user, status=form.chosen_status(), today=today)
    page = Paginator(listed, CAMPAIGNS_PER_PAGE).get_page(request.GET.get("page"))
    for campaign in page:
        campaign.phase = selectors.campaign_phase(campaign, today=today)
    query = request.GET.copy()
    query.pop("page", None)
    context = {"form": form, "page": page, "query": query.urlencode(), "can_create": request.user.is_store_lead}
    return render(request, "campaigns/campaign_list.html", context)


@dataclass
class CalendarBar:
    campaign: Campaign
    column: int  # 1 = Monday
    span: int  # days in this week
    starts: bool  # the campaign's first day is in this week
    ends: bool  # … its last day
    colour: int


def _calendar_weeks(campaigns: list[Campaign], first: date) -> list[dict]:
    """Monday-to-Sunday weeks covering the month, each with a bar per campaign running that week."""
    weeks = []
    for days in pycalendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month):
        monday, sunday = days[0], days[-1]
        bars = []
        for campaign in campaigns:
            if campaign.start_date > sunday or campaign.end_date < monday:
                continue
            start, end = max(campaign.start_date, monday), min(campaign.end_date, sunday)
            bars.append(
                CalendarBar(
                    campaign=campaign,
                    column=(start - monday).days + 1,
                    span=(end - start).days + 1,
                    starts=campaign.start_date >= monday,
                    ends=campaign.end_date <= sunday,
                    colour=campaign.pk % BAR_COLOURS,
                )
            )
        weeks.append({"days": days, "bars": bars})
    return weeks


@require_GET
@role_required(*ALL_STAFF)
def month(request: HttpRequest) -> HttpResponse:
    """A month at a glance (?month=YYYY-MM): a bar per campaign across its days, then the list."""
    form = MonthForm(request.GET or None)
    first = form.first_day()
    last = first.replace(day=pycalendar.monthrange(first.year, first.month)[1])
    today = timezone.localdate()
    campaigns = selectors.campaign_month(viewer=request.user, first=first, last=last)
    for campaign in campaigns:
        campaign.phase = selectors.campaign_phase(campaign, today=today)
        campaign.colour = campaign.pk % BAR_COLOURS
    prev_month, next_month = form.neighbours(first)
    context = {
        "form": form,
        "first": first,
        "today": today,
        "weeks": _calendar_weeks(campaigns, first),
        "campaigns": campaigns,
        "prev_month": prev_month,
        "next_month": next_month,
        "weekdays": [_("一"), _("二"), _("三"), _("四"), _("五"), _("六"), _("日")],
    }
    return render(request, "campaigns/campaign_calendar.html", context)


# --- Plan: create, edit, preview, launch -----------------------------------------------------


@role_required(*STORE_LEADS)
def create(request: HttpRequest) -> HttpResponse:
    form = CampaignForm(request.POST or None, viewer=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaign_save(
                by=request.user, stores=form.chosen_stores(), segment=form.segment(), **form.plan()
            )
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(request, _("活动“%(name)s”已保存为草稿：请预览名单后发布。") % {"name": campaign.name})
            return redirect("campaigns:preview", pk=campaign.pk)
    return render(request, "campaigns/campaign_form.html", {"form": form, "campaign": None})


@role_required(*STORE_LEADS)
def edit(request: HttpRequest, pk: int) -> HttpResponse:
    """The plan can change until archived; stores and segment only before launch (the audience is
    frozen then, and the service refuses any change to them)."""
    campaign = _own_campaign(request, pk)
    form = CampaignForm(request.POST or None, viewer=request.user, campaign=campaign)
    if request.method == "POST" and form.is_valid():
        if form.frozen:
            stores, segment = list(campaign.stores.all()), Segment.from_json(campaign.segment)
        else:
            stores, segment = form.chosen_stores(), form.segment()
        try:
            campaign_save(by=request.user, stores=stores, segment=segment, campaign=campaign, **form.plan())
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(request, _("活动已保存。"))
            target = "campaigns:preview" if campaign.status == CampaignStatus.DRAFT else "campaigns:results"
            return redirect(target, pk=campaign.pk)
    context = _header(request, campaign, "edit") | {"form": form}
    return render(request, "campaigns/campaign_form.html", context)


def _sample_rows(members) -> list:
    for member in members:
        member.masked_phone = mask_phone(member.phone)
    return members


@require_GET
@role_required(*STORE_LEADS)
def preview(request: HttpRequest, pk: int) -> HttpResponse:
    """How many members the segment selects today and ten of them (phones masked). From the edit
    page, htmx sends the form as it stands (`live=1`): the preview of what is not saved yet."""
    campaign = _own_campaign(request, pk)
    if request.htmx and request.GET.get("live"):
        form = SegmentForm(request.GET, viewer=request.user)
        count, sample = None, []
        if form.is_valid():
            segment = form.segment()
            try:
                segment.validate()
            except ValidationError as e:
                form.add_service_errors(e)
            else:
                count, sample = selectors.segment_preview(segment=segment, stores=form.chosen_stores())
        context = {"campaign": campaign, "count": count, "sample": _sample_rows(sample), "live": True, "form": form}
        return render(request, "campaigns/_preview.html", context)
    count, sample = None, []
    if campaign.status == CampaignStatus.DRAFT:
        count, sample = campaign_preview(campaign=campaign)
    context = _header(request, campaign, "preview") | {
        "count": count,
        "sample": _sample_rows(sample),
        "segment_lines": selectors.segment_in_words(Segment.from_json(campaign.segment)),
        "audience_size": campaign.audience.count() if count is None else None,
    }
    if request.htmx:
        return render(request, "campaigns/_preview.html", context)
    return render(request, "campaigns/campaign_preview.html", context)


@require_POST
@role_required(*STORE_LEADS)
def launch(request: HttpRequest, pk: int) -> HttpResponse:
    """发布: freeze the audience and invite each member through their consultant. On a launched
    campaign, 补充邀约: invite the members the segment selects now who are not in the audience."""
    campaign = _own_campaign(request, pk)
    if campaign.status == CampaignStatus.LAUNCHED:
        try:
            added = campaign_extend(campaign=campaign, by=request.user)
        except ValidationError as e:
            messages.error(request, _error_text(e))
        else:
            if added:
                messages.success(request, _("已补充邀约 %(count)s 位会员。") % {"count": added})
            else:
                messages.info(request, _("没有新的会员符合人群条件：名单里的会员（含已婉拒的）不会再次邀约。"))
        return redirect("campaigns:results", pk=campaign.pk)
    try:
        invited = campaign_launch(campaign=campaign, by=request.user)
    except ValidationError as e:
        messages.error(request, _error_text(e))
        return redirect("campaigns:preview", pk=campaign.pk)
    messages.success(request, _("已邀约 %(count)s 位会员：邀约任务已派给各自的专属顾问。") % {"count": invited})
    return redirect("campaigns:results", pk=campaign.pk)


# --- Results, summary, archive ---------------------------------------------------------------


@require_GET
@role_required(*ALL_STAFF)
def results(request: HttpRequest, pk: int) -> HttpResponse:
    """Live figures against the goals, per consultant and per member. A consultant sees the totals,
    their own line and their own invitees."""
    campaign = _campaign(request, pk)
    seen = selectors.campaign_results_for(viewer=request.user, campaign=campaign)
    context = _header(request, campaign, "results") | {
        "figures": _with_percents(seen.figures),
        "rows": seen.rows,
        "own_only": seen.own_only,
        "segment_lines": selectors.segment_in_words(Segment.from_json(campaign.segment)),
    }
    return render(request, "campaigns/campaign_results.html", context)


@role_required(*ALL_STAFF)
def summary(request: HttpRequest, pk: int) -> HttpResponse:
    """活动总结. GET: the figures (frozen once archived) and the manager's words; `?print=1` for
    paper. POST (manager, HQ): save the words through the service, which refuses before the end
    and after archiving."""
    campaign = _campaign(request, pk)
    form = SummaryForm(request.POST or None, campaign=campaign)
    if request.method == "POST":
        if not has_role(request.user, *MANAGERS) or not selectors.campaign_is_own(request.user, campaign):
            raise PermissionDenied
        if form.is_valid():
            try:
                campaign_summary_save(campaign=campaign, by=request.user, **form.cleaned_data)
            except ValidationError as e:
                form.add_service_errors(e)
            else:
                messages.success(request, _("活动总结已保存。"))
                return redirect("campaigns:summary", pk=campaign.pk)
    if campaign.is_archived:
        # Frozen at archiving: shown as it was, never recomputed.
        figures, own_only = campaign.summary_figures, request.user.is_consultant
    else:
        seen = selectors.campaign_results_for(viewer=request.user, campaign=campaign, with_rows=False)
        figures, own_only = seen.figures, seen.own_only
    context = _header(request, campaign, "summary") | {
        "form": form,
        "figures": _with_percents(figures),
        "own_only": own_only,
        # A consultant's own frozen line cannot be told apart (the lines carry a name, not an id).
        "show_lines": not own_only,
        "has_ended": campaign_has_ended(campaign),
    }
    printable = bool(request.GET.get("print"))
    return render(request, f"campaigns/campaign_summary{'_print' if printable else ''}.html", context)


@require_POST
@role_required(*MANAGERS)
def archive(request: HttpRequest, pk: int) -> HttpResponse:
    """归档: the figures are frozen into the summary; from then on nothing changes."""
    campaign = _own_campaign(request, pk)
    try:
        campaign_archive(campaign=campaign, by=request.user)
    except ValidationError as e:
        messages.error(request, _error_text(e))
    else:
        messages.success(request, _("活动已归档：数据已定格，总结不能再修改。"))
    return redirect("campaigns:summary", pk=campaign.pk)

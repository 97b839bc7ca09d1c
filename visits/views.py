"""The daily work pages: Today, the store board, visits, invitations, gifts.

Each view: a permission check, a form, a service, redirect/render. Which objects a viewer may see
is decided by the selectors (another store's task is a 404); what they may do with one by the role
decorators and `can_work_task` / `can_advance_invitation` (a 403).

The row actions (complete, snooze, reassign, advance, mark) answer an htmx request with the row's
partial and a plain POST with a redirect, so the pages also work without JavaScript.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import get_template
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Store
from accounts.services import audit_log
from campaigns.selectors import campaigns_to_invite_to
from members.selectors import can_see_full_contact, member_get
from vipcrm import params
from vipcrm.permissions import STORE_LEADS, role_required

from .forms import (
    MESSAGE_CHANNELS,
    GiftGenerateForm,
    InvitationFilterForm,
    InvitationForm,
    MessageSentForm,
    MessageTemplateForm,
    MonthForm,
    RangeForm,
    ReassignForm,
    SnoozeForm,
    TaskCompleteForm,
    TodayForm,
    VisitForm,
    add_months,
    month_of,
    week_of,
)
from .messages import VARIABLES
from .models import Channel, FollowUpTask, GiftStatus, InvitationStatus, TaskStatus
from .selectors import (
    CARD_URLS,
    STAND_IN_ID,
    STAND_IN_MEMBER_ID,
    InvitationFilters,
    can_advance_invitation,
    can_work_task,
    gift_next_statuses,
    gift_plan_get,
    gift_plan_list,
    invitation_funnel,
    invitation_get,
    invitation_list,
    invitation_next_statuses,
    invitations_with_purchase,
    member_open_tasks,
    member_visits,
    message_template_get,
    message_template_groups,
    message_templates_for,
    reasons_closed_by,
    store_board,
    task_get,
    today_card,
    today_list,
)
from .services import (
    can_edit_message_template,
    gift_plan_mark,
    gift_plans_for_month,
    invitation_advance,
    invitation_create,
    message_sent_record,
    message_template_delete,
    message_template_save,
    month_bounds,
    task_complete,
    task_reassign,
    task_snooze,
    visit_record,
)

VISITS_PER_PAGE = 20
INVITATIONS_PER_PAGE = 50


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def _first_error(form) -> str:
    return " ".join(str(m) for messages_ in form.errors.values() for m in messages_)


# --- Today -----------------------------------------------------------------------------------


@require_GET
def today(request: HttpRequest) -> HttpResponse:
    """The front page: the viewer's cards, overdue first, 50 a page; filters by kind and tier.
    Store leads may look at the whole store; HQ looks at the store it picks."""
    viewer = request.user
    form = TodayForm(request.GET or None, viewer=viewer)
    listing = today_list(
        viewer=viewer,
        whole_store=form.value("scope") == "store",
        store=form.picked_store(),
        kind=form.value("kind") or "",
        tier=form.value("tier") or "",
        when=form.value("when") or "today",
        page=request.GET.get("page"),
    )
    query = request.GET.copy()
    query.pop("page", None)
    # Whose list (mine / the store / HQ's store), without the filters: what the counts link to.
    scope = {"store": listing.store.pk} if viewer.is_hq and listing.store else {}
    if listing.whole_store and not viewer.is_hq:
        scope = {"scope": "store"}
    context = {
        "form": form,
        "listing": listing,
        "query": query.urlencode(),
        "scope_query": urlencode(scope),
        "kind_links": _kind_links(query, listing),
        "can_switch": viewer.is_vip_specialist or viewer.is_manager,
        "tomorrow": listing.today + timedelta(days=1),
        "channels": MESSAGE_CHANNELS,
        "t": card_text(tomorrow=listing.today + timedelta(days=1)),
    }
    card_actions(request, listing.page.object_list, context["t"])
    return render(request, "visits/today.html", context)


def card_text(*, tomorrow) -> dict[str, str]:
    """The labels every card repeats, translated once for the page rather than once per card
    (issue 14: 50 cards made a thousand translation lookups), and the earliest day to snooze to.
    `t` in visits/_card.html."""
    return {
        "snooze_min": tomorrow.isoformat(),
        "lapsed": _("已流失"),
        "lapsing": _("即将流失"),
        "today": _("今天"),
        "reasons": _("原因"),
        "prepare_gift": _("去备礼"),
        "log_visit": _("记录回访"),
        "last_contact": _("最近联系"),
        "never_reached": _("从未联系上"),
        "last_purchase": _("最近消费"),
        "none": _("无"),
        "spend_12m": _("12个月消费"),
        "preferences": _("偏好"),
        "owner": _("负责人"),
        "unassigned": _("未分配"),
        "contacted": _("已联系"),
        "no_answer": _("未接通"),
        "call": _("拨打"),
        "snooze": _("推迟"),
        "tomorrow": _("明天"),
        "in_3_days": _("3 天后"),
        "snooze_to": _("推迟到"),
        "ok": _("确定"),
        "reassign": _("转派"),
        "greeting": _("问候语"),
        "loading": _("正在载入…"),
        "day": _("n月j日"),
        "day_weekday": _("n月j日 D"),
        "gifts_url": reverse("visits:gifts"),
    }


def card_actions(request: HttpRequest, cards, t: dict[str, str]) -> None:
    """Each card's actions and greeting panel (visits/_card_actions.html), as `card.show["actions"]`.
    They differ between cards only by the task's and the member's id in their links and targets
    and by what the viewer may do on the card, so they are rendered once per page and shape with
    stand-in ids, which each card's ids then replace (issue 14: 50 cards rendered the same some
    40 tags each). Made when the card template prints them (a callable), so inside its render."""
    template = get_template("visits/_card_actions.html")
    stand_ins = {"pk": STAND_IN_ID, "member_id": STAND_IN_MEMBER_ID}
    urls = {key: reverse(name, args=[stand_ins[attr]]) for key, (name, attr) in CARD_URLS.items()}
    token = get_token(request)
    shapes: dict[tuple[bool, bool, bool], str] = {}

    def actions(card) -> str:
        show = card.show
        shape = (show["can_work"], show["can_call"], show["can_reassign"])
        html = shapes.get(shape)
        if html is None:
            can_work, can_call, can_reassign = shape
            stand_in = {
                "pk": STAND_IN_ID,
                "urls": urls,
                "can_work": can_work,
                "can_call": can_call,
                "can_reassign": can_reassign,
            }
            html = shapes[shape] = template.render({"c": stand_in, "t": t, "csrf_token": token})
        # The template's own output (escaped there) with two numbers swapped in: still safe.
        html = html.replace(str(STAND_IN_ID), str(card.pk)).replace(str(STAND_IN_MEMBER_ID), str(card.member_id))
        return mark_safe(html)  # noqa: S308

    for card in cards:
        card.show["actions"] = partial(actions, card)


def _kind_links(query, listing) -> list[tuple[str, str, int, str, bool]]:
    """The count chips: (kind, label, cards, the list filtered to it, chosen); tapping the
    chosen one again shows every kind."""
    links = []
    for kind, label, count in listing.kind_counts:
        chosen = kind == listing.kind
        q = query.copy()
        q["kind"] = "" if chosen else kind
        links.append((kind, label, count, q.urlencode(), chosen))
    return links


def _workable_task(request: HttpRequest, pk: int) -> FollowUpTask:
    """The task if the viewer may work it: 404 outside their store, 403 if not theirs."""
    task = task_get(viewer=request.user, pk=pk)
    if not can_work_task(request.user, task):
        raise PermissionDenied
    return task


def _card(request: HttpRequest, pk: int, **extra) -> HttpResponse:
    """One card, as the list shows it."""
    card = today_card(viewer=request.user, pk=pk)
    tomorrow = timezone.localdate() + timedelta(days=1)
    t = card_text(tomorrow=tomorrow)
    card_actions(request, [card], t)
    context = {"card": card, "tomorrow": tomorrow, "channels": MESSAGE_CHANNELS}
    return render(request, "visits/_card.html", context | {"t": t} | extra)


def _after_task_action(request: HttpRequest, pk: int, notice: str, error: str = "") -> HttpResponse:
    """htmx: the card again (re-read, with what it shows); a plain POST: back to Today."""
    if request.htmx:
        return _card(request, pk, notice=notice, error=error)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect("visits:today")


@require_GET
def task_row(request: HttpRequest, pk: int) -> HttpResponse:
    """One card (what "取消" in an inline form swaps back in)."""
    return _card(request, _workable_task(request, pk).pk)


def complete_task(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the inline outcome form. POST: `task_complete`. Reached: the card is closed with every
    reason on it and leaves the list; not reached: an attempt, and the card comes back the next
    day (or the day picked), showing its attempts."""
    task = _workable_task(request, pk)
    if request.method == "GET" and task.status != TaskStatus.OPEN and request.htmx:
        return _card(request, task.pk)
    form = TaskCompleteForm(request.POST or None, task_pk=task.pk)
    if request.method == "POST" and form.is_valid():
        try:
            visit = task_complete(task=task, by=request.user, **form.complete_kwargs())
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            if visit.reached:
                return _after_completion(request, task, visit)
            task.refresh_from_db(fields=["scheduled_for", "attempts", "assignee"])
            notice = _("%(result)s：已记第 %(n)s 次，%(date)s 再联系。") % {
                "result": visit.get_result_display(),
                "n": task.attempts,
                "date": formats.date_format(task.scheduled_for, _("n月j日")),
            }
            if not can_work_task(request.user, task):  # after the last attempt: the VIP specialist's
                notice += " " + _("已转给 %(staff)s 跟进。") % {"staff": task.assignee}
                return _closed_or_redirect(request, task, notice)
            return _after_task_action(request, task.pk, notice)
    template = "visits/_task_complete_form.html" if request.htmx else "visits/task_complete.html"
    return render(request, template, {"task": task, "form": form})


def _after_completion(request: HttpRequest, task: FollowUpTask, visit) -> HttpResponse:
    closed = reasons_closed_by(visit=visit)
    notice = _("已完成：%(name)s（%(reasons)s 项原因已关闭）") % {"name": task.member.name, "reasons": closed}
    return _closed_or_redirect(request, task, notice, visit=visit)


def _closed_or_redirect(request: HttpRequest, task: FollowUpTask, notice: str, **extra) -> HttpResponse:
    """htmx: what takes the card's place once it has left the list; a plain POST: back to Today."""
    if request.htmx:
        return render(request, "visits/_card_closed.html", {"task": task, "notice": notice, **extra})
    messages.success(request, notice)
    return redirect("visits:today")


@require_POST
def snooze_task(request: HttpRequest, pk: int) -> HttpResponse:
    task = _workable_task(request, pk)
    form = SnoozeForm(request.POST)
    if not form.is_valid():
        return _after_task_action(request, task.pk, "", error=_first_error(form))
    try:
        task = task_snooze(task=task, until=form.cleaned_data["until"], by=request.user)
    except ValidationError as e:
        return _after_task_action(request, task.pk, "", error=_error_text(e))
    notice = _("已推迟到 %(date)s") % {"date": task.scheduled_for.isoformat()}
    return _after_task_action(request, task.pk, notice)


@require_http_methods(["GET", "POST"])
def task_message(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: a card's greeting panel (its kinds' templates filled in for the member). POST: a
    greeting copied or sent from it: which template, by which channel (audited)."""
    if request.method == "GET":
        card = today_card(viewer=request.user, pk=pk, messages=True)
        return render(request, "visits/_card_message.html", {"card": card, "channels": MESSAGE_CHANNELS})
    task = _workable_task(request, pk)
    form = MessageSentForm(request.POST, templates=message_templates_for(store=task.store))
    if not form.is_valid():
        error = _first_error(form)
        if request.htmx:
            return HttpResponse(error, status=200)
        messages.error(request, error)
        return redirect("visits:today")
    message_sent_record(task=task, by=request.user, **form.cleaned_data)
    notice = _("已复制，已记录（%(channel)s）") % {"channel": Channel(form.cleaned_data["channel"]).label}
    if request.htmx:
        return HttpResponse(notice)
    messages.success(request, notice)
    return redirect("visits:today")


@role_required(*STORE_LEADS)
def reassign_task(request: HttpRequest, pk: int) -> HttpResponse:
    """VIP specialist, manager and HQ hand a task to another of the store's staff."""
    task = task_get(viewer=request.user, pk=pk)
    form = ReassignForm(request.POST or None, viewer=request.user, task=task)
    if request.method == "POST" and form.is_valid():
        try:
            carrier = task_reassign(task=task, assignee=form.cleaned_data["assignee"], by=request.user)
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            notice = _("已转派给 %(staff)s") % {"staff": form.cleaned_data["assignee"]}
            if carrier.pk != task.pk:  # joined the card that person already had for the member
                notice += _("（并入其已有的卡片）")
                return _closed_or_redirect(request, task, notice)
            return _after_task_action(request, task.pk, notice)
    template = "visits/_task_reassign_form.html" if request.htmx else "visits/task_reassign.html"
    return render(request, template, {"task": task, "form": form})


class TelRedirect(HttpResponseRedirect):
    allowed_schemes = ["tel"]


@never_cache
@require_POST
def call_member(request: HttpRequest, pk: int) -> HttpResponse:
    """The Today page's call button. The full number never sits on the page; dialing it goes
    through here, so each call is one `member.phone.viewed` audit entry. A POST (a form with a
    CSRF token), so a link elsewhere cannot write that entry in someone's name."""
    member = member_get(viewer=request.user, pk=pk)
    if not can_see_full_contact(request.user, member):
        raise PermissionDenied
    audit_log(actor=request.user, action="member.phone.viewed", obj=member, store=member.home_store, via="call")
    return TelRedirect(f"tel:{member.phone}")


# --- Visits on the member page ---------------------------------------------------------------


@require_GET
def member_visit_list(request: HttpRequest, pk: int) -> HttpResponse:
    """The member page's visits card (loaded by htmx), newest first, 20 a page."""
    member = member_get(viewer=request.user, pk=pk)
    page = Paginator(member_visits(member=member), VISITS_PER_PAGE).get_page(request.GET.get("page"))
    context = {"member": member, "page": page, "open_tasks": member_open_tasks(member=member)[:10]}
    template = "visits/_member_visits.html" if request.htmx else "visits/member_visits.html"
    return render(request, template, context)


def visit_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Record a contact without a task behind it: anyone who may see the member (DOMAIN §7)."""
    member = member_get(viewer=request.user, pk=pk)
    form = VisitForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            visit = visit_record(member=member, by=request.user, **form.record_kwargs())
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(request, _("已记录对 %(name)s 的回访。") % {"name": member.name})
            if visit.next_follow_up:
                messages.info(request, _("已加入 %(date)s 的回访任务。") % {"date": visit.next_follow_up.isoformat()})
            return redirect("members:detail", pk=member.pk)
    return render(request, "visits/visit_form.html", {"form": form, "member": member})


# --- Store board -----------------------------------------------------------------------------


def _range_links(today_) -> list[tuple[str, str]]:
    this_week, last_week = week_of(today_), week_of(today_ - timedelta(days=7))
    this_month, last_month = month_of(today_), month_of(add_months(today_, -1))
    labels = [_("本周"), _("上周"), _("本月"), _("上月")]
    ranges = [this_week, last_week, this_month, last_month]
    return [(label, urlencode({"start": s, "end": e})) for label, (s, e) in zip(labels, ranges, strict=True)]


@role_required(*STORE_LEADS)
def board(request: HttpRequest) -> HttpResponse:
    """Per person: tasks due in the range, done, on time, overdue; rates with their counts."""
    form = RangeForm(request.GET or None, viewer=request.user)
    start, end = form.range()
    store = form.value("store") if request.user.is_hq else None
    rows, total = store_board(viewer=request.user, start=start, end=end, store=store)
    context = {
        "form": form,
        "start": start,
        "end": end,
        "rows": rows,
        "total": total,
        "quick_ranges": _range_links(timezone.localdate()),
    }
    return render(request, "visits/board.html", context)


# --- Invitations -----------------------------------------------------------------------------


@require_GET
def invitations(request: HttpRequest) -> HttpResponse:
    viewer = request.user
    form = InvitationFilterForm(request.GET or None, viewer=viewer)
    consultant = form.value("consultant") if "consultant" in form.fields else None
    today = timezone.localdate()
    view = form.value("view") or "upcoming"
    filters = InvitationFilters(
        start=form.value("start"),
        end=form.value("end"),
        status=form.value("status") or "",
        invited_by_id=consultant.pk if consultant else None,
        store=form.value("store") if viewer.is_hq else None,
        view=view,
        today=today,
    )
    listed = invitation_list(viewer=viewer, filters=filters).select_related("member", "invited_by", "store")
    page = Paginator(listed, INVITATIONS_PER_PAGE).get_page(request.GET.get("page"))
    bought_possible = invitations_with_purchase(list(page))
    for invitation in page:
        _annotate_invitation(viewer, invitation, has_purchase=invitation.pk in bought_possible)
    funnel_rows, funnel_total = invitation_funnel(viewer=viewer, filters=filters)
    query = request.GET.copy()
    query.pop("page", None)
    # Each tab keeps the other filters and drops the page number.
    tab_query = request.GET.copy()
    tab_query.pop("page", None)
    tabs = []
    for value, label in form.fields["view"].choices:
        tab_query["view"] = value
        tabs.append((value, label, tab_query.urlencode(), value == view))
    first, last = month_of(today)
    context = {
        "form": form,
        "page": page,
        "view": view,
        "tabs": tabs,
        "this_month": urlencode({"view": "all", "start": first.isoformat(), "end": last.isoformat()}),
        "funnel_rows": funnel_rows,
        "funnel_total": funnel_total,
        "query": query.urlencode(),
    }
    return render(request, "visits/invitations.html", context)


def _annotate_invitation(viewer, invitation, *, has_purchase: bool | None = None):
    """The row's buttons: none for a viewer who may not advance it; "bought" only with a receipt
    in the window (one query here for a single row; the list passes what it read for the page)."""
    invitation.can_advance = can_advance_invitation(viewer, invitation)
    if not invitation.can_advance:
        invitation.next_statuses = []
        return invitation
    if has_purchase is None:
        has_purchase = bool(invitations_with_purchase([invitation]))
    invitation.next_statuses = invitation_next_statuses(invitation, has_purchase=has_purchase)
    return invitation


def invitation_add(request: HttpRequest, pk: int) -> HttpResponse:
    """邀约 a member to the store: anyone who may see the member."""
    member = member_get(viewer=request.user, pk=pk)
    form = InvitationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = invitation_create(member=member, by=request.user, **form.cleaned_data)
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(
                request,
                _("已邀约 %(name)s %(date)s 到店。") % {"name": member.name, "date": invitation.for_date.isoformat()},
            )
            return redirect("members:detail", pk=member.pk)
    # The campaigns a purpose may name, so an invitation made by hand counts for its campaign.
    campaigns = campaigns_to_invite_to(store_id=member.home_store_id)
    return render(request, "visits/invitation_form.html", {"form": form, "member": member, "campaigns": campaigns})


@require_POST
def advance_invitation(request: HttpRequest, pk: int) -> HttpResponse:
    """Move an invitation along the funnel; a transition the service refuses shows its message."""
    invitation = invitation_get(viewer=request.user, pk=pk)
    if not can_advance_invitation(request.user, invitation):
        raise PermissionDenied
    status = request.POST.get("status", "")
    error = ""
    if status not in InvitationStatus.values:
        error = _("请选择邀约的新状态。")
    else:
        try:
            invitation_advance(invitation=invitation, status=status, by=request.user)
        except ValidationError as e:
            error = _error_text(e)
    if request.htmx:
        invitation = _annotate_invitation(request.user, invitation_get(viewer=request.user, pk=pk))
        return render(request, "visits/_invitation_row.html", {"invitation": invitation, "error": error})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("邀约状态已更新。"))
    return redirect("visits:invitations")


# --- Gifts -----------------------------------------------------------------------------------


def gifts(request: HttpRequest) -> HttpResponse:
    """The month's birthday and occasion gifts (next month by default); `?print=1` for paper."""
    viewer = request.user
    form = MonthForm(request.GET or None, viewer=viewer)
    month = form.chosen_month()
    start, end = month_bounds(month.year, month.month)
    store = form.value("store") if viewer.is_hq else None
    plans = list(gift_plan_list(viewer=viewer, start=start, end=end, store=store))
    for plan in plans:
        plan.next_statuses = gift_next_statuses(plan)
    by_status = dict.fromkeys(GiftStatus.values, 0)
    for plan in plans:
        by_status[plan.status] += 1
    context = {
        "form": form,
        "month": month,
        "store": store or viewer.store,
        "plans": plans,
        "status_counts": [(label, by_status[value]) for value, label in GiftStatus.choices],
        "budget_total": sum((p.budget for p in plans if p.status != GiftStatus.DECLINED), start=0),
        "prev_month": add_months(month, -1),
        "next_month": add_months(month, 1),
        "can_generate": viewer.is_store_lead,
    }
    template = "visits/gifts_print.html" if request.GET.get("print") else "visits/gifts.html"
    return render(request, template, context)


def _gifts_url(month, store: Store | None) -> str:
    query = {"month": f"{month:%Y-%m}"}
    if store is not None:
        query["store"] = store.pk
    return f"{reverse('visits:gifts')}?{urlencode(query)}"


@require_POST
@role_required(*STORE_LEADS)
def generate_gift_plans(request: HttpRequest) -> HttpResponse:
    """The month's plans now, rather than waiting for the month-end duty; running it again adds
    only what is new (the service is idempotent)."""
    viewer = request.user
    form = GiftGenerateForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("请选择月份。"))
        return redirect("visits:gifts")
    month, picked = form.cleaned_data["month"], form.cleaned_data["store"]
    stores = [viewer.store]
    if viewer.is_hq:
        # HQ generates for the store it is looking at, or for every store.
        stores = [picked] if picked else list(Store.objects.filter(is_active=True))
    created = sum(gift_plans_for_month(store=store, year=month.year, month=month.month) for store in stores)
    if created:
        messages.success(request, _("已生成 %(count)s 条礼品计划。") % {"count": created})
    else:
        messages.info(request, _("没有新的礼品计划：本月的生日和纪念日都已在计划中。"))
    return redirect(_gifts_url(month, picked if viewer.is_hq else None))


@require_POST
def mark_gift(request: HttpRequest, pk: int) -> HttpResponse:
    """Prepared, delivered or declined: any staff of the store (whoever hands the gift over)."""
    plan = gift_plan_get(viewer=request.user, pk=pk)
    status = request.POST.get("status", "")
    error = ""
    if status not in GiftStatus.values:
        error = _("请选择礼品的新状态。")
    else:
        try:
            gift_plan_mark(plan=plan, status=status, by=request.user)
        except ValidationError as e:
            error = _error_text(e)
    if request.htmx:
        plan = gift_plan_get(viewer=request.user, pk=pk)
        plan.next_statuses = gift_next_statuses(plan)
        return render(request, "visits/_gift_row.html", {"plan": plan, "error": error})
    if error:
        messages.error(request, error)
    else:
        messages.success(request, _("礼品状态已更新。"))
    return redirect(_gifts_url(plan.occasion_date, None))


# --- Message templates -----------------------------------------------------------------------


@require_GET
@role_required(*STORE_LEADS)
def message_templates(request: HttpRequest) -> HttpResponse:
    """Per task kind: HQ's defaults, the store's overrides of them and the store's own. The VIP
    specialist and manager edit their store's; HQ edits the defaults (and sees a store's on request)."""
    viewer = request.user
    store = viewer.store
    if viewer.is_hq:
        picked = params.pk(request.GET, "store")  # not a number (?store=²): a 400, not a crash
        store = Store.objects.filter(pk=picked).first() if picked else None
    context = {
        "groups": message_template_groups(viewer=viewer, store=store),
        "store": store,
        "stores": Store.objects.filter(is_active=True).order_by("code") if viewer.is_hq else [],
        "can_edit_defaults": viewer.is_hq,
        "can_edit_store": store is not None and can_edit_message_template(viewer, store),
        "variables": VARIABLES,
    }
    return render(request, "visits/message_templates.html", context)


def _templates_url(template) -> str:
    url = reverse("visits:message_templates")
    return f"{url}?store={template.store_id}" if template.store_id else url


@role_required(*STORE_LEADS)
def message_template_add(request: HttpRequest) -> HttpResponse:
    """A new template: HQ's is a default for every store; a store's adds to the defaults, or with
    `?replaces=<default>` stands in for that default in the store."""
    viewer = request.user
    store = None if viewer.is_hq else viewer.store
    replaces = None
    if pk := request.GET.get("replaces") or request.POST.get("replaces"):
        replaces = message_template_get(viewer=viewer, pk=pk)
        if viewer.is_hq or replaces.store_id is not None:
            raise Http404  # only a store replaces, and only a default
    if not can_edit_message_template(viewer, store):
        raise PermissionDenied
    initial = {"kind": request.GET.get("kind", "")}
    if replaces is not None:
        initial = {"kind": replaces.kind, "name": replaces.name, "body": replaces.body}
    form = MessageTemplateForm(request.POST or None, initial=initial, fixed_kind=replaces is not None)
    if request.method == "POST" and form.is_valid():
        try:
            template = message_template_save(by=viewer, store=store, replaces=replaces, **form.cleaned_data)
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(request, _("已保存模板“%(name)s”。") % {"name": template.name})
            return redirect(_templates_url(template))
    context = {"form": form, "replaces": replaces, "store": store, "variables": VARIABLES}
    return render(request, "visits/message_template_form.html", context)


@role_required(*STORE_LEADS)
def message_template_edit(request: HttpRequest, pk: int) -> HttpResponse:
    viewer = request.user
    template = message_template_get(viewer=viewer, pk=pk)
    if not can_edit_message_template(viewer, template.store):
        raise PermissionDenied
    initial = {"kind": template.kind, "name": template.name, "body": template.body}
    form = MessageTemplateForm(request.POST or None, initial=initial, fixed_kind=template.replaces_id is not None)
    if request.method == "POST" and form.is_valid():
        try:
            message_template_save(
                by=viewer, store=template.store, replaces=template.replaces, template=template, **form.cleaned_data
            )
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(request, _("已保存模板“%(name)s”。") % {"name": template.name})
            return redirect(_templates_url(template))
    context = {
        "form": form,
        "template": template,
        "replaces": template.replaces,
        "store": template.store,
        "variables": VARIABLES,
    }
    return render(request, "visits/message_template_form.html", context)


@require_POST
@role_required(*STORE_LEADS)
def message_template_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    template = message_template_get(viewer=request.user, pk=pk)
    if not can_edit_message_template(request.user, template.store):
        raise PermissionDenied
    url = _templates_url(template)
    message_template_delete(template=template, by=request.user)
    messages.success(request, _("已删除模板“%(name)s”。") % {"name": template.name})
    return redirect(url)

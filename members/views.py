"""The staff pages for members. Each view: a permission check, a form, a service, redirect/render.

Which members a viewer may see is decided by `member_get` / `member_list` (another store's member
is a 404); what they may do with one by the role decorators and `can_edit_member`.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.formats import number_format
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.services import audit_log
from vipcrm.permissions import MANAGERS, STORE_LEADS, has_role, role_required

from .export_jobs import (
    export_job_create,
    export_job_download,
    export_job_downloadable,
    export_job_get,
    export_job_progress,
)
from .exports import STREAM_LIMIT, csv_chunks, export_audit, export_members
from .filters import page_members
from .forms import AssignConsultantForm, ImportantDateForm, MemberFilterForm, MemberForm, PurchaseForm, TierForm
from .models import Member, Tier
from .ownership import member_owner_history
from .relation_views import relations_context
from .selectors import (
    MEMBER_SORTS,
    can_edit_member,
    can_see_full_contact,
    displayed_phone,
    member_contact,
    member_get,
    member_list_page,
    member_occasions,
    member_purchases,
    member_tier_history,
    member_tier_progress,
)
from .services import (
    important_date_add,
    important_date_delete,
    member_assign_consultant,
    member_enroll,
    member_erase,
    member_set_tier,
    member_update,
    purchase_record,
)

MEMBERS_PER_PAGE = 50
CSV = "text/csv; charset=utf-8"
PURCHASES_PER_PAGE = 20


def _editable_member(request: HttpRequest, pk: int) -> Member:
    """The member if the viewer may edit it: 404 outside their store, 403 if not theirs to edit."""
    member = member_get(viewer=request.user, pk=pk)
    if not can_edit_member(request.user, member):
        raise PermissionDenied
    return member


def _member_action(request: HttpRequest, member: Member, form, *, heading: str, submit_label: str) -> HttpResponse:
    context = {"form": form, "member": member, "heading": heading, "submit_label": submit_label}
    return render(request, "members/member_action.html", context)


# --- List ------------------------------------------------------------------------------------


def member_list(request: HttpRequest) -> HttpResponse:
    """The list: filtered by the API's FilterSet (members.filters), a page at a time with a
    bounded count (members.selectors.member_list_page)."""
    form = MemberFilterForm(request.GET or None, viewer=request.user)  # what the filter bar shows
    cross_site = request.headers.get("Sec-Fetch-Site") == "cross-site"  # see member_search
    members, sort, _chosen = page_members(viewer=request.user, data=request.GET, cross_site=cross_site)
    page = member_list_page(members, sort=sort, page=request.GET.get("page"), per_page=MEMBERS_PER_PAGE)
    for member in page:
        member.masked_phone = displayed_phone(request.user, member)
        member.detail_url = reverse("members:detail", args=[member.pk])  # once for its card and its row
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "sort_links": _sort_links(request),
        "scope": form.chosen_scope(),
        "export_limit": STREAM_LIMIT,
    }
    # A search typed into the box swaps only the results (htmx); a full load renders the page.
    partial = request.htmx and not request.htmx.boosted and request.htmx.target == "member-results"
    response = render(request, "members/_member_results.html" if partial else "members/member_list.html", context)
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def _sort_links(request: HttpRequest) -> dict[str, str]:
    """The column headers' links: the same filters, another order, back to the first page."""
    query = request.GET.copy()
    query.pop("page", None)
    links = {}
    for sort in ("", *MEMBER_SORTS):
        query["sort"] = sort
        links[sort or "joined"] = query.urlencode()
    return links


@require_POST
def member_export(request: HttpRequest) -> HttpResponse:
    """The filtered list as CSV: consultants their own members; audited with the filter and the
    members exported (DOMAIN §11). POST only: a link on another site cannot export in someone's
    name or write an audit entry for them. Streamed up to STREAM_LIMIT rows; more is a job whose
    page shows the progress and then the download (members/export_jobs.py)."""
    members, _sort, chosen = page_members(viewer=request.user, data=request.POST, via="export")
    members = export_members(viewer=request.user, members=members)
    ids = list(members.values_list("pk", flat=True))
    if len(ids) > STREAM_LIMIT:
        job = export_job_create(by=request.user, filters=request.POST, total=len(ids), language=get_language())
        return redirect("members:export_job", pk=job.pk)
    export_audit(viewer=request.user, member_ids=ids, filters=chosen)
    response = StreamingHttpResponse(csv_chunks(viewer=request.user, members=members), content_type=CSV)
    response["Content-Disposition"] = f'attachment; filename="members-{timezone.localdate().isoformat()}.csv"'
    return response


@require_GET
def export_job_view(request: HttpRequest, pk: int) -> HttpResponse:
    job = export_job_get(viewer=request.user, pk=pk)
    return render(request, "members/export_job.html", _export_job_context(job))


@require_GET
def export_job_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar, polled by the job's page; once the job is over htmx reloads the page."""
    job = export_job_get(viewer=request.user, pk=pk)
    response = render(request, "members/export_progress.html", _export_job_context(job))
    if not job.is_working:
        response["HX-Refresh"] = "true"
    return response


@require_GET
def export_job_file(request: HttpRequest, pk: int) -> HttpResponse:
    """The finished file, to the person who asked for it, until it expires; audited."""
    job = export_job_get(viewer=request.user, pk=pk)
    if not export_job_downloadable(job):
        raise Http404
    stamp = timezone.localtime(job.created_at).date().isoformat()
    return FileResponse(
        export_job_download(job=job, viewer=request.user),
        as_attachment=True,
        filename=f"members-{stamp}.csv",
        content_type=CSV,
    )


def _export_job_context(job) -> dict:
    done, total = export_job_progress(job)
    percent = min(100, done * 100 // total) if total else None
    return {"job": job, "done": done, "total": total, "percent": percent, "ready": export_job_downloadable(job)}


@role_required(*MANAGERS)
def member_erase_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A member's erasure request, confirmed by a manager: anonymise, keep the totals."""
    member = member_get(viewer=request.user, pk=pk)
    if request.method == "POST":
        if request.POST.get("confirm") != member.card_no:
            messages.error(request, _("请输入会员卡号以确认匿名化。"))
        else:
            try:
                member_erase(member=member, by=request.user)
            except ValidationError as e:
                messages.error(request, " ".join(e.messages))
            else:
                messages.success(request, _("会员已匿名化；消费记录以匿名方式保留。"))
                return redirect("members:detail", pk=member.pk)
    return render(request, "members/member_erase.html", {"member": member})


# --- Detail ----------------------------------------------------------------------------------


def _detail_context(request: HttpRequest, member: Member, **extra) -> dict:
    viewer = request.user
    can_edit = can_edit_member(viewer, member)
    purchases = Paginator(member_purchases(member=member), PURCHASES_PER_PAGE).get_page(request.GET.get("purchases"))
    progress = member_tier_progress(member=member)
    return {
        "member": member,
        "contact": member_contact(viewer=viewer, member=member),
        "can_edit": can_edit,
        "can_assign": has_role(viewer, *STORE_LEADS),
        "can_set_tier": has_role(viewer, *MANAGERS),
        "occasions": member_occasions(member=member),
        "date_form": ImportantDateForm() if can_edit else None,
        "progress": progress,
        "progress_pct": _progress_percent(progress),
        "next_tier_label": Tier(progress.next_tier).label if progress.next_tier else "",
        "purchases": purchases,
        "tier_history": member_tier_history(member=member),
        "owner_history": member_owner_history(member=member),  # members/ownership.py (hand-over)
        **relations_context(viewer, member),  # family links (members/relation_views.py)
        **extra,
    }


def _progress_percent(progress) -> int:
    """How far the 12-month spend is towards the next tier's minimum, 0–100."""
    target = progress.spend + progress.missing
    if not progress.next_tier or target <= 0:
        return 100
    return max(0, min(100, int(progress.spend * 100 / target)))


def member_detail(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_get(viewer=request.user, pk=pk)
    return render(request, "members/member_detail.html", _detail_context(request, member))


@require_POST
def member_reveal_phone(request: HttpRequest, pk: int) -> HttpResponse:
    """The full number, for those who may see it; every reveal is written to the audit log."""
    member = member_get(viewer=request.user, pk=pk)
    if not can_see_full_contact(request.user, member):
        raise PermissionDenied
    audit_log(actor=request.user, action="member.phone.viewed", obj=member, store=member.home_store)
    if request.htmx:
        return render(request, "members/_phone.html", {"member": member, "phone": member.phone, "revealed": True})
    context = _detail_context(request, member)
    context["contact"].phone = member.phone
    context["phone_revealed"] = True
    return render(request, "members/member_detail.html", context)


# --- Create and edit -------------------------------------------------------------------------


def member_create(request: HttpRequest) -> HttpResponse:
    form = MemberForm(request.POST or None, viewer=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            member = member_enroll(by=request.user, **form.enroll_kwargs())
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(
                request, _("已为 %(name)s 开卡（卡号 %(card)s）。") % {"name": member.name, "card": member.card_no}
            )
            return redirect("members:detail", pk=member.pk)
    return render(request, "members/member_form.html", {"form": form, "member": None})


def member_edit(request: HttpRequest, pk: int) -> HttpResponse:
    member = _editable_member(request, pk)
    form = MemberForm(request.POST or None, viewer=request.user, member=member)
    if request.method == "POST" and form.is_valid():
        try:
            member_update(member=member, by=request.user, **form.profile())
        except ValidationError as e:
            form.add_service_errors(e)
            # The service set the rejected values on the instance; show the header as stored.
            member = member_get(viewer=request.user, pk=pk)
        else:
            messages.success(request, _("已保存 %(name)s 的资料。") % {"name": member.name})
            return redirect("members:detail", pk=member.pk)
    # The form holds the phone masked (MemberForm), so opening it views nothing and writes nothing.
    return render(request, "members/member_form.html", {"form": form, "member": member})


# --- Purchases -------------------------------------------------------------------------------


def purchase_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Any staff of the member's store (and HQ) records a purchase or a return at the till."""
    member = member_get(viewer=request.user, pk=pk)
    form = PurchaseForm(request.POST or None, viewer=request.user, member=member)
    if request.method == "POST" and form.is_valid():
        tier_before = member.tier
        try:
            result = purchase_record(member=member, store=member.home_store, by=request.user, **form.record_kwargs())
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            purchase = result.purchase
            if not result.created:
                messages.info(request, _("小票 %(no)s 此前已登记，未重复记录。") % {"no": purchase.receipt_no})
            elif purchase.is_return:
                messages.success(request, _("已登记退货 %(no)s：%(amount)s 元。") % _receipt(purchase))
            else:
                messages.success(request, _("已登记消费 %(no)s：%(amount)s 元。") % _receipt(purchase))
            member.refresh_from_db(fields=["tier"])
            if member.tier != tier_before:
                messages.info(
                    request,
                    _("会员等级已由 %(before)s 变为 %(after)s。")
                    % {"before": Tier(tier_before).label, "after": member.get_tier_display()},
                )
            return redirect("members:detail", pk=member.pk)
    return _member_action(request, member, form, heading=_("登记消费/退货"), submit_label=_("登记"))


def _receipt(purchase) -> dict:
    return {"no": purchase.receipt_no, "amount": number_format(abs(purchase.amount), 2, force_grouping=True)}


# --- Important dates -------------------------------------------------------------------------


def _occasions_response(request: HttpRequest, member: Member, form: ImportantDateForm | None = None) -> HttpResponse:
    """After an htmx add/delete: the dates card again; after a plain POST: back to the page."""
    if request.htmx:
        context = {
            "member": member,
            "occasions": member_occasions(member=member),
            "can_edit": True,
            "date_form": form or ImportantDateForm(),
            "date_form_open": form is not None,
        }
        return render(request, "members/_occasions.html", context)
    if form is not None:
        context = _detail_context(request, member, date_form=form, date_form_open=True)
        return render(request, "members/member_detail.html", context)
    return redirect("members:detail", pk=member.pk)


@require_POST
def important_date_create(request: HttpRequest, pk: int) -> HttpResponse:
    member = _editable_member(request, pk)
    form = ImportantDateForm(request.POST)
    if form.is_valid():
        try:
            important_date_add(member=member, by=request.user, **form.cleaned_data)
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            if not request.htmx:
                messages.success(request, _("已添加重要日期。"))
            return _occasions_response(request, member)
    return _occasions_response(request, member, form)


@require_POST
def important_date_remove(request: HttpRequest, pk: int, date_pk: int) -> HttpResponse:
    member = _editable_member(request, pk)
    important = get_object_or_404(member.important_dates, pk=date_pk)
    important_date_delete(important_date=important, by=request.user)
    if not request.htmx:
        messages.success(request, _("已删除重要日期。"))
    return _occasions_response(request, member)


# --- Consultant and tier ---------------------------------------------------------------------


@role_required(*STORE_LEADS)
def member_assign(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_get(viewer=request.user, pk=pk)
    form = AssignConsultantForm(request.POST or None, viewer=request.user, member=member)
    if request.method == "POST" and form.is_valid():
        consultant = form.cleaned_data["consultant"]
        try:
            member_assign_consultant(member=member, consultant=consultant, by=request.user)
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            if consultant:
                messages.success(
                    request, _("已将 %(member)s 分配给 %(staff)s。") % {"member": member.name, "staff": consultant}
                )
            else:
                messages.success(request, _("已取消 %(member)s 的专属顾问。") % {"member": member.name})
            return redirect("members:detail", pk=member.pk)
    return _member_action(request, member, form, heading=_("分配专属顾问"), submit_label=_("保存"))


@role_required(*MANAGERS)
def member_tier(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_get(viewer=request.user, pk=pk)
    form = TierForm(request.POST or None, member=member)
    if request.method == "POST" and form.is_valid():
        wanted = form.cleaned_data["tier"]
        try:
            member_set_tier(
                member=member,
                tier=wanted,
                by=request.user,
                lock=form.cleaned_data["lock"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            if member.tier != wanted:
                # Unlocked: the engine replayed the ledger and its spend decides.
                messages.warning(
                    request,
                    _("未锁定等级：系统按消费记录重新计算后，等级为 %(tier)s。") % {"tier": member.get_tier_display()},
                )
            else:
                messages.success(request, _("等级已设为 %(tier)s。") % {"tier": member.get_tier_display()})
            return redirect("members:detail", pk=member.pk)
    return _member_action(request, member, form, heading=_("调整等级"), submit_label=_("保存"))

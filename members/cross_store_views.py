"""Pages of the cross-store service (DOMAIN §13): find another store's member by exact card or full
phone, then record a receipt, a visit or a complaint at this store's counter.

The member's own page stays a 404 for another store's staff. Here they see `CrossStoreMember` only
(name, tier, masked phone, home store, card), and the forms name the member by a signed token bound
to the viewer (members.cross_store), never by an id that could be probed.

HQ has no till: these pages are for store staff (HQ's normal search sees every store).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import Role
from complaints.services import complaint_register
from vipcrm.permissions import role_required
from visits.forms import VisitForm
from visits.models import Channel
from visits.services import visit_record

from .cross_store import (
    BAD_TOKEN_MESSAGE,
    BadToken,
    CrossStoreMember,
    cross_store_lookup,
    cross_store_token,
    member_from_token,
)
from .cross_store_forms import CrossStoreComplaintForm, CrossStoreReceiptForm, LookupForm
from .models import Member, Tier
from .services import purchase_record

STORE_STAFF = (Role.CONSULTANT, Role.VIP_SPECIALIST, Role.MANAGER)


@role_required(*STORE_STAFF)
def lookup(request: HttpRequest) -> HttpResponse:
    """The search box. A POST (never a link: each lookup is audited in the viewer's name)."""
    form = LookupForm(request.POST or None)
    context = {"form": form}
    if request.method == "POST" and form.is_valid():
        found = cross_store_lookup(viewer=request.user, text=form.cleaned_data["text"])
        if found.member is not None:
            return redirect(_member_url(request, found.member))
        context["own"] = found.own
        context["not_found"] = found.own is None
    return render(request, "members/cross_store_lookup.html", context)


def _member_url(request: HttpRequest, member: Member) -> str:
    token = cross_store_token(viewer=request.user, member=member)
    return reverse("members:elsewhere_member") + "?" + urlencode({"t": token})


def _bad_token(request: HttpRequest) -> HttpResponse:
    context = {"form": LookupForm(), "token_error": BAD_TOKEN_MESSAGE}
    return render(request, "members/cross_store_lookup.html", context, status=400)


def _member_page(request: HttpRequest, member: Member, token: str, **forms) -> HttpResponse:
    """The member card with the three forms; `forms` holds the one that was just submitted."""
    context = {
        "member": CrossStoreMember.of(member),
        "token": token,
        "receipt_form": forms.get("receipt_form") or CrossStoreReceiptForm(viewer=request.user),
        "visit_form": forms.get("visit_form") or VisitForm(prefix="visit", initial={"channel": Channel.IN_STORE}),
        "complaint_form": forms.get("complaint_form") or CrossStoreComplaintForm(),
        "open_form": next(iter(forms), "receipt_form").removesuffix("_form"),
    }
    return render(request, "members/cross_store_member.html", context)


@role_required(*STORE_STAFF)
def member(request: HttpRequest) -> HttpResponse:
    token = request.GET.get("t", "")
    try:
        found = member_from_token(viewer=request.user, token=token)
    except BadToken:
        return _bad_token(request)
    return _member_page(request, found, token)


def _from_post(request: HttpRequest) -> tuple[Member | None, str]:
    token = request.POST.get("t", "")
    try:
        return member_from_token(viewer=request.user, token=token), token
    except BadToken:
        return None, token


def _back(token: str) -> HttpResponse:
    return redirect(reverse("members:elsewhere_member") + "?" + urlencode({"t": token}))


@require_POST
@role_required(*STORE_STAFF)
def receipt(request: HttpRequest) -> HttpResponse:
    """A receipt at this store's till: this store's sales, the member's tier (DOMAIN §6, §13)."""
    found, token = _from_post(request)
    if found is None:
        return _bad_token(request)
    form = CrossStoreReceiptForm(request.POST, viewer=request.user)
    if form.is_valid():
        tier_before = found.tier
        try:
            result = purchase_record(member=found, store=request.user.store, by=request.user, **form.record_kwargs())
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            purchase = result.purchase
            amount = number_format(purchase.amount, 2, force_grouping=True)
            if result.created:
                messages.success(
                    request, _("已登记消费 %(no)s：%(amount)s 元。") % {"no": purchase.receipt_no, "amount": amount}
                )
            else:
                messages.info(request, _("小票 %(no)s 此前已登记，未重复记录。") % {"no": purchase.receipt_no})
            found.refresh_from_db(fields=["tier"])
            if found.tier != tier_before:
                messages.info(
                    request,
                    _("会员等级已由 %(before)s 变为 %(after)s。")
                    % {"before": Tier(tier_before).label, "after": found.get_tier_display()},
                )
            return _back(token)
    return _member_page(request, found, token, receipt_form=form)


@require_POST
@role_required(*STORE_STAFF)
def visit(request: HttpRequest) -> HttpResponse:
    """A contact at this store's counter: the visit is this store's; a next follow-up date goes to
    the member's own consultant in the home store (visits.services.visit_record)."""
    found, token = _from_post(request)
    if found is None:
        return _bad_token(request)
    form = VisitForm(request.POST, prefix="visit")
    if form.is_valid():
        try:
            recorded = visit_record(member=found, by=request.user, store=request.user.store, **form.record_kwargs())
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(request, _("已记录对 %(name)s 的回访。") % {"name": found.name})
            if recorded.next_follow_up:
                messages.info(
                    request,
                    _("%(date)s 的回访已交给会员所属门店的专属顾问。") % {"date": recorded.next_follow_up.isoformat()},
                )
            return _back(token)
    return _member_page(request, found, token, visit_form=form)


@require_POST
@role_required(*STORE_STAFF)
def complaint(request: HttpRequest) -> HttpResponse:
    """A complaint received here: it is this store's to handle, on this store's SLA; its revisit
    goes to the member's own consultant (complaints.services)."""
    found, token = _from_post(request)
    if found is None:
        return _bad_token(request)
    form = CrossStoreComplaintForm(request.POST)
    if form.is_valid():
        try:
            registered = complaint_register(
                store=request.user.store, by=request.user, member=found, cross_store=True, **form.register_kwargs()
            )
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(request, _("已登记投诉 #%(pk)s，由本店处理。") % {"pk": registered.pk})
            return redirect("complaints:detail", pk=registered.pk)
    return _member_page(request, found, token, complaint_form=form)

"""Pages for transfers between stores (转店, DOMAIN §13): members.transfers holds the rules.

- 申请转入 (`transfer_find` → `transfer_request`): the receiving store's VIP specialist or manager
  finds the member by exact card or full phone (audited: members.cross_store) and asks; the form
  names the member by a signed token bound to the viewer, never by an id to probe. There is no
  "transfer out" button for the member's own store: the request comes from the store receiving.
- 转店申请 (`transfers`): incoming and outgoing requests, pending first, to agree, decline or
  withdraw. The other store's member shows by name, card, tier and masked phone only.
- HQ moves a member at once from the member's page (`transfer_direct`).
"""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import Role, Staff, Store
from vipcrm.permissions import STORE_LEADS, role_required

from .cross_store import member_find_elsewhere
from .forms import ServiceErrorsMixin, StaffChoiceField, staff_choices
from .models import Member
from .selectors import member_get
from .transfers import (
    can_cancel_transfer,
    can_decide_transfer,
    transfer_cancel,
    transfer_decide,
    transfer_get,
    transfer_list,
    transfer_request,
    transfer_token,
    transfer_token_member,
)
from .validators import mask_phone

STORE_LEAD_ROLES = (Role.VIP_SPECIALIST, Role.MANAGER)
TRANSFERS_PER_PAGE = 50


class TransferFindForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("会员卡号或完整手机号"),
        max_length=40,
        help_text=gettext_lazy("按会员提供的卡号或完整手机号查找其他门店的会员；每次查找都会记入审计日志。"),
    )


class TransferRequestForm(ServiceErrorsMixin, forms.Form):
    to_consultant = StaffChoiceField(
        label=gettext_lazy("转入后的专属顾问"),
        required=False,
        queryset=Staff.objects.none(),
        empty_label=gettext_lazy("（暂不指定）"),
    )
    reason = forms.CharField(
        label=gettext_lazy("转店原因"), max_length=200, help_text=gettext_lazy("例如：会员搬家，希望在本店消费。")
    )

    def __init__(self, *args, viewer: Staff, store_id: int | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_consultant"].queryset = staff_choices(viewer=viewer, store_id=store_id)
        self.helper = FormHelper()
        self.helper.form_tag = False


class TransferDirectForm(TransferRequestForm):
    to_store = forms.ModelChoiceField(label=gettext_lazy("转入门店"), queryset=Store.objects.none())

    field_order = ["to_store", "to_consultant", "reason"]

    def __init__(self, *args, viewer: Staff, member: Member, **kwargs):
        super().__init__(*args, viewer=viewer, store_id=None, **kwargs)
        self.fields["to_store"].queryset = Store.objects.filter(is_active=True).exclude(pk=member.home_store_id)
        self.fields["to_consultant"].show_store = True
        self.fields["to_consultant"].help_text = _("须为转入门店的在职员工。")


class TransferDecisionForm(ServiceErrorsMixin, forms.Form):
    decision = forms.ChoiceField(choices=[("agree", gettext_lazy("同意")), ("decline", gettext_lazy("不同意"))])
    note = forms.CharField(label=gettext_lazy("说明"), max_length=200, required=False)


# --- The list ------------------------------------------------------------------------------------


@role_required(*STORE_LEADS)
def transfers(request: HttpRequest) -> HttpResponse:
    direction = request.GET.get("dir", "")
    direction = direction if direction in ("in", "out") else ""
    rows = transfer_list(viewer=request.user, direction=direction)
    page = Paginator(rows, TRANSFERS_PER_PAGE).get_page(request.GET.get("page"))
    for row in page:
        row.masked_phone = mask_phone(row.member.phone) if row.member.erased_at is None else ""
        row.can_decide = can_decide_transfer(request.user, row)
        row.can_cancel = can_cancel_transfer(request.user, row)
        row.incoming = row.to_store_id == request.user.store_id
    context = {"page": page, "direction": direction, "can_ask": not request.user.is_hq}
    return render(request, "members/transfer_list.html", context)


# --- Asking (the receiving store) ----------------------------------------------------------------


@role_required(*STORE_LEAD_ROLES)
def transfer_find(request: HttpRequest) -> HttpResponse:
    """The search box: a POST, as every lookup is audited in the viewer's name."""
    form = TransferFindForm(request.POST or None)
    context = {"form": form}
    if request.method == "POST" and form.is_valid():
        member = member_find_elsewhere(viewer=request.user, text=form.cleaned_data["text"])
        if member is not None:
            token = transfer_token(viewer=request.user, member=member)
            return redirect(f"{reverse('members:transfer_request')}?{urlencode({'token': token})}")
        context["not_found"] = True
    return render(request, "members/transfer_find.html", context)


@role_required(*STORE_LEAD_ROLES)
def transfer_request_view(request: HttpRequest) -> HttpResponse:
    token = request.POST.get("token") if request.method == "POST" else request.GET.get("token", "")
    member = transfer_token_member(viewer=request.user, token=token)
    if member.home_store_id == request.user.store_id:
        messages.info(request, _("%(name)s 已是本店会员。") % {"name": member.name})
        return redirect("members:detail", pk=member.pk)
    form = TransferRequestForm(request.POST or None, viewer=request.user, store_id=request.user.store_id)
    if request.method == "POST" and form.is_valid():
        try:
            transfer_request(
                member=member,
                to_store=request.user.store,
                to_consultant=form.cleaned_data["to_consultant"],
                reason=form.cleaned_data["reason"],
                by=request.user,
            )
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(
                request,
                _("已向 %(store)s 提交 %(name)s 的转入申请，等待对方同意。")
                % {"store": member.home_store.name, "name": member.name},
            )
            return redirect(f"{reverse('members:transfers')}?dir=in")
    context = {"form": form, "member": member, "masked_phone": mask_phone(member.phone), "token": token}
    return render(request, "members/transfer_request.html", context)


# --- Deciding (the sending store) and withdrawing (the receiving store) --------------------------


@require_POST
@role_required(*STORE_LEADS)
def transfer_decide_view(request: HttpRequest, pk: int) -> HttpResponse:
    transfer = transfer_get(viewer=request.user, pk=pk)
    if not can_decide_transfer(request.user, transfer):
        raise PermissionDenied
    form = TransferDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("请选择同意或不同意。"))
        return redirect("members:transfers")
    agree = form.cleaned_data["decision"] == "agree"
    try:
        transfer_decide(request=transfer, agree=agree, by=request.user, note=form.cleaned_data["note"])
    except ValidationError as e:
        messages.error(request, "；".join(e.messages))
    else:
        name, store = transfer.member.name, transfer.to_store.name
        if agree:
            messages.success(request, _("%(name)s 已转至 %(store)s。") % {"name": name, "store": store})
        else:
            messages.success(request, _("已拒绝 %(name)s 的转店申请。") % {"name": name})
    return redirect("members:transfers")


@require_POST
@role_required(*STORE_LEADS)
def transfer_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    transfer = transfer_get(viewer=request.user, pk=pk)
    if not can_cancel_transfer(request.user, transfer):
        raise PermissionDenied
    transfer_cancel(request=transfer, by=request.user)
    messages.success(request, _("已撤回 %(name)s 的转店申请。") % {"name": transfer.member.name})
    return redirect("members:transfers")


# --- HQ: at once ---------------------------------------------------------------------------------


@role_required(Role.HQ)
def transfer_direct(request: HttpRequest, pk: int) -> HttpResponse:
    member = member_get(viewer=request.user, pk=pk)
    form = TransferDirectForm(request.POST or None, viewer=request.user, member=member)
    if request.method == "POST" and form.is_valid():
        try:
            transfer_request(
                member=member,
                to_store=form.cleaned_data["to_store"],
                to_consultant=form.cleaned_data["to_consultant"],
                reason=form.cleaned_data["reason"],
                by=request.user,
            )
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(
                request,
                _("%(name)s 已转至 %(store)s。") % {"name": member.name, "store": form.cleaned_data["to_store"].name},
            )
            return redirect("members:detail", pk=member.pk)
    context = {"form": form, "member": member, "heading": _("转店"), "submit_label": _("立即转店")}
    return render(request, "members/transfer_direct.html", context)

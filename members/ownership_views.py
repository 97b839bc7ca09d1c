"""Pages about who owns members (DOMAIN §13): the hand-over and the store lead's hub.

The rules are in `members.ownership`; these views pick the people in the viewer's scope (another
store's person is a 404), validate the form and report what moved.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Staff
from accounts.services import can_manage_staff
from vipcrm.permissions import STORE_LEADS, role_required

from .forms import ServiceErrorsMixin
from .models import Member, Tier
from .ownership import (
    HandOver,
    handover_candidates,
    handover_receivers,
    members_hand_over,
    owned_by_tier,
    ownership_figures,
)

ONE, SPREAD = "one", "spread"


class HandoverForm(ServiceErrorsMixin, forms.Form):
    """Validates the hand-over form; the page renders its own lists (each receiver with their
    load), so the choices are read only when a form is posted."""

    to = forms.ModelMultipleChoiceField(
        label=gettext_lazy("接收人"),
        queryset=Staff.objects.none(),
        error_messages={"required": gettext_lazy("请选择接收会员的员工。")},
    )
    mode = forms.ChoiceField(
        label=gettext_lazy("方式"),
        choices=[(ONE, gettext_lazy("全部交给一人")), (SPREAD, gettext_lazy("平均分给所选的几位"))],
        initial=ONE,
    )
    members = forms.ModelMultipleChoiceField(
        label=gettext_lazy("只交接这些会员"), queryset=Member.objects.none(), required=False
    )
    note = forms.CharField(
        label=gettext_lazy("交接说明"),
        max_length=200,
        error_messages={"required": gettext_lazy("请填写交接说明（例如：离职、调店、会员过多）。")},
    )
    deactivate = forms.BooleanField(label=gettext_lazy("交接后停用该账号"), required=False)

    def __init__(self, *args, giver: Staff, can_deactivate: bool, **kwargs):
        super().__init__(*args, **kwargs)
        # Anyone of the giver's store: the service says why an inactive colleague cannot receive.
        self.fields["to"].queryset = Staff.objects.filter(store_id=giver.store_id)
        self.fields["members"].queryset = Member.objects.filter(consultant=giver, erased_at__isnull=True)
        if not can_deactivate:
            del self.fields["deactivate"]


def _giver(request: HttpRequest) -> Staff | None:
    """The person whose members are handed over (?from=…), within the viewer's scope, else 404."""
    pk = request.POST.get("from") or request.GET.get("from")
    if not pk:
        return None
    try:
        return handover_candidates(viewer=request.user).get(pk=pk)
    except (Staff.DoesNotExist, ValueError):
        raise Http404 from None


@role_required(*STORE_LEADS)
def handover(request: HttpRequest) -> HttpResponse:
    giver = _giver(request)
    if giver is None:
        return render(request, "members/handover.html", _handover_context(request, None, None))
    can_deactivate = giver.is_active and can_manage_staff(viewer=request.user, staff=giver)
    form = HandoverForm(request.POST or None, giver=giver, can_deactivate=can_deactivate)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            result = members_hand_over(
                from_consultant=giver,
                to=list(data["to"]),
                spread=data["mode"] == SPREAD,
                note=data["note"],
                by=request.user,
                member_ids=[m.pk for m in data["members"]] or None,
                deactivate=data.get("deactivate", False),
            )
        except forms.ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(request, _result_message(giver, result))
            return redirect("members:ownership")
    return render(request, "members/handover.html", _handover_context(request, giver, form))


def _result_message(giver: Staff, result: HandOver) -> str:
    if len(result.shares) == 1:
        to = str(result.shares[0][0])
    else:
        to = _("、").join(_("%(name)s（%(count)s 位）") % {"name": s, "count": n} for s, n in result.shares)
    text = _("%(members)s 位会员、%(tasks)s 个待办已交接给 %(to)s。") % {
        "members": result.members,
        "tasks": result.tasks,
        "to": to,
    }
    if result.deactivated:
        text += " " + _("%(name)s 的账号已停用。") % {"name": giver}
    return text


def _handover_context(request: HttpRequest, giver: Staff | None, form: HandoverForm | None) -> dict:
    from visits.ownership_hooks import open_task_counts, open_tasks_moving_with  # visits builds on members

    context: dict = {"candidates": list(handover_candidates(viewer=request.user)), "giver": giver, "form": form}
    context["can_deactivate"] = form is not None and "deactivate" in form.fields
    if giver is None:
        return context
    receivers = list(handover_receivers(giver=giver))
    tasks = open_task_counts(staff_ids=[giver.pk, *(r.pk for r in receivers)])
    for person in receivers:
        person.open_tasks = tasks.get(person.pk, 0)
    by_tier = owned_by_tier(consultant=giver)
    chosen = set(form["to"].value() or []) if form.is_bound else set()
    picked = set(form["members"].value() or []) if form.is_bound else set()
    context.update(
        receivers=receivers,
        chosen={str(pk) for pk in chosen},
        picked={str(pk) for pk in picked},
        tiers=[(tier, label, by_tier.get(tier, 0)) for tier, label in Tier.choices],
        giver_tasks=tasks.get(giver.pk, 0),
        moving_tasks=open_tasks_moving_with(consultant=giver),
        members=list(
            Member.objects.filter(consultant=giver, erased_at__isnull=True)
            .order_by("tier", "name", "pk")
            .values("pk", "name", "card_no", "tier")
        ),
        mode=form["mode"].value() or ONE,
    )
    return context


@role_required(*STORE_LEADS)
def ownership_hub(request: HttpRequest) -> HttpResponse:
    """会员归属: the store lead's links (hand-over, unassigned, transfers, duplicates) with counts,
    and everyone's load with a hand-over link each."""
    from visits.ownership_hooks import open_task_counts  # visits builds on members

    people = list(handover_candidates(viewer=request.user))
    tasks = open_task_counts(staff_ids=[p.pk for p in people])
    for person in people:
        person.open_tasks = tasks.get(person.pk, 0)
    context = {"people": people, "figures": ownership_figures(viewer=request.user)}
    return render(request, "members/ownership_hub.html", context)

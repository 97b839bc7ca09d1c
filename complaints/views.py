from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import Role
from members.models import ProgramRules
from members.selectors import member_get
from vipcrm import params
from vipcrm.permissions import STORE_LEADS, role_required

from . import selectors
from .forms import PeriodForm, RegisterForm, TransitionForm
from .models import OPEN_STATES, Status
from .services import allowed_transitions, complaint_register, complaint_transition, needs_approval

ALL_STAFF = (Role.CONSULTANT, *STORE_LEADS)


@role_required(*ALL_STAFF)
def register(request):
    initial = {}
    if member_pk := params.pk(request.GET, "member"):
        member = member_get(viewer=request.user, pk=member_pk)
        initial["member_ref"] = member.card_no
    form = RegisterForm(request.POST or None, viewer=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            complaint = complaint_register(
                store=form.store_for(),
                by=request.user,
                member_ref=data["member_ref"],
                walk_in_name=data["walk_in_name"],
                walk_in_phone=data["walk_in_phone"],
                channel=data["channel"],
                category=data["category"],
                severity=data["severity"],
                description=data["description"],
            )
        except ValidationError as e:
            for field, errors in e.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, _("投诉 #%(pk)s 已登记。") % {"pk": complaint.pk})
            return redirect("complaints:detail", pk=complaint.pk)
    return render(request, "complaints/register.html", {"form": form})


@role_required(*ALL_STAFF)
def mine(request):
    """Complaints I registered or work on: open ones first."""
    me = request.user
    rows = list(
        selectors.complaint_scope(viewer=me)
        .filter(Q(received_by=me) | Q(responsible_staff=me))
        .select_related("member", "responsible_staff")
        .order_by("-received_at")[:200]
    )
    rows.sort(key=lambda c: c.status not in OPEN_STATES)  # stable: open first, newest first within
    return render(request, "complaints/mine.html", {"complaints": rows})


@role_required(*STORE_LEADS)
def board(request):
    # HQ may narrow the board to one store; a store id that is not a number is a 400 (vipcrm.params).
    store_id = params.pk(request.GET, "store") if request.user.is_hq else None
    rows = selectors.complaint_board(viewer=request.user, store_id=store_id)
    return render(request, "complaints/board.html", {"rows": rows})


def _detail_context(request, complaint, form=None):
    rules = ProgramRules.load()
    return {
        "complaint": complaint,
        "events": selectors.complaint_timeline(complaint=complaint),
        "actions": [(to, Status(to).label) for to in allowed_transitions(complaint, request.user)],
        "form": form or TransitionForm(complaint=complaint),
        "needs_approval": needs_approval(complaint),
        "clock": selectors.sla_clock(complaint, now=timezone.now(), rules=rules),
        "field_map": TransitionForm.FIELDS_FOR,
    }


@role_required(*ALL_STAFF)
def detail(request, pk: int):
    complaint = selectors.complaint_get(viewer=request.user, pk=pk)
    return render(request, "complaints/detail.html", _detail_context(request, complaint))


@require_POST
@role_required(*ALL_STAFF)
def transition(request, pk: int):
    complaint = selectors.complaint_get(viewer=request.user, pk=pk)
    form = TransitionForm(request.POST, complaint=complaint)
    if form.is_valid():
        to = form.cleaned_data["to"]
        try:
            complaint_transition(
                complaint=complaint, to=to, by=request.user, note=form.cleaned_data["note"], **form.service_fields()
            )
        except ValidationError as e:
            errors = e.message_dict if hasattr(e, "error_dict") else {"__all__": e.messages}
            for field, messages_ in errors.items():
                form.add_error(field if field in form.fields else None, messages_)
        else:
            messages.success(
                request, _("投诉 #%(pk)s：%(status)s。") % {"pk": complaint.pk, "status": Status(to).label}
            )
            return redirect("complaints:detail", pk=complaint.pk)
    complaint.refresh_from_db()
    return render(request, "complaints/detail.html", _detail_context(request, complaint, form))


@role_required(*STORE_LEADS)
def stats(request):
    form = PeriodForm(request.GET or None, viewer=request.user)
    start, end = form.period()
    by = (form.cleaned_data.get("by") if form.is_valid() else "") or "category"
    store = form.cleaned_data.get("store") if form.is_valid() and request.user.is_hq else None
    total, groups = selectors.complaint_stats(
        viewer=request.user, start=start, end=end, by=by, store_id=store.pk if store else None
    )
    return render(
        request,
        "complaints/stats.html",
        {"form": form, "start": start, "end": end, "total": total, "groups": groups, "by": by},
    )

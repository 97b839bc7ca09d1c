"""Report pages. For now the record of the scheduled duties (DOMAIN §10): managers and HQ see
each run, so a missed or failed morning list is noticed by someone who can act on it."""

from __future__ import annotations

from django import forms
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from accounts.models import Staff, Store
from vipcrm.permissions import MANAGERS, role_required

from .models import DutyRun, DutyRunStatus

RUNS_PER_PAGE = 50
# What staff call each duty (DOMAIN §10); a duty not named here shows its code.
DUTY_LABELS = {"daily": _("每日回访任务与晨报"), "complaint_sla": _("投诉时限检查（每小时）")}


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

"""Pages of reports sent up with commentary (issue 12 item 5): the mid-month report, a snapshot's
address (what emails link to), the commentary panel the report page loads, its writes, and the
report as XLSX and as a printable page.

Who: the store's leads and HQ read (consultants 403, as on the report pages); another store's
snapshot is a 404 (`dashboards.snapshot_get`). The VIP specialist and manager write and submit,
the manager or HQ acknowledges, the leads and HQ comment (reports/commentary.py decides)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Role
from vipcrm.permissions import MANAGERS, STORE_LEADS, role_required

from . import commentary as service
from . import dashboards, views
from .exports import snapshot_xlsx
from .forms import AcknowledgeForm, CommentaryForm, CommentForm
from .models import ReportSnapshot, SnapshotKind

WRITERS = (Role.VIP_SPECIALIST, Role.MANAGER)
SUBMISSIONS_PER_PAGE = 50


def report_url(snapshot: ReportSnapshot) -> str:
    """The report page showing this snapshot, at its commentary."""
    if snapshot.kind == SnapshotKind.WEEKLY:
        name, query = "reports:weekly", {"week": snapshot.period_start.isoformat()}
    else:
        name = "reports:monthly" if snapshot.kind == SnapshotKind.MONTHLY else "reports:mid_month"
        query = {"month": snapshot.period_start.strftime("%Y-%m")}
    return f"{reverse(name)}?{urlencode({**query, 'store': snapshot.store_id})}#commentary"


@require_GET
@role_required(*STORE_LEADS)
def mid_month(request: HttpRequest) -> HttpResponse:
    """月中报: the 1st–15th of ?month=YYYY-MM (this month by default), ?store= for HQ; the
    report page's layout, from the mid-month snapshot when taken."""
    return views.report_page(request, SnapshotKind.MID_MONTH)


@require_GET
@role_required(*STORE_LEADS)
def submissions(request: HttpRequest) -> HttpResponse:
    """上报记录: the reports sent up (the store's; HQ every store's), ?waiting=1 for those not yet
    acknowledged."""
    waiting = request.GET.get("waiting") == "1"
    rows = service.submissions(viewer=request.user, waiting=waiting)
    page = Paginator(rows, SUBMISSIONS_PER_PAGE).get_page(request.GET.get("page"))
    for row in page:
        row.title = service.report_title(row.snapshot)
    return render(request, "reports/submissions.html", {"page": page, "waiting": waiting})


@require_GET
@role_required(*STORE_LEADS)
def snapshot_open(request: HttpRequest, pk: int) -> HttpResponse:
    """A report by its snapshot (the address emails and notices link to)."""
    return redirect(report_url(dashboards.snapshot_get(viewer=request.user, pk=pk)))


def _panel(request: HttpRequest, snapshot: ReportSnapshot, *, forms: dict | None = None, status: int = 200):
    """The commentary panel: alone for htmx (the report page loads it), else as a page of its own
    (without JavaScript, and after a refused write, with what was typed)."""
    thread = service.thread_for(viewer=request.user, snapshot=snapshot)
    c = thread.commentary
    initial = {name: getattr(c, name) for name in service.TEXT_FIELDS} if c else {}
    context = {
        "thread": thread,
        "title": service.report_title(snapshot),
        "report_url": report_url(snapshot),
        "achievement": service.achievement_for(snapshot),
        "form": CommentaryForm(initial=initial),
        "comment_form": CommentForm(),
        "ack_form": AcknowledgeForm(),
        **(forms or {}),
    }
    template = "reports/_commentary_panel.html" if request.htmx else "reports/commentary.html"
    return render(request, template, context, status=status)


@require_GET
@role_required(*STORE_LEADS)
def commentary(request: HttpRequest, pk: int) -> HttpResponse:
    return _panel(request, dashboards.snapshot_get(viewer=request.user, pk=pk))


def _done_or_refused(request, snapshot, *, form_name: str, form, write, message: str) -> HttpResponse:
    """Run a write from a valid form; back to the report, or the panel again with the reasons."""
    if form.is_valid():
        try:
            write(form.cleaned_data)
        except ValidationError as e:
            for field, errors in (e.message_dict if hasattr(e, "error_dict") else {None: e.messages}).items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, message)
            return redirect(report_url(snapshot))
    return _panel(request, snapshot, forms={form_name: form}, status=400)


@require_POST
@role_required(*WRITERS)
def commentary_save(request: HttpRequest, pk: int) -> HttpResponse:
    """Save the commentary, or with `submit` save and submit it to the manager and HQ."""
    snapshot = dashboards.snapshot_get(viewer=request.user, pk=pk)
    submit = "submit" in request.POST
    write = service.commentary_submit if submit else service.commentary_save
    return _done_or_refused(
        request,
        snapshot,
        form_name="form",
        form=CommentaryForm(request.POST),
        write=lambda data: write(snapshot=snapshot, by=request.user, **data),
        message=_("已提交给店长和总部。") if submit else _("点评已保存（尚未提交）。"),
    )


@require_POST
@role_required(*MANAGERS)
def commentary_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    snapshot = dashboards.snapshot_get(viewer=request.user, pk=pk)
    return _done_or_refused(
        request,
        snapshot,
        form_name="ack_form",
        form=AcknowledgeForm(request.POST),
        write=lambda data: service.commentary_acknowledge(snapshot=snapshot, by=request.user, comment=data["comment"]),
        message=_("已确认。"),
    )


@require_POST
@role_required(*STORE_LEADS)
def comment_add(request: HttpRequest, pk: int) -> HttpResponse:
    snapshot = dashboards.snapshot_get(viewer=request.user, pk=pk)
    return _done_or_refused(
        request,
        snapshot,
        form_name="comment_form",
        form=CommentForm(request.POST),
        write=lambda data: service.report_comment_add(snapshot=snapshot, by=request.user, text=data["text"]),
        message=_("留言已发布。"),
    )


@require_GET
@role_required(*STORE_LEADS)
def snapshot_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The report as an XLSX workbook (audited)."""
    snapshot = dashboards.snapshot_get(viewer=request.user, pk=pk)
    content = snapshot_xlsx(snapshot=snapshot, viewer=request.user)
    response = HttpResponse(content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    name = f"report-{snapshot.store.code}-{snapshot.kind}-{snapshot.period_start:%Y%m%d}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@role_required(*STORE_LEADS)
def snapshot_print(request: HttpRequest, pk: int) -> HttpResponse:
    """The report on one printable page (the browser's print to PDF makes the PDF)."""
    snapshot = dashboards.snapshot_get(viewer=request.user, pk=pk)
    context = {
        "snapshot": snapshot,
        "title": service.report_title(snapshot),
        "lines": service.key_figures(service.report_of(snapshot)),
        "achievement": service.achievement_for(snapshot),
        "thread": service.thread_for(viewer=request.user, snapshot=snapshot),
        "report_url": report_url(snapshot),
    }
    return render(request, "reports/report_print.html", context)

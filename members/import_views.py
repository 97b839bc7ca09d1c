"""The import pages: upload → (a worker previews) → preview with every bad row → confirm →
(a worker commits) → done.

The upload request only stores the file and queues an `ImportJob` (members/import_jobs.py), so it
returns at once whatever the file holds; the job page shows a progress bar that polls a small
status partial until the worker is done. A job and its preview are visible to the person who
uploaded it only; the confirm sends nothing but the job's id, and the worker re-reads the
uploader's rights and store, so nothing in the browser can change what is committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import Staff, Store
from vipcrm.permissions import STORE_LEADS, role_required

from .import_jobs import import_job_confirm, import_job_create, import_job_get, import_job_progress
from .imports import MEMBERS, PURCHASES, max_bytes
from .models import ImportJob

RECENT_JOBS = 10


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("导入内容"),
        choices=[(MEMBERS, gettext_lazy("会员")), (PURCHASES, gettext_lazy("消费记录"))],
        initial=MEMBERS,
    )
    store = forms.ModelChoiceField(
        label=gettext_lazy("门店"),
        queryset=Store.objects.none(),
        required=False,
        empty_label=gettext_lazy("按文件中的“门店”列"),
        help_text=gettext_lazy("选定门店后，文件可以没有“门店”列；有则必须一致。"),
    )
    file = forms.FileField(
        label=gettext_lazy("文件"),
        help_text=gettext_lazy("CSV（UTF-8 或 GBK 编码）或 Excel .xlsx；第一行为表头。"),
    )

    def __init__(self, *args: Any, user: Staff, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.user = user
        if user.is_hq:
            self.fields["store"].queryset = Store.objects.filter(is_active=True)
        else:
            # A store user imports into their own store only: the field is shown, fixed.
            self.fields["store"].queryset = Store.objects.filter(pk=user.store_id)
            self.fields["store"].initial = user.store_id
            self.fields["store"].disabled = True
            self.fields["store"].required = True
            self.fields["store"].empty_label = None
            self.fields["store"].help_text = ""

    def clean_file(self):
        f = self.cleaned_data["file"]
        if f.size > max_bytes():
            raise forms.ValidationError(_("文件不能超过 %(mb)s MB。") % {"mb": max_bytes() // (1024 * 1024)})
        return f


def _upload_page(request: HttpRequest, form: ImportUploadForm, *, status: int = 200, **extra: Any) -> HttpResponse:
    jobs = ImportJob.objects.filter(created_by=request.user).select_related("store")[:RECENT_JOBS]
    return render(request, "members/import_upload.html", {"form": form, "jobs": jobs, **extra}, status=status)


@role_required(*STORE_LEADS)
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        # Refuse an oversized body before it is read (the form would refuse it after).
        if int(request.META.get("CONTENT_LENGTH") or 0) > max_bytes() + 1024 * 1024:
            form = ImportUploadForm(user=request.user)
            message = _("文件不能超过 %(mb)s MB。") % {"mb": max_bytes() // (1024 * 1024)}
            return _upload_page(request, form, status=413, too_large=message)
        form = ImportUploadForm(request.POST, request.FILES, user=request.user)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            chosen = form.cleaned_data["store"]
            # A store user's store is their own, whatever the form sent.
            store = chosen if request.user.is_hq else request.user.store
            job = import_job_create(
                by=request.user,
                kind=form.cleaned_data["kind"],
                store=store,
                upload=upload,
                filename=Path(upload.name or "").name,
                language=get_language() or "",
            )
            return redirect("members:import_job", pk=job.pk)
        return _upload_page(request, form, status=400)
    return _upload_page(request, ImportUploadForm(user=request.user))


@role_required(*STORE_LEADS)
@require_GET
def import_job_view(request: HttpRequest, pk: int) -> HttpResponse:
    job = import_job_get(viewer=request.user, pk=pk)
    return render(request, "members/import_preview.html", _job_context(job))


@role_required(*STORE_LEADS)
@require_GET
def import_job_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar, polled every second by the job page; once the job is no longer working
    it tells htmx to reload the page, which then shows the preview or the outcome."""
    job = import_job_get(viewer=request.user, pk=pk)
    response = render(request, "members/import_progress.html", _job_context(job))
    if not job.is_working:
        response["HX-Refresh"] = "true"
    return response


@role_required(*STORE_LEADS)
@require_POST
def import_job_commit(request: HttpRequest, pk: int) -> HttpResponse:
    job = import_job_get(viewer=request.user, pk=pk)
    if not import_job_confirm(job=job):
        return _upload_page(request, ImportUploadForm(user=request.user), status=400, expired=True)
    return redirect("members:import_job", pk=job.pk)


def _job_context(job: ImportJob) -> dict[str, Any]:
    done, total = import_job_progress(job)
    percent = min(100, done * 100 // total) if total else None
    return {"job": job, "result": job.result or {}, "done": done, "total": total, "percent": percent}

"""Export jobs: a member export too large to stream inside a request (issue 14).

Up to `exports.STREAM_LIMIT` rows the export streams from the request. Above that, the request
creates an `ExportJob` with the list's filters and returns; a worker re-reads the requester's
rights and scope, writes the CSV to Django's default storage (under var/media/exports/) chunk by
chunk, reporting progress, and audits what the file holds. The job's page polls a small status
partial (the import job's pattern, members/import_jobs.py) and then offers the download: to the
requester only, audited, until the file expires.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import File
from django.db import transaction
from django.http import Http404, QueryDict
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Staff
from accounts.services import audit_log

from .exports import csv_chunks, export_audit, export_members
from .filters import page_members
from .models import ExportJob, ExportJobStatus

logger = logging.getLogger(__name__)

SOFT_TIME_LIMIT = 10 * 60
TIME_LIMIT = SOFT_TIME_LIMIT + 60
# How long a finished file can be downloaded; older files are removed (checked at each new job).
KEEP_FOR = timedelta(days=1)
PROGRESS_TIMEOUT = 2 * 60 * 60
RECENT_JOBS = 5


# --- Reads --------------------------------------------------------------------------------


def export_job_get(*, viewer: Staff, pk: int) -> ExportJob:
    """The job, or 404: a job and its file belong to the person who asked for it."""
    try:
        job = ExportJob.objects.get(pk=pk, created_by=viewer)
    except (ExportJob.DoesNotExist, ValueError, TypeError):
        raise Http404 from None
    _fail_if_abandoned(job)
    return job


def export_jobs_recent(*, viewer: Staff) -> list[ExportJob]:
    return list(ExportJob.objects.filter(created_by=viewer)[:RECENT_JOBS])


def export_job_progress(job: ExportJob) -> tuple[int, int | None]:
    """Rows written and the total, as last reported."""
    return cache.get(_progress_key(job)) or (job.rows_done, job.rows_total)


def export_job_downloadable(job: ExportJob) -> bool:
    return job.status == ExportJobStatus.DONE and bool(job.file) and not _expired(job)


def _expired(job: ExportJob) -> bool:
    return job.expires_at is not None and job.expires_at <= timezone.now()


def _fail_if_abandoned(job: ExportJob) -> None:
    """A worker killed mid-job leaves it "running": say it failed once no worker can be on it."""
    if not job.is_working:
        return
    since = job.started_at or job.created_at
    grace = timedelta(seconds=TIME_LIMIT + 60) if job.started_at else timedelta(days=1)
    if since < timezone.now() - grace:
        _finish(job, ExportJobStatus.FAILED, error=_("导出任务中断（后台处理超时或被终止）。请重新导出。"))


# --- Writes -------------------------------------------------------------------------------


def export_job_create(*, by: Staff, filters: QueryDict | dict, total: int, language: str = "") -> ExportJob:
    """Queue a large export of the list as filtered by `filters` (the list form's data). Returns at once."""
    prune_expired()
    data = filters.dict() if isinstance(filters, QueryDict) else dict(filters)
    data.pop("csrfmiddlewaretoken", None)
    job = ExportJob.objects.create(
        created_by=by,
        store=by.store,
        filters=data,
        rows_total=total,
        language=language or settings.LANGUAGE_CODE,
    )
    transaction.on_commit(lambda: _send(job.pk))
    return job


def _send(job_id: int) -> None:
    from .tasks import export_job_run  # tasks import this module

    try:
        export_job_run.delay(job_id)
    except Exception:  # the broker is down: say so on the page rather than "queued" for ever
        logger.exception("could not queue export job %s", job_id)
        job = ExportJob.objects.filter(pk=job_id).first()
        if job is not None:
            _finish(job, ExportJobStatus.FAILED, error=_("后台任务服务暂时不可用。请稍后重新导出。"))


def export_job_run(job_id: int) -> str:
    """The worker's side: write the file of a queued job. Safe to call twice: only the call that
    claims the job writes anything."""
    job = ExportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None:
        return "missing"
    now = timezone.now()
    claimed = ExportJob.objects.filter(pk=job.pk, status=ExportJobStatus.QUEUED).update(
        status=ExportJobStatus.RUNNING, started_at=now
    )
    if not claimed:
        return job.status
    job.status, job.started_at = ExportJobStatus.RUNNING, now
    with translation.override(job.language or settings.LANGUAGE_CODE):
        try:
            _run(job)
        except Exception as e:
            if isinstance(e, SoftTimeLimitExceeded):
                message = _("导出超过 %(n)s 分钟未完成，已停止。请缩小筛选范围后重新导出。")
                message %= {"n": SOFT_TIME_LIMIT // 60}
            else:
                logger.exception("export job %s failed", job.pk)
                message = _("导出出错。请重新导出；如果再次出错，请联系管理员。")
            _finish(job, ExportJobStatus.FAILED, error=message)
    return job.status


def _run(job: ExportJob) -> None:
    user = job.created_by
    if not user.is_active:
        _finish(job, ExportJobStatus.FAILED, error=_("导出人的账号已停用。"))
        return
    # What the requester may see now, not when they asked.
    members, _sort, chosen = page_members(viewer=user, data=_as_query(job.filters), via="export")
    members = export_members(viewer=user, members=members)
    ids = list(members.values_list("pk", flat=True))
    _report(job, 0, len(ids))

    def progress(done: int) -> None:
        _report(job, done, len(ids))

    with tempfile.TemporaryFile() as out:  # written a chunk at a time: the worker's memory stays flat
        for chunk in csv_chunks(viewer=user, members=members, progress=progress):
            out.write(chunk.encode("utf-8"))
        out.seek(0)
        job.file.save("export.csv", File(out), save=False)
    export_audit(viewer=user, member_ids=ids, filters=chosen, via="export_job", job=job.pk)
    job.expires_at = timezone.now() + KEEP_FOR
    _finish(job, ExportJobStatus.DONE, fields=["file", "expires_at"])


def _as_query(filters: dict) -> QueryDict:
    query = QueryDict(mutable=True)
    for name, value in filters.items():
        query[name] = value
    return query


def export_job_download(*, job: ExportJob, viewer: Staff):
    """The file to send, opened; audited (who took the file, of which job)."""
    audit_log(actor=viewer, action="member.export_downloaded", store=viewer.store, job=job.pk, count=job.rows_total)
    return job.file.open("rb")


def _report(job: ExportJob, done: int, total: int | None) -> None:
    job.rows_done, job.rows_total = done, total
    cache.set(_progress_key(job), (done, total), PROGRESS_TIMEOUT)
    ExportJob.objects.filter(pk=job.pk).update(rows_done=done, rows_total=total)


def _progress_key(job: ExportJob) -> str:
    return f"members:export-job:{job.pk}:{job.created_at.timestamp() if job.created_at else 0}"


def _finish(job: ExportJob, status: str, *, error: str = "", fields: list[str] = ()) -> None:
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at", "rows_done", "rows_total", *fields])
    cache.delete(_progress_key(job))


def prune_expired() -> None:
    """Files past their expiry are removed: hourly (`members.files_prune`) and whenever a new job
    is created. Returns how many."""
    removed = 0
    for job in ExportJob.objects.filter(expires_at__lt=timezone.now()).exclude(file="")[:500]:
        job.file.delete(save=False)
        removed += ExportJob.objects.filter(pk=job.pk).update(file="")
    return removed

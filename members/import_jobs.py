"""Import jobs: the upload is stored, a worker previews it, the uploader confirms, a worker commits it.

A file of 200,000 rows takes tens of seconds to check, and a hostile one (an XLSX "bomb") would
take a web worker down with it, so no import runs inside a web request: the request stores the
file in Django's default storage (where every web process and worker can read it), creates an
`ImportJob` and returns. The worker reads the file, runs `import_preview` (or, once confirmed,
`import_commit`, which checks everything again) and keeps the outcome on the job as JSON; the
page polls a small status partial for the progress bar. The rules themselves stay in
members/imports.py; this module only moves them out of the request.

Limits: the upload size and row caps and the XLSX check of members/imports.py bound what a job
can cost before it starts; the task has Celery soft and hard time limits; a job whose worker died
is reported as failed once the hard limit has passed, rather than "running" for ever.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.core.files.base import File
from django.db import IntegrityError, connection, transaction
from django.http import Http404
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Staff, Store

from .imports import ACTION_LABELS, COLUMN_LABELS, MEMBERS, ImportPreview, import_commit, import_preview, max_bytes
from .models import Gender, ImportJob, ImportJobStatus
from .validators import mask_phone

logger = logging.getLogger(__name__)

# Celery limits of the import task: the soft one ends the job with a clear message, the hard one
# kills a worker that ignored it. A legitimate 200,000-row file is checked in well under a minute.
SOFT_TIME_LIMIT = 10 * 60
TIME_LIMIT = SOFT_TIME_LIMIT + 60
# Errors kept for the page; the count of the rest is shown.
MAX_ERRORS_SHOWN = 5000
MAX_UPDATES_SHOWN = 200
PROGRESS_TIMEOUT = 2 * 60 * 60
STALE_FILE_AGE = 24 * 60 * 60


# --- Reads --------------------------------------------------------------------------------


def import_job_get(*, viewer: Staff, pk: int) -> ImportJob:
    """The job, or 404: a job and its preview belong to the person who uploaded it."""
    try:
        job = ImportJob.objects.select_related("store").get(pk=pk, created_by=viewer)
    except (ImportJob.DoesNotExist, ValueError):
        raise Http404 from None
    _fail_if_abandoned(job)
    return job


def import_job_progress(job: ImportJob) -> tuple[int, int | None]:
    """Rows done and the total (None while the file is still being read), as last reported."""
    return cache.get(_progress_key(job)) or (job.rows_done, job.rows_total)


def _fail_if_abandoned(job: ImportJob) -> None:
    """A worker killed mid-job (out of memory, the hard time limit) leaves the job "running": say
    it failed once no worker can still be on it."""
    if not job.is_working:
        return
    since = job.started_at or job.created_at
    # Queued jobs wait for a free worker; give them a day before calling them lost.
    grace = timedelta(seconds=TIME_LIMIT + 60) if job.started_at else timedelta(days=1)
    if since < timezone.now() - grace:
        message = _("导入任务中断（后台处理超时或被终止），未写入任何数据。请重新上传。")
        _finish(job, ImportJobStatus.FAILED, error=message)


# --- Writes -------------------------------------------------------------------------------


def import_job_create(
    *, by: Staff, kind: str, store: Store | None, upload: File, filename: str, language: str = ""
) -> ImportJob:
    """Store the upload and queue its preview. Returns at once."""
    job = ImportJob(
        kind=kind,
        created_by=by,
        store=store,
        filename=filename[:200],
        size=upload.size or 0,
        language=language or settings.LANGUAGE_CODE,
    )
    prune_stale_files()
    job.file.save("upload", upload, save=False)
    job.save()
    _enqueue(job.pk)
    return job


def import_job_confirm(*, job: ImportJob) -> bool:
    """Queue the commit of a previewed job; False if it cannot be committed (not previewed, had
    errors, or already confirmed: a second click or a replayed form commits nothing)."""
    if not job.result.get("confirmable"):
        return False
    claimed = ImportJob.objects.filter(pk=job.pk, status=ImportJobStatus.PREVIEWED).update(
        status=ImportJobStatus.COMMITTING, rows_done=0, started_at=None, finished_at=None
    )
    if not claimed:
        return False
    job.refresh_from_db()
    _enqueue(job.pk)
    return True


def _enqueue(job_id: int) -> None:
    transaction.on_commit(lambda: _send(job_id))


def _send(job_id: int) -> None:
    from .tasks import import_job_run  # tasks import this module

    try:
        import_job_run.delay(job_id)
    except Exception:  # the broker is down: say so on the page rather than "queued" for ever
        logger.exception("could not queue import job %s", job_id)
        job = ImportJob.objects.filter(pk=job_id).first()
        if job is not None:
            _finish(job, ImportJobStatus.FAILED, error=_("后台任务服务暂时不可用，未写入任何数据。请稍后重新上传。"))


def import_job_run(job_id: int) -> str:
    """The worker's side: preview a queued job, or commit a confirmed one. Safe to call twice:
    only the call that moves the job on does any work."""
    job = ImportJob.objects.select_related("created_by", "store").filter(pk=job_id).first()
    if job is None:
        return "missing"
    now = timezone.now()
    if job.status == ImportJobStatus.QUEUED:
        step = "preview"
        claimed = ImportJob.objects.filter(pk=job.pk, status=ImportJobStatus.QUEUED).update(
            status=ImportJobStatus.RUNNING, started_at=now
        )
    elif job.status == ImportJobStatus.COMMITTING and job.started_at is None:
        step = "commit"
        claimed = ImportJob.objects.filter(pk=job.pk, status=ImportJobStatus.COMMITTING, started_at=None).update(
            started_at=now
        )
    else:
        return job.status
    if not claimed:
        return "taken"
    job.started_at = now
    with translation.override(job.language or settings.LANGUAGE_CODE):
        try:
            _run(job, step)
        except Exception as e:
            if isinstance(e, SoftTimeLimitExceeded):
                minutes = SOFT_TIME_LIMIT // 60
                message = _("导入超过 %(n)s 分钟未完成，已停止，未写入任何数据。请拆分文件后重新上传。")
                message %= {"n": minutes}
            elif isinstance(e, MemoryError):
                message = _("文件太大，处理时内存不足，已停止，未写入任何数据。请拆分文件后重新上传。")
            else:
                logger.exception("import job %s failed", job.pk)
                message = _("导入出错，未写入任何数据。请重新上传；如果再次出错，请联系管理员。")
            _finish(job, ImportJobStatus.FAILED, error=message)
    return job.status


def _run(job: ImportJob, step: str) -> None:
    user = job.created_by
    if user is None or not user.is_active or not user.is_store_lead:
        _finish(job, ImportJobStatus.FAILED, error=_("上传人的账号已停用或已无导入权限，未写入任何数据。"))
        return
    # What the user may do now, not when they uploaded: a store user imports into their own store.
    store = job.store if user.is_hq else user.store
    data = _read(job)
    if data is None:
        return

    def progress(done: int, total: int | None) -> None:
        _report(job, done, total)

    if step == "preview":
        preview = import_preview(
            kind=job.kind, data=data, filename=job.filename, store=store, viewer=user, progress=progress
        )
        _report(job, preview.total_rows, preview.total_rows, save=False)
        result = preview_result(preview)
        if preview.file_errors:
            _finish(job, ImportJobStatus.FAILED, error=" ".join(preview.file_errors), result=result)
        else:
            _finish(job, ImportJobStatus.PREVIEWED, result=result)
        if not result["confirmable"]:
            _discard_file(job)
        return

    try:
        result = import_commit(kind=job.kind, data=data, filename=job.filename, store=store, by=user, progress=progress)
    except IntegrityError:
        # Someone wrote the same card, phone or receipt between our check and our insert.
        _finish(
            job,
            ImportJobStatus.FAILED,
            error=_("导入时数据发生了变化（有人同时登记了相同的卡号、手机号或小票），未写入任何数据。请重新上传预览。"),
        )
        return
    _report(job, result.total_rows, result.total_rows, save=False)
    _discard_file(job)
    if result.committed:
        _finish(job, ImportJobStatus.DONE, result=preview_result(result))
    else:
        _finish(
            job,
            ImportJobStatus.FAILED,
            error=_("确认时重新检查发现了问题（数据在预览后发生了变化），未写入任何数据。"),
            result=preview_result(result, revalidated=True),
        )


def _read(job: ImportJob) -> bytes | None:
    """The stored upload, re-checked against the size limit (the storage is not the form)."""
    try:
        size = job.file.size
        if size > max_bytes():
            message = _("文件不能超过 %(mb)s MB。") % {"mb": max_bytes() // (1024 * 1024)}
            _finish(job, ImportJobStatus.FAILED, error=message)
            return None
        with job.file.open("rb") as f:
            return f.read(max_bytes() + 1)
    except (OSError, ValueError):
        _finish(job, ImportJobStatus.FAILED, error=_("上传的文件已不存在（可能已过期），请重新上传。"))
        return None


def _report(job: ImportJob, done: int, total: int | None, *, save: bool = True) -> None:
    job.rows_done, job.rows_total = done, total
    cache.set(_progress_key(job), (done, total), PROGRESS_TIMEOUT)
    # Inside the commit's transaction a write would only show once it is over: the cache carries
    # the progress there.
    if save and not connection.in_atomic_block:
        ImportJob.objects.filter(pk=job.pk).update(rows_done=done, rows_total=total)


def _progress_key(job: ImportJob) -> str:
    return f"members:import-job:{job.pk}:{job.created_at.timestamp() if job.created_at else 0}"


def _finish(job: ImportJob, status: str, *, error: str = "", result: dict[str, Any] | None = None) -> None:
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    fields = ["status", "error", "finished_at", "rows_done", "rows_total"]
    if result is not None:
        job.result = result
        fields.append("result")
    job.save(update_fields=fields)
    cache.delete(_progress_key(job))


def _discard_file(job: ImportJob) -> None:
    if job.file:
        job.file.delete(save=False)
        ImportJob.objects.filter(pk=job.pk).update(file="")


def prune_stale_files() -> int:
    """Uploads previewed but never confirmed are removed after a day: hourly (`members.files_prune`)
    and at each upload. Returns how many."""
    cutoff = timezone.now() - timedelta(seconds=STALE_FILE_AGE)
    removed = 0
    for job in ImportJob.objects.filter(created_at__lt=cutoff).exclude(file="")[:500]:
        if job.is_working:
            continue
        _discard_file(job)
        removed += 1
        if job.status == ImportJobStatus.PREVIEWED:
            _finish(job, ImportJobStatus.FAILED, error=_("这次预览已过期，未写入任何数据。请重新上传。"))
    return removed


# --- The preview as the page shows it --------------------------------------------------------


def preview_result(preview: ImportPreview, *, revalidated: bool = False) -> dict[str, Any]:
    """Everything the page shows about a preview or a commit, as JSON: counts, every bad row (up
    to MAX_ERRORS_SHOWN) with its reason, a few sample rows, the changes to existing members.
    Phones are masked; nothing here is more than the preview itself said."""
    errors = [[e.row, e.label, e.message] for e in preview.errors[:MAX_ERRORS_SHOWN]]
    updates = preview.updates()[:MAX_UPDATES_SHOWN]
    staff_ids = {v for r in updates for v in r.changes.get("consultant", ()) if v}
    staff_names = {s.pk: str(s) for s in Staff.objects.filter(pk__in=staff_ids)} if staff_ids else {}
    return {
        "kind": preview.kind,
        "kind_label": str(preview.kind_label),
        "store": f"{preview.store.code} {preview.store.name}" if preview.store else "",
        "valid": preview.is_valid,
        "confirmable": preview.is_valid and preview.has_changes and not preview.committed,
        "committed": preview.committed,
        "revalidated": revalidated,
        "total_rows": preview.total_rows,
        "counts": dict(preview.counts),
        "error_rows": preview.error_rows,
        "errors": errors,
        "errors_total": len(preview.errors),
        "errors_more": max(0, len(preview.errors) - len(errors)),
        "file_errors": list(preview.file_errors),
        "ignored_columns": [str(c) for c in preview.ignored_columns],
        "summary": preview.summary(),
        "sample_headers": _sample_headers(preview.kind),
        "samples": _samples(preview),
        "updates": [
            {
                "row": r.row,
                "card_no": r.card_no,
                "name": r.name,
                "changes": [
                    [str(COLUMN_LABELS[name]), _shown(old, name, staff_names), _shown(new, name, staff_names)]
                    for name, (old, new) in r.changes.items()
                ],
            }
            for r in updates
        ],
        "more_updates": max(0, preview.counts["updated"] - len(updates)),
        "tier_changes": preview.tier_changes,
        "members_replayed": preview.members_replayed,
    }


def _sample_headers(kind: str) -> list[str]:
    if kind == MEMBERS:
        return [_("卡号"), _("姓名"), _("手机"), _("门店"), _("入会日期"), _("等级")]
    return [_("小票号"), _("卡号"), _("门店"), _("日期"), _("金额"), _("导购")]


def _samples(preview: ImportPreview) -> list[dict[str, Any]]:
    samples = []
    for r in preview.samples():
        if preview.kind == MEMBERS:
            cells = [r.card_no, r.name, mask_phone(r.phone), r.store.code, r.joined_on.isoformat(), r.tier or "C"]
        else:
            cells = [r.receipt_no, r.card_no, r.store.code, r.date.isoformat(), str(r.amount), str(r.consultant or "")]
        samples.append({"row": r.row, "cells": cells, "action": str(ACTION_LABELS[r.action])})
    return samples


def _shown(value: Any, name: str, staff_names: dict[int, str]) -> str:
    """A value as the preview shows it: dates as 2024-05-01, yes/no, 女/男, staff by name."""
    if value is None or value == "":
        return "—"
    if name == "consultant":
        return staff_names.get(value, str(value))
    if name == "gender":
        return str(Gender(value).label)
    if isinstance(value, bool):
        return _("是") if value else _("否")
    if isinstance(value, tuple | list):  # tag names
        return _("、").join(value) or "—"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)

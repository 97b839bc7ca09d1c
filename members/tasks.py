"""Celery tasks of the members app: thin, they take ids and call the module that does the work."""

from __future__ import annotations

from celery import shared_task

from . import export_jobs, import_jobs


@shared_task(
    name="members.import_job_run",
    ignore_result=True,
    soft_time_limit=import_jobs.SOFT_TIME_LIMIT,
    time_limit=import_jobs.TIME_LIMIT,
    # Acknowledged when taken, unlike the duties: a file that kills its worker (out of memory)
    # must not be handed to the next worker, and the next. The job then reports the failure.
    acks_late=False,
)
def import_job_run(job_id: int) -> str:
    """Preview a queued import, or commit a confirmed one (members/import_jobs.py)."""
    return import_jobs.import_job_run(job_id)


@shared_task(
    name="members.export_job_run",
    ignore_result=True,
    soft_time_limit=export_jobs.SOFT_TIME_LIMIT,
    time_limit=export_jobs.TIME_LIMIT,
    acks_late=False,
)
def export_job_run(job_id: int) -> str:
    """Write the file of a queued large member export (members/export_jobs.py)."""
    return export_jobs.export_job_run(job_id)


@shared_task(name="members.files_prune", ignore_result=True)
def files_prune() -> dict[str, int]:
    """Personal data does not linger in files: expired export files and unconfirmed uploads go."""
    return {"exports": export_jobs.prune_expired(), "uploads": import_jobs.prune_stale_files()}

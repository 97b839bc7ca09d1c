"""Celery tasks of the members app: thin, they take ids and call the module that does the work."""

from __future__ import annotations

from celery import shared_task

from . import import_jobs


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

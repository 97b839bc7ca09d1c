"""Large member exports as jobs (issue 14): a job's page, its polled progress and its file belong
to the person who asked for it (store A's VIP specialist here); everyone else, HQ included, gets a
404, as for another store's object."""

from __future__ import annotations

from datetime import timedelta

from django.core.files.base import ContentFile
from django.utils import timezone

from members.models import ExportJob
from tests.permission_table import Page, expect


def the_specialists_export(o):
    """A finished export of store A's VIP specialist, with its file (made once: rows call this again)."""
    specialist = o.users["specialist"]
    job = ExportJob.objects.filter(created_by=specialist).first()
    if job is None:
        job = ExportJob.objects.create(
            created_by=specialist,
            store=specialist.store,
            status="done",
            rows_done=1,
            rows_total=1,
            expires_at=timezone.now() + timedelta(days=1),
        )
        job.file.save("export.csv", ContentFile("\ufeff卡号,姓名\r\n".encode()))
    return {"pk": job.pk}


PAGES = [
    Page("members:export_job", the_specialists_export, expect(404, specialist=200)),
    Page("members:export_job_status", the_specialists_export, expect(404, specialist=200)),
    Page("members:export_job_file", the_specialists_export, expect(404, specialist=200)),
    Page("members:export_job_file", the_specialists_export, expect(405), method="post", note="not a form"),
]

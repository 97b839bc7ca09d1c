"""Browser test of a large member export (issue 14): the export button leads to the job's page,
which shows a progress bar, polls, and offers the file by itself once the worker has written it."""

from __future__ import annotations

from pathlib import Path

import pytest

from members import tasks, views
from members.export_jobs import export_job_run
from members.models import ExportJob
from tests.factories import MemberFactory

from .test_flows import log_in

pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-dev.txt (the playwright package)")
from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_page_follows_the_worker_to_the_download(page, staff_a, member_a, monkeypatch):
    MemberFactory.create_batch(3, home_store=member_a.home_store)
    monkeypatch.setattr(views, "STREAM_LIMIT", 2)  # four members: more than a request streams
    queued: list[int] = []
    # No worker in this test: the job waits in the queue until the test plays the worker's part.
    monkeypatch.setattr(tasks.export_job_run, "delay", queued.append)
    log_in(page, staff_a.specialist, then="/members/")

    page.get_by_role("button", name="导出").click()

    expect(page.get_by_role("heading", name="会员导出")).to_be_visible()
    expect(page.locator("#export-progress")).to_contain_text("排队等待处理")
    expect(page.get_by_role("link", name="下载 CSV")).to_have_count(0)
    assert len(queued) == 1 and ExportJob.objects.get().status == "queued"

    export_job_run(queued.pop())  # the worker writes the file

    # The page notices within a second or two and offers the file.
    expect(page.get_by_role("link", name="下载 CSV")).to_be_visible()
    expect(page.locator("#export-progress")).to_have_count(0)
    with page.expect_download() as download:
        page.get_by_role("link", name="下载 CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.startswith("卡号,姓名,手机") and "张丽" in text and text.count("\n") == 1 + 4
    assert page.problems == []

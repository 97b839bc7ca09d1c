"""Browser test of an import whose work a worker does: the page shows a progress bar, polls, and
turns into the preview (and then the outcome) by itself when the worker is done."""

from __future__ import annotations

import pytest

from members import tasks
from members.import_jobs import import_job_run
from members.models import ImportJob, Member

from .test_flows import log_in

pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-dev.txt (the playwright package)")
from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

GOOD_CSV = "卡号,姓名,手机,入会日期\r\nV1,李娜,13800000001,2023-01-01\r\nV2,陈静,13800000002,2023-02-01\r\n"


def test_the_page_follows_the_worker_from_upload_to_done(page, staff_a, monkeypatch):
    queued: list[int] = []
    # No worker in this test: the job waits in the queue until the test plays the worker's part.
    monkeypatch.setattr(tasks.import_job_run, "delay", queued.append)
    log_in(page, staff_a.specialist, then="/members/import/")

    page.get_by_label("文件").set_input_files({"name": "m.csv", "mimeType": "text/csv", "buffer": GOOD_CSV.encode()})
    page.get_by_role("button", name="上传并预览").click()

    # The upload returned at once: a progress bar, and nothing checked or written yet.
    expect(page.get_by_role("heading", name="导入预览：会员")).to_be_visible()
    expect(page.locator("#import-progress")).to_contain_text("排队等待处理")
    expect(page.get_by_role("button", name="确认导入")).to_have_count(0)
    assert len(queued) == 1 and ImportJob.objects.get().status == "queued"

    import_job_run(queued.pop())  # the worker previews

    # The page notices within a second or two and shows the preview.
    expect(page.get_by_role("button", name="确认导入")).to_be_visible()
    expect(page.locator("#import-progress")).to_have_count(0)
    assert not Member.objects.exists()

    page.get_by_role("button", name="确认导入").click()
    expect(page.locator("#import-progress")).to_contain_text("正在导入")
    import_job_run(queued.pop())  # the worker commits

    expect(page.get_by_role("alert")).to_contain_text("导入完成")
    assert set(Member.objects.values_list("card_no", flat=True)) == {"V1", "V2"}
    assert page.problems == []

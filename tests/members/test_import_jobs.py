"""Import jobs (members/import_jobs.py): queued after the upload commits, run once however often
the task is delivered, limited in time, and never left "running" by a worker that died."""

from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from members import import_jobs, tasks
from members.import_jobs import import_job_confirm, import_job_create, import_job_get, import_job_run
from members.models import ImportJob, ImportJobStatus, Member
from vipcrm.celery import app as celery_app

GOOD = b"card_no,name,phone,joined_on\r\nV1,\xe6\x9d\x8e\xe5\xa8\x9c,13800000001,2023-01-01\r\n"


def new_job(user, data: bytes = GOOD, *, kind: str = "members", filename: str = "m.csv") -> ImportJob:
    upload = ContentFile(data, name=filename)
    return import_job_create(by=user, kind=kind, store=user.store, upload=upload, filename=filename)


def many_members(n: int) -> bytes:
    rows = [f"V{i:05d},会员{i},138{i:08d},2023-01-01" for i in range(n)]
    return ("card_no,name,phone,joined_on\r\n" + "\r\n".join(rows) + "\r\n").encode()


def test_it_queues_the_job_once_the_upload_is_committed(staff_a, monkeypatch, django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(tasks.import_job_run, "delay", sent.append)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = new_job(staff_a.specialist)
    assert sent == []  # nothing reaches the broker before the job row is there for the worker
    for callback in callbacks:
        callback()

    assert sent == [job.pk]


def test_it_runs_under_an_eager_celery_as_under_a_worker(staff_a, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    monkeypatch.setitem(celery_app.conf, "task_eager_propagates", True)

    with django_capture_on_commit_callbacks(execute=True):
        job = new_job(staff_a.specialist)
    job.refresh_from_db()
    assert job.status == ImportJobStatus.PREVIEWED and job.result["counts"]["new"] == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert import_job_confirm(job=job)
    job.refresh_from_db()
    assert job.status == ImportJobStatus.DONE and Member.objects.filter(card_no="V1").exists()


def test_the_task_is_time_limited_and_acknowledged_on_receipt():
    celery_app.loader.import_default_modules()
    task = celery_app.tasks["members.import_job_run"]

    assert 0 < task.soft_time_limit < task.time_limit <= celery_app.conf.task_time_limit
    # A file that kills its worker must not be handed to the next worker, and the next.
    assert task.acks_late is False


def test_it_runs_a_job_once_however_often_the_task_is_delivered(staff_a):
    job = new_job(staff_a.specialist)

    assert import_job_run(job.pk) == ImportJobStatus.PREVIEWED
    first = ImportJob.objects.get(pk=job.pk)
    assert import_job_run(job.pk) == ImportJobStatus.PREVIEWED
    assert ImportJob.objects.get(pk=job.pk).finished_at == first.finished_at
    assert import_job_run(999_999) == "missing"


def test_a_second_confirm_commits_nothing(staff_a):
    job = new_job(staff_a.specialist)
    import_job_run(job.pk)
    job.refresh_from_db()

    assert import_job_confirm(job=job) is True
    assert import_job_confirm(job=ImportJob.objects.get(pk=job.pk)) is False
    import_job_run(job.pk)
    import_job_run(job.pk)

    assert Member.objects.filter(card_no="V1").count() == 1
    assert ImportJob.objects.get(pk=job.pk).status == ImportJobStatus.DONE


def test_it_reports_progress_while_reading_and_checking(staff_a, monkeypatch):
    seen = []
    real = import_jobs._report
    monkeypatch.setattr(
        import_jobs,
        "_report",
        lambda job, done, total, **kw: (seen.append((done, total)), real(job, done, total, **kw)),
    )
    job = new_job(staff_a.specialist, many_members(5000))

    import_job_run(job.pk)

    assert (2000, None) in seen  # reading: the total is not known yet
    assert (2000, 5000) in seen and (4000, 5000) in seen  # checking
    job.refresh_from_db()
    assert (job.rows_done, job.rows_total) == (5000, 5000)
    assert import_jobs.import_job_progress(job) == (5000, 5000)


def test_the_status_partial_shows_the_progress_and_reloads_the_page_when_done(client, staff_a):
    job = new_job(staff_a.specialist)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJobStatus.RUNNING, started_at=timezone.now(), rows_done=50, rows_total=200
    )
    client.force_login(staff_a.specialist)
    url = reverse("members:import_job_status", kwargs={"pk": job.pk})

    running = client.get(url)
    assert 'value="50" max="200"' in running.content.decode() and "25%" in running.content.decode()
    assert "HX-Refresh" not in running

    ImportJob.objects.filter(pk=job.pk).update(status=ImportJobStatus.QUEUED, started_at=None)
    import_job_run(job.pk)
    assert client.get(url)["HX-Refresh"] == "true"


def test_a_job_whose_worker_died_is_reported_failed(staff_a):
    job = new_job(staff_a.specialist)
    long_ago = timezone.now() - timedelta(seconds=import_jobs.TIME_LIMIT + 120)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJobStatus.RUNNING, started_at=long_ago)

    job = import_job_get(viewer=staff_a.specialist, pk=job.pk)

    assert job.status == ImportJobStatus.FAILED and "中断" in job.error
    assert not Member.objects.exists()


def test_a_broker_that_is_down_fails_the_job_with_a_clear_message(
    staff_a, monkeypatch, django_capture_on_commit_callbacks
):
    def down(job_id):
        raise OSError("connection refused")

    monkeypatch.setattr(tasks.import_job_run, "delay", down)

    with django_capture_on_commit_callbacks(execute=True):
        job = new_job(staff_a.specialist)

    job.refresh_from_db()
    assert job.status == ImportJobStatus.FAILED and "后台任务服务暂时不可用" in job.error


def test_it_stops_at_the_soft_time_limit_with_a_clear_message(staff_a, monkeypatch):
    def too_slow(**kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(import_jobs, "import_preview", too_slow)
    job = new_job(staff_a.specialist)

    import_job_run(job.pk)

    job.refresh_from_db()
    assert job.status == ImportJobStatus.FAILED and "分钟未完成" in job.error


@pytest.mark.parametrize("change", ["deactivated", "demoted", "deleted"])
def test_it_checks_the_uploaders_rights_again_when_the_job_runs(staff_a, change):
    user = staff_a.specialist
    job = new_job(user)
    if change == "deactivated":
        user.is_active = False
        user.save(update_fields=["is_active"])
    elif change == "demoted":
        user.role = "consultant"
        user.save(update_fields=["role"])
    else:
        # A job without its uploader never runs as "no one", which the commands treat as HQ.
        ImportJob.objects.filter(pk=job.pk).update(created_by=None)

    import_job_run(job.pk)

    job.refresh_from_db()
    assert job.status == ImportJobStatus.FAILED and not Member.objects.exists()


def test_it_keeps_the_upload_only_while_it_can_still_be_confirmed(staff_a):
    bad = new_job(staff_a.specialist, b"card_no,name\r\nV1,x\r\n")
    good = new_job(staff_a.specialist)
    stored = good.file.name
    import_job_run(bad.pk)
    import_job_run(good.pk)
    bad.refresh_from_db()
    good.refresh_from_db()
    assert not bad.file and good.file.name == stored

    # A preview nobody confirms is removed a day later, at the next upload.
    ImportJob.objects.filter(pk=good.pk).update(created_at=timezone.now() - timedelta(days=2))
    new_job(staff_a.specialist)

    good.refresh_from_db()
    assert not good.file and good.status == ImportJobStatus.FAILED and "过期" in good.error
    assert not import_job_confirm(job=good)


def test_a_job_whose_file_is_gone_fails_with_a_clear_message(staff_a):
    job = new_job(staff_a.specialist)
    job.file.storage.delete(job.file.name)

    import_job_run(job.pk)

    job.refresh_from_db()
    assert job.status == ImportJobStatus.FAILED and "文件已不存在" in job.error


def test_an_upload_far_over_the_limit_is_refused_before_its_body_is_read(client, staff_a, settings):
    settings.IMPORT_MAX_BYTES = 1024
    client.force_login(staff_a.specialist)
    big = ContentFile(b"x" * (1024 * 1024 + 4096), name="big.csv")

    response = client.post(reverse("members:import"), {"kind": "members", "file": big})

    assert response.status_code == 413 and "文件不能超过" in response.content.decode()
    assert not ImportJob.objects.exists()

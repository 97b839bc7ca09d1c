"""The member export at chain size (issue 14): streamed from `values_list` rows a chunk at a time
(no model instances, the same queries for 10 members or 100), the same file and the same audit
entry as before; above the streaming limit a job written by a worker, whose page shows the
progress and then a download for the person who asked for it only, until it expires."""

import csv
import io
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from members import export_jobs, exports, views
from members.models import ExportJob, Member, MemberTag
from members.tasks import files_prune
from tests.factories import MemberFactory, StaffFactory

pytestmark = pytest.mark.django_db


def body(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode("utf-8")


def table(text: str) -> list[list[str]]:
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(exports, "CHUNK_ROWS", 3)


def test_it_streams_the_file_a_chunk_at_a_time_from_rows_not_members(client, staff_a, member_a, small_chunks):
    tag = MemberTag.objects.create(name="老客")
    member_a.tags.add(tag, MemberTag.objects.create(name="VIP"))
    MemberFactory.create_batch(7, home_store=member_a.home_store)
    client.force_login(staff_a.specialist)

    with mock.patch.object(Member, "from_db", side_effect=AssertionError("a model instance")):
        response = client.post(reverse("members:export"))
        chunks = [chunk.decode("utf-8") for chunk in response.streaming_content]

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert chunks[0].startswith("\ufeff卡号,姓名,手机")  # the header leaves first, before any row is read
    assert len(chunks) == 1 + 3  # 8 members, 3 a chunk
    rows = table("".join(chunks))
    assert len(rows) == 1 + 8
    assert [r[-1] for r in rows if r[1] == "张丽"] == ["VIP、老客"]  # tags by name, one cell


def test_it_writes_what_the_whole_file_writes(client, staff_a, member_a, small_chunks):
    MemberFactory.create_batch(5, home_store=member_a.home_store, notes="=1+1")
    client.force_login(staff_a.specialist)

    streamed = body(client.post(reverse("members:export")))
    whole = exports.members_csv(
        viewer=staff_a.specialist, members=Member.objects.filter(home_store=member_a.home_store)
    )

    assert streamed == whole
    assert "'=1+1" in streamed


def test_the_queries_do_not_grow_with_the_members(client, staff_a, member_a, small_chunks, monkeypatch):
    client.force_login(staff_a.specialist)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            body(client.post(reverse("members:export")))
        return len(captured)

    few = queries()
    monkeypatch.setattr(exports, "CHUNK_ROWS", 1000)
    MemberFactory.create_batch(60, home_store=member_a.home_store)
    assert queries() == few


def test_it_masks_phones_row_by_row_as_the_privacy_rule_says(client, store_a, staff_a, member_a):
    other = MemberFactory(home_store=store_a, phone="13911112222")
    client.force_login(staff_a.consultant)  # signed: their own members in full (only theirs leave)
    assert [r[2] for r in table(body(client.post(reverse("members:export"))))[1:]] == ["13812345678"]

    unsigned = StaffFactory(username="a_vip_unsigned", role="vip_specialist", store=store_a, signed=False)
    client.force_login(unsigned)
    phones = {r[1]: r[2] for r in table(body(client.post(reverse("members:export"))))[1:]}
    assert phones == {"张丽": "138****5678", other.name: "139****2222"}


# --- Above the limit: a job -------------------------------------------------------------------


@pytest.fixture
def limit_2(monkeypatch):
    monkeypatch.setattr(views, "STREAM_LIMIT", 2)


@pytest.fixture
def three_members(store_a, member_a):
    return [member_a, *MemberFactory.create_batch(2, home_store=store_a)]


def ask(client, user, data=None):
    client.force_login(user)
    return client.post(reverse("members:export"), data or {})


def test_a_large_export_becomes_a_job_the_worker_writes(
    client, staff_a, three_members, limit_2, django_capture_on_commit_callbacks
):
    queued = []
    not_sent = mock.patch("members.tasks.export_job_run.delay", queued.append)
    with not_sent, django_capture_on_commit_callbacks(execute=True):
        response = ask(client, staff_a.specialist, {"tier": ""})

    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("members:export_job", args=[job.pk])
    assert queued == [job.pk] and job.status == "queued" and job.rows_total == 3
    assert not AuditEntry.objects.filter(action="member.exported").exists()  # nothing has left yet
    page = client.get(response["Location"])
    assert "排队等待处理" in page.content.decode()

    assert export_jobs.export_job_run(job.pk) == "done"
    assert export_jobs.export_job_run(job.pk) == "done"  # a second delivery writes nothing again

    job.refresh_from_db()
    assert (job.rows_done, job.rows_total) == (3, 3) and job.expires_at > timezone.now()
    entry = AuditEntry.objects.get(action="member.exported")
    assert sorted(entry.data["members"]) == sorted(m.pk for m in three_members)
    assert entry.data["via"] == "export_job" and entry.actor == staff_a.specialist
    status = client.get(reverse("members:export_job_status", args=[job.pk]))
    assert status["HX-Refresh"] == "true"
    assert "下载 CSV" in client.get(reverse("members:export_job", args=[job.pk])).content.decode()

    download = client.get(reverse("members:export_job_file", args=[job.pk]))
    text = b"".join(download.streaming_content).decode("utf-8")
    assert download["Content-Disposition"].startswith("attachment")
    assert len(table(text)) == 1 + 3 and "13812345678" in text
    assert AuditEntry.objects.filter(action="member.export_downloaded", actor=staff_a.specialist).count() == 1


def test_the_job_file_is_the_requesters_only(client, staff_a, staff_b, hq, three_members, limit_2):
    ask(client, staff_a.specialist)
    job = ExportJob.objects.get()
    export_jobs.export_job_run(job.pk)

    for someone in (staff_a.manager, staff_a.consultant, staff_b.manager, hq):
        client.force_login(someone)
        for name in ("members:export_job", "members:export_job_status", "members:export_job_file"):
            assert client.get(reverse(name, args=[job.pk])).status_code == 404, (someone, name)


def test_the_file_expires(client, staff_a, three_members, limit_2):
    ask(client, staff_a.specialist)
    job = ExportJob.objects.get()
    export_jobs.export_job_run(job.pk)
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert client.get(reverse("members:export_job_file", args=[job.pk])).status_code == 404
    assert "已过期" in client.get(reverse("members:export_job", args=[job.pk])).content.decode()
    assert files_prune() == {"exports": 1, "uploads": 0}  # the hourly sweep removes the file
    assert not ExportJob.objects.get(pk=job.pk).file
    assert files_prune() == {"exports": 0, "uploads": 0}


def test_the_job_keeps_the_filters_and_the_consultants_own_members_only(client, store_a, staff_a, member_a, limit_2):
    MemberFactory.create_batch(3, home_store=store_a, consultant=staff_a.consultant, tier="A")
    MemberFactory.create_batch(2, home_store=store_a, tier="A")  # not theirs
    MemberFactory.create_batch(2, home_store=store_a, consultant=staff_a.consultant, tier="C")
    ask(client, staff_a.consultant, {"tier": "A", "scope": "store"})
    job = ExportJob.objects.get()
    export_jobs.export_job_run(job.pk)
    job.refresh_from_db()

    rows = table(job.file.open("rb").read().decode("utf-8"))[1:]
    assert len(rows) == 3 and {r[9] for r in rows} == {"A"}
    assert AuditEntry.objects.get(action="member.exported").data["filters"]["tier"] == "A"


def test_a_job_of_someone_deactivated_writes_nothing(client, staff_a, three_members, limit_2):
    ask(client, staff_a.specialist)
    job = ExportJob.objects.get()
    staff_a.specialist.is_active = False
    staff_a.specialist.save(update_fields=["is_active"])

    assert export_jobs.export_job_run(job.pk) == "failed"
    job.refresh_from_db()
    assert not job.file and "停用" in job.error
    assert not AuditEntry.objects.filter(action="member.exported").exists()


def test_a_job_whose_worker_died_says_so(client, staff_a, three_members, limit_2):
    ask(client, staff_a.specialist)
    started = timezone.now() - timedelta(seconds=export_jobs.TIME_LIMIT + 120)
    ExportJob.objects.update(status="running", started_at=started)

    page = client.get(reverse("members:export_job", args=[ExportJob.objects.get().pk]))

    assert "导出任务中断" in page.content.decode()

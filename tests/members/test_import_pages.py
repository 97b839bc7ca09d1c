"""The import pages: upload → a job previews it → confirm → a job commits it, for VIP specialists,
managers and HQ only. The worker's part is run here by calling the job function, as the worker
would (tests/members/test_import_jobs.py covers the queueing itself)."""

import io
from datetime import timedelta

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from members.import_jobs import import_job_run
from members.models import ImportJob, ImportJobStatus, Member, Purchase

from ..factories import MemberFactory

GOOD = "card_no,name,phone,joined_on\r\nV1,李娜,13800000001,2023-01-01\r\nV2,陈静,13800000002,2023-02-01\r\n"


def upload(client, content, *, name="members.csv", kind="members", **extra):
    data = content.encode() if isinstance(content, str) else content
    return client.post(reverse("members:import"), {"kind": kind, "file": SimpleUploadedFile(name, data), **extra})


def run_jobs() -> None:
    """What the worker does with every job waiting for it."""
    for pk in ImportJob.objects.filter(status__in=[ImportJobStatus.QUEUED, ImportJobStatus.COMMITTING]).values_list(
        "pk", flat=True
    ):
        import_job_run(pk)


def upload_and_preview(client, content, **kwargs):
    """Upload, let the worker preview, and open the job's page."""
    response = upload(client, content, **kwargs)
    assert response.status_code == 302, response.content.decode()[:500]
    run_jobs()
    return client.get(response["Location"])


def confirm(client, job_page):
    job = job_page.context["job"]
    response = client.post(reverse("members:import_job_commit", kwargs={"pk": job.pk}))
    run_jobs()
    return response


def test_it_sends_anonymous_visitors_to_login(client):
    response = client.get(reverse("members:import"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_it_refuses_consultants(client, staff_a):
    client.force_login(staff_a.consultant)

    assert client.get(reverse("members:import")).status_code == 403
    assert upload(client, GOOD).status_code == 403
    assert not ImportJob.objects.exists() and not Member.objects.exists()


@pytest.mark.parametrize("role", ["specialist", "manager"])
def test_it_shows_the_form_to_store_leads_with_their_store_fixed(client, staff_a, role):
    client.force_login(getattr(staff_a, role))

    response = client.get(reverse("members:import"))

    assert response.status_code == 200
    field = response.context["form"].fields["store"]
    assert field.disabled and list(field.queryset) == [staff_a.specialist.store]


def test_it_returns_at_once_with_a_progress_bar_and_leaves_the_work_to_a_job(client, staff_a):
    client.force_login(staff_a.specialist)

    response = upload(client, GOOD)

    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("members:import_job", kwargs={"pk": job.pk})
    assert (job.status, job.kind, job.store, job.created_by, job.filename) == (
        "queued",
        "members",
        staff_a.specialist.store,
        staff_a.specialist,
        "members.csv",
    )
    # The file waits in Django's storage, where any web process or worker can read it.
    assert job.file.read() == GOOD.encode()
    assert not Member.objects.exists()
    page = client.get(response["Location"])
    assert 'hx-get="{}"'.format(reverse("members:import_job_status", kwargs={"pk": job.pk})) in page.content.decode()
    assert 'hx-trigger="every 1s"' in page.content.decode()
    status = client.get(reverse("members:import_job_status", kwargs={"pk": job.pk}))
    assert status.status_code == 200 and "HX-Refresh" not in status and "<progress" in status.content.decode()


def test_it_previews_then_commits_on_confirm(client, staff_a):
    client.force_login(staff_a.specialist)

    preview = upload_and_preview(client, GOOD)

    assert preview.status_code == 200
    assert not Member.objects.exists()  # a preview writes nothing
    assert "确认导入" in preview.content.decode()
    job = preview.context["job"]
    assert job.status == "previewed" and job.result["counts"]["new"] == 2 and job.rows_total == 2
    # Once done, the status partial tells the page to reload and show the outcome.
    assert client.get(reverse("members:import_job_status", kwargs={"pk": job.pk}))["HX-Refresh"] == "true"

    done = confirm(client, preview)

    assert done.status_code == 302 and done["Location"] == reverse("members:import_job", kwargs={"pk": job.pk})
    assert set(Member.objects.values_list("card_no", "home_store__code")) == {("V1", "SHA"), ("V2", "SHA")}
    job.refresh_from_db()
    assert job.status == "done" and not job.file  # the upload is removed once committed
    assert AuditEntry.objects.get(action="member.imported").actor == staff_a.specialist
    page = client.get(done["Location"]).content.decode()
    assert "导入完成" in page and "新增 2" in page

    # The same confirm again finds nothing to commit, and writes nothing.
    again = client.post(reverse("members:import_job_commit", kwargs={"pk": job.pk}))
    run_jobs()
    assert again.status_code == 400 and Member.objects.count() == 2


def test_it_lists_every_bad_row_and_offers_no_confirm(client, staff_a):
    client.force_login(staff_a.manager)
    content = (
        "卡号,姓名,手机,入会日期\r\n"
        "V1,李娜,13800000001,2023-01-01\r\n"
        "V2,陈静,12345,2023-01-01\r\n"
        "V3,王芳,13800000003,2099-01-01\r\n"
    )

    response = upload_and_preview(client, content)

    page = response.content.decode()
    assert response.status_code == 200
    assert [(row, label) for row, label, _ in response.context["result"]["errors"]] == [(3, "手机"), (4, "入会日期")]
    assert "“12345”不是有效的手机号" in page and "入会日期不能晚于今天" in page
    assert "确认导入" not in page
    # Nothing to confirm: the upload is not kept, and a forged confirm commits nothing.
    job = response.context["job"]
    assert not job.file
    assert client.post(reverse("members:import_job_commit", kwargs={"pk": job.pk})).status_code == 400
    run_jobs()
    assert not Member.objects.exists()


def test_it_shows_a_file_level_error_for_missing_columns(client, staff_a):
    client.force_login(staff_a.specialist)

    response = upload_and_preview(client, "卡号,姓名\r\nV1,李娜\r\n")

    assert response.context["job"].status == "failed"
    assert "缺少必填列" in response.content.decode() and "确认导入" not in response.content.decode()


def test_it_keeps_a_store_user_to_their_own_store(client, store_a, staff_b):
    client.force_login(staff_b.specialist)

    # A store column naming another store is an error row…
    response = upload_and_preview(
        client, "card_no,name,phone,joined_on,store\r\nV1,李娜,13800000001,2023-01-01,SHA\r\n"
    )
    assert response.context["result"]["errors"][0][2] == "只能导入本店（BJB）的数据，这一行是门店 SHA。"

    # …and a forged store in the form is ignored: the field is fixed to their own store.
    response = upload_and_preview(client, GOOD, store=str(store_a.pk))
    confirm(client, response)
    assert set(Member.objects.values_list("home_store__code", flat=True)) == {"BJB"}


def test_it_lets_hq_pick_any_store(client, hq, store_b):
    client.force_login(hq)

    response = upload_and_preview(client, GOOD, store=str(store_b.pk))
    confirm(client, response)

    assert set(Member.objects.values_list("home_store__code", flat=True)) == {"BJB"}


def test_it_shows_a_job_to_its_uploader_only(client, staff_a, staff_b, hq):
    client.force_login(staff_a.specialist)
    job = upload_and_preview(client, GOOD).context["job"]

    for someone in (staff_a.manager, staff_b.manager, hq):
        client.force_login(someone)
        for name, method in (("import_job", "get"), ("import_job_status", "get"), ("import_job_commit", "post")):
            response = getattr(client, method)(reverse(f"members:{name}", kwargs={"pk": job.pk}))
            assert response.status_code == 404, (someone, name)
    run_jobs()
    assert not Member.objects.exists()


def test_it_checks_again_on_commit(client, staff_a, store_a):
    client.force_login(staff_a.specialist)
    preview = upload_and_preview(client, GOOD)
    # Between preview and confirm, someone opens a card with one of the file's phones.
    MemberFactory(card_no="V77", name="抢先", phone="13800000002", home_store=store_a)

    response = client.get(confirm(client, preview)["Location"])

    page = response.content.decode()
    assert response.context["job"].status == "failed"
    assert "确认时重新检查发现了问题" in page and "手机号 13800000002 已属于会员 抢先（卡号 V77）" in page
    assert "确认导入" not in page
    assert list(Member.objects.values_list("card_no", flat=True)) == ["V77"]


def test_it_imports_purchases_from_an_xlsx_upload(client, staff_a, store_a):
    member = MemberFactory(
        card_no="C1", phone="13600000001", home_store=store_a, joined_on=timezone.localdate() - timedelta(days=100)
    )
    workbook = openpyxl.Workbook()
    workbook.active.append(["小票号", "卡号", "日期", "金额", "导购"])
    workbook.active.append(["R1", "C1", timezone.localdate() - timedelta(days=3), 12000, staff_a.consultant.username])
    buffer = io.BytesIO()
    workbook.save(buffer)
    client.force_login(staff_a.specialist)

    response = upload_and_preview(client, buffer.getvalue(), name="pos-export.xlsx", kind="purchases")
    assert response.context["result"]["valid"], response.context["result"]["errors"]
    confirm(client, response)

    purchase = Purchase.objects.get()
    assert (purchase.member, purchase.store, purchase.consultant) == (member, store_a, staff_a.consultant)
    member.refresh_from_db()
    assert member.tier == "B"


def test_it_lists_each_change_to_an_existing_member_before_confirming(client, staff_a, store_a):
    MemberFactory(card_no="V1", name="李娜", phone="13800000001", home_store=store_a, joined_on="2023-01-01")
    client.force_login(staff_a.specialist)
    content = (
        "card_no,name,phone,joined_on,consultant,marketing_consent\r\n"
        f"V1,李娜,13800000001,2023-01-01,{staff_a.consultant.username},是\r\n"
    )

    response = upload_and_preview(client, content)

    page = response.content.decode()
    assert response.context["result"]["counts"]["updated"] == 1
    assert f"顾问：— → {staff_a.consultant}" in page and "营销同意：否 → 是" in page
    assert "确认导入" in page


def test_it_refuses_an_oversized_upload_before_storing_it(client, staff_a, settings):
    settings.IMPORT_MAX_BYTES = 1024
    client.force_login(staff_a.specialist)

    response = upload(client, GOOD + "V3,王芳,13800000003,2023-01-01\r\n" * 100)

    assert response.status_code == 400 and "文件不能超过" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_it_lists_the_uploaders_recent_jobs(client, staff_a, django_assert_max_num_queries):
    client.force_login(staff_a.specialist)
    for i in range(12):
        upload(client, GOOD, name=f"m{i}.csv")
    client.force_login(staff_a.manager)
    upload(client, GOOD, name="managers.csv")
    client.force_login(staff_a.specialist)

    with django_assert_max_num_queries(8):
        page = client.get(reverse("members:import"))

    names = [j.filename for j in page.context["jobs"]]
    assert names == [f"m{i}.csv" for i in range(11, 1, -1)]

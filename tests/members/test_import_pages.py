"""The import page: upload → preview → confirm, for VIP specialists, managers and HQ only."""
import io
from datetime import timedelta

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry
from members.import_views import SESSION_KEY
from members.models import Member, Purchase

from ..factories import MemberFactory

GOOD = "card_no,name,phone,joined_on\r\nV1,李娜,13800000001,2023-01-01\r\nV2,陈静,13800000002,2023-02-01\r\n"


@pytest.fixture(autouse=True)
def stash_dir(settings, tmp_path):
    """Uploads waiting for confirmation go to a throwaway VAR_DIR."""
    settings.VAR_DIR = tmp_path
    return tmp_path / "imports"


def upload(client, content, *, name="members.csv", kind="members", **extra):
    data = content.encode() if isinstance(content, str) else content
    return client.post(reverse("members:import"), {"kind": kind, "file": SimpleUploadedFile(name, data), **extra})


def test_it_sends_anonymous_visitors_to_login(client):
    response = client.get(reverse("members:import"))

    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_it_refuses_consultants(client, staff_a):
    client.force_login(staff_a.consultant)

    assert client.get(reverse("members:import")).status_code == 403
    assert upload(client, GOOD).status_code == 403
    assert client.post(reverse("members:import_commit"), {"token": "x" * 43}).status_code == 403
    assert not Member.objects.exists()


@pytest.mark.parametrize("role", ["specialist", "manager"])
def test_it_shows_the_form_to_store_leads_with_their_store_fixed(client, staff_a, role):
    client.force_login(getattr(staff_a, role))

    response = client.get(reverse("members:import"))

    assert response.status_code == 200
    field = response.context["form"].fields["store"]
    assert field.disabled and list(field.queryset) == [staff_a.specialist.store]


def test_it_previews_then_commits_on_confirm(client, staff_a, stash_dir):
    client.force_login(staff_a.specialist)

    preview = upload(client, GOOD)

    assert preview.status_code == 200
    assert not Member.objects.exists()  # a preview writes nothing
    assert "确认导入" in preview.content.decode()
    token = preview.context["token"]
    assert preview.context["preview"].counts["new"] == 2
    assert (stash_dir / f"{token}.upload").read_bytes() == GOOD.encode()

    done = client.post(reverse("members:import_commit"), {"token": token})

    assert done.status_code == 302 and done["Location"] == reverse("members:import")
    assert set(Member.objects.values_list("card_no", "home_store__code")) == {("V1", "SHA"), ("V2", "SHA")}
    assert not list(stash_dir.iterdir())
    assert AuditEntry.objects.get(action="member.imported").actor == staff_a.specialist
    page = client.get(reverse("members:import")).content.decode()
    assert "导入完成" in page and "新增 2" in page

    # The same confirm again finds nothing to commit, and writes nothing.
    again = client.post(reverse("members:import_commit"), {"token": token})
    assert again.status_code == 400 and Member.objects.count() == 2


def test_it_lists_every_bad_row_and_offers_no_confirm(client, staff_a, stash_dir):
    client.force_login(staff_a.manager)
    content = (
        "卡号,姓名,手机,入会日期\r\n"
        "V1,李娜,13800000001,2023-01-01\r\n"
        "V2,陈静,12345,2023-01-01\r\n"
        "V3,王芳,13800000003,2099-01-01\r\n"
    )

    response = upload(client, content)

    page = response.content.decode()
    assert response.status_code == 200
    assert [(e.row, e.column) for e in response.context["preview"].errors] == [(3, "phone"), (4, "joined_on")]
    assert "“12345”不是有效的手机号" in page and "入会日期不能晚于今天" in page
    assert "确认导入" not in page and response.context["token"] is None
    assert not stash_dir.exists() or not list(stash_dir.iterdir())
    assert not Member.objects.exists()


def test_it_shows_a_file_level_error_for_missing_columns(client, staff_a):
    client.force_login(staff_a.specialist)

    response = upload(client, "卡号,姓名\r\nV1,李娜\r\n")

    assert "缺少必填列" in response.content.decode() and "确认导入" not in response.content.decode()


def test_it_keeps_a_store_user_to_their_own_store(client, store_a, staff_b):
    client.force_login(staff_b.specialist)

    # A store column naming another store is an error row…
    response = upload(client, "card_no,name,phone,joined_on,store\r\nV1,李娜,13800000001,2023-01-01,SHA\r\n")
    assert response.context["preview"].errors[0].message == "只能导入本店（BJB）的数据，这一行是门店 SHA。"

    # …and a forged store in the form is ignored: the field is fixed to their own store.
    response = upload(client, GOOD, store=str(store_a.pk))
    client.post(reverse("members:import_commit"), {"token": response.context["token"]})
    assert set(Member.objects.values_list("home_store__code", flat=True)) == {"BJB"}


def test_it_lets_hq_pick_any_store(client, hq, store_b):
    client.force_login(hq)

    response = upload(client, GOOD, store=str(store_b.pk))
    client.post(reverse("members:import_commit"), {"token": response.context["token"]})

    assert set(Member.objects.values_list("home_store__code", flat=True)) == {"BJB"}


def test_it_does_not_commit_another_sessions_upload(client, staff_a):
    client.force_login(staff_a.specialist)
    token = upload(client, GOOD).context["token"]
    other = client.__class__()
    other.force_login(staff_a.manager)

    response = other.post(reverse("members:import_commit"), {"token": token})

    assert response.status_code == 400 and not Member.objects.exists()
    # Nor a made-up path.
    client.post(reverse("members:import_commit"), {"token": "../../etc/passwd"})
    assert not Member.objects.exists()


def test_it_checks_again_on_commit(client, staff_a, store_a):
    client.force_login(staff_a.specialist)
    token = upload(client, GOOD).context["token"]
    # Between preview and confirm, someone opens a card with one of the file's phones.
    MemberFactory(card_no="V77", name="抢先", phone="13800000002", home_store=store_a)

    response = client.post(reverse("members:import_commit"), {"token": token})

    assert response.status_code == 200
    page = response.content.decode()
    assert "确认时重新检查发现了问题" in page and "手机号 13800000002 已属于会员 抢先（卡号 V77）" in page
    assert "确认导入" not in page
    assert list(Member.objects.values_list("card_no", flat=True)) == ["V77"]
    assert SESSION_KEY not in client.session


def test_it_imports_purchases_from_an_xlsx_upload(client, staff_a, store_a):
    member = MemberFactory(card_no="C1", phone="13600000001", home_store=store_a,
                           joined_on=timezone.localdate() - timedelta(days=100))
    workbook = openpyxl.Workbook()
    workbook.active.append(["小票号", "卡号", "日期", "金额", "导购"])
    workbook.active.append(["R1", "C1", timezone.localdate() - timedelta(days=3), 12000, staff_a.consultant.username])
    buffer = io.BytesIO()
    workbook.save(buffer)
    client.force_login(staff_a.specialist)

    response = upload(client, buffer.getvalue(), name="pos-export.xlsx", kind="purchases")
    assert response.context["preview"].is_valid, response.context["preview"].error_lines()
    client.post(reverse("members:import_commit"), {"token": response.context["token"]})

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

    response = upload(client, content)

    page = response.content.decode()
    assert response.context["preview"].counts["updated"] == 1
    assert f"顾问：— → {staff_a.consultant}" in page and "营销同意：否 → 是" in page
    assert "确认导入" in page

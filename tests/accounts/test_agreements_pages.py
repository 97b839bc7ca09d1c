"""Confidentiality agreements in the app (issue 11 item 7; seed: the VIP specialist 负责与每位形象顾问
签署顾客保密协议): recorded with a scan, listed, who has not signed the current version."""

from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, ConfidentialityAgreement
from accounts.selectors import agreement_current_version, agreement_unsigned
from accounts.services import SCAN_MAX_BYTES, agreement_record
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64


def scan(content: bytes = PDF, name: str = "agreement.pdf", content_type: str = "application/pdf"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def record(client, staff, *, version="2.0", signed_on=None, file=None):
    data = {"version": version, "signed_on": (signed_on or timezone.localdate()).isoformat(), "scan": file or scan()}
    return client.post(reverse("agreement_record", args=[staff.pk]), data)


def test_it_lets_the_vip_specialist_record_an_agreement_with_its_scan(client, staff_a):
    consultant = staff_a.consultant
    client.force_login(staff_a.specialist)

    response = record(client, consultant)

    assert response.status_code == 302
    agreement = ConfidentialityAgreement.objects.get(staff=consultant, version="2.0")
    assert agreement.recorded_by == staff_a.specialist
    assert agreement.scan.name.startswith("agreements/") and agreement.scan.name.endswith(".scan")
    assert "agreement.pdf" not in agreement.scan.name  # a random stored name, not the upload's
    entry = AuditEntry.objects.get(action="agreement.recorded", object_id=str(agreement.pk))
    assert entry.actor == staff_a.specialist and entry.data["scan"] is True


@pytest.mark.parametrize(
    ("content", "name"),
    [(EXE, "agreement.pdf"), (b"<html><script>alert(1)</script>", "agreement.png"), (b"", "empty.pdf")],
)
def test_it_refuses_a_scan_that_is_not_a_pdf_jpeg_or_png_whatever_its_name(client, staff_a, content, name):
    client.force_login(staff_a.specialist)

    response = record(client, staff_a.consultant, file=scan(content, name))

    assert response.status_code == 200
    assert response.context["form"].errors["scan"]
    assert not ConfidentialityAgreement.objects.filter(version="2.0").exists()


def test_it_refuses_a_scan_over_5_mb(client, staff_a):
    client.force_login(staff_a.specialist)

    response = record(client, staff_a.consultant, file=scan(PDF + b"0" * SCAN_MAX_BYTES))

    assert "5 MB" in str(response.context["form"].errors["scan"])
    assert not ConfidentialityAgreement.objects.filter(version="2.0").exists()


def test_it_refuses_a_future_or_back_dated_agreement_with_a_clear_error(client, staff_a):
    client.force_login(staff_a.specialist)

    future = record(client, staff_a.consultant, signed_on=timezone.localdate() + timedelta(days=1))
    back_dated = record(client, staff_a.consultant, signed_on=date(2023, 12, 31))  # 1.0 was signed 2024-01-01

    assert future.context["form"].errors["signed_on"]
    assert back_dated.context["form"].errors["signed_on"]
    assert not ConfidentialityAgreement.objects.filter(version="2.0").exists()


def test_it_attaches_a_scan_to_an_agreement_on_file_without_one_but_never_replaces_it(client, staff_a):
    client.force_login(staff_a.specialist)

    attached = record(client, staff_a.consultant, version="1.0", signed_on=date(2024, 1, 1))
    again = record(client, staff_a.consultant, version="1.0", signed_on=date(2024, 1, 1), file=scan(PNG, "p.png"))

    agreement = ConfidentialityAgreement.objects.get(staff=staff_a.consultant, version="1.0")
    assert attached.status_code == 302
    assert agreement.scan.read().startswith(b"%PDF")
    assert again.context["form"].errors["version"]
    assert AuditEntry.objects.filter(action="agreement.scan.attached").count() == 1


def test_it_lets_nobody_record_their_own_agreement(client, staff_a):
    client.force_login(staff_a.specialist)

    assert record(client, staff_a.specialist).status_code == 403


def test_it_hides_another_stores_staff_and_keeps_consultants_out(client, staff_a, staff_b):
    client.force_login(staff_b.specialist)
    assert record(client, staff_a.consultant).status_code == 404
    client.force_login(staff_a.consultant)
    assert client.get(reverse("agreements")).status_code == 403
    assert not ConfidentialityAgreement.objects.filter(version="2.0").exists()


def test_it_serves_the_scan_as_an_attachment_to_the_stores_leads_only(client, staff_a, staff_b, hq):
    agreement = agreement_record(
        staff=staff_a.consultant, signed_on=timezone.localdate(), version="2.0", by=staff_a.specialist, scan=scan()
    )
    url = reverse("agreement_scan", args=[agreement.pk])

    client.force_login(staff_a.specialist)
    response = client.get(url)
    served = b"".join(response.streaming_content)
    for outsider, status in ((staff_b.manager, 404), (staff_a.consultant, 403), (hq, 200)):
        client.force_login(outsider)
        assert client.get(url).status_code == status

    assert served == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert 'filename="agreement-a_consultant-v2.0.pdf"' in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert AuditEntry.objects.filter(action="agreement.scan.downloaded").count() == 2
    assert agreement.scan.name not in client.get(reverse("agreements")).content.decode()  # no storage path shown


def test_it_lists_who_has_not_signed_the_current_version(client, staff_a, staff_b):
    never = StaffFactory(username="a_never", store=staff_a.manager.store, signed=False)
    StaffFactory(username="a_gone", store=staff_a.manager.store, signed=False, is_active=False)
    agreement_record(staff=staff_a.consultant, signed_on=timezone.localdate(), version="2.0", by=None)
    agreement_record(staff=staff_b.consultant, signed_on=timezone.localdate(), version="1.10", by=None)
    client.force_login(staff_a.specialist)

    response = client.get(reverse("agreements"))

    assert agreement_current_version() == "2.0"  # the highest on file, compared as numbers
    unsigned = [p.username for p in response.context["unsigned"]]
    # Store A's active staff without 2.0: a_never (none at all) first, then the 1.0 signers.
    assert unsigned == ["a_never", "a_manager", "a_specialist"]
    assert [p.can_record for p in response.context["unsigned"]] == [True, True, False]  # not their own
    assert never.username in response.content.decode()


def test_it_compares_versions_as_numbers(staff_a):
    agreement_record(staff=staff_a.consultant, signed_on=timezone.localdate(), version="1.9", by=None)
    agreement_record(staff=staff_a.specialist, signed_on=timezone.localdate(), version="1.10", by=None)

    assert agreement_current_version() == "1.10"


def test_it_takes_the_current_version_from_the_settings_when_named(staff_a, settings):
    settings.AGREEMENT_CURRENT_VERSION = "3.0"

    unsigned = agreement_unsigned(viewer=staff_a.manager, version=agreement_current_version())

    assert agreement_current_version() == "3.0"
    assert {p.username for p in unsigned} == {"a_consultant", "a_specialist", "a_manager"}


def test_it_lists_agreements_for_hq_in_a_bounded_number_of_queries(client, hq, staff_a, django_assert_max_num_queries):
    for i in range(50):
        person = StaffFactory(username=f"a_many{i}", store=staff_a.manager.store, signed=False)
        agreement_record(staff=person, signed_on=timezone.localdate(), version="1.0", by=staff_a.specialist)
    client.force_login(hq)

    with django_assert_max_num_queries(9):
        response = client.get(reverse("agreements"))

    assert response.status_code == 200
    assert len(response.context["page"]) == 50

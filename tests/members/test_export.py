"""Member CSV export: scoped, masked without an agreement, audited, formula-safe (DOMAIN §11, §12)."""

import csv
import io

from django.urls import reverse

from accounts.models import AuditEntry
from members.exports import safe_cell
from members.models import Member
from tests.factories import MemberFactory, StaffFactory


def rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content) if response.streaming else response.content  # streamed (issue 14)
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")  # Excel needs the BOM to read UTF-8
    return list(csv.reader(io.StringIO(text[1:])))


def test_it_neutralises_spreadsheet_formulas():
    for dangerous in ("=1+1", "+86", "-2", "@SUM(A1)", "\tx"):
        assert safe_cell(dangerous) == "'" + dangerous
    assert safe_cell("张丽") == "张丽" and safe_cell(None) == ""


def test_a_specialist_exports_the_stores_members_safely_and_it_is_audited(client, staff_a, member_a, member_b):
    MemberFactory(home_store=member_a.home_store, name='=HYPERLINK("http://x")', phone="13700000000")
    client.force_login(staff_a.specialist)
    data = rows(client.post(reverse("members:export")))
    names = [r[1] for r in data[1:]]
    assert data[0][:3] == ["卡号", "姓名", "手机"]
    assert sorted(names) == sorted(["张丽", '\'=HYPERLINK("http://x")'])  # not store B's 王芳
    assert "13812345678" in [r[2] for r in data]  # signed agreement: full numbers
    entry = AuditEntry.objects.get(action="member.exported")
    assert (entry.actor, entry.data["count"]) == (staff_a.specialist, 2)
    assert sorted(entry.data["members"]) == sorted(m.pk for m in Member.objects.filter(home_store=member_a.home_store))


def test_a_consultant_exports_only_their_own_members(client, staff_a, member_a):
    MemberFactory(home_store=member_a.home_store, name="别人的")
    client.force_login(staff_a.consultant)
    assert [r[1] for r in rows(client.post(reverse("members:export")))[1:]] == ["张丽"]


def test_without_an_agreement_the_export_is_masked(client, store_a, member_a):
    unsigned = StaffFactory(username="a_new_vip", role="vip_specialist", store=store_a, signed=False)
    client.force_login(unsigned)
    assert rows(client.post(reverse("members:export")))[1][2] == "138****5678"


def test_the_export_follows_the_list_filters(client, staff_a, member_a):
    MemberFactory(home_store=member_a.home_store, name="A客", tier="A")
    client.force_login(staff_a.manager)
    assert [r[1] for r in rows(client.post(reverse("members:export"), {"tier": "A"}))[1:]] == ["A客"]


def test_the_export_records_the_filter_and_which_members_left(client, staff_a, member_a):
    # Finding 4: the entry said "2 members", not which ones nor what was asked for.
    a_member = MemberFactory(home_store=member_a.home_store, name="A客", tier="A")
    client.force_login(staff_a.manager)

    client.post(reverse("members:export"), {"tier": "A", "q": "A客"})

    entry = AuditEntry.objects.get(action="member.exported")
    assert entry.data["members"] == [a_member.pk]
    assert entry.data["filters"]["tier"] == "A" and entry.data["filters"]["q"] == "A客"
    assert (entry.actor_name, entry.actor_username) == (str(staff_a.manager), "a_manager")


def test_an_export_link_followed_from_elsewhere_exports_nothing_and_writes_nothing(client, staff_a, member_a):
    # The attack (finding 4): a link or <img> on another site made the victim's browser export the
    # store's members and write an export entry in their name.
    client.force_login(staff_a.manager)

    response = client.get(reverse("members:export"), {"tier": "C"})

    assert response.status_code == 405
    assert "张丽" not in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_the_export_needs_the_csrf_token(staff_a, member_a):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_a.manager)

    response = browser.post(reverse("members:export"))

    assert response.status_code == 403
    assert not AuditEntry.objects.exists()

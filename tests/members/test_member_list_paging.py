"""The member list at chain size (issue 14): a bounded count (exact up to a cap, "more than"
beyond, with next/previous paging), the page's ids picked before its rows on a large list or a
deep page, and one FilterSet (members.filters) for the page, its export and the API."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from members import selectors
from members.models import Member

from ..factories import MemberFactory

pytestmark = pytest.mark.django_db


def listed(response) -> list[str]:
    return [member.card_no for member in response.context["page"]]


@pytest.fixture
def eight(store_a):
    return MemberFactory.create_batch(8, home_store=store_a)


def test_it_counts_up_to_a_cap_and_pages_on_past_it(client, staff_a, eight, monkeypatch):
    monkeypatch.setattr(selectors, "LIST_COUNT_CAP", 5)
    monkeypatch.setattr("members.views.MEMBERS_PER_PAGE", 3)
    client.force_login(staff_a.manager)

    pages = [client.get(reverse("members:list"), {"page": n}) for n in (1, 2, 3)]

    html = pages[0].content.decode()
    assert "超过 5 位会员" in html and "第 1 页" in html and "page=2" in html
    assert pages[0].context["page"].capped and pages[0].context["page"].num_pages is None
    newest_first = list(Member.objects.filter(pk__in=[m.pk for m in eight]).values_list("card_no", flat=True))
    assert sum((listed(p) for p in pages), []) == newest_first
    assert not pages[2].context["page"].has_next
    assert "page=4" not in pages[2].content.decode()


def test_below_the_cap_the_count_is_exact(client, staff_a, eight, monkeypatch):
    monkeypatch.setattr("members.views.MEMBERS_PER_PAGE", 3)
    client.force_login(staff_a.manager)

    response = client.get(reverse("members:list"), {"page": 9})

    assert "共 8 位会员" in response.content.decode() and "第 3 / 3 页" in response.content.decode()
    assert len(listed(response)) == 2  # past the end: the last page


def test_a_deep_page_reads_only_its_own_rows_with_the_same_result(client, staff_a, eight, monkeypatch):
    monkeypatch.setattr("members.views.MEMBERS_PER_PAGE", 3)
    client.force_login(staff_a.manager)
    direct = [listed(client.get(reverse("members:list"), {"page": n})) for n in (1, 2, 3)]
    monkeypatch.setattr(selectors, "DEEP_PAGE", 0)

    with CaptureQueriesContext(connection) as queries:
        ids_first = [listed(client.get(reverse("members:list"), {"page": n})) for n in (1, 2, 3)]

    assert ids_first == direct
    rows = [q["sql"] for q in queries if "spend_12m" in q["sql"] or "last_contact_at" in q["sql"]]
    assert rows and all(" IN (" in sql for sql in rows)  # the rows' figures for the page's ids only


def test_the_page_the_export_and_the_api_find_the_same_members(client, store_a, staff_a):
    wanted = MemberFactory.create_batch(2, home_store=store_a, tier="A", consultant=staff_a.consultant)
    MemberFactory(home_store=store_a, tier="A")  # someone else's
    MemberFactory(home_store=store_a, tier="B", consultant=staff_a.consultant)
    query = {"tier": "A", "consultant": staff_a.consultant.pk}
    client.force_login(staff_a.manager)

    page = set(listed(client.get(reverse("members:list"), query)))
    export = client.post(reverse("members:export"), query)
    exported = {row[0] for row in csv.reader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig")))}
    api = {row["card_no"] for row in client.get(reverse("api:members"), query).json()["results"]}

    assert page == api == {m.card_no for m in wanted} == exported - {"卡号"}


def test_a_value_the_api_refuses_the_page_ignores(client, staff_a, eight):
    client.force_login(staff_a.manager)

    assert client.get(reverse("api:members"), {"tier": "Z"}).status_code == 400
    assert len(listed(client.get(reverse("members:list"), {"tier": "Z", "birthday_month": "13"}))) == 8


@pytest.mark.parametrize("page", ["x", "²", "-3", "0", str(10**30), ""])
def test_a_page_number_nobody_asked_for_shows_a_page(client, staff_a, eight, page):
    client.force_login(staff_a.manager)
    assert client.get(reverse("members:list"), {"page": page}).status_code == 200

"""The member list: scoped to the viewer's store, searched, filtered, paginated, in a fixed
number of queries however many members there are."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from members.dates import next_occurrence
from members.models import Member, ProgramRules, Purchase, Tier

from ..factories import MemberFactory, PurchaseFactory, StaffFactory

pytestmark = pytest.mark.django_db

# Session, user, the consultant filter's value, the program rules (status filter; the spend
# window), the count, the page of rows (with the 12-month spend and the last contact), the
# navbar's store and unread notifications, and the consultant choices: the same for 5 or 5,000 rows.
MAX_QUERIES = 10
BOUGHT_ON = timezone.localdate() - timedelta(days=20)
RETURNED_ON = timezone.localdate() - timedelta(days=10)


def listed(response) -> list[str]:
    return [member.name for member in response.context["page"]]


@pytest.fixture
def many_members(store_a, staff_a):
    """200 members in store A, each with a consultant, a recent purchase and a later return."""
    ProgramRules.load()  # the row exists in any running system
    members = MemberFactory.create_batch(200, home_store=store_a, consultant=staff_a.consultant)
    purchases = []
    for i, member in enumerate(members):
        purchases.append(Purchase(member=member, store=store_a, receipt_no=f"L{i}a", date=BOUGHT_ON, amount=500))
        purchases.append(Purchase(member=member, store=store_a, receipt_no=f"L{i}b", date=RETURNED_ON, amount=-100))
    Purchase.objects.bulk_create(purchases)
    return members


def test_it_lists_a_page_of_members_in_a_bounded_number_of_queries(
    client, staff_a, many_members, django_assert_max_num_queries
):
    client.force_login(staff_a.specialist)
    url = reverse("members:list")

    with django_assert_max_num_queries(MAX_QUERIES):
        response = client.get(url, {"status": "active", "tier": "C", "consultant": staff_a.consultant.pk})
    with django_assert_max_num_queries(MAX_QUERIES):
        second = client.get(url, {"page": 4})

    assert response.status_code == 200
    assert response.context["page"].paginator.count == 200
    assert len(response.context["page"]) == 50
    assert len(second.context["page"]) == 50
    html = response.content.decode()
    assert f"{BOUGHT_ON:%Y-%m-%d}" in html  # the last purchase: the later return does not count
    assert f"{RETURNED_ON:%Y-%m-%d}" not in html


def test_it_shows_masked_phones_only(client, staff_a, member_a):
    client.force_login(staff_a.consultant)  # member_a's own consultant, who may reveal it

    html = client.get(reverse("members:list")).content.decode()

    assert "138****5678" in html
    assert "13812345678" not in html


def test_it_never_lists_another_stores_members(client, staff_a, member_a, member_b):
    client.force_login(staff_a.manager)

    everyone = client.get(reverse("members:list"))
    by_name = client.get(reverse("members:list"), {"q": member_b.name})
    by_last4 = client.get(reverse("members:list"), {"q": member_b.phone[-4:]})

    assert listed(everyone) == ["张丽"]
    assert listed(by_name) == []
    assert listed(by_last4) == ["张丽"]  # the same last four digits (5678), but only store A's


def test_it_lists_every_store_for_hq_and_filters_by_store(client, hq, member_a, member_b, store_b):
    client.force_login(hq)

    everyone = client.get(reverse("members:list"))
    one_store = client.get(reverse("members:list"), {"store": store_b.pk})

    assert sorted(listed(everyone)) == sorted(["张丽", "王芳"])
    assert listed(one_store) == ["王芳"]


@pytest.fixture
def some_members(store_a, staff_a):
    return {
        "li": MemberFactory(home_store=store_a, name="李娜", card_no="V1000001", phone="13600004321"),
        "zhou": MemberFactory(home_store=store_a, name="周迅", card_no="V1000002", phone="13600009999"),
        "li2": MemberFactory(home_store=store_a, name="李冰冰", card_no="V2000003", phone="13700004321"),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("4321", ["李娜", "李冰冰"]),  # the last four digits of the phone
        ("李", ["李娜", "李冰冰"]),  # part of the name
        ("周迅", ["周迅"]),
        ("V1000002", ["周迅"]),  # card number
        ("v2000003", ["李冰冰"]),
        ("136 0000 9999", ["周迅"]),  # the whole phone, as read out
        ("13600009999", ["周迅"]),
        ("王", []),
    ],
)
def test_it_finds_members(client, staff_a, some_members, query, expected):
    client.force_login(staff_a.consultant)

    response = client.get(reverse("members:list"), {"q": query, "scope": "store"})  # not only their own

    assert sorted(listed(response)) == sorted(expected)


def test_it_filters_by_tier_and_consultant(client, store_a, staff_a):
    other = StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a)
    MemberFactory(home_store=store_a, name="甲", tier=Tier.A, consultant=staff_a.consultant)
    MemberFactory(home_store=store_a, name="乙", tier=Tier.B, consultant=other)
    MemberFactory(home_store=store_a, name="丙", tier=Tier.C, consultant=other)
    client.force_login(staff_a.manager)

    assert listed(client.get(reverse("members:list"), {"tier": "B"})) == ["乙"]
    assert sorted(listed(client.get(reverse("members:list"), {"consultant": other.pk}))) == ["丙", "乙"]
    assert listed(client.get(reverse("members:list"), {"consultant": other.pk, "tier": "C"})) == ["丙"]


def test_it_filters_active_and_lapsed_members(client, store_a, staff_a):
    today = timezone.localdate()
    long_ago = today - timedelta(days=400)
    active = MemberFactory(home_store=store_a, name="常客", joined_on=long_ago)
    PurchaseFactory(member=active, date=today - timedelta(days=10), amount=Decimal("800.00"))
    lapsed = MemberFactory(home_store=store_a, name="老客", joined_on=long_ago)
    PurchaseFactory(member=lapsed, date=today - timedelta(days=200), amount=Decimal("800.00"))
    MemberFactory(home_store=store_a, name="新客", joined_on=today - timedelta(days=5))
    client.force_login(staff_a.specialist)

    assert sorted(listed(client.get(reverse("members:list"), {"status": "active"}))) == sorted(["常客", "新客"])
    assert listed(client.get(reverse("members:list"), {"status": "lapsed"})) == ["老客"]


def test_it_filters_by_birthday_month_on_the_calendar_the_member_celebrates(client, store_a, staff_a):
    MemberFactory(home_store=store_a, name="三月生", birthday=date(1990, 3, 12))
    MemberFactory(home_store=store_a, name="五月生", birthday=date(1990, 5, 2))
    # Born 1990-03-12 (solar) = 农历二月十六; its coming lunar occurrence (DOMAIN §7: a birthday
    # month is the next occurrence's) falls in March or April of this year or the next.
    this_month = timezone.localdate().replace(day=1)
    lunar_month = next_occurrence(date(1990, 3, 12), lunar=True, on_or_after=this_month).month
    MemberFactory(home_store=store_a, name="农历生", birthday=date(1990, 3, 12), birthday_lunar=True)
    client.force_login(staff_a.consultant)

    march = listed(client.get(reverse("members:list"), {"birthday_month": 3, "scope": "store"}))
    lunar = listed(client.get(reverse("members:list"), {"birthday_month": lunar_month, "scope": "store"}))

    assert "三月生" in march and "五月生" not in march
    assert "农历生" in lunar
    assert listed(client.get(reverse("members:list"), {"birthday_month": 5, "scope": "store"})) == ["五月生"]


def test_it_ignores_filter_values_it_does_not_know(client, staff_a, member_a):
    client.force_login(staff_a.consultant)

    response = client.get(reverse("members:list"), {"tier": "Z", "birthday_month": "13", "consultant": "abc"})

    assert response.status_code == 200
    assert listed(response) == ["张丽"]


def test_it_swaps_only_the_results_for_a_search_typed_in_the_box(client, staff_a, member_a):
    client.force_login(staff_a.consultant)

    response = client.get(
        reverse("members:list"), {"q": "张"}, headers={"HX-Request": "true", "HX-Target": "member-results"}
    )

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="member-results">')
    assert "张丽" in html
    assert "HX-Request" in response["Vary"]


def test_it_keeps_the_filters_in_the_page_links(client, store_a, staff_a):
    MemberFactory.create_batch(51, home_store=store_a, tier=Tier.B)
    client.force_login(staff_a.consultant)

    html = client.get(reverse("members:list"), {"tier": "B", "scope": "store"}).content.decode()

    assert "?tier=B&amp;scope=store&amp;page=2" in html
    assert Member.objects.count() == 51


# --- My members, the store, members without a consultant; sorting (issue 9) --------------------


def visit(member, staff, days_ago, result="reached"):
    from visits.models import Visit

    return Visit.objects.create(
        member=member,
        store=member.home_store,
        staff=staff,
        channel="phone",
        at=timezone.now() - timedelta(days=days_ago),
        outcome="已联系",
        result=result,
    )


@pytest.fixture
def book(store_a, staff_a):
    """Store A: two of the consultant's members, one of another consultant's, one without."""
    other = StaffFactory(username="a_consultant2", role=Role.CONSULTANT, store=store_a)
    mine = staff_a.consultant
    return {
        "mine_a": MemberFactory(home_store=store_a, consultant=mine, name="甲", tier=Tier.A),
        "mine_c": MemberFactory(home_store=store_a, consultant=mine, name="乙", tier=Tier.C),
        "theirs": MemberFactory(home_store=store_a, consultant=other, name="丙", tier=Tier.B),
        "nobodys": MemberFactory(home_store=store_a, consultant=None, name="丁", tier=Tier.C),
    }


def test_it_opens_on_a_consultants_own_members_and_shows_the_store_on_request(client, staff_a, book):
    client.force_login(staff_a.consultant)

    mine = client.get(reverse("members:list"))
    filtered = client.get(reverse("members:list"), {"tier": "A"})
    store = client.get(reverse("members:list"), {"scope": "store"})

    assert sorted(listed(mine)) == ["乙", "甲"]
    assert listed(filtered) == ["甲"]  # other filters keep the default scope
    assert sorted(listed(store)) == ["丁", "丙", "乙", "甲"]
    assert "我的会员" in mine.content.decode()


def test_it_offers_a_store_wide_search_from_my_members(client, staff_a, book):
    client.force_login(staff_a.consultant)

    response = client.get(reverse("members:list"), {"q": "丙"})

    assert listed(response) == []
    assert "scope=store" in response.content.decode() and "在全店搜索" in response.content.decode()


def test_it_opens_on_the_whole_store_for_its_leads(client, staff_a, book):
    client.force_login(staff_a.specialist)

    assert len(listed(client.get(reverse("members:list")))) == 4


def test_it_lists_members_without_a_consultant_for_the_store_leads_only(client, staff_a, book):
    client.force_login(staff_a.specialist)
    assert listed(client.get(reverse("members:list"), {"scope": "unassigned"})) == ["丁"]
    client.force_login(staff_a.manager)
    assert listed(client.get(reverse("members:list"), {"scope": "unassigned"})) == ["丁"]

    client.force_login(staff_a.consultant)
    response = client.get(reverse("members:list"), {"scope": "unassigned"})
    assert sorted(listed(response)) == ["乙", "甲"]  # not a choice for them: their default instead


def test_it_sorts_by_last_contact_spend_and_tier(client, staff_a, book):
    today = timezone.localdate()
    visit(book["mine_a"], staff_a.consultant, days_ago=3)
    visit(book["theirs"], staff_a.consultant, days_ago=40)
    visit(book["theirs"], staff_a.consultant, days_ago=1, result="no_answer")  # not a contact
    PurchaseFactory(member=book["mine_c"], date=today - timedelta(days=5), amount=Decimal("9000.00"))
    PurchaseFactory(member=book["theirs"], date=today - timedelta(days=30), amount=Decimal("3000.00"))
    PurchaseFactory(member=book["theirs"], date=today - timedelta(days=400), amount=Decimal("90000.00"))  # too old
    client.force_login(staff_a.specialist)

    def sorted_by(sort):
        return listed(client.get(reverse("members:list"), {"sort": sort}))

    # Never contacted first (乙, 丁: newest first), then the longest ago (丙 40 days), then 甲 (3 days).
    assert sorted_by("last_contact")[2:] == ["丙", "甲"]
    assert set(sorted_by("last_contact")[:2]) == {"乙", "丁"}
    assert sorted_by("spend")[:2] == ["乙", "丙"]  # 9,000 then 3,000 (the old 90,000 is outside the window)
    assert sorted_by("tier") == ["甲", "丙", "乙", "丁"]  # A, B, then C by spend (乙 9,000, 丁 0)


def test_it_shows_the_last_reached_contact_and_the_12_month_spend(client, staff_a, book):
    contacted = visit(book["mine_a"], staff_a.consultant, days_ago=3)
    visit(book["mine_a"], staff_a.consultant, days_ago=1, result="no_answer")
    PurchaseFactory(member=book["mine_a"], date=timezone.localdate() - timedelta(days=5), amount=Decimal("12800"))
    client.force_login(staff_a.consultant)

    response = client.get(reverse("members:list"))

    row = next(m for m in response.context["page"] if m.name == "甲")
    assert row.last_contact_at == contacted.at
    assert row.spend_12m == Decimal("12800.00")
    html = response.content.decode()
    assert timezone.localtime(contacted.at).strftime("%Y-%m-%d") in html
    assert "¥12,800" in html


def test_it_sorts_in_a_bounded_number_of_queries(client, staff_a, many_members, django_assert_max_num_queries):
    for member in many_members[:50]:
        visit(member, staff_a.consultant, days_ago=2)
    client.force_login(staff_a.consultant)

    for sort in ("last_contact", "spend", "tier"):
        with django_assert_max_num_queries(MAX_QUERIES):
            response = client.get(reverse("members:list"), {"sort": sort, "page": 2})
        assert len(response.context["page"]) == 50

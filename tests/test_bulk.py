"""vipcrm.bulk: the set-based writes of the duties and imports (issue 14), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection

from members.models import Member
from tests.factories import MemberFactory, StaffFactory, StoreFactory
from vipcrm.bulk import array_param, bulk_set, bulk_set_rows


@pytest.fixture
def members():
    store = StoreFactory()
    return MemberFactory.create_batch(4, home_store=store, birthday=date(1990, 1, 1), name="原名")


@pytest.mark.django_db
def test_bulk_set_rows_writes_each_rows_values_and_a_value_all_rows_share(members):
    store = members[0].home_store
    consultant = StaffFactory(store=store, role="consultant")
    birthdays = [date(1980, 2, 29), None, date(2001, 12, 31), date(1980, 2, 29)]
    names = ['引号"和\\反斜杠', "普通", "a,b{c}", "NULL"]
    rows = [
        (m.pk, birthday, name, consultant.pk, "A") for m, birthday, name in zip(members, birthdays, names, strict=True)
    ]
    bulk_set_rows(Member, ["birthday", "name", "consultant_id", "tier"], rows)

    stored = {
        pk: (birthday, name, consultant_id, tier)
        for pk, birthday, name, consultant_id, tier in Member.objects.values_list(
            "pk", "birthday", "name", "consultant_id", "tier"
        )
    }
    assert stored == {m.pk: (b, n, consultant.pk, "A") for m, b, n in zip(members, birthdays, names, strict=True)}


@pytest.mark.django_db
def test_bulk_set_rows_with_nothing_writes_nothing(members):
    bulk_set_rows(Member, ["name"], [])
    assert set(Member.objects.values_list("name", flat=True)) == {"原名"}


@pytest.mark.django_db
def test_bulk_set_saves_the_fields_of_model_instances_only(members):
    for m, day in zip(members, (1, 2, 3, 4), strict=True):
        m.birthday = date(1999, 5, day)
        m.name = "不保存"
    bulk_set(members, ["birthday"])

    assert sorted(Member.objects.values_list("birthday", "name")) == [(date(1999, 5, d), "原名") for d in (1, 2, 3, 4)]


@pytest.mark.parametrize(
    ("values", "cast"),
    [
        (["A1", 'quote"d', "back\\slash", "{brace},comma", " spaced ", "NULL", "", None, "卡号"], "text"),
        ([3, None, -7, 2**40], "bigint"),
        ([date(2026, 2, 28), None], "date"),
        ([], "text"),
    ],
)
@pytest.mark.django_db
def test_array_param_reaches_postgresql_as_the_same_values(values, cast):
    if connection.vendor != "postgresql":
        pytest.skip("array parameters are PostgreSQL's")
    param = array_param(values)
    assert isinstance(param, str)  # one text, not a list for the driver to adapt element by element
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{cast}[]", [param])
        assert cursor.fetchone()[0] == values


def test_array_param_leaves_other_values_to_the_driver():
    assert array_param([1, "1"]) == [1, "1"]
    assert array_param([True, False]) == [True, False]

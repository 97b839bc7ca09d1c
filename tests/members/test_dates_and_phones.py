from datetime import date

import pytest
import time_machine
from django.core.exceptions import ValidationError

from members.dates import lunar_label, next_occurrence, occurrences_between
from members.validators import mask_phone, normalize_phone, validate_past_date

D = date.fromisoformat


def test_it_finds_the_next_solar_birthday():
    assert next_occurrence(D("1990-05-20"), on_or_after=D("2026-05-19")) == D("2026-05-20")
    assert next_occurrence(D("1990-05-20"), on_or_after=D("2026-05-20")) == D("2026-05-20")
    assert next_occurrence(D("1990-05-20"), on_or_after=D("2026-05-21")) == D("2027-05-20")


def test_it_puts_29_february_on_28_february_in_other_years():
    assert next_occurrence(D("1992-02-29"), on_or_after=D("2026-01-01")) == D("2026-02-28")
    assert next_occurrence(D("1992-02-29"), on_or_after=D("2028-01-01")) == D("2028-02-29")


def test_it_follows_the_lunar_calendar():
    # Born 1990-04-03 = 农历三月初八. 三月初八 falls on 2026-04-24 and 2027-04-14.
    assert lunar_label(D("1990-04-03")) == "农历三月初八"
    assert next_occurrence(D("1990-04-03"), lunar=True, on_or_after=D("2026-01-01")) == D("2026-04-24")
    assert next_occurrence(D("1990-04-03"), lunar=True, on_or_after=D("2026-04-25")) == D("2027-04-14")


def test_it_finds_a_lunar_birthday_early_in_the_solar_year():
    # Born 1985-12-31 = 农历十一月二十, which in lunar year 2025 falls on 2026-01-08: the lunar year
    # before the solar one must be tried too.
    assert lunar_label(D("1985-12-31")) == "农历冬月二十"
    assert next_occurrence(D("1985-12-31"), lunar=True, on_or_after=D("2026-01-01")) == D("2026-01-08")


def test_it_moves_a_lunar_30th_to_the_29th_in_a_short_month():
    # 1985-04-19 is 农历二月三十; 2026's second lunar month has only 29 days, so the birthday
    # falls on 二月廿九 = 2026-04-16.
    assert lunar_label(D("1985-04-19")) == "农历二月三十"
    assert next_occurrence(D("1985-04-19"), lunar=True, on_or_after=D("2026-01-01")) == D("2026-04-16")


def test_it_lists_occurrences_in_a_range():
    assert occurrences_between(D("1990-05-20"), lunar=False, start=D("2025-01-01"), end=D("2026-12-31")) == [
        D("2025-05-20"),
        D("2026-05-20"),
    ]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("008613812345678", "13812345678"),
        ("+852 9123 4567", "+85291234567"),
        ("+44 7911 123456", "+447911123456"),
    ],
)
def test_it_normalises_phones(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "12345678901", "1381234567", "138123456789", "abc", "+1 555", "02112345678"])
def test_it_refuses_bad_phones(raw):
    with pytest.raises(ValidationError):
        normalize_phone(raw)


def test_it_masks_phones_as_staff_read_them():
    assert mask_phone("13812345678") == "138****5678"


@time_machine.travel("2026-11-24 12:00 +0800", tick=False)
def test_it_refuses_future_and_pre_1900_dates():
    validate_past_date(D("2026-11-24"))
    with pytest.raises(ValidationError, match="今天"):
        validate_past_date(D("2026-11-25"))
    with pytest.raises(ValidationError, match="1900"):
        validate_past_date(D("1899-12-31"))


def test_it_celebrates_a_leap_month_birthday_in_the_ordinary_month():
    # 2020-05-23 is 农历闰四月初一; in 2026 (no leap fourth month) it is 四月初一 = 2026-05-17.
    assert lunar_label(D("2020-05-23")) == "农历闰四月初一"
    assert next_occurrence(D("2020-05-23"), lunar=True, on_or_after=D("2026-01-01")) == D("2026-05-17")

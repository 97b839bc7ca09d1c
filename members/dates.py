"""Yearly occurrences of birthdays and other important dates, solar or lunar (DOMAIN §7)."""

from __future__ import annotations

import calendar
from bisect import bisect_right
from datetime import date
from functools import lru_cache

from django.utils.translation import get_language
from django.utils.translation import gettext as _
from lunardate import YEAR_INFOS, LunarDate

_LUNAR_MONTHS = "正二三四五六七八九十冬腊"
_LUNAR_DAYS_TENS = ["初", "十", "廿", "三"]
_LUNAR_DIGITS = "一二三四五六七八九十"


def _solar_in_year(original: date, year: int) -> date:
    # 29 February falls on 28 February in other years.
    if original.month == 2 and original.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return original.replace(year=year)


def _lunar_in_year(lunar: LunarDate, year: int) -> date | None:
    """The solar date of the lunar month/day in lunar year `year`.

    A birthday in a leap month is celebrated in the ordinary month of that number; day 30 falls on
    day 29 in a short month. None outside the library's range.
    """
    return _lunar_day_in_year(year, lunar.month, lunar.day)


@lru_cache(maxsize=8192)
def _lunar_day_in_year(year: int, month: int, day: int) -> date | None:
    # The calendar's arithmetic is slow (a month-end duty converts every lunar birthday of a store):
    # a few hundred lunar days a year, each converted once.
    for d in (day, 29):
        try:
            return LunarDate(year, month, d, False).to_solar_date()
        except ValueError:
            continue
    return None


def to_lunar(original: date) -> LunarDate | None:
    """The lunar date of `original` (None where the library refuses it), from the month table;
    outside the table the library answers, as before the table."""
    starts, months, end = _lunar_months()
    ordinal = original.toordinal()
    if not starts[0] <= ordinal < end:
        try:
            return LunarDate.from_solar_date(original.year, original.month, original.day)
        except ValueError:
            return None
    i = bisect_right(starts, ordinal) - 1
    year, month, is_leap = months[i]
    return LunarDate(year, month, ordinal - starts[i] + 1, is_leap)


@lru_cache(maxsize=1)
def _lunar_months() -> tuple[list[int], list[tuple[int, int, bool]], int]:
    """The calendar's months as the library defines them, once a process: each month's first day
    (a solar ordinal) and (lunar year, month, leap), and the ordinal after the last. A date's lunar
    date is then a bisection, not the library's walk from 1900 (tens of microseconds a date; a
    daily run and a month end convert every lunar birthday of a store, issue 14)."""
    starts: list[int] = []
    months: list[tuple[int, int, bool]] = []
    day = LunarDate._start_date.toordinal()
    for year, year_info in enumerate(YEAR_INFOS, start=LunarDate._start_date.year):
        for month, days, is_leap in LunarDate._enum_month(year_info):
            starts.append(day)
            months.append((year, month, bool(is_leap)))
            day += days
    return starts, months, day


def next_occurrence(original: date, *, lunar: bool = False, on_or_after: date) -> date:
    """The first yearly recurrence of `original` on or after `on_or_after`."""
    lunar_date = to_lunar(original) if lunar else None
    if lunar_date is None:
        candidate = _solar_in_year(original, on_or_after.year)
        if candidate < on_or_after:
            candidate = _solar_in_year(original, on_or_after.year + 1)
        return candidate
    # The lunar year straddles two solar years: try the one before as well.
    for year in (on_or_after.year - 1, on_or_after.year, on_or_after.year + 1):
        candidate = _lunar_in_year(lunar_date, year)
        if candidate is not None and candidate >= on_or_after:
            return candidate
    return next_occurrence(original, lunar=False, on_or_after=on_or_after)


def occurrences_between(original: date, *, lunar: bool, start: date, end: date) -> list[date]:
    """Every yearly recurrence within [start, end]."""
    found = []
    day = start
    while day <= end:
        nxt = next_occurrence(original, lunar=lunar, on_or_after=day)
        if nxt > end:
            break
        found.append(nxt)
        day = date.fromordinal(nxt.toordinal() + 1)
    return found


def lunar_label(original: date) -> str:
    """农历 month and day in words, e.g. 农历三月初八 (闰 for a leap month); in numbers outside Chinese."""
    lunar_date = to_lunar(original)
    if lunar_date is None:
        return ""
    if not (get_language() or "zh-hans").startswith("zh"):
        # Other languages have no words for the lunar months and days (正月, 初八): numbers, as in
        # "lunar 3/8" (leap months marked).
        numbers = {"month": lunar_date.month, "day": lunar_date.day}
        if lunar_date.is_leap_month:
            return _("农历闰%(month)s月%(day)s日") % numbers
        return _("农历%(month)s月%(day)s日") % numbers
    month = ("闰" if lunar_date.is_leap_month else "") + _LUNAR_MONTHS[lunar_date.month - 1] + "月"
    d = lunar_date.day
    if d == 10:
        day = "初十"
    elif d == 20:
        day = "二十"
    elif d == 30:
        day = "三十"
    else:
        day = _LUNAR_DAYS_TENS[d // 10] + _LUNAR_DIGITS[d % 10 - 1]
    return f"农历{month}{day}"

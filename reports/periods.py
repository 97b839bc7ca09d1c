"""Periods (DOMAIN §6): the one module for weeks, months, month-to-date, quarters, years and ranges.

A `Period` is [start, end] (both days included) with its kind and label. `months()` gives the
month periods it is made of (a quarter its three months, a year its twelve; a range its months,
the first and last clipped to the range), so that a figure DOMAIN §6 sums over months (old / new
VIP sales) is computed month by month and added up. `Period.from_params` reads a page's query
string; bad input raises ValueError with a message a person can act on (in Chinese).

    ?period=month&month=2026-10          ?month=2026-10
    ?period=quarter&quarter=2026-Q4      ?quarter=2026-Q4
    ?period=year&year=2026               ?year=2026
    ?period=week&week=2026-11-23         (any day of the week)
    ?period=mid_month&month=2026-11      (1st–15th; `&until=2026-11-10` for another day)
    ?start=2026-10-01&end=2026-11-15     (?period=range)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from django.utils.translation import gettext as _

from members.tiers import month_end  # the month arithmetic the tier engine already has

EARLIEST_YEAR = 2000
MAX_RANGE_DAYS = 3 * 366  # a range longer than three years is a typo, not a question
MID_MONTH_DAY = 15


class Kind(StrEnum):
    WEEK = "week"
    MONTH = "month"
    MID_MONTH = "mid_month"  # month-to-date (the mid-month snapshot: the 1st to the 15th)
    QUARTER = "quarter"
    YEAR = "year"
    RANGE = "range"


KINDS = [k.value for k in Kind]
QUARTERS = {1: (1, 2, 3), 2: (4, 5, 6), 3: (7, 8, 9), 4: (10, 11, 12)}


# --- Month arithmetic ----------------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The first of the month `months` after (before, if negative) `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def quarter_of(month: int) -> int:
    return (month - 1) // 3 + 1


def parse_month(month: str, until: date | None = None) -> tuple[date, date]:
    """ "YYYY-MM" (and an optional day in it, for month-to-date) as (start, end); ValueError."""
    try:
        year, number = (int(part) for part in str(month).split("-"))
        start = date(year, number, 1)
    except (ValueError, TypeError) as e:
        raise ValueError(f"month must be YYYY-MM, not {month!r}") from e
    end = month_end(start)
    if until is not None:
        if not start <= until <= end:
            raise ValueError(f"{until} is not in {month}")
        end = until
    return start, end


# --- The period ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    kind: str = Kind.RANGE

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(_("结束日期早于开始日期。"))

    # Constructors.

    @classmethod
    def week(cls, day: date) -> Period:
        """The Monday–Sunday week holding `day`."""
        monday = day - timedelta(days=day.weekday())
        return cls(monday, monday + timedelta(days=6), Kind.WEEK)

    @classmethod
    def month(cls, year: int, month: int | None = None) -> Period:
        """Period.month(2026, 10) or Period.month(<a day in the month>)."""
        first = year.replace(day=1) if isinstance(year, date) else date(year, month, 1)
        return cls(first, month_end(first), Kind.MONTH)

    @classmethod
    def mid_month(cls, day: date, until: date | None = None) -> Period:
        """Month-to-date: `day`'s month from the 1st to `until` (default the 15th)."""
        first = day.replace(day=1)
        end = until or first.replace(day=MID_MONTH_DAY)
        if not first <= end <= month_end(first):
            raise ValueError(_("%(day)s 不在 %(month)s 月内。") % {"day": end, "month": first.strftime("%Y-%m")})
        return cls(first, end, Kind.MID_MONTH)

    @classmethod
    def quarter(cls, year: int, quarter: int) -> Period:
        if quarter not in QUARTERS:
            raise ValueError(_("季度须为 1 至 4。"))
        first = date(year, QUARTERS[quarter][0], 1)
        return cls(first, month_end(date(year, QUARTERS[quarter][-1], 1)), Kind.QUARTER)

    @classmethod
    def quarter_of(cls, day: date) -> Period:
        return cls.quarter(day.year, quarter_of(day.month))

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(date(year, 1, 1), date(year, 12, 31), Kind.YEAR)

    @classmethod
    def range(cls, start: date, end: date) -> Period:
        return cls(start, end, Kind.RANGE)

    # Reads.

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def before(self) -> date:
        """S⁻ = S − 1 day (DOMAIN §6)."""
        return self.start - timedelta(days=1)

    @property
    def number(self) -> int:
        """The quarter's number (1–4), the month's (1–12); 0 for other kinds."""
        if self.kind == Kind.QUARTER:
            return quarter_of(self.start.month)
        if self.kind in (Kind.MONTH, Kind.MID_MONTH):
            return self.start.month
        return 0

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end

    def months(self) -> list[Period]:
        """The month periods this period is made of, oldest first: whole months as MONTH, a month
        cut short at the end as MID_MONTH (month-to-date), one cut at the start as RANGE."""
        found = []
        first = self.start.replace(day=1)
        while first <= self.end:
            start, end = max(first, self.start), min(month_end(first), self.end)
            if start == first and end == month_end(first):
                found.append(Period(start, end, Kind.MONTH))
            elif start == first:
                found.append(Period(start, end, Kind.MID_MONTH))
            else:
                found.append(Period(start, end, Kind.RANGE))
            first = add_months(first, 1)
        return found

    def month_numbers(self) -> list[int]:
        """The calendar months (1–12) this period touches, e.g. a quarter's three (targets)."""
        return [p.start.month for p in self.months()]

    def previous(self) -> Period:
        """The period before, of the same kind: last week, last month (to the same day for
        month-to-date), last quarter, last year; for a range, as many days just before it."""
        if self.kind == Kind.WEEK:
            return Period.week(self.start - timedelta(days=7))
        if self.kind == Kind.MONTH:
            return Period.month(add_months(self.start, -1))
        if self.kind == Kind.MID_MONTH:
            first = add_months(self.start, -1)
            return Period.mid_month(first, min(first.replace(day=1) + (self.end - self.start), month_end(first)))
        if self.kind == Kind.QUARTER:
            return Period.quarter_of(add_months(self.start, -3))
        if self.kind == Kind.YEAR:
            return Period.year(self.start.year - 1)
        return Period.range(self.start - timedelta(days=self.days), self.before)

    def next(self) -> Period:
        """The period after, of the same kind (see `previous`)."""
        if self.kind == Kind.WEEK:
            return Period.week(self.end + timedelta(days=1))
        if self.kind == Kind.MONTH:
            return Period.month(add_months(self.start, 1))
        if self.kind == Kind.MID_MONTH:
            first = add_months(self.start, 1)
            return Period.mid_month(first, min(first + (self.end - self.start), month_end(first)))
        if self.kind == Kind.QUARTER:
            return Period.quarter_of(add_months(self.start, 3))
        if self.kind == Kind.YEAR:
            return Period.year(self.start.year + 1)
        return Period.range(self.end + timedelta(days=1), self.end + timedelta(days=self.days))

    def until(self, day: date) -> Period:
        """The period cut at `day` (to date), kind kept; itself if `day` is at or after its end."""
        if day >= self.end:
            return self
        if day < self.start:
            raise ValueError(_("%(period)s 还没开始。") % {"period": self.label})
        return Period(self.start, day, Kind.MID_MONTH if self.kind == Kind.MONTH else self.kind)

    @property
    def label(self) -> str:
        if self.kind == Kind.MONTH:
            return _("%(year)s年%(month)s月") % {"year": self.start.year, "month": self.start.month}
        if self.kind == Kind.MID_MONTH:
            return _("%(year)s年%(month)s月1日至%(day)s日") % {
                "year": self.start.year,
                "month": self.start.month,
                "day": self.end.day,
            }
        if self.kind == Kind.QUARTER:
            return _("%(year)s年第%(q)s季度") % {"year": self.start.year, "q": self.number}
        if self.kind == Kind.YEAR:
            return _("%(year)s年") % {"year": self.start.year}
        if self.kind == Kind.WEEK:
            return _("%(start)s 至 %(end)s 周") % {"start": self.start.isoformat(), "end": self.end.isoformat()}
        return _("%(start)s 至 %(end)s") % {"start": self.start.isoformat(), "end": self.end.isoformat()}

    def __str__(self) -> str:
        return self.label

    def as_params(self) -> dict[str, str]:
        """The query parameters `from_params` reads back to this period (for links)."""
        if self.kind == Kind.MONTH:
            return {"period": "month", "month": self.start.strftime("%Y-%m")}
        if self.kind == Kind.MID_MONTH:
            return {"period": "mid_month", "month": self.start.strftime("%Y-%m"), "until": self.end.isoformat()}
        if self.kind == Kind.QUARTER:
            return {"period": "quarter", "quarter": f"{self.start.year}-Q{self.number}"}
        if self.kind == Kind.YEAR:
            return {"period": "year", "year": str(self.start.year)}
        if self.kind == Kind.WEEK:
            return {"period": "week", "week": self.start.isoformat()}
        return {"period": "range", "start": self.start.isoformat(), "end": self.end.isoformat()}

    def as_json(self) -> dict:
        return {"kind": str(self.kind), "start": self.start.isoformat(), "end": self.end.isoformat()}

    # Parsing.

    @classmethod
    def from_params(cls, params: Mapping, *, today: date, default: str = Kind.MONTH) -> Period:
        """The period a query string names (see the module's docstring); with nothing named, the
        `default` kind holding today (a week: last week, the latest complete one). ValueError
        with a message to show for anything else: an unknown kind, a malformed value, a period
        that has not started yet, one before 2000, a range ending before it starts or too long."""

        def get(key: str) -> str:
            value = params.get(key)
            return str(value).strip() if value is not None else ""

        kind = get("period")
        if not kind:
            if get("start") or get("end"):
                kind = Kind.RANGE
            elif get("quarter"):
                kind = Kind.QUARTER
            elif get("year") and not get("month"):
                kind = Kind.YEAR
            elif get("week"):
                kind = Kind.WEEK
            elif get("month"):
                kind = Kind.MONTH
            else:
                kind = default
        if kind not in KINDS:
            raise ValueError(
                _("期间应为 周、月、月中、季度、年 或 自定义（%(kinds)s），而不是“%(kind)s”。")
                % {"kinds": "/".join(KINDS), "kind": kind}
            )
        if kind == Kind.MONTH:
            period = cls._month(get("month"), today)
        elif kind == Kind.MID_MONTH:
            period = cls._mid_month(get("month"), get("until"), today)
        elif kind == Kind.QUARTER:
            period = cls._quarter(get("quarter"), get("year"), today)
        elif kind == Kind.YEAR:
            period = cls.year(cls._year(get("year"), today))
        elif kind == Kind.WEEK:
            period = cls._week(get("week"), today)
        else:
            period = cls._range(get("start"), get("end"), today)
        if period.start.year < EARLIEST_YEAR:
            raise ValueError(_("期间太早：须在 %(year)s 年之后。") % {"year": EARLIEST_YEAR})
        if period.start > today:
            raise ValueError(_("%(period)s 还没开始。") % {"period": period.label})
        return period

    @classmethod
    def _month(cls, raw: str, today: date) -> Period:
        if not raw:
            return cls.month(today)
        try:
            start, _end = parse_month(raw)
        except ValueError:
            raise ValueError(
                _("月份格式应为 YYYY-MM，例如 %(example)s。") % {"example": today.strftime("%Y-%m")}
            ) from None
        return cls.month(start)

    @classmethod
    def _mid_month(cls, raw: str, until: str, today: date) -> Period:
        first = cls._month(raw, today).start
        if not until:
            return cls.mid_month(first)
        day = _day(until, today)
        if not first <= day <= month_end(first):
            raise ValueError(_("%(day)s 不在 %(month)s 月内。") % {"day": day, "month": first.strftime("%Y-%m")})
        return cls.mid_month(first, day)

    @staticmethod
    def _year(raw: str, today: date) -> int:
        if not raw:
            return today.year
        if not raw.isascii() or not raw.isdigit() or len(raw) != 4:
            raise ValueError(_("年份应为 4 位数字，例如 %(example)s。") % {"example": today.year})
        return int(raw)

    @classmethod
    def _quarter(cls, raw: str, year: str, today: date) -> Period:
        if not raw:
            return cls.quarter_of(today) if not year else cls.quarter(cls._year(year, today), 1)
        text = raw.upper().replace(" ", "")
        example = f"{today.year}-Q{quarter_of(today.month)}"
        message = _("季度格式应为 YYYY-Qn，例如 %(example)s。") % {"example": example}
        if "-Q" in text:
            y, _sep, q = text.partition("-Q")
        elif text.startswith("Q") and year:
            y, q = year, text[1:]
        elif text.isdigit() and len(text) == 1 and year:
            y, q = year, text
        else:
            raise ValueError(message)
        if not (y.isascii() and y.isdigit() and len(y) == 4 and q.isascii() and q.isdigit() and len(q) == 1):
            raise ValueError(message)
        if int(q) not in QUARTERS:
            raise ValueError(message)
        return cls.quarter(int(y), int(q))

    @classmethod
    def _week(cls, raw: str, today: date) -> Period:
        if not raw:
            return cls.week(today - timedelta(days=7))
        try:
            # The last days of year 9999 have no Sunday after them (OverflowError).
            return cls.week(date.fromisoformat(raw))
        except (ValueError, OverflowError):
            raise ValueError(_("周应为该周的某一天，例如 %(example)s。") % {"example": today.isoformat()}) from None

    @classmethod
    def _range(cls, start: str, end: str, today: date) -> Period:
        if not start or not end:
            raise ValueError(_("自定义期间须填写开始和结束日期。"))
        first, last = _day(start, today), _day(end, today)
        if last < first:
            raise ValueError(_("结束日期 %(end)s 早于开始日期 %(start)s。") % {"start": first, "end": last})
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise ValueError(_("自定义期间最长 3 年。"))
        return cls.range(first, last)


def _day(raw: str, today: date) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            _("日期格式应为 YYYY-MM-DD，例如 %(example)s，而不是“%(raw)s”。")
            % {"example": today.isoformat(), "raw": raw}
        ) from None

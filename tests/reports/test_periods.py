"""reports.periods (one module for periods) and vipcrm.rates (one rate type)."""

from datetime import date
from decimal import Decimal

import pytest

from reports.kpis import ratio
from reports.periods import Kind, Period, add_months, month_end, parse_month
from vipcrm.rates import Rate

D = date.fromisoformat
TODAY = D("2026-11-30")


@pytest.mark.parametrize(
    ("params", "start", "end", "kind", "label"),
    [
        ({"period": "month", "month": "2026-10"}, "2026-10-01", "2026-10-31", Kind.MONTH, "2026年10月"),
        ({"month": "2026-02"}, "2026-02-01", "2026-02-28", Kind.MONTH, "2026年2月"),
        ({"period": "quarter", "quarter": "2026-Q4"}, "2026-10-01", "2026-12-31", Kind.QUARTER, "2026年第4季度"),
        ({"quarter": "2026-q1"}, "2026-01-01", "2026-03-31", Kind.QUARTER, "2026年第1季度"),
        ({"period": "year", "year": "2025"}, "2025-01-01", "2025-12-31", Kind.YEAR, "2025年"),
        (
            {"start": "2026-10-05", "end": "2026-11-15"},
            "2026-10-05",
            "2026-11-15",
            Kind.RANGE,
            "2026-10-05 至 2026-11-15",
        ),
        (
            {"period": "week", "week": "2026-11-26"},
            "2026-11-23",
            "2026-11-29",
            Kind.WEEK,
            "2026-11-23 至 2026-11-29 周",
        ),
        ({"period": "week"}, "2026-11-23", "2026-11-29", Kind.WEEK, "2026-11-23 至 2026-11-29 周"),  # latest full week
        (
            {"period": "mid_month", "month": "2026-11"},
            "2026-11-01",
            "2026-11-15",
            Kind.MID_MONTH,
            "2026年11月1日至15日",
        ),
        ({}, "2026-11-01", "2026-11-30", Kind.MONTH, "2026年11月"),  # default: this month
    ],
)
def test_it_reads_a_period_from_the_query(params, start, end, kind, label):
    period = Period.from_params(params, today=TODAY)
    assert (period.start, period.end, period.kind, period.label) == (D(start), D(end), kind, label)
    assert Period.from_params(period.as_params(), today=TODAY) == period  # links read back the same


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"period": "fortnight"}, "期间应为"),
        ({"month": "2026-13"}, "月份格式应为 YYYY-MM"),
        ({"quarter": "2026-Q5"}, "季度格式应为 YYYY-Qn"),
        ({"year": "26"}, "年份应为 4 位数字"),
        ({"year": "2027"}, "还没开始"),
        ({"month": "1999-12"}, "期间太早"),
        ({"start": "2026-10-05"}, "须填写开始和结束日期"),
        ({"start": "2026-10-05", "end": "2026-10-01"}, "早于开始日期"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "最长 3 年"),
        ({"start": "2026-10-5x", "end": "2026-10-09"}, "日期格式应为 YYYY-MM-DD"),
        ({"period": "week", "week": "9999-12-31"}, "周应为该周的某一天"),  # no Sunday after it
        ({"period": "week", "week": "2026-02-30"}, "周应为该周的某一天"),
    ],
)
def test_bad_input_is_a_message_a_person_can_act_on(params, message):
    with pytest.raises(ValueError, match=message):
        Period.from_params(params, today=TODAY)


def test_a_period_knows_its_months_and_the_one_before():
    q4 = Period.quarter(2026, 4)
    assert [(m.start, m.end, m.kind) for m in q4.months()] == [
        (D("2026-10-01"), D("2026-10-31"), Kind.MONTH),
        (D("2026-11-01"), D("2026-11-30"), Kind.MONTH),
        (D("2026-12-01"), D("2026-12-31"), Kind.MONTH),
    ]
    assert q4.month_numbers() == [10, 11, 12]
    assert q4.previous() == Period.quarter(2026, 3) and Period.quarter(2026, 1).previous() == Period.quarter(2025, 4)
    assert Period.year(2026).previous() == Period.year(2025) and len(Period.year(2026).months()) == 12
    # A range's months are clipped to it: 10-05..10-31 (cut at the start), November, 12-01..12-03.
    r = Period.range(D("2026-10-05"), D("2026-12-03"))
    assert [(m.start, m.end, m.kind) for m in r.months()] == [
        (D("2026-10-05"), D("2026-10-31"), Kind.RANGE),
        (D("2026-11-01"), D("2026-11-30"), Kind.MONTH),
        (D("2026-12-01"), D("2026-12-03"), Kind.MID_MONTH),
    ]
    # 60 days before: 2026-08-06..10-04.
    assert r.previous() == Period.range(D("2026-08-06"), D("2026-10-04"))
    assert Period.month(2026, 3).previous() == Period.month(2026, 2)
    assert Period.mid_month(D("2026-03-01")).previous() == Period.mid_month(D("2026-02-01"))
    assert Period.week(D("2026-03-02")).previous() == Period.week(D("2026-02-23"))
    assert Period.month(2026, 11).until(D("2026-11-20")) == Period(D("2026-11-01"), D("2026-11-20"), Kind.MID_MONTH)


def test_month_arithmetic():
    assert add_months(D("2026-01-31"), -1) == D("2025-12-01") and add_months(D("2026-11-15"), 2) == D("2027-01-01")
    assert month_end(D("2028-02-10")) == D("2028-02-29")
    assert parse_month("2026-02") == (D("2026-02-01"), D("2026-02-28"))
    assert parse_month("2026-02", until=D("2026-02-15")) == (D("2026-02-01"), D("2026-02-15"))


def test_one_rate_type_adds_by_numerators_and_denominators():
    # 1/4 = 25% and 3/4 = 75% make 4/8 = 50%, not 100%; a zero denominator is no rate, never an error.
    assert Rate(1, 4) + Rate(3, 4) == Rate(4, 8)
    assert (Rate(4, 8).value, Rate(4, 8).percent) == (0.5, 50.0)
    assert sum([Rate(1, 3), Rate(0, 0), Rate(1, 1)], Rate.zero()).as_json() == {
        "numerator": 2,
        "denominator": 4,
        "rate": 0.5,
    }
    assert Rate(1, 0).value is None and Rate(1, 0).as_json() == {"numerator": 1, "denominator": 0, "rate": None}
    assert Rate(1, 3).as_json()["rate"] == 0.3333 and Rate(1, 3).decimal == Decimal("0.3333")
    assert ratio(2, 3) == {"numerator": 2, "denominator": 3, "rate": 0.6667}  # kpis.ratio is the same type
    assert Rate.of({"numerator": 2, "denominator": 5, "rate": 0.4}) == Rate(2, 5)

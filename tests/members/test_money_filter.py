"""The `money` template filter: ¥ with thousands separators in every language, Decimal throughout."""
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import translation

from members.templatetags.money import format_money


def render(source: str, **context) -> str:
    return Template("{% load money %}" + source).render(Context(context))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12000"), "¥12,000.00"),
        (Decimal("12000.5"), "¥12,000.50"),
        (Decimal("1234567.89"), "¥1,234,567.89"),
        (Decimal("999.99"), "¥999.99"),
        (Decimal("0"), "¥0.00"),
        (Decimal("-1500"), "-¥1,500.00"),  # a return: the minus before the currency sign
        (Decimal("-0.001"), "¥0.00"),  # rounds to nothing: no "-¥0.00"
        (Decimal("0.125"), "¥0.13"),  # half up, as a till rounds; format() alone would give 0.12
        (Decimal("2.675"), "¥2.68"),
        (12000, "¥12,000.00"),
        ("18000.00", "¥18,000.00"),  # frozen campaign figures are stored as strings
        (None, "—"),
        ("", "—"),
    ],
)
def test_it_formats_amounts(value, expected):
    assert render("{{ amount|money }}", amount=value) == expected


def test_it_keeps_decimal_precision_beyond_float():
    # 2^53 + 1 has no exact float; a float round trip would print ...992.00.
    assert format_money(Decimal("9007199254740993.00")) == "¥9,007,199,254,740,993.00"


def test_it_takes_a_float_by_its_shown_value():
    # 2.675 as a float is 2.67499999…; through its repr it rounds half up like the Decimal.
    assert format_money(2.675) == "¥2.68"


def test_it_takes_the_number_of_places():
    assert render("{{ amount|money:0 }}", amount=Decimal("12000.40")) == "¥12,000"
    assert render("{{ amount|money:0 }}", amount=Decimal("-0.4")) == "¥0"


@pytest.mark.parametrize("value", ["abc", Decimal("NaN"), Decimal("Infinity"), object()])
def test_it_shows_nothing_for_what_is_not_an_amount(value):
    assert render("{{ amount|money }}", amount=value) == ""


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_it_groups_thousands_in_every_language(language, settings):
    # zh-hans formats have no thousands separator and USE_THOUSAND_SEPARATOR stays off (it would
    # group ids and years too): the filter alone groups, the same way in both languages.
    assert settings.USE_THOUSAND_SEPARATOR is False
    with translation.override(language):
        assert render("{{ amount|money }} {{ year }}", amount=Decimal("12000"), year=2026) == "¥12,000.00 2026"

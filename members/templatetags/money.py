"""Amounts as staff read them, in every language: ¥12,000.00, -¥1,500.00.

Django's zh-hans formats set no thousands separator, so `floatformat:"2g"` shows ¥12000.00 in
Chinese and 12,000.00 in English. USE_THOUSAND_SEPARATOR would group digits everywhere, ids and
years included; this filter groups money only. Amounts are CNY whatever the interface language.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

register = template.Library()

NOTHING = "—"


def format_money(value, places: int = 2) -> str:
    """¥ with thousands separators and `places` decimals (half up, as on a receipt); the minus
    before the ¥; "—" for None or ""; "" for something that is not a number (Django's filters
    fail quietly). A float goes through its shortest repr, never through binary arithmetic."""
    if value is None or value == "":
        return NOTHING
    try:
        places = int(places)
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, TypeError, ValueError):
        return ""
    if not amount.is_finite() or not 0 <= places <= 6:
        return ""
    amount = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    sign = "-" if amount < 0 else ""  # -0.00 (a rounded -0.001) is no debt: no sign.
    return f"{sign}¥{abs(amount):,.{places}f}"


@register.filter(is_safe=True)
def money(value, places: int = 2) -> str:
    """`{{ purchase.amount|money }}` → ¥12,000.00; `{{ budget|money:0 }}` → ¥12,000."""
    return format_money(value, places)

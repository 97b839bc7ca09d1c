"""Input rules for member data (DOMAIN §12): clear errors, in the user's language."""

from __future__ import annotations

import re
from datetime import date

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

_MAINLAND = re.compile(r"^1[3-9]\d{9}$")
_SEPARATORS = re.compile(r"[\s\-().]")
EARLIEST = date(1900, 1, 1)


def normalize_phone(raw: str) -> str:
    """A mainland mobile as 11 digits (13812345678), any other valid number as E.164 (+852...)."""
    value = _SEPARATORS.sub("", str(raw or "")).replace("＋", "+")
    if not value:
        raise ValidationError(_("请输入手机号。"), code="required")
    if value.startswith("00"):
        value = "+" + value[2:]
    if value.startswith("+86"):
        value = value[3:]
    elif value.startswith("86") and len(value) == 13:
        value = value[2:]
    if _MAINLAND.match(value):
        return value
    if value.startswith("+"):
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            number = None
        if number is not None and phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        raise ValidationError(
            _("“%(value)s”不是有效的国际号码（请以 + 和国家代码开头）。"), code="invalid", params={"value": raw}
        )
    raise ValidationError(
        _("“%(value)s”不是有效的手机号：大陆手机号为 11 位、以 13–19 开头；国际号码请以 + 开头。"),
        code="invalid",
        params={"value": raw},
    )


def mask_phone(phone: str) -> str:
    """138****5678: the first three and last four digits, as staff read them out."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_text(value: str, keep: int = 3) -> str:
    return value[:keep] + "…" if value else ""


def validate_past_date(value: date | None, *, label: str | None = None) -> None:
    """Dates in the future or before 1900 are refused."""
    if value is None:
        return
    today = timezone.localdate()
    what = label or _("日期")
    if value > today:
        raise ValidationError(
            _("%(what)s不能晚于今天（%(today)s）。"), code="future", params={"what": what, "today": today}
        )
    if value < EARLIEST:
        raise ValidationError(_("%(what)s不能早于 1900 年。"), code="too_old", params={"what": what})

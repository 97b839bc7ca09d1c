"""One parser for the values a client puts in a query string.

A query value is typed by hand, pasted from a chat or made up by a scanner: a value that is not what
the view expects is the client's error. Each function here returns the value in the form the view
needs, or raises `BadParameter`, which Django answers with a 400 (and the API with a JSON 400), never a
500. Only ASCII digits count as digits: `"²".isdigit()` is true in Python, `int("²")` is not.
"""

from __future__ import annotations

import re
from datetime import date

from django.core.exceptions import BadRequest
from django.http import QueryDict

ASCII_INT = re.compile(r"-?[0-9]{1,18}")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ISO_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
# NUL and the other C0 controls but tab, line feed and carriage return: no text field holds them, and
# PostgreSQL refuses a NUL in any string (a 500 if it reaches a query).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class BadParameter(BadRequest):
    """A query value the view cannot use; `str()` names the parameter and what is wrong."""

    def __init__(self, name: str, problem: str):
        self.name = name
        self.problem = problem
        super().__init__(f"{name}: {problem}")


def check_text(name: str, value: str, *, max_length: int = 200) -> str:
    """`value` unchanged if it is text a person could have typed; else `BadParameter`."""
    if CONTROL.search(value):
        raise BadParameter(name, "control characters are not allowed")
    if len(value) > max_length:
        raise BadParameter(name, f"at most {max_length} characters")
    return value


def check_query(params: QueryDict, *, max_length: int = 200) -> None:
    """Refuse a query string with a control character or an over-long value in any parameter.

    Forms that read `request.GET` validate their own fields; this covers the names they do not
    read, so a NUL byte anywhere in the URL is a 400 before any view runs a query."""
    for name, values in params.lists():
        check_text("parameter name", name, max_length=100)
        for value in values:
            check_text(name, value, max_length=max_length)


def text(params: QueryDict, name: str, *, default: str = "", max_length: int = 200) -> str:
    """A free-text value (a search), stripped; `default` when absent or blank."""
    value = params.get(name)
    if value is None:
        return default
    return check_text(name, value, max_length=max_length).strip() or default


def integer(
    params: QueryDict,
    name: str,
    *,
    default: int | None = None,
    min_value: int | None = None,
    max_value: int | None = None,
) -> int | None:
    """An integer written in ASCII digits; `default` when absent or blank."""
    return as_int(name, params.get(name), default=default, min_value=min_value, max_value=max_value)


def pk(params: QueryDict, name: str) -> int | None:
    """A database id (a positive integer), or None when absent."""
    return as_pk(name, params.get(name))


def iso_date(params: QueryDict, name: str, *, default: date | None = None) -> date | None:
    """A date as YYYY-MM-DD from 1900 on; `default` when absent or blank."""
    return as_date(name, params.get(name), default=default)


def month(params: QueryDict, name: str) -> tuple[int, int] | None:
    """(year, month) from YYYY-MM, or None when absent or blank."""
    return as_month(name, params.get(name))


def choice(params: QueryDict, name: str, choices, *, default: str = "") -> str:
    """One of `choices` (an iterable of values); `default` when absent or blank."""
    value = (params.get(name) or "").strip()
    if not value:
        return default
    if value not in set(choices):
        raise BadParameter(name, "not one of the allowed values")
    return value


def flag(params: QueryDict, name: str) -> bool:
    """True when the parameter is present with any non-empty value (`?print=1`)."""
    return bool(check_text(name, params.get(name) or "", max_length=20))


# The same checks on a value already taken from the query (a helper that receives the raw string).


def as_int(
    name: str,
    raw: str | None,
    *,
    default: int | None = None,
    min_value: int | None = None,
    max_value: int | None = None,
) -> int | None:
    value = (raw or "").strip()
    if not value:
        return default
    if not ASCII_INT.fullmatch(value):
        raise BadParameter(name, "not a whole number")
    number = int(value)
    if min_value is not None and number < min_value:
        raise BadParameter(name, f"must be at least {min_value}")
    if max_value is not None and number > max_value:
        raise BadParameter(name, f"must be at most {max_value}")
    return number


def as_pk(name: str, raw: str | None) -> int | None:
    # Up to the largest bigint: a larger id is refused here rather than overflowing in the database.
    return as_int(name, raw, min_value=1, max_value=2**63 - 1)


def as_date(name: str, raw: str | None, *, default: date | None = None) -> date | None:
    value = (raw or "").strip()
    if not value:
        return default
    if not ISO_DATE.fullmatch(value):
        raise BadParameter(name, "not a date (YYYY-MM-DD)")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise BadParameter(name, "no such date") from None
    if parsed.year < 1900:
        raise BadParameter(name, "before 1900")
    return parsed


def as_month(name: str, raw: str | None) -> tuple[int, int] | None:
    value = (raw or "").strip()
    if not value:
        return None
    match = ISO_MONTH.fullmatch(value)
    if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1900:
        raise BadParameter(name, "not a month (YYYY-MM)")
    return int(match[1]), int(match[2])

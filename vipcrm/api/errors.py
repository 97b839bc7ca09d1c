"""The API's one error format (REST_FRAMEWORK["EXCEPTION_HANDLER"] points here).

Every error answer, whatever raised it, is

    {"errors": [{"field": "tier", "code": "invalid_choice", "message": "…"}, …], "detail": "tier: …"}

`field` is the parameter or body field at fault (dotted for nested ones: `items.0.amount`), or null
for an error of the whole request; `code` is stable for programs; `message` is for people, in the
request's language (LocaleMiddleware: Accept-Language, else the site's Chinese). `detail` repeats
the first error on one line for a quick look. Headers DRF sets stay (401's `WWW-Authenticate`,
429's `Retry-After`).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import BadRequest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

from vipcrm import params

# DRF's and Django's names for "the request as a whole": field null in the answer.
NON_FIELD_KEYS = ("non_field_errors", "__all__")


def _flatten(detail: Any, field: str | None) -> list[dict[str, Any]]:
    """DRF's nested error detail (dicts of lists of ErrorDetail) as a flat list of errors."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            own = key in NON_FIELD_KEYS
            out += _flatten(value, field if own else (f"{field}.{key}" if field else str(key)))
        return out
    if isinstance(detail, list):
        out = []
        for index, value in enumerate(detail):
            # A list of messages belongs to `field`; a list of objects (a nested many=True) is numbered.
            nested = isinstance(value, (dict, list))
            out += _flatten(value, f"{field}.{index}" if nested and field else field)
        return out
    code = getattr(detail, "code", None) or "invalid"
    return [{"field": field, "code": str(code), "message": str(detail)}]


def errors_body(errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The body of an error answer from its list of errors."""
    first = errors[0] if errors else {"field": None, "message": ""}
    summary = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return {"errors": errors, "detail": summary}


def _as_api_exception(exc: Exception) -> Exception:
    """Django's own exceptions that reach a view, as DRF's (which DRF's handler knows)."""
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, params.BadParameter):
        return exceptions.ValidationError({exc.name: [exceptions.ErrorDetail(exc.problem, code="invalid")]})
    if isinstance(exc, BadRequest):
        return exceptions.ParseError(str(exc) or None)
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(as_serializer_error(exc))
    return exc


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    # Imported here: rest_framework.views imports the settings (and so this module) while it loads.
    from rest_framework.views import exception_handler as drf_exception_handler

    exc = _as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a server error: Django's 500 (and the error report), never a stack trace here
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail, None)
    else:
        detail = getattr(exc, "detail", response.data)
        errors = _flatten(detail if isinstance(detail, (dict, list)) else [detail], None)
    response.data = errors_body(errors)
    return response


class Conflict(exceptions.APIException):
    """409: a request the client cannot fix by sending it again as it is (a receipt number already
    on file for another receipt, an erased member). Raise it with an ErrorDetail carrying the code
    (`receipt_conflict`, `member_erased`), or a {field: [ErrorDetail]} dict."""

    status_code = 409
    default_code = "conflict"
    default_detail = "Conflict."

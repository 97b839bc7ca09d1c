"""The API's plumbing (REST_FRAMEWORK in settings points here): who may call, what bodies it reads,
how a client's mistake is answered."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions, parsers

# A receipt is two levels deep (the purchase and its items); 32 is far beyond any body the API
# reads, and far below what makes Python's json module recurse out of the stack.
MAX_JSON_DEPTH = 32


def json_depth(value) -> int:
    """How deeply lists and objects nest in a parsed JSON value (a scalar is 0). Iterative, so a
    hostile body cannot exhaust the stack here either."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((child, depth + 1) for child in children)
    return deepest


class JSONParser(parsers.JSONParser):
    """DRF's parser, refusing deeply nested bodies with a 400 (json.load would raise RecursionError,
    which DRF does not catch: a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.") from None
        if json_depth(data) > MAX_JSON_DEPTH:
            raise exceptions.ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        return data


class BasicAuthentication(authentication.BasicAuthentication):
    """Basic authentication that refuses a temporary password: a person whose password was reset
    by their manager sets their own on the web first (the API cannot show that form)."""

    def authenticate_credentials(self, userid, password, request=None):
        user, auth = super().authenticate_credentials(userid, password, request)
        if getattr(user, "must_change_password", False):
            raise exceptions.AuthenticationFailed(_("请先在网页上修改临时密码。"))
        return user, auth

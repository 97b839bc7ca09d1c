"""Error reporting with sentry-sdk, only when SENTRY_DSN is set (vipcrm/settings/base.py).

Django and Celery integrations, and no personal data. What `send_default_pii=False` promised is
said with `data_collection` (sentry-sdk 2.75 deprecates send_default_pii in its favour), and more
strictly: no user, cookies, query strings (a search holds a name or a phone), request bodies, SQL
parameters, queue payloads or stack-frame variables (they hold members' names and phones). And
before_send / before_breadcrumb replace every mainland mobile number (11 digits, 1[3-9]…, with or
without +86 and separators) left in a message, an exception value, a breadcrumb or any other string.
"""

from __future__ import annotations

import re
from typing import Any

PHONE = re.compile(r"(?<![\d+])(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)")
REPLACEMENT = "[phone]"


# send_default_pii=False, and stricter (every field given: an omitted one would default to "collect").
DATA_COLLECTION = {
    "user_info": False,
    "cookies": {"mode": "off"},
    # Headers minus the denylist (authorization, cookies, tokens…) and the client's address.
    "http_headers": {"request": {"mode": "denylist", "terms": ["forwarded", "-ip", "remote-", "via", "-user"]}},
    "http_bodies": [],
    "url_query_params": {"mode": "off"},
    "graphql": {"document": False, "variables": False},
    "gen_ai": {"inputs": False, "outputs": False},
    "database_query_data": False,
    "queues": False,
    "stack_frame_variables": False,
    "frame_context_lines": 5,
}


def scrub(value: Any) -> Any:
    """`value` with every mobile number in its strings replaced (dicts and lists walked)."""
    if isinstance(value, str):
        return PHONE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {key: scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub(item) for item in value)
    return value


def before_send(event: dict, hint: dict) -> dict:
    return scrub(event)


def before_breadcrumb(crumb: dict, hint: dict) -> dict:
    return scrub(crumb)


def sentry_init(dsn: str, *, environment: str, release: str | None, traces_sample_rate: float) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration(monitor_beat_tasks=False)],
        data_collection=DATA_COLLECTION,
        max_request_body_size="never",
        traces_sample_rate=traces_sample_rate,
        before_send=before_send,
        before_send_transaction=before_send,
        before_breadcrumb=before_breadcrumb,
    )

"""Log lines as JSON when DJANGO_LOG_FORMAT=json (for a log collector); human-readable otherwise.

One JSON object per line: time (ISO 8601, UTC), level, logger, message, and, when there is one,
request_id, task_id and task (inside a Celery task) and exc (the traceback). The request id is the
X-Request-ID header the proxy in front sets (nginx: `proxy_set_header X-Request-ID $request_id;`),
kept by RequestIdMiddleware for every line logged while the request is served; or a `request_id`
given in `extra`.

Django uses JsonFormatter through LOGGING (vipcrm/settings/base.py). Celery's worker and beat set up
their own logging; `celery_json`, connected to Celery's logging signals in vipcrm/celery.py, gives
their handlers the same formatter (this module does not import Celery).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime


def json_enabled() -> bool:
    # Read from the environment, not settings: Celery sets up logging before Django may be ready.
    return os.environ.get("DJANGO_LOG_FORMAT", "").strip().lower() == "json"


# The id of the request being served in this thread (RequestIdMiddleware), "" outside one.
current_request_id: ContextVar[str] = ContextVar("vipcrm_request_id", default="")
# What a request id may look like: a UUID, nginx's hex $request_id, a trace id; nothing else is kept.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")


class RequestIdMiddleware:
    """Keeps the request's X-Request-ID (when it has a sane one) for the log lines of its request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        token = current_request_id.set(given if REQUEST_ID.fullmatch(given) else "")
        try:
            return self.get_response(request)
        finally:
            current_request_id.reset(token)


def _request_id(record: logging.LogRecord) -> str | None:
    given = getattr(record, "request_id", None) or current_request_id.get()
    if given:
        return str(given)
    request = getattr(record, "request", None)
    headers = getattr(request, "headers", None)  # django.server's `request` is a socket: no headers
    if headers is not None and hasattr(headers, "get"):
        given = headers.get("X-Request-ID") or ""
        return given if REQUEST_ID.fullmatch(given) else None
    return None


def _task() -> tuple[str | None, str | None]:
    if "celery" not in sys.modules:
        return None, None
    from celery import current_task

    try:
        if current_task and current_task.request.id:
            return current_task.request.id, current_task.name
    except Exception:  # noqa: S110 - a log line must never fail for want of task details
        pass
    return None, None


class JsonFormatter(logging.Formatter):
    """One JSON object per line (newlines inside a message or traceback are escaped by JSON)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = _request_id(record)
        if request_id:
            entry["request_id"] = request_id
        task_id, task_name = _task()
        if task_id:
            entry["task_id"], entry["task"] = task_id, task_name
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def celery_json(logger: logging.Logger, **kwargs) -> None:
    """The worker's and beat's handlers write JSON lines too (Celery's own format otherwise)."""
    if not json_enabled():
        return
    for handler in logger.handlers:
        handler.setFormatter(JsonFormatter())

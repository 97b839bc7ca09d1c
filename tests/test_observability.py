"""Logs as JSON lines (DJANGO_LOG_FORMAT=json, vipcrm/logging.py) for Django, the Celery worker and
beat, and error reporting with sentry-sdk when SENTRY_DSN is set (vipcrm/sentry.py), without
personal data."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from vipcrm.logging import JsonFormatter, RequestIdMiddleware
from vipcrm.sentry import before_send, scrub

ROOT = Path(__file__).resolve().parent.parent


def record(message="hello %s", args=("world",), level=logging.INFO, **extra) -> logging.LogRecord:
    entry = logging.LogRecord("vipcrm.test", level, __file__, 1, message, args, None)
    entry.__dict__.update(extra)
    return entry


# --- JSON lines ----------------------------------------------------------------------------------


def test_a_record_is_one_json_object_on_one_line():
    line = JsonFormatter().format(record("第一行\n第二行 %s", ("x",)))

    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "vipcrm.test"
    assert entry["message"] == "第一行\n第二行 x"
    assert entry["time"].endswith("+00:00") and "T" in entry["time"]
    assert "request_id" not in entry


def test_it_carries_the_request_id_of_the_request_or_the_extra():
    request = RequestFactory().get("/members/", HTTP_X_REQUEST_ID="req-42")

    from_request = json.loads(JsonFormatter().format(record(request=request)))
    from_extra = json.loads(JsonFormatter().format(record(request_id="abc")))

    assert from_request["request_id"] == "req-42"
    assert from_extra["request_id"] == "abc"


def test_every_line_logged_while_serving_a_request_carries_its_id():
    lines = []

    def view(request):
        lines.append(json.loads(JsonFormatter().format(record("in the view", ()))))
        return HttpResponse()

    middleware = RequestIdMiddleware(view)
    middleware(RequestFactory().get("/", HTTP_X_REQUEST_ID="5f0c-77aa"))
    middleware(RequestFactory().get("/", HTTP_X_REQUEST_ID="<script>"))  # not an id: not kept
    middleware(RequestFactory().get("/"))

    assert [line.get("request_id") for line in lines] == ["5f0c-77aa", None, None]
    assert "request_id" not in json.loads(JsonFormatter().format(record()))  # after the request: none


def test_a_traceback_stays_inside_the_line():
    try:
        raise ValueError("boom")
    except ValueError:
        entry = record(exc_info=sys.exc_info())

    line = JsonFormatter().format(entry)

    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exc"]


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("DJANGO_LOG_FORMAT", "SENTRY_DSN")}
    environment.update({"DJANGO_SETTINGS_MODULE": "vipcrm.settings.test", "PYTHONPATH": str(ROOT), **env})
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


DJANGO_LOG = "import django, logging; django.setup(); logging.getLogger('vipcrm.probe').warning('会员 %s', 'x')"


def test_django_logs_json_lines_when_asked():
    result = run(DJANGO_LOG, DJANGO_LOG_FORMAT="json")

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if "vipcrm.probe" in line]
    assert lines == [{"time": lines[0]["time"], "level": "WARNING", "logger": "vipcrm.probe", "message": "会员 x"}]


def test_django_logs_plain_lines_by_default():
    result = run(DJANGO_LOG)

    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stderr.splitlines() if "vipcrm.probe" in line)
    assert line.endswith("WARNING vipcrm.probe: 会员 x")


CELERY_LOG = (
    "import logging; from vipcrm.celery import app; app.log.setup(loglevel='INFO', colorize=False); "
    "logging.getLogger('vipcrm.probe').warning('beat %s', 1); "
    "from celery.utils.log import get_task_logger; get_task_logger('vipcrm.tasks').warning('task line')"
)


@pytest.mark.parametrize(("env", "is_json"), [({"DJANGO_LOG_FORMAT": "json"}, True), ({}, False)])
def test_celery_worker_and_beat_logging_follows_the_format(env, is_json):
    # Worker and beat both set up their logging through app.log.setup (Celery's after_setup_logger
    # and after_setup_task_logger signals, which vipcrm/logging.py receives).
    result = run(CELERY_LOG, **env)

    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "beat 1" in line or "task line" in line]
    assert len(lines) == 2, result.stderr
    for line in lines:
        if is_json:
            assert {"time", "level", "logger", "message"} <= set(json.loads(line))
        else:
            with pytest.raises(json.JSONDecodeError):
                json.loads(line)


# --- Sentry --------------------------------------------------------------------------------------


def test_it_strips_mainland_mobiles_from_every_string():
    event = {
        "message": "会员 13812345678 的电话",
        "logentry": {"message": "call %s", "params": ["+86 139-1234-5678"], "formatted": "call 8613912345678"},
        "exception": {"values": [{"type": "ValueError", "value": "bad phone 15000001111."}]},
        "breadcrumbs": {"values": [{"message": "SELECT … WHERE phone = '18600001111'"}]},
        "extra": {"n": 5, "receipt": "R2024060100012345", "card": "VIP000123", "short": "1381234567"},
    }

    clean = before_send(event, {})

    text = json.dumps(clean, ensure_ascii=False)
    for phone in ("13812345678", "139-1234-5678", "13912345678", "15000001111", "18600001111"):
        assert phone not in text
    assert clean["message"] == "会员 [phone] 的电话"
    assert clean["logentry"]["params"] == ["[phone]"]
    # Numbers that are not mobiles stay: longer digit runs, cards, a 10-digit number.
    assert clean["extra"] == event["extra"]
    assert scrub(("a 13812345678",)) == ("a [phone]",)


# In a process of its own: sentry-sdk's integrations patch Django and Celery for good once set up.
SENTRY_PROBE = """
import json, sentry_sdk
from sentry_sdk.transport import Transport
from vipcrm import sentry

events = []

class Keep(Transport):
    def capture_envelope(self, envelope):
        events.extend(item.payload.json for item in envelope.items if item.type == "event")

original = sentry_sdk.init
options = {}
def init(**given):
    options.update(given)
    return original(transport=Keep(given), **given)
sentry_sdk.init = init

sentry.sentry_init("https://key@sentry.invalid/1", environment="test", release="", traces_sample_rate=0)
try:
    member_phone = "13812345678"  # a local variable that must not be sent
    raise RuntimeError(f"import row 3: phone {member_phone} taken")
except RuntimeError as e:
    sentry_sdk.capture_exception(e)
sentry_sdk.flush()
print(json.dumps({
    "events": events,
    "data_collection": sentry_sdk.get_client().options["data_collection"],
    "pii": sentry_sdk.scope.should_send_default_pii(),
    "integrations": sorted(sentry_sdk.get_client().integrations),
}, ensure_ascii=False))
"""


def test_it_reports_errors_without_personal_data_when_a_dsn_is_set():
    result = run(SENTRY_PROBE)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    resolved = report["data_collection"]
    assert resolved["user_info"] is False and report["pii"] is False
    assert resolved["stack_frame_variables"] is False and resolved["database_query_data"] is False
    assert resolved["url_query_params"] == {"mode": "off"} and resolved["http_bodies"] == []
    assert {"django", "celery"} <= set(report["integrations"])
    assert len(report["events"]) == 1
    text = json.dumps(report["events"][0], ensure_ascii=False)
    assert "13812345678" not in text
    assert "phone [phone] taken" in text


def test_settings_start_sentry_only_with_a_dsn():
    code = "import django, sentry_sdk; django.setup(); print(sentry_sdk.get_client().is_active())"

    off = run(code)
    on = run(code, SENTRY_DSN="https://key@sentry.invalid/1")

    assert off.stdout.strip() == "False", off.stderr
    assert on.stdout.strip() == "True", on.stderr

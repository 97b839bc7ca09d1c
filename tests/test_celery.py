"""The Celery app: its configuration, the beat schedule, and the heartbeat duty."""

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.core.cache import cache

from vipcrm.celery import app
from vipcrm.tasks import heartbeat

ROOT = Path(__file__).resolve().parent.parent


def test_it_acks_late_and_requeues_when_a_worker_dies():
    # Duties are neither lost (ack after the work) nor run by two workers at once (prefetch 1).
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_it_limits_task_time():
    assert 0 < app.conf.task_soft_time_limit < app.conf.task_time_limit
    if not app.conf.broker_url.startswith("filesystem://"):
        # Redis must not hand a running task to a second worker before the hard limit ends it.
        assert app.conf.broker_transport_options["visibility_timeout"] > app.conf.task_time_limit


def test_it_schedules_in_store_local_time():
    assert app.conf.timezone == "Asia/Shanghai"
    assert app.conf.enable_utc is True


def test_it_registers_the_heartbeat_and_schedules_it():
    app.loader.import_default_modules()

    assert "vipcrm.tasks.heartbeat" in app.tasks
    entries = [entry["task"] for entry in app.conf.beat_schedule.values()]
    assert "vipcrm.tasks.heartbeat" in entries


def test_it_keeps_the_embedded_broker_and_beat_state_under_var():
    assert Path(settings.CELERY_BEAT_SCHEDULE_FILENAME).parent == Path(settings.VAR_DIR)
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            assert Path(options[key]).is_dir()
            assert Path(options[key]).is_relative_to(settings.VAR_DIR)


def test_it_runs_the_heartbeat_when_called_directly():
    cache.delete("vipcrm:heartbeat")

    stamp = heartbeat()

    assert cache.get("vipcrm:heartbeat") == stamp


@pytest.mark.integration
def test_it_runs_the_heartbeat_on_a_real_worker(redis_broker, settings, tmp_path):
    """A worker process consumes the task from Redis and records its run in the shared cache."""
    queue = f"test-heartbeat-{uuid.uuid4().hex[:8]}"
    # A file cache of this test's own, shared with the worker: no other test or run touches it.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
    }
    assert cache.get("vipcrm:heartbeat") is None
    env = {
        **os.environ,  # CELERY_BROKER_URL and VIPCRM_TEST_REDIS_KEYPREFIX: this test's Redis keys
        "DJANGO_SETTINGS_MODULE": "vipcrm.settings.test",
        "VIPCRM_TEST_CACHE_DIR": str(tmp_path),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "vipcrm",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(worker.stdout), daemon=True)
    reader.start()
    sender = Celery("probe", broker=redis_broker.url)
    sender.conf.broker_transport_options = redis_broker.transport_options
    try:
        # Send once the worker listens: a message sent before its queue is bound can be dropped.
        deadline = time.monotonic() + 120  # a cold start under load (two suites at once) takes a while
        while not any("ready." in line for line in lines) and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.1)
        sender.send_task("vipcrm.tasks.heartbeat", queue=queue)
        while cache.get("vipcrm:heartbeat") is None and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.25)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        reader.join(timeout=5)
        sender.close()
    output = "".join(lines)
    assert cache.get("vipcrm:heartbeat") is not None, output
    assert "heartbeat" in output and "succeeded" in output, output


def test_the_daily_duty_is_scheduled_at_half_past_six_store_time():
    from celery.schedules import crontab

    from vipcrm.celery import app

    entry = app.conf.beat_schedule["daily-duty"]
    assert entry["task"] == "visits.daily_duty_all_stores"
    assert entry["schedule"] == crontab(hour=6, minute=30)
    assert app.conf.timezone == "Asia/Shanghai"
    assert "visits.daily_duty_all_stores" in app.tasks and "visits.daily_duty" in app.tasks

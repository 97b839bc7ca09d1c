"""Test settings: fast hashing, in-memory email, tasks queued with .delay() run in place (tests call
duties directly; the integration tests switch eager off and use a real worker). Each run has its
own SQLite file, cache and Redis keys, so that runs at the same time never disturb each other."""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# An outbox email queued on commit (duties.services.email_queue) is sent at once, into mail.outbox.
CELERY_TASK_ALWAYS_EAGER = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # The test database is a file of this run's own, in WAL mode, never SQLite's shared-cache
    # in-memory database. Tests that run a Celery worker or a live server in a thread of this
    # process use it through a second connection at the same time as the test. A shared-cache
    # in-memory database locks per table and answers a conflict with SQLITE_LOCKED ("database
    # table is locked") at once: no busy timeout applies to it, so such a test passed or failed
    # with the scheduler's luck. On a file, a conflict is SQLITE_BUSY, which the busy timeout (20 s,
    # base.py) waits out; WAL lets the test read while the worker writes; and transaction_mode
    # IMMEDIATE (base.py) takes the write lock at BEGIN, so no transaction can fail half-way when
    # it turns from reading to writing (the one SQLITE_BUSY a timeout cannot wait out).
    # The name carries the pid so that runs at the same time never share (or delete) a file;
    # synchronous=OFF: a test database needs no durability, and it keeps the file as fast as memory.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(Path(tempfile.gettempdir()) / f"vipcrm-test-{os.getpid()}.sqlite3"),
    }
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"  # noqa: F405

# A worker that a test starts in a subprocess (tests/test_celery.py) keeps its keys under the
# test's own prefix on the shared Redis database (tests/conftest.py, redis_broker).
if os.environ.get("VIPCRM_TEST_REDIS_KEYPREFIX") and CELERY_BROKER_URL.startswith("redis"):  # noqa: F405
    CELERY_BROKER_TRANSPORT_OPTIONS = {  # noqa: F405
        **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
        "global_keyprefix": os.environ["VIPCRM_TEST_REDIS_KEYPREFIX"],
    }

# A cache per process: test runs at the same time (and `make run`, whose file cache is under var/)
# never read, overwrite or delete each other's entries. A test that shares its cache with a worker
# in a subprocess gives both a file cache in a folder of its own (tests/test_celery.py).
if os.environ.get("VIPCRM_TEST_CACHE_DIR"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": os.environ["VIPCRM_TEST_CACHE_DIR"],
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "vipcrm-tests"}}

# Throttle counters live in the cache and user ids repeat from test to test: a generous rate keeps
# a long run from meeting a stray 429. The throttle tests set their own low rates.
REST_FRAMEWORK = {  # noqa: F405
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {
        **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],  # noqa: F405
        "user": "100000/minute",
        "anon": "100000/minute",
    },
}

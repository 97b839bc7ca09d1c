"""Shared set-up for the benchmarks: Django on a throwaway database, and a timer.

With DATABASE_URL set, its database name must end in "bench" (it is wiped); otherwise a temporary
SQLite file is used. Figures are printed, never asserted: speed is shown, not tested.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_setup() -> str:
    """Configure Django on a fresh database; returns a label for the printed figures."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vipcrm.settings.local")
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    url = os.environ.get("DATABASE_URL", "")
    if url:
        name = url.rsplit("/", 1)[-1].split("?")[0]
        if not name.endswith("bench"):
            sys.exit(f"DATABASE_URL's database ({name!r}) must end in 'bench': the benchmark wipes it.")
        _recreate_postgres(url, name)
        label = f"PostgreSQL ({name})"
    else:
        os.environ["VIPCRM_VAR_DIR"] = tempfile.mkdtemp(prefix="vipcrm-bench-")
        label = "SQLite (temporary file)"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return label


def _recreate_postgres(url: str, name: str) -> None:
    import psycopg

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@contextmanager
def timed(label: str, count: int | None = None, unit: str = "rows"):
    started = time.perf_counter()
    yield
    seconds = time.perf_counter() - started
    rate = f"  ({count / seconds:,.0f} {unit}/s)" if count else ""
    print(f"  {label:<48} {seconds:8.2f} s{rate}", flush=True)

"""The hashed lock files (pip-tools): they match the hand-edited requirements, pin everything with
hashes, and are what `make` installs (scripts/lock_check.py, Makefile)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("lock_check", ROOT / "scripts" / "lock_check.py")
lock_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lock_check)


def test_the_lock_files_match_the_requirements():
    assert lock_check.problems() == [], "run `make lock` and commit requirements.lock and requirements-dev.lock"


def test_every_locked_package_is_pinned_with_hashes():
    for name in ("requirements.lock", "requirements-dev.lock"):
        text = (ROOT / name).read_text()
        entries = re.findall(r"^([A-Za-z0-9][^\s=]*)==(\S+)((?: \\\n\s+--hash=sha256:[0-9a-f]{64})*)", text, re.M)
        assert len(entries) > 30, name
        unhashed = [package for package, _, hashes in entries if "--hash=sha256:" not in hashes]
        assert unhashed == [], name
        # No machine's own index or wheel folder in a committed file.
        assert "file://" not in text and "--find-links" not in text and "/opt/" not in text


def test_the_dev_lock_keeps_the_runtime_versions():
    runtime = lock_check.pins(ROOT / "requirements.lock")
    dev = lock_check.pins(ROOT / "requirements-dev.lock")

    assert {package: dev.get(package) for package in runtime} == runtime


def test_it_tells_what_is_missing_or_moved(tmp_path):
    (tmp_path / "requirements.txt").write_text("Django==5.2.19\nsentry_sdk[django]==2.75.0\nnew-thing==1.0\n")
    (tmp_path / "requirements-dev.txt").write_text("-r requirements.txt\npytest==9.2.0  # tests\n")
    (tmp_path / "requirements.lock").write_text("django==5.2.19 \\\n    --hash=sha256:aa\nsentry-sdk==2.74.0\n")
    (tmp_path / "requirements-dev.lock").write_text(
        "django==5.2.19\nsentry-sdk==2.75.0\nnew-thing==1.0\npytest==9.2.0\n"
    )

    assert lock_check.problems(tmp_path) == [
        "requirements.txt pins sentry-sdk==2.75.0, requirements.lock has 2.74.0",
        "requirements.txt names new-thing, which requirements.lock lacks",
    ]


def test_make_installs_from_the_lock_with_hashes_and_can_refresh_it():
    makefile = (ROOT / "Makefile").read_text()

    assert "--require-hashes -r requirements-dev.lock" in makefile
    assert re.search(r"^lock:", makefile, re.M)
    assert "scripts/lock_check.py" in makefile

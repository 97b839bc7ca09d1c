"""Called by `make run` before the processes start.

On a fresh database: seed the demo (unless VIPCRM_SEED_DEMO=0) and create the `admin` superuser
(role HQ) with a generated password saved in var/admin-login.txt. Every time: print where to log
in and with what, so the login is never more than a scroll away.
"""
import os
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vipcrm.settings.local")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from accounts.models import Role, Staff, Store  # noqa: E402

ADMIN_USERNAME = "admin"


def login_file() -> Path:
    return Path(settings.VAR_DIR) / "admin-login.txt"


def ensure_admin() -> str | None:
    """The admin's password: generated and saved the first time, read back afterwards.

    None when an `admin` exists that this script did not create (its password is not ours to know).
    """
    path = login_file()
    if path.exists():
        return path.read_text(encoding="utf-8").strip() or None
    if Staff.objects.filter(username=ADMIN_USERNAME).exists():
        return None
    password = secrets.token_urlsafe(12)
    Staff.objects.create_superuser(
        username=ADMIN_USERNAME, email="", password=password, role=Role.HQ, display_name="管理员"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password + "\n", encoding="utf-8")
    path.chmod(0o600)
    return password


def seed_if_fresh() -> None:
    if os.environ.get("VIPCRM_SEED_DEMO", "1").lower() in ("0", "false", "no"):
        return
    # Only an empty database gets the demo: never seed one that holds real stores.
    if not Store.objects.exists():
        call_command("seed_demo")


def banner(password: str | None) -> str:
    host = os.environ.get("VIPCRM_HOST", "127.0.0.1")
    port = os.environ.get("VIPCRM_PORT", "8000")
    url = f"http://{host}:{port}/"
    if password:
        login = f"  user: {ADMIN_USERNAME}   password: {password}   (saved in {login_file()})"
    else:
        login = (f"  user: {ADMIN_USERNAME} exists but its password was not generated here; "
                 f"set one with: .venv/bin/python manage.py changepassword {ADMIN_USERNAME}")
    lines = [
        "=" * 78,
        f"  VIP CRM is starting at {url}   (admin: {url}admin/)",
        login,
    ]
    if Staff.objects.filter(username="sh01_manager").exists():
        demo_password = os.environ.get("VIPCRM_DEMO_PASSWORD", "vipcrm-demo")
        lines.append(f"  demo users (password {demo_password}): hq, sh01_manager, sh01_vip, sh01_c1..c4, bj01_…")
    lines += [
        "  Worker and beat are alive when 'heartbeat: worker alive' appears below (every minute).",
        "  Ctrl-C stops everything.",
        "=" * 78,
    ]
    return "\n".join(lines)


def main() -> None:
    seed_if_fresh()
    password = ensure_admin()
    print(banner(password), flush=True)


if __name__ == "__main__":
    main()

"""Issue 10, findings 6, 9 and 10, each written as the attack that found it, now failing to succeed.

6. Brute force: 30 wrong passwords, then the right one, on the login page, the admin's login and the
   API's Basic authentication; unknown usernames cost the same hashing as known ones.
9. Errors: `?q=%00`, `?store=²`, malformed dates and numbers, deeply nested JSON, a NUL in a form;
   the API answers 401 with `WWW-Authenticate`.
10. Sessions: personal pages are not cached, a session ends after the idle timeout and at browser
    close, every page satisfies a Content-Security-Policy with no inline script, and seed_demo refuses
    the production settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from base64 import b64encode
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from unittest import mock

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import hashers
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from vipcrm.security import client_ip

from .test_permissions import PAGES, people  # noqa: F401  (people: the table's fixture, used by the crawl)

ATTEMPTS = 30
BASE_DIR = Path(settings.BASE_DIR)


def basic(username: str, password: str, **extra) -> dict:
    token = b64encode(f"{username}:{password}".encode()).decode()
    return {"HTTP_AUTHORIZATION": f"Basic {token}", **extra}


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


# --- Finding 6: brute force ----------------------------------------------------------------------


def test_it_locks_out_the_login_page_after_wrong_passwords(client, staff_a):
    for guess in range(ATTEMPTS):
        client.post(reverse("login"), {"username": "a_consultant", "password": f"guess{guess}"})

    response = client.post(reverse("login"), {"username": "a_consultant", "password": "pw"})

    assert response.status_code == 429
    assert "登录已锁定" in response.content.decode()
    assert not signed_in(client)
    assert client.get(reverse("members:list")).status_code == 302  # still sent to the login page


def test_it_answers_the_first_wrong_passwords_on_the_form_then_locks(client, staff_a):
    statuses = [
        client.post(reverse("login"), {"username": "a_consultant", "password": "nope"}).status_code
        for _ in range(settings.AXES_FAILURE_LIMIT)
    ]

    # Four ordinary "wrong password" forms, and the fifth failure locks.
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]


def test_it_locks_out_the_admin_login(client, hq):
    hq.is_staff = hq.is_superuser = True
    hq.save()
    login = reverse("admin:login")
    for guess in range(ATTEMPTS):
        client.post(login, {"username": "hq", "password": f"guess{guess}", "next": "/admin/"})

    response = client.post(login, {"username": "hq", "password": "pw", "next": "/admin/"})

    assert response.status_code == 429
    assert not signed_in(client)
    assert client.get(reverse("admin:index"))["Location"].startswith(login)


def test_it_locks_out_basic_authentication_on_the_api(client, staff_a):
    url = reverse("api:members")
    statuses = {client.get(url, **basic("a_manager", f"guess{guess}")).status_code for guess in range(ATTEMPTS)}

    response = client.get(url, **basic("a_manager", "pw"))

    assert statuses == {401}
    assert response.status_code == 401
    assert "results" not in response.json()


def test_it_keeps_the_person_out_only_from_the_guessing_address_and_only_for_the_cool_off(client, staff_a):
    url = reverse("api:members")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for guess in range(ATTEMPTS):
            client.get(url, **basic("a_manager", f"guess{guess}"))
        assert client.get(url, **basic("a_manager", "pw")).status_code == 401
        # The lockout is for the username *and* the address: the manager at the shop's own address still gets in.
        assert client.get(url, **basic("a_manager", "pw", REMOTE_ADDR="10.20.30.40")).status_code == 200
    with time_machine.travel(start + timedelta(minutes=14), tick=False):
        assert client.get(url, **basic("a_manager", "pw")).status_code == 401
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        assert client.get(url, **basic("a_manager", "pw")).status_code == 200


def _hashes_during(call) -> int:
    """How many times the password hasher ran inside `call()` (PBKDF2, production's hasher)."""
    with mock.patch.object(hashers, "pbkdf2", wraps=hashers.pbkdf2) as pbkdf2:
        call()
    return pbkdf2.call_count


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"])
def test_it_costs_an_unknown_username_the_same_hashing_as_a_known_one(client, staff_a):
    staff_a.manager.set_password("the-right-one")
    staff_a.manager.save()
    url = reverse("api:members")

    known = _hashes_during(lambda: client.get(url, **basic("a_manager", "wrong")))
    unknown = _hashes_during(lambda: client.get(url, **basic("nobody_here", "wrong")))

    # Both run the hasher exactly once: timing tells nothing about which usernames exist.
    assert known == unknown == 1


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"])
def test_it_spends_no_hashing_on_a_locked_out_guess(client, staff_a):
    staff_a.manager.set_password("the-right-one")
    staff_a.manager.save()
    url = reverse("api:members")
    assert _hashes_during(lambda: client.get(url, **basic("a_manager", "guess"))) == 1  # before the lockout
    for guess in range(settings.AXES_FAILURE_LIMIT - 1):
        client.get(url, **basic("a_manager", f"guess{guess}"))

    # Further guesses are refused before the password is checked: the attack costs the server nothing.
    assert _hashes_during(lambda: client.get(url, **basic("a_manager", "guess-again"))) == 0


@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.PBKDF2PasswordHasher"])
def test_it_cuts_off_guessing_over_many_usernames_from_one_address(client, staff_a):
    """Lockout per username would let a run over many usernames from one address hash on forever."""
    staff_a.manager.set_password("the-right-one")
    staff_a.manager.save()
    url = reverse("api:members")
    for n in range(settings.VIPCRM_LOGIN_ADDRESS_FAILURE_LIMIT):
        client.get(url, **basic(f"user{n}", "guess"))

    spraying_on = _hashes_during(lambda: client.get(url, **basic("user-next", "guess")))
    the_manager_here = client.get(url, **basic("a_manager", "the-right-one"))
    the_manager_elsewhere = client.get(url, **basic("a_manager", "the-right-one", REMOTE_ADDR="10.20.30.40"))
    form = client.post(reverse("login"), {"username": "a_manager", "password": "the-right-one"})

    assert spraying_on == 0
    assert the_manager_here.status_code == 401
    assert the_manager_elsewhere.status_code == 200
    assert form.status_code == 429 and not signed_in(client)


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, "", "10.0.0.1"),
        (0, "203.0.113.7", "10.0.0.1"),  # no proxy trusted: the header is the client's own say-so
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # the client wrote 6.6.6.6; the proxy saw .7
        (2, "6.6.6.6, 203.0.113.7, 198.51.100.2", "203.0.113.7"),
        (1, "not-an-address", "10.0.0.1"),
        (1, "", "10.0.0.1"),
    ],
)
def test_it_reads_the_client_address_behind_the_trusted_proxies(rf, settings, proxies, forwarded, expected):
    settings.VIPCRM_TRUSTED_PROXY_COUNT = proxies
    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)

    assert client_ip(request) == expected


def test_it_locks_out_one_client_behind_a_proxy_not_everyone_behind_it(client, staff_a, settings):
    settings.VIPCRM_TRUSTED_PROXY_COUNT = 1
    url = reverse("api:members")
    guesser = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.7"}
    shop = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "198.51.100.2"}
    for n in range(ATTEMPTS):
        client.get(url, **basic(f"user{n}", "guess", **guesser))
        client.get(url, **basic("a_manager", "guess", **guesser))

    assert client.get(url, **basic("a_manager", "pw", **guesser)).status_code == 401
    assert client.get(url, **basic("a_manager", "pw", **shop)).status_code == 200


def test_it_uses_a_standard_password_hasher_in_production():
    # The base settings keep Django's default hasher list: PBKDF2 first (test settings use MD5 for speed).
    from vipcrm.settings import base

    assert not hasattr(base, "PASSWORD_HASHERS")
    assert base.AUTHENTICATION_BACKENDS[0] == "vipcrm.security.LockoutBackend"


# --- Finding 9: errors ---------------------------------------------------------------------------


def test_it_answers_400_to_a_nul_byte_in_the_api_search(client, staff_a):
    response = client.get(reverse("api:members") + "?q=%00", **basic("a_manager", "pw"))

    assert response.status_code == 400
    assert response.json()["detail"].startswith("q:")


@pytest.mark.parametrize("query", [{"tier": "Z"}, {"tier": "Ａ"}, {"q": "1" * 51}])
def test_it_answers_400_to_a_bad_filter_in_the_api(client, staff_a, query):
    response = client.get(reverse("api:members"), query, **basic("a_manager", "pw"))

    assert response.status_code == 400
    assert response.json()["detail"].startswith(next(iter(query)) + ":")


def test_it_answers_400_to_a_nul_byte_in_the_member_search(client, staff_a):
    client.force_login(staff_a.manager)

    assert client.get(reverse("members:list") + "?q=%00").status_code == 400
    assert client.get(reverse("members:list") + "?q=138%000").status_code == 400
    assert client.post(reverse("members:export") + "?q=%00").status_code == 400


@pytest.mark.parametrize(
    "url_name", ["reports:dashboard", "reports:monthly", "reports:weekly", "reports:targets", "complaints:board"]
)
def test_it_answers_400_to_a_superscript_store_for_hq(client, hq, store_a, url_name):
    client.force_login(hq)

    response = client.get(reverse(url_name), {"store": "²"})

    assert response.status_code == 400
    assert "请求有误" in response.content.decode()


@pytest.mark.parametrize(
    ("url_name", "query"),
    [
        ("reports:targets", {"year": "２０２６"}),
        ("reports:targets", {"year": "2026", "month": "13"}),
        ("reports:members", {"figure": "churned", "month": "2026-13"}),
        ("reports:members", {"figure": "churned", "snapshot": "¹"}),
        ("complaints:register", {"member": "²"}),
        ("notifications", {"page": "x"}),
    ],
)
def test_it_answers_400_to_a_malformed_number_or_month(client, hq, store_a, url_name, query):
    client.force_login(hq)

    assert client.get(reverse(url_name), query).status_code == 400


@pytest.mark.parametrize("until", ["2026-02-30", "yesterday", "２０２６-01-01"])
def test_it_answers_400_to_a_malformed_date_in_the_api(client, hq, until):
    response = client.get(reverse("api:reports_monthly"), {"month": "2026-01", "until": until}, **basic("hq", "pw"))

    assert response.status_code == 400
    assert response.json()["detail"].startswith("until:")


@pytest.mark.parametrize("depth", [100, 50_000])
def test_it_answers_400_to_deeply_nested_json(client, staff_a, depth):
    body = '{"card_no": ' + "[" * depth + "]" * depth + "}"

    response = client.post(reverse("api:purchases"), body, content_type="application/json", **basic("a_manager", "pw"))

    assert response.status_code == 400
    assert "nested" in response.json()["detail"]


def test_it_still_reads_an_ordinary_json_body(client, staff_a, member_a):
    today = timezone.localdate().isoformat()
    body = {"card_no": member_a.card_no, "receipt_no": "R-1", "amount": "100.00", "date": today}

    response = client.post(
        reverse("api:purchases"), json.dumps(body), content_type="application/json", **basic("a_manager", "pw")
    )

    assert response.status_code in (200, 201), response.content


@pytest.mark.parametrize("url_name", ["api:members", "api:reports_monthly"])
def test_it_answers_401_with_www_authenticate_to_an_anonymous_api_call(client, url_name):
    response = client.get(reverse(url_name))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="api"'


def test_it_answers_a_nul_byte_in_a_form_field_with_a_form_error(client, staff_a):
    response = client.post(reverse("login"), {"username": "a_\x00consultant", "password": "pw"})

    assert response.status_code == 200
    assert "空字符" in response.content.decode() or "Null characters" in response.content.decode()
    assert not signed_in(client)


def test_it_answers_a_nul_byte_in_a_member_form_with_a_form_error(client, staff_a):
    client.force_login(staff_a.manager)

    response = client.post(reverse("members:create"), {"name": "张\x00丽", "phone": "13812345670"})

    assert response.status_code == 200
    assert response.context["form"].errors["name"]


# --- Finding 10: sessions, caching, CSP, seed_demo ------------------------------------------------


def test_it_forbids_caching_the_member_page_the_reveal_and_the_export(client, staff_a, member_a):
    client.force_login(staff_a.manager)

    responses = {
        "member page": client.get(reverse("members:detail", args=[member_a.pk])),
        "reveal": client.post(reverse("members:reveal_phone", args=[member_a.pk])),
        "export": client.post(reverse("members:export")),
        "search partial": client.get(reverse("members:list"), {"q": "张"}, HTTP_HX_REQUEST="true"),
    }

    for name, response in responses.items():
        assert response.status_code == 200, name
        assert "no-store" in response["Cache-Control"], name
        assert "private" in response["Cache-Control"], name


def test_it_forbids_caching_an_api_answer_to_basic_authentication(client, staff_a):
    response = client.get(reverse("api:members"), **basic("a_manager", "pw"))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_it_signs_out_after_the_idle_timeout(client, staff_a):
    page = reverse("members:list")
    start = timezone.now()
    idle = timedelta(minutes=settings.VIPCRM_SESSION_IDLE_MINUTES)
    with time_machine.travel(start, tick=False):
        client.force_login(staff_a.consultant)
        assert client.get(page).status_code == 200
    # Activity keeps the session: 40 minutes in all, never 30 without a request.
    with time_machine.travel(start + idle - timedelta(minutes=10), tick=False):
        assert client.get(page).status_code == 200
    with time_machine.travel(start + 2 * idle - timedelta(minutes=20), tick=False):
        assert client.get(page).status_code == 200
    # Then 31 minutes without one: signed out, sent to the login page with the reason.
    with time_machine.travel(start + 3 * idle - timedelta(minutes=19), tick=False):
        response = client.get(page)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
        assert not signed_in(client)
        assert "长时间未操作" in client.get(response["Location"]).content.decode()


def test_it_ends_the_session_cookie_when_the_browser_closes(client, staff_a):
    response = client.post(reverse("login"), {"username": "a_consultant", "password": "pw"})

    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert response.status_code == 302
    assert cookie["max-age"] == "" and cookie["expires"] == ""  # a browser-session cookie
    assert settings.VIPCRM_SESSION_IDLE_MINUTES == 30
    assert settings.SESSION_COOKIE_AGE <= (settings.VIPCRM_SESSION_IDLE_MINUTES + 5) * 60  # not 14 days


class ScriptAudit(HTMLParser):
    """Collects what a Content-Security-Policy without 'unsafe-inline' would block: inline <script>
    (a JSON data block is not run, so it is allowed), on*="" handlers and javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and not attrs.get("src") and attrs.get("type") != "application/json":
            self.problems.append(f"inline <script {attrs}>")
        for name, value in attrs.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")


def script_problems(html: str) -> list[str]:
    audit = ScriptAudit()
    audit.feed(html)
    return audit.problems


def test_it_sends_a_content_security_policy_without_inline_script(client, staff_a):
    client.force_login(staff_a.manager)

    response = client.get(reverse("visits:today"))

    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";") if part.strip())
    assert policy["script-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy["default-src"]
    assert "htmx-config" in response.content.decode()  # htmx told not to insert its inline style


@pytest.mark.parametrize("role", ["manager", "hq", "consultant"])
def test_it_renders_no_page_that_the_policy_would_break(client, people, role):  # noqa: F811
    """Crawl every GET page of the permission table that this role may open (pages, partials, API):
    each carries the policy, and none has an inline script or handler for it to block."""
    client.force_login(people.users[role])
    crawled, problems = 0, {}
    for page in PAGES:
        if page.method != "get" or page.expected[role] != 200:
            continue
        data = page.data(people) if callable(page.data) else page.data
        response = client.get(reverse(page.name, kwargs=page.kwargs(people)), data)
        assert response.status_code == 200, page.name
        assert "Content-Security-Policy" in response, page.name
        crawled += 1
        if "html" in response.get("Content-Type", ""):
            found = script_problems(response.content.decode())
            if found:
                problems[page.name] = found

    assert crawled > 20
    assert problems == {}


def test_it_renders_the_login_lockout_and_error_pages_without_inline_script(client, staff_a):
    login = client.get(reverse("login"))
    for guess in range(settings.AXES_FAILURE_LIMIT):
        locked = client.post(reverse("login"), {"username": "a_consultant", "password": f"guess{guess}"})
    bad = client.get(reverse("login") + "?next=%00")

    assert (login.status_code, locked.status_code, bad.status_code) == (200, 429, 400)
    for response in (login, locked, bad):
        assert "Content-Security-Policy" in response
        assert script_problems(response.content.decode()) == []


def test_it_keeps_every_template_free_of_inline_script():
    """The crawl sees the pages the table opens; this reads every template, so a page it does not
    reach cannot bring back an inline handler either."""
    problems = {}
    for template in (BASE_DIR / "templates").rglob("*.html"):
        found = script_problems(template.read_text(encoding="utf-8"))
        if found:
            problems[str(template.relative_to(BASE_DIR))] = found

    assert problems == {}


def test_it_refuses_to_seed_the_demo_under_the_production_settings(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "vipcrm.settings.production",
        "DJANGO_SECRET_KEY": "x" * 60,
        "DJANGO_ALLOWED_HOSTS": "vipcrm.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VIPCRM_VAR_DIR": str(tmp_path),
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "seed_demo", "--per-store", "1"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert "refuses to run under the production settings" in result.stderr
    assert not (tmp_path / "db.sqlite3").exists() or (tmp_path / "db.sqlite3").stat().st_size == 0


# What a person or a scanner might send: a superscript digit (isdigit() but not int()), a month 13,
# 30 February; for every name the views read.
FUZZ = [
    *((name, "²") for name in ("store", "member", "snapshot", "page", "year", "consultant", "tier")),
    ("month", "2026-13"),
    *((name, "2026-02-30") for name in ("week", "date", "day", "until", "start", "end")),
]


def test_it_never_answers_500_to_a_bad_query_value_on_any_page(client, people):  # noqa: F811
    """Every GET page of the permission table, as HQ (who may name any store), with each common query
    parameter set to a malformed value: a 200 (ignored), 400 or 404, never a server error."""
    client.force_login(people.users["hq"])
    client.raise_request_exception = False
    errors = []
    for page in {p.name: p for p in PAGES if p.method == "get" and p.expected["hq"] == 200}.values():
        url = reverse(page.name, kwargs=page.kwargs(people))
        for name, value in FUZZ:
            status = client.get(url, {name: value}).status_code
            if status >= 500:
                errors.append(f"{url}?{name}={value}: {status}")

    assert errors == []

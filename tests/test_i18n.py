"""English beside the Chinese UI (LANGUAGE_CODE zh-hans, English available): the catalog in
locale/en is complete, keeps every placeholder, is compiled, and covers every string in the code;
pages follow the language cookie and Accept-Language.

The msgids are the Chinese UI text. After changing a UI string: `make messages`, translate what is
new in locale/en/LC_MESSAGES/django.po, and run `make messages` again to compile it.
"""
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal

import polib
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from accounts.models import Role
from members.dates import lunar_label

from .factories import MemberFactory, PurchaseFactory, StaffFactory, StoreFactory

PO = settings.BASE_DIR / "locale" / "en" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
HAN = re.compile(r"[\u4e00-\u9fff]")
PERCENT = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrs]")
BRACE = re.compile(r"(?<!\{)\{(\w*)(?:[!:][^{}]*)?\}(?!\})")
TAG = re.compile(r"<[^>]+>")
# The language switch names each language in itself (简体中文 on an English page), on purpose.
LANGUAGE_BUTTON = re.compile(r"<button[^>]*lang=\"zh-hans\"[^>]*>简体中文</button>")


@pytest.fixture(autouse=True)
def default_language():
    """LocaleMiddleware activates a request's language in the thread and leaves it there: put the
    default back so that no test after an English page runs in English."""
    yield
    translation.deactivate()


@pytest.fixture(scope="module")
def catalog() -> list[polib.POEntry]:
    po = polib.pofile(str(PO))
    assert not po.metadata_is_fuzzy, "the catalog's header is marked fuzzy"
    return [e for e in po if not e.obsolete]


def label(entry: polib.POEntry) -> str:
    return f"{entry.msgctxt + ' | ' if entry.msgctxt else ''}{entry.msgid!r}"


def translations(entry: polib.POEntry) -> list[str]:
    return list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]


def placeholders(text: str, entry: polib.POEntry) -> set[str]:
    found = set(PERCENT.findall(text))
    if "python-brace-format" in entry.flags:
        found |= set(BRACE.findall(text))
    return found


def test_it_translates_every_message(catalog):
    assert len(catalog) > 1000
    fuzzy = [label(e) for e in catalog if "fuzzy" in e.flags]
    untranslated = [label(e) for e in catalog if not all(translations(e))]
    assert not fuzzy, f"fuzzy (check, then remove the flag): {fuzzy}"
    assert not untranslated, f"untranslated: {untranslated}"


def test_it_writes_english_rather_than_copies_of_the_chinese(catalog):
    copies = [label(e) for e in catalog if HAN.search(e.msgid) and e.msgid in translations(e)]
    assert not copies


def test_it_keeps_every_placeholder_and_tag(catalog):
    problems = []
    for entry in catalog:
        wanted = placeholders(entry.msgid, entry) | placeholders(entry.msgid_plural or "", entry)
        tags = sorted(TAG.findall(entry.msgid))
        for text in translations(entry):
            if placeholders(text, entry) != wanted:
                problems.append(f"{label(entry)}: {sorted(placeholders(text, entry))} ≠ {sorted(wanted)}")
            if sorted(TAG.findall(text)) != tags:
                problems.append(f"{label(entry)}: HTML tags differ")
            if "python-format" in entry.flags:
                try:
                    text % dict.fromkeys(wanted, 1)
                except (TypeError, ValueError, KeyError) as e:  # a lone % or a missing name
                    problems.append(f"{label(entry)}: {e!r}")
    assert not problems, "\n".join(problems)


def test_it_ships_the_compiled_catalog_matching_the_po(catalog):
    # A fresh machine may have no msgfmt: django.mo is in the repository, and must be current.
    compiled = {(e.msgctxt, e.msgid): translations(e) for e in polib.mofile(str(MO)) if e.msgid}
    source = {(e.msgctxt, e.msgid): translations(e) for e in catalog}
    stale = sorted(str(key) for key in source.keys() ^ compiled.keys() if key[1])
    changed = sorted(str(key) for key in source.keys() & compiled.keys() if source[key] != compiled[key])
    assert not stale and not changed, f"run `make messages` to compile django.mo: {stale[:5]} {changed[:5]}"


@pytest.mark.skipif(not (shutil.which("xgettext") and shutil.which("msgmerge")), reason="needs GNU gettext")
def test_it_covers_every_message_in_the_code(tmp_path, catalog):
    """makemessages on a copy of the code finds exactly the catalog's messages: none missing (a
    new string nobody translated) and none left over."""
    copy = tmp_path / "src"
    shutil.copytree(
        settings.BASE_DIR,
        copy,
        ignore=shutil.ignore_patterns(".*", "var", "static", "tests", "node_modules", "__pycache__", "*.mo"),
    )
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "en", "--no-obsolete", "--verbosity", "0"]
        + [f"--ignore={folder}" for folder in ("var", "static", "tests")],
        cwd=copy,
        check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "vipcrm.settings.test", "VIPCRM_VAR_DIR": str(tmp_path / "var")},
        capture_output=True,
    )
    extracted = polib.pofile(str(copy / PO.relative_to(settings.BASE_DIR)))
    found = {(e.msgctxt, e.msgid) for e in extracted if not e.obsolete}
    have = {(e.msgctxt, e.msgid) for e in catalog}
    assert not found - have, f"not in the catalog, run `make messages` and translate: {sorted(found - have, key=str)}"
    assert not have - found, f"no longer in the code, run `make messages`: {sorted(have - found, key=str)}"


def test_it_gives_lunar_dates_in_numbers_outside_chinese():
    # 1990-04-03 = 农历三月初八; 2020-05-23 = 农历闰四月初一.
    with translation.override("zh-hans"):
        assert lunar_label(date(1990, 4, 3)) == "农历三月初八"
    with translation.override("en"):
        assert lunar_label(date(1990, 4, 3)) == "Lunar 3/8"
        assert lunar_label(date(2020, 5, 23)) == "Lunar leap 4/1"


# --- Pages ---------------------------------------------------------------------------------------
# Data in ASCII, so that any Chinese left on an English page is the interface's own.


@pytest.fixture
def shop(db):
    store = StoreFactory(code="SHA", name="Jingan", region="East")
    manager = StaffFactory(username="manager", role=Role.MANAGER, store=store, first_name="Ann")
    member = MemberFactory(
        home_store=store, consultant=manager, name="Lily Chen", birthday=date(1990, 4, 3), birthday_lunar=True
    )
    PurchaseFactory(member=member, amount=Decimal("12000.00"), date=date(2026, 1, 5))
    return manager, member


def chinese_left(html: str) -> list[str]:
    return sorted({line.strip() for line in LANGUAGE_BUTTON.sub("", html).splitlines() if HAN.search(line)})


@pytest.mark.parametrize("how", ["cookie", "accept-language"])
def test_it_shows_the_login_page_in_english(client, how):
    if how == "cookie":
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        response = client.get(reverse("login"))
    else:
        response = client.get(reverse("login"), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")

    html = response.content.decode()
    assert '<html lang="en">' in html
    assert "Staff sign-in" in html and "员工登录" not in html
    assert not chinese_left(html)


def test_it_shows_chinese_by_default(client):
    html = client.get(reverse("login")).content.decode()

    assert '<html lang="zh-hans">' in html
    assert "员工登录" in html and "Staff sign-in" not in html
    assert ">English</button>" in html  # the switch, in its own language


@pytest.mark.parametrize(
    ("url_name", "with_member"),
    [
        ("members:list", False),
        ("members:detail", True),
        ("members:create", False),
        ("members:import", False),
        ("visits:today", False),
        ("visits:board", False),
        ("visits:invitations", False),
        ("visits:gifts", False),
        ("complaints:board", False),
        ("complaints:register", False),
        ("campaigns:list", False),
        ("campaigns:create", False),
        ("notifications", False),
    ],
)
def test_it_leaves_no_chinese_on_english_pages(client, shop, url_name, with_member):
    manager, member = shop
    client.force_login(manager)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    response = client.get(reverse(url_name, args=[member.pk] if with_member else []))

    assert response.status_code == 200
    html = response.content.decode()
    if url_name == "members:import":
        # The Chinese column names the importer accepts, shown beside the English ones.
        html = re.sub(r"<td>[a-z_]+ / .*?</td>", "", html)
    assert not chinese_left(html)


def test_it_shows_the_member_list_in_english(client, shop):
    manager, member = shop
    client.force_login(manager)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    html = client.get(reverse("members:list")).content.decode()

    assert "<title>Members · VIP CRM</title>" in html
    assert ">Members</a>" in html and ">Today</a>" in html
    assert "会员" not in html and "今日" not in html


def test_it_shows_a_member_in_english(client, shop):
    manager, member = shop
    client.force_login(manager)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    html = client.get(reverse("members:detail", args=[member.pk])).content.decode()

    assert "Tier and spend" in html and "Lunar 3/8" in html
    assert "¥12,000.00" in html


def test_it_shows_the_member_list_in_chinese(client, shop):
    manager, _ = shop
    client.force_login(manager)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"

    html = client.get(reverse("members:list")).content.decode()

    assert "<title>会员 · VIP CRM</title>" in html and ">今日</a>" in html
    assert "Members" not in html


def test_it_switches_language_with_the_navbar_button(client, shop):
    manager, _ = shop
    client.force_login(manager)

    response = client.post(reverse("set_language"), {"language": "en", "next": reverse("members:list")})

    assert response.status_code == 302 and response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    html = client.get(reverse("members:list")).content.decode()
    assert "<title>Members · VIP CRM</title>" in html
    assert 'lang="zh-hans"' in html and ">简体中文</button>" in html  # and back again

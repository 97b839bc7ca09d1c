"""The member list's slowest requests (issue 14): they were the garbage collector's full passes
over every object a web worker holds. A worker loads and freezes what pages use when it starts
(vipcrm/warmup.py), and the list lets go of its filter form's options by reference counting."""

import gc
import logging
from wsgiref.util import setup_testing_defaults

import pytest
from django.forms.boundfield import BoundWidget
from django.forms.models import ModelChoiceIteratorValue
from django.template import engines
from django.test.client import ClientHandler
from django.urls import reverse

from accounts.models import Role, Staff, Store
from members.models import ProgramRules
from vipcrm.warmup import warm_up

from ..factories import MemberFactory, StaffFactory, StoreFactory

# Session, user, the count, the page's ids (on a capped list), the program rules, the rows, unread
# notifications, the consultant and the store choices (bench: 9 at 100,000 members).
HQ_LIST_QUERIES = 9


@pytest.fixture
def hq_list(hq):
    """HQ and a chain with staff to choose from in the consultant filter."""
    ProgramRules.load()  # the row exists in any running system
    for code in ("S01", "S02", "S03"):
        store = StoreFactory(code=code)
        for _ in range(10):
            StaffFactory(store=store, role=Role.CONSULTANT)
        MemberFactory.create_batch(20, home_store=store)
    return hq


def served(client, path: str) -> str:
    """`path` through the handler alone, as a server calls it: the test client would keep copies
    of every template's context (and so the form's options) on its response."""
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "HTTP_HOST": "testserver"}
    environ["HTTP_COOKIE"] = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
    setup_testing_defaults(environ)
    response = ClientHandler()(environ)
    assert response.status_code == 200
    return response.content.decode()


def cyclic_garbage_after(call) -> list:
    """What `call` left that only the cyclic garbage collector would have freed."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        call()
        gc.collect()
        found = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return found


@pytest.mark.django_db
def test_the_hq_list_leaves_its_filter_options_to_reference_counting(client, hq_list):
    client.force_login(hq_list)
    url = reverse("members:list")
    served(client, url)  # warm

    def one_page():
        assert served(client, url).count("<option") >= 30 + 3  # the consultants and stores are offered

    garbage = cyclic_garbage_after(one_page)

    # Before: every option (value, label, the staff member and their store) stayed until a full pass.
    assert not [o for o in garbage if type(o) in (ModelChoiceIteratorValue, BoundWidget)]
    assert len([o for o in garbage if type(o) is Staff]) < 30  # at most the page's consultants, not the choices


@pytest.mark.django_db
def test_the_hq_list_shows_the_filters_and_reads_a_fixed_number_of_queries(
    client, hq_list, django_assert_max_num_queries
):
    client.force_login(hq_list)
    url = reverse("members:list")
    s02 = Store.objects.get(code="S02")

    with django_assert_max_num_queries(HQ_LIST_QUERIES):
        response = client.get(url)
    with django_assert_max_num_queries(HQ_LIST_QUERIES):
        filtered = client.get(url, {"store": s02.pk})

    html = response.content.decode()
    assert response.context["page"].paginator.count == 60
    for staff in Staff.objects.filter(role=Role.CONSULTANT):
        assert f'<option value="{staff.pk}"' in html
    assert 'name="store"' in html
    assert filtered.context["page"].paginator.count == 20
    assert f'<option value="{s02.pk}" selected>{s02}</option>' in filtered.content.decode()


def test_a_worker_start_loads_the_templates_and_freezes_what_it_loaded(caplog):
    engine = engines["django"].engine
    engine.template_loaders[0].reset()  # the cached loader: nothing compiled yet
    caplog.set_level(logging.WARNING, logger="vipcrm.warmup")
    try:
        warm_up()  # no database access: pytest-django would refuse it (and the warm-up log it)

        assert gc.get_freeze_count() > 10_000
        cached = engine.template_loaders[0].get_template_cache
        assert "members/member_list.html" in cached
        assert "members/_member_results.html" in cached
        assert not caplog.records
    finally:
        gc.unfreeze()


def test_a_broken_template_does_not_stop_a_worker_from_starting(tmp_path, settings, caplog):
    (tmp_path / "fine.html").write_text("{% load i18n %}{% translate 'ok' %}")
    (tmp_path / "broken.html").write_text("{% if %}")
    settings.TEMPLATES = [dict(settings.TEMPLATES[0], DIRS=[tmp_path])]
    caplog.set_level(logging.WARNING, logger="vipcrm.warmup")
    try:
        warm_up()

        assert "fine.html" in engines["django"].engine.template_loaders[0].get_template_cache
        assert [r for r in caplog.records if "broken.html" in r.getMessage()]
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()

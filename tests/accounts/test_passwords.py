"""Passwords (issue 10): every staff member changes their own; a manager resets their store's staff
(HQ anyone's) with a temporary password shown once, which must be changed at the next login."""

import re
from base64 import b64encode

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from accounts.models import AuditEntry, Role
from accounts.passwords import can_reset_password, staff_password_reset
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db
NEW = "Qiu-shui-2026!"


def change_password(client, old: str, new: str = NEW):
    return client.post(reverse("password_change"), {"old_password": old, "new_password1": new, "new_password2": new})


def log_in(client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def temporary_password_on(response) -> str:
    match = re.search(r'data-testid="temporary-password">([^<]+)<', response.content.decode())
    assert match, response.content.decode()[:2000]
    return match[1].strip()


def test_it_lets_a_consultant_change_their_own_password(client, staff_a):
    client.force_login(staff_a.consultant)

    response = change_password(client, "pw")

    assert response.status_code == 302
    assert response["Location"] == reverse("password_change_done")
    client.logout()
    assert log_in(client, "a_consultant", "pw").status_code == 200  # the old one: the form again
    assert log_in(client, "a_consultant", NEW).status_code == 302
    assert AuditEntry.objects.filter(action="staff.password.changed", actor=staff_a.consultant).count() == 1


def test_it_refuses_a_change_without_the_old_password_or_with_a_weak_one(client, staff_a):
    client.force_login(staff_a.consultant)

    wrong_old = change_password(client, "not-it")
    weak = change_password(client, "pw", "12345678")

    assert wrong_old.status_code == weak.status_code == 200
    assert wrong_old.context["form"].errors["old_password"]
    assert weak.context["form"].errors["new_password2"]


def test_it_links_the_password_change_page_from_the_navbar(client, staff_a):
    client.force_login(staff_a.consultant)

    page = client.get(reverse("members:list")).content.decode()

    assert reverse("password_change") in page
    assert reverse("staff_list") not in page  # only managers and HQ reset others'


def test_it_shows_a_generated_password_once_and_makes_the_person_change_it(client, staff_a):
    consultant = staff_a.consultant
    client.force_login(staff_a.manager)

    response = client.post(reverse("staff_password_reset", args=[consultant.pk]), {"mode": "generate"})

    temporary = temporary_password_on(response)
    assert len(temporary) == 12
    assert "no-store" in response["Cache-Control"]
    entry = AuditEntry.objects.get(action="staff.password.reset")
    assert (entry.actor, entry.object_id, entry.data["chosen"]) == (staff_a.manager, str(consultant.pk), False)
    assert temporary not in str(entry.data)

    client.logout()
    assert log_in(client, "a_consultant", "pw").status_code == 200  # the old password is gone
    assert log_in(client, "a_consultant", temporary).status_code == 302
    # Until they choose their own, every page sends them to the change page.
    assert client.get(reverse("members:list"))["Location"] == reverse("password_change")
    assert "临时密码" in client.get(reverse("password_change")).content.decode()
    assert change_password(client, temporary).status_code == 302
    assert client.get(reverse("members:list")).status_code == 200
    consultant.refresh_from_db()
    assert consultant.must_change_password is False


def test_it_refuses_the_temporary_password_on_the_api(client, staff_a):
    staff_password_reset(staff=staff_a.consultant, by=staff_a.manager, password=NEW)
    token = b64encode(f"a_consultant:{NEW}".encode()).decode()

    response = client.get(reverse("api:members"), HTTP_AUTHORIZATION=f"Basic {token}")

    assert response.status_code == 401


def test_it_sets_a_chosen_password_checked_by_the_validators(client, staff_a):
    client.force_login(staff_a.manager)
    url = reverse("staff_password_reset", args=[staff_a.consultant.pk])

    weak = client.post(url, {"mode": "choose", "password1": "password", "password2": "password"})
    mismatch = client.post(url, {"mode": "choose", "password1": NEW, "password2": NEW + "x"})
    chosen = client.post(url, {"mode": "choose", "password1": NEW, "password2": NEW})

    assert weak.context["form"].errors["password1"]
    assert mismatch.context["form"].errors["password2"]
    assert chosen.status_code == 200 and 'data-testid="temporary-password"' not in chosen.content.decode()
    staff_a.consultant.refresh_from_db()
    assert staff_a.consultant.check_password(NEW) and staff_a.consultant.must_change_password


def test_it_ends_the_persons_other_sessions_on_a_reset(client, staff_a):
    client.force_login(staff_a.consultant)
    assert client.get(reverse("members:list")).status_code == 200

    staff_password_reset(staff=staff_a.consultant, by=staff_a.manager)

    assert client.get(reverse("members:list")).status_code == 302


def test_it_lifts_a_lockout_on_a_reset(client, staff_a):
    for guess in range(30):
        log_in(client, "a_consultant", f"guess{guess}")
    assert log_in(client, "a_consultant", "pw").status_code == 429

    temporary = staff_password_reset(staff=staff_a.consultant, by=staff_a.manager)

    assert log_in(client, "a_consultant", temporary).status_code == 302


def test_it_lets_a_manager_reset_only_their_own_stores_staff(staff_a, staff_b, hq):
    manager = staff_a.manager
    other_manager = StaffFactory(username="a_manager2", role=Role.MANAGER, store=manager.store)
    superuser = StaffFactory(username="root", role=Role.HQ, store=None, is_superuser=True)

    assert can_reset_password(viewer=manager, staff=staff_a.consultant)
    assert can_reset_password(viewer=manager, staff=staff_a.specialist)
    assert can_reset_password(viewer=manager, staff=other_manager)
    assert not can_reset_password(viewer=manager, staff=staff_b.consultant)  # another store
    assert not can_reset_password(viewer=manager, staff=hq)
    assert not can_reset_password(viewer=manager, staff=manager)  # their own: the change page
    assert not can_reset_password(viewer=staff_a.specialist, staff=staff_a.consultant)
    assert can_reset_password(viewer=hq, staff=staff_b.manager)
    assert not can_reset_password(viewer=hq, staff=superuser)
    with pytest.raises(PermissionDenied):
        staff_password_reset(staff=staff_b.consultant, by=manager)


def test_it_lists_the_staff_a_manager_may_reset(client, staff_a, staff_b, hq):
    client.force_login(staff_a.manager)

    people = list(client.get(reverse("staff_list")).context["people"])

    assert set(people) == {staff_a.consultant, staff_a.specialist}


def test_it_answers_404_for_another_stores_staff(client, staff_a, staff_b):
    client.force_login(staff_a.manager)

    response = client.post(reverse("staff_password_reset", args=[staff_b.consultant.pk]), {"mode": "generate"})

    assert response.status_code == 404
    assert not AuditEntry.objects.filter(action="staff.password.reset").exists()

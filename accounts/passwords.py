"""Staff passwords: who may reset whose, and the reset itself (a service: keyword-only, atomic,
audited). A person changes their own on the password change page (Django's view); a manager or HQ
resets someone else's here when it is forgotten or the account is locked out."""

from __future__ import annotations

import secrets

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied
from django.db import transaction

from .models import Role, Staff
from .services import audit_log

# No 0/O, 1/l/I: the temporary password is read off a screen and typed on a shop's phone.
TEMPORARY_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
TEMPORARY_LENGTH = 12


def can_reset_password(*, viewer: Staff, staff: Staff) -> bool:
    """HQ for anyone; a manager for the other staff of their own store. Nobody resets their own
    (they change it) nor a superuser's (that stays with `manage.py changepassword`)."""
    if staff.pk == viewer.pk or staff.is_superuser or not staff.is_active:
        return False
    if viewer.is_hq:
        return True
    return viewer.is_manager and staff.role != Role.HQ and staff.store_id == viewer.store_id


def temporary_password() -> str:
    return "".join(secrets.choice(TEMPORARY_ALPHABET) for _ in range(TEMPORARY_LENGTH))


@transaction.atomic
def staff_password_reset(*, staff: Staff, by: Staff, password: str | None = None) -> str:
    """Give `staff` a new password and return it: `password` when chosen by `by` (checked by the
    password validators), else a generated temporary one, shown once and stored nowhere.

    Either way the person must change it at their next login (the manager knows it), their other
    sessions end (Django ties a session to the password hash), their login lockout is lifted, and
    the reset is audited (never the password). Raises PermissionDenied outside `by`'s reach and
    ValidationError for a chosen password the validators refuse.
    """
    if not can_reset_password(viewer=by, staff=staff):
        raise PermissionDenied
    chosen = password is not None
    if chosen:
        validate_password(password, user=staff)
    else:
        password = temporary_password()
    staff.set_password(password)
    staff.must_change_password = True
    staff.save(update_fields=["password", "must_change_password"])
    AxesProxyHandler.reset_attempts(username=staff.get_username())
    audit_log(actor=by, action="staff.password.reset", obj=staff, store=staff.store, chosen=chosen)
    return password


@transaction.atomic
def staff_password_changed(*, staff: Staff) -> None:
    """The person chose their own password (the change page): the temporary one's flag goes."""
    if staff.must_change_password:
        staff.must_change_password = False
        staff.save(update_fields=["must_change_password"])
    audit_log(actor=staff, action="staff.password.changed", obj=staff, store=staff.store)

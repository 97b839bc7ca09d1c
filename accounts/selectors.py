"""Reads of staff, scoped to the viewer."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Role, Staff


def staff_for_password_reset(*, viewer: Staff) -> QuerySet[Staff]:
    """The staff whose password `viewer` may reset (the rule of accounts.passwords.can_reset_password
    as a query): HQ everyone, a manager their own store's staff but HQ; never themselves nor a
    superuser; active accounts only."""
    people = Staff.objects.filter(is_active=True, is_superuser=False).exclude(pk=viewer.pk)
    if viewer.is_hq:
        return people.select_related("store").order_by("store__code", "role", "username")
    if viewer.is_manager:
        return people.filter(store_id=viewer.store_id).exclude(role=Role.HQ).order_by("role", "username")
    return Staff.objects.none()

"""Reads of staff and their confidentiality agreements, scoped to the viewer."""

from __future__ import annotations

import re

from django.conf import settings
from django.db.models import Count, Exists, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404

from .models import ConfidentialityAgreement, Role, Staff


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


def staff_scope(*, viewer: Staff) -> QuerySet[Staff]:
    """The staff `viewer` may see on the staff and agreement pages, active or not: HQ everyone, a
    manager or VIP specialist their own store's (HQ accounts aside), a consultant nobody.
    Superusers are left to `manage.py` and the admin. Another store's person is a 404."""
    people = Staff.objects.filter(is_superuser=False)
    if viewer.is_hq:
        return people
    if viewer.is_store_lead and viewer.store_id is not None:
        return people.filter(store_id=viewer.store_id).exclude(role=Role.HQ)
    return Staff.objects.none()


def staff_get(*, viewer: Staff, pk: int) -> Staff:
    staff = staff_scope(viewer=viewer).select_related("store").filter(pk=pk).first()
    if staff is None:
        raise Http404
    return staff


def _version_key(version: str) -> tuple:
    # "1.10" after "1.9", "2.0" after both: numbers compare as numbers, the text breaks ties.
    return (tuple(int(n) for n in re.findall(r"\d+", version)), version)


def agreement_current_version() -> str | None:
    """The version everyone should have signed: `AGREEMENT_CURRENT_VERSION` when the settings name
    one, else the highest version on file anywhere in the chain (filing a new version makes it the
    current one); None while no agreement is on file at all."""
    configured = getattr(settings, "AGREEMENT_CURRENT_VERSION", "")
    if configured:
        return configured
    versions = ConfidentialityAgreement.objects.order_by().values_list("version", flat=True).distinct()
    return max(versions, key=_version_key, default=None)


def _count_of(model, **filters) -> Coalesce:
    """A correlated COUNT per staff row: one query for the whole page, however many rows."""
    counted = model.objects.filter(**filters).order_by().values(next(iter(filters))).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _with_agreement_flags(people: QuerySet[Staff], *, version: str | None) -> QuerySet[Staff]:
    """Annotate whether an agreement is on file (`signed_any`, which opens member data) and whether
    one of `version` is (`signed_current`)."""
    agreements = ConfidentialityAgreement.objects.filter(staff=OuterRef("pk"))
    return people.annotate(
        signed_any=Exists(agreements),
        signed_current=Exists(agreements.filter(version=version)) if version else Value(False),
    )


def with_staff_figures(people: QuerySet[Staff], *, version: str | None) -> QuerySet[Staff]:
    """Annotate each person with the members they own (not erased), their open tasks and the
    agreement flags of `_with_agreement_flags`.

    The related models are reached through Staff's own relations, so accounts imports neither
    members nor visits."""
    member_model = Staff._meta.get_field("members").related_model
    task_model = Staff._meta.get_field("tasks").related_model
    people = people.annotate(
        members_owned=_count_of(member_model, consultant=OuterRef("pk"), erased_at__isnull=True),
        open_tasks=_count_of(task_model, assignee=OuterRef("pk"), status="open"),
    )
    return _with_agreement_flags(people, version=version)


def staff_list_rows(
    *, viewer: Staff, version: str | None, store_id: int | None = None, status: str = "active"
) -> QuerySet[Staff]:
    """The staff list: `viewer`'s scope but themselves, optionally one store (HQ's filter) and
    active, inactive or all, with the figures of `with_staff_figures` against agreement `version`."""
    people = staff_scope(viewer=viewer).exclude(pk=viewer.pk).select_related("store")
    if store_id is not None:
        people = people.filter(store_id=store_id)
    if status == "active":
        people = people.filter(is_active=True)
    elif status == "inactive":
        people = people.filter(is_active=False)
    people = with_staff_figures(people, version=version)
    return people.order_by("-is_active", "store__code", "role", "username")


def agreement_unsigned(*, viewer: Staff, version: str | None, store_id: int | None = None) -> QuerySet[Staff]:
    """Active staff in `viewer`'s scope (themselves included) without an agreement of `version`
    on file: everyone who has none at all first (their member data is masked), then those with an
    older version only."""
    people = staff_scope(viewer=viewer).filter(is_active=True).select_related("store")
    if store_id is not None:
        people = people.filter(store_id=store_id)
    people = _with_agreement_flags(people, version=version)
    people = people.filter(signed_current=False) if version else people.filter(signed_any=False)
    return people.order_by("signed_any", "store__code", "role", "username")


def agreements_on_file(*, viewer: Staff, staff: Staff | None = None) -> QuerySet[ConfidentialityAgreement]:
    """Agreements of the staff in `viewer`'s scope (or of one person), newest first."""
    agreements = ConfidentialityAgreement.objects.filter(staff__in=staff_scope(viewer=viewer))
    if staff is not None:
        agreements = agreements.filter(staff=staff)
    return agreements.select_related("staff__store", "recorded_by").order_by("-signed_on", "-created_at")


def agreement_get(*, viewer: Staff, pk: int) -> ConfidentialityAgreement:
    agreement = agreements_on_file(viewer=viewer).filter(pk=pk).first()
    if agreement is None:
        raise Http404
    return agreement

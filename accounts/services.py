from datetime import date
from typing import Any

from django.db import transaction

from .models import AuditEntry, ConfidentialityAgreement, Role, Staff, Store


def audit_log(
    *, actor: Staff | None, action: str, obj: Any = None, store: Store | None = None, **data: Any
) -> AuditEntry:
    """Write one audit entry. `obj` is any model instance; its type and pk are recorded."""
    return AuditEntry.objects.create(
        actor=actor,
        action=action,
        store=store,
        object_type=obj._meta.model_name if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        data=data,
    )


@transaction.atomic
def store_create(*, code: str, name: str, region: str = "", address: str = "") -> tuple[Store, bool]:
    """Create a store, or return the existing one with that code (running twice changes nothing)."""
    return Store.objects.get_or_create(
        code=code.strip().upper(), defaults={"name": name, "region": region, "address": address}
    )


@transaction.atomic
def staff_create(
    *,
    username: str,
    role: str,
    store: Store | None,
    password: str | None = None,
    display_name: str = "",
    email: str = "",
) -> Staff:
    if role != Role.HQ and store is None:
        raise ValueError("Only HQ staff may have no store.")
    staff = Staff(username=username, role=role, store=store, display_name=display_name, email=email)
    if password:
        staff.set_password(password)
    else:
        staff.set_unusable_password()
    staff.full_clean(exclude=["password"])
    staff.save()
    return staff


@transaction.atomic
def agreement_record(
    *, staff: Staff, signed_on: date, version: str = "1.0", by: Staff | None
) -> ConfidentialityAgreement:
    agreement, _ = ConfidentialityAgreement.objects.get_or_create(
        staff=staff, version=version, defaults={"signed_on": signed_on, "recorded_by": by}
    )
    staff.__dict__.pop("_signed_agreement", None)
    return agreement

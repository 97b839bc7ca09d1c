import getpass
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .models import AuditEntry, ConfidentialityAgreement, Role, Staff, Store
from .signals import staff_deactivated

# The management command running in this thread, if any (set by `running_command`, which every
# command goes through: see AccountsConfig.ready).
_COMMAND: ContextVar[str] = ContextVar("audit_command", default="")


@contextmanager
def running_command(name: str):
    """Entries written inside say which command wrote them and which OS user ran it."""
    token = _COMMAND.set(name)
    try:
        yield
    finally:
        _COMMAND.reset(token)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        return ""


def audit_log(
    *, actor: Staff | None, action: str, obj: Any = None, store: Store | None = None, **data: Any
) -> AuditEntry:
    """Write one audit entry. `obj` is any model instance; its type and pk are recorded.

    The actor's name and username are copied into the entry, so it still names them after their
    account is deleted. Work done from the command line also records the command (`via`) and the
    OS user who ran it, with or without a staff account behind it.
    """
    command = _COMMAND.get()
    if command:
        data.setdefault("via", f"command:{command}")
        data.setdefault("os_user", _os_user())
    return AuditEntry.objects.create(
        actor=actor,
        actor_name=str(actor) if actor is not None else "",
        actor_username=actor.username if actor is not None else "",
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
    """File a signed confidentiality agreement. Agreements are append-only: a new version supersedes
    the one before, none is changed or deleted, and none is back-dated: `signed_on` may not be in
    the future nor earlier than the latest agreement already on file for this person.

    Recording the same version again gives back the one on file (running twice changes nothing).
    """
    existing = ConfidentialityAgreement.objects.filter(staff=staff, version=version).first()
    if existing is not None:
        return existing
    agreement = ConfidentialityAgreement(staff=staff, signed_on=signed_on, version=version, recorded_by=by)
    agreement.full_clean()
    agreement.save()
    staff.__dict__.pop("_signed_agreement", None)
    audit_log(actor=by, action="agreement.recorded", obj=agreement, store=staff.store, staff=staff.pk, version=version)
    return agreement


def can_manage_staff(*, viewer: Staff, staff: Staff | None = None, store: Store | None = None) -> bool:
    """HQ manages everyone; a manager the consultants and VIP specialists of their own store (not
    other managers, HQ or themselves). Without `staff`, whether they may manage staff of `store`."""
    if viewer.is_hq:
        return staff is None or staff.pk != viewer.pk
    if not viewer.is_manager:
        return False
    if staff is None:
        return store is None or store.pk == viewer.store_id
    return staff.pk != viewer.pk and staff.store_id == viewer.store_id and staff.role in (
        Role.CONSULTANT,
        Role.VIP_SPECIALIST,
    )


@transaction.atomic
def staff_deactivate(*, staff: Staff, by: Staff | None, note: str = "") -> Staff:
    """Switch an account off (someone leaves). A consultant who still owns members is refused: the
    members are handed over first (members.ownership), so no member is left to a dead account.
    Whatever open tasks the person still holds move to the store's VIP specialist (else manager)
    through `staff_deactivated`; a deactivated person never holds open tasks."""
    staff = Staff.objects.select_for_update().get(pk=staff.pk)
    if not staff.is_active:
        return staff
    owned = staff.members.filter(erased_at__isnull=True).count()
    if owned:
        raise ValidationError(
            _("%(name)s 仍是 %(count)s 位会员的专属顾问：请先交接会员，再停用账号。")
            % {"name": staff, "count": owned},
            code="owns_members",
        )
    staff.is_active = False
    staff.save(update_fields=["is_active"])
    audit_log(actor=by, action="staff.deactivated", obj=staff, store=staff.store, note=note[:200])
    staff_deactivated.send(sender=Staff, staff=staff, by=by)
    return staff

import getpass
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
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


def roles_assignable(viewer: Staff) -> list[str]:
    """The roles `viewer` may give: HQ any (manager and HQ included), a manager consultant and VIP
    specialist only (nobody promotes a colleague to their own rank or above), anyone else none."""
    if viewer.is_hq:
        return list(Role.values)
    if viewer.is_manager:
        return [Role.CONSULTANT, Role.VIP_SPECIALIST]
    return []


def can_create_staff(*, viewer: Staff, role: str, store: Store | None) -> bool:
    """HQ creates anyone anywhere; a manager consultants and VIP specialists of their own store."""
    if role not in roles_assignable(viewer):
        return False
    return viewer.is_hq or (store is not None and store.pk == viewer.store_id)


def _username_taken(username: str, *, exclude_pk: int | None = None) -> bool:
    # Case-insensitive: "Li.Na" and "li.na" are the same person to whoever types them at login.
    return Staff.objects.filter(username__iexact=username).exclude(pk=exclude_pk).exists()


@transaction.atomic
def staff_create(
    *,
    username: str,
    role: str,
    store: Store | None,
    password: str | None = None,
    display_name: str = "",
    email: str = "",
    by: Staff | None = None,
) -> Staff:
    """Create an account. From the app (`by` given) the creator's rights are checked: a manager
    creates consultants and VIP specialists of their own store, HQ anyone (PermissionDenied
    otherwise). Commands and the demo seed pass no `by`. Audited as `staff.created`."""
    if by is not None and not can_create_staff(viewer=by, role=role, store=store):
        raise PermissionDenied
    if role != Role.HQ and store is None:
        raise ValueError("Only HQ staff may have no store.")
    username = username.strip()
    if _username_taken(username):
        raise ValidationError({"username": _("用户名“%(name)s”已被使用。") % {"name": username}})
    staff = Staff(username=username, role=role, store=store, display_name=display_name, email=email)
    if password:
        staff.set_password(password)
    else:
        staff.set_unusable_password()
    staff.full_clean(exclude=["password"])
    staff.save()
    audit_log(actor=by, action="staff.created", obj=staff, store=store, username=username, role=role)
    return staff


def owned_member_count(staff: Staff) -> int:
    return staff.members.filter(erased_at__isnull=True).count()


@transaction.atomic
def staff_update(*, staff: Staff, by: Staff, role: str, display_name: str, email: str, store: Store | None) -> Staff:
    """Change a colleague's role, display name, e-mail and (HQ only) store. Within `by`'s reach
    only (can_manage_staff: nobody edits themselves, a manager only their store's consultants and
    VIP specialists) and to a role `by` may give. Someone who still owns members keeps their store:
    their members are handed over first (the same rule as deactivation). Audited with the changes."""
    if not can_manage_staff(viewer=by, staff=staff) or role not in roles_assignable(by):
        raise PermissionDenied
    if role == Role.HQ:
        store = None
    elif not by.is_hq:
        store = staff.store  # a manager does not move people between stores
    if role != Role.HQ and store is None:
        raise ValidationError({"store": _("除总部外，员工必须属于一家门店。")})
    staff = Staff.objects.select_for_update().get(pk=staff.pk)
    before = {"role": staff.role, "store": staff.store_id, "display_name": staff.display_name, "email": staff.email}
    after = {"role": role, "store": store.pk if store else None, "display_name": display_name.strip(), "email": email}
    changes = {name: [before[name], after[name]] for name in before if before[name] != after[name]}
    if not changes:
        return staff
    if "store" in changes and (owned := owned_member_count(staff)):
        raise ValidationError(
            _("%(name)s 仍是 %(count)s 位会员的专属顾问：请先交接会员，再调换门店。") % {"name": staff, "count": owned},
            code="owns_members",
        )
    staff.role, staff.store, staff.display_name, staff.email = role, store, after["display_name"], email
    staff.full_clean(exclude=["password"])
    staff.save(update_fields=["role", "store", "display_name", "email"])
    audit_log(actor=by, action="staff.updated", obj=staff, store=staff.store, changes=changes)
    return staff


@transaction.atomic
def staff_reactivate(*, staff: Staff, by: Staff) -> Staff:
    """Switch a deactivated account back on (someone returns). Their old password works again; a
    manager resets it when it is forgotten. Running twice changes nothing."""
    if not can_manage_staff(viewer=by, staff=staff):
        raise PermissionDenied
    staff = Staff.objects.select_for_update().get(pk=staff.pk)
    if staff.is_active:
        return staff
    staff.is_active = True
    staff.save(update_fields=["is_active"])
    audit_log(actor=by, action="staff.reactivated", obj=staff, store=staff.store)
    return staff


# The scan of a signed agreement: PDF or a photo, told by its first bytes (a renamed .exe is not a
# PDF), small enough for a phone's camera and a store's network.
SCAN_MAX_BYTES = 5 * 1024 * 1024
SCAN_SIGNATURES = {
    "pdf": b"%PDF-",
    "jpeg": b"\xff\xd8\xff",
    "png": b"\x89PNG\r\n\x1a\n",
}
SCAN_CONTENT_TYPES = {"pdf": "application/pdf", "jpeg": "image/jpeg", "png": "image/png"}


def scan_kind(file) -> str | None:
    """The kind of scan ("pdf", "jpeg" or "png") by the file's first bytes; None for anything else."""
    file.seek(0)
    head = file.read(8)
    file.seek(0)
    return next((kind for kind, magic in SCAN_SIGNATURES.items() if head.startswith(magic)), None)


def scan_error(file: UploadedFile) -> str | None:
    """Why `file` cannot be filed as an agreement scan, or None."""
    if file.size > SCAN_MAX_BYTES:
        return _("扫描件不能超过 5 MB。")
    if scan_kind(file) is None:
        return _("扫描件只能是 PDF、JPEG 或 PNG 文件。")
    return None


def can_record_agreement(*, viewer: Staff, staff: Staff) -> bool:
    """The store's VIP specialist or manager for their store's staff, HQ for anyone; nobody files
    their own (the agreement is what opens member data to them)."""
    if staff.pk == viewer.pk:
        return False
    if viewer.is_hq:
        return True
    return viewer.is_store_lead and staff.store_id is not None and staff.store_id == viewer.store_id


@transaction.atomic
def agreement_record(
    *,
    staff: Staff,
    signed_on: date,
    version: str = "1.0",
    by: Staff | None,
    scan: UploadedFile | None = None,
) -> ConfidentialityAgreement:
    """File a signed confidentiality agreement. Agreements are append-only: a new version supersedes
    the one before, none is changed or deleted, and none is back-dated: `signed_on` may not be in
    the future nor earlier than the latest agreement already on file for this person.

    `scan` (PDF, JPEG or PNG, at most 5 MB: scan_error) is stored under a random name. Recording the
    same version again gives back the one on file (running twice changes nothing); with a scan, it
    files the scan on a record that has none yet (`agreement.scan.attached`) and refuses to replace
    one already there.
    """
    version = version.strip()
    if scan is not None and (error := scan_error(scan)):
        raise ValidationError({"scan": error})
    existing = ConfidentialityAgreement.objects.select_for_update().filter(staff=staff, version=version).first()
    if existing is not None:
        if scan is None:
            return existing
        if existing.scan:
            message = _("%(version)s 版协议已登记并附有扫描件；协议不能修改。") % {"version": version}
            raise ValidationError({"version": message})
        existing.scan.save("scan", scan, save=False)
        existing.save(update_fields=["scan"])
        audit_log(actor=by, action="agreement.scan.attached", obj=existing, store=staff.store, staff=staff.pk)
        return existing
    agreement = ConfidentialityAgreement(staff=staff, signed_on=signed_on, version=version, recorded_by=by)
    agreement.full_clean()
    if scan is not None:
        agreement.scan.save("scan", scan, save=False)
    try:
        agreement.save()
    except Exception:
        if agreement.scan:  # no stray scan without its record
            agreement.scan.delete(save=False)
        raise
    staff.__dict__.pop("_signed_agreement", None)
    audit_log(
        actor=by,
        action="agreement.recorded",
        obj=agreement,
        store=staff.store,
        staff=staff.pk,
        version=version,
        scan=bool(scan),
    )
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

"""Transfers between stores (转店, DOMAIN §13).

A member moves to another store at their own request: the receiving store's VIP specialist or
manager asks (having found the member by exact card number or full phone), the sending store's VIP
specialist or manager agrees or declines, and HQ may move a member at once. The member's history,
purchases and tier are their own rows and go along as they are; what changes is the home store and
the consultant (one in the new store, or none), recorded as one owner-history row with reason
TRANSFER dated the effective day. From that day the member's figures count for the new store
(`members.selectors.home_store_on`); receipts stay with the till that took them.

`member_transferred` is sent inside the transaction: visits cancels what is open in the old store
and makes what is due in the new one (visits/transfer_hooks.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Staff, Store
from accounts.services import audit_log

from .models import Member, MemberOwnerChange, OwnerChangeReason, TransferRequest, TransferStatus
from .ownership import owner_error
from .signals import member_transferred

SIGNING_SALT = "members.transfers"
# Long enough to fill in the request while the customer waits; a copied link is useless tomorrow.
TOKEN_MAX_AGE = 60 * 60


# --- Who may do what -----------------------------------------------------------------------------


def is_lead_of(viewer: Staff, store_id: int | None) -> bool:
    """The store's VIP specialist or manager."""
    return bool(viewer.is_store_lead and not viewer.is_hq and viewer.store_id == store_id)


def can_request_transfer(viewer: Staff) -> bool:
    """A store's VIP specialist or manager asks for members to move into their store."""
    return bool(viewer.is_store_lead and not viewer.is_hq and viewer.store_id)


def can_decide_transfer(viewer: Staff, request: TransferRequest) -> bool:
    """The sending store's VIP specialist or manager (or HQ) agrees or declines a pending request."""
    return request.status == TransferStatus.PENDING and (viewer.is_hq or is_lead_of(viewer, request.from_store_id))


def can_cancel_transfer(viewer: Staff, request: TransferRequest) -> bool:
    """The receiving store's VIP specialist or manager (or HQ) withdraws a pending request."""
    return request.status == TransferStatus.PENDING and (viewer.is_hq or is_lead_of(viewer, request.to_store_id))


# --- The move itself -----------------------------------------------------------------------------


def _check_consultant(consultant: Staff | None, store: Store) -> None:
    error = owner_error(consultant, store.pk)
    if error:
        raise ValidationError({"to_consultant": error})


@transaction.atomic
def member_transfer(
    *,
    member: Member,
    to_store: Store,
    consultant: Staff | None,
    by: Staff | None,
    note: str = "",
    on: date | None = None,
    request: TransferRequest | None = None,
) -> MemberOwnerChange:
    """Move the member to `to_store` with `consultant` (one of its active staff, or None) from day
    `on` (today, store-local): one owner-history row (reason TRANSFER), the member updated, any
    other pending request for the member withdrawn, audited, and `member_transferred` sent."""
    on = on or timezone.localdate()
    member = Member.objects.select_for_update(of=("self",)).select_related("home_store").get(pk=member.pk)
    if member.erased_at is not None:
        raise ValidationError(_("该会员已删除个人信息，不能转店。"))
    if member.home_store_id == to_store.pk:
        raise ValidationError({"to_store": _("会员已属于 %(store)s。") % {"store": to_store.name}})
    if not to_store.is_active:
        raise ValidationError({"to_store": _("%(store)s 已停业，不能转入。") % {"store": to_store.name}})
    _check_consultant(consultant, to_store)
    from_store = member.home_store
    change = MemberOwnerChange.objects.create(
        member=member,
        date=on,
        store=to_store,
        consultant=consultant,
        previous_store=from_store,
        previous_consultant_id=member.consultant_id,
        reason=OwnerChangeReason.TRANSFER,
        note=note[:200],
        by=by,
    )
    previous_consultant_id = member.consultant_id
    member.home_store, member.consultant = to_store, consultant
    member.save(update_fields=["home_store", "consultant", "updated_at"])
    others = TransferRequest.objects.filter(member=member, status=TransferStatus.PENDING)
    if request is not None:
        others = others.exclude(pk=request.pk)
    others.update(
        status=TransferStatus.CANCELLED,
        decided_by=by,
        decided_at=timezone.now(),
        decision_note=_("会员已转至 %(store)s") % {"store": to_store.name},
    )
    for store in (from_store, to_store):  # each store's log shows the member leaving or arriving
        audit_log(
            actor=by,
            action="member.transferred",
            obj=member,
            store=store,
            from_store=from_store.code,
            to_store=to_store.code,
            previous_consultant=previous_consultant_id,
            consultant=consultant.pk if consultant else None,
            effective_on=on.isoformat(),
            request=request.pk if request else None,
            note=note[:200],
        )
    member_transferred.send(sender=Member, member=member, from_store=from_store, to_store=to_store, on=on, by=by)
    return change


# --- Requests ------------------------------------------------------------------------------------


@transaction.atomic
def transfer_request(
    *, member: Member, to_store: Store, to_consultant: Staff | None, reason: str, by: Staff
) -> TransferRequest:
    """Ask for `member` to move to `to_store` (the requester's store; HQ: any, and done at once).
    One pending request per member: a second is refused, naming the one on file."""
    if not (by.is_hq or is_lead_of(by, to_store.pk)):
        raise PermissionDenied(_("只有转入门店的VIP专员或店长可以申请转入。"))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("请填写转店原因（会员的要求）。")})
    if member.erased_at is not None:
        raise ValidationError(_("该会员已删除个人信息，不能转店。"))
    if member.home_store_id == to_store.pk:
        raise ValidationError({"to_store": _("会员已属于 %(store)s。") % {"store": to_store.name}})
    _check_consultant(to_consultant, to_store)
    pending = TransferRequest.objects.filter(member=member, status=TransferStatus.PENDING).select_related("to_store")
    if (on_file := pending.first()) is not None:
        raise ValidationError(
            _("该会员已有待处理的转店申请（转入 %(store)s，%(when)s）。")
            % {"store": on_file.to_store.name, "when": timezone.localtime(on_file.requested_at).strftime("%Y-%m-%d")}
        )
    try:
        with transaction.atomic():
            request = TransferRequest.objects.create(
                member=member,
                from_store_id=member.home_store_id,
                to_store=to_store,
                to_consultant=to_consultant,
                reason=reason[:200],
                requested_by=by,
            )
    except IntegrityError:  # asked for at the same moment by someone else
        raise ValidationError(_("该会员已有待处理的转店申请。")) from None
    audit_log(
        actor=by,
        action="member.transfer.requested",
        obj=request,
        store=to_store,
        member=member.pk,
        from_store=member.home_store_id,
        to_store=to_store.pk,
    )
    if by.is_hq:
        _complete(request, by=by, note=reason)
    return request


def _complete(request: TransferRequest, *, by: Staff, note: str = "") -> None:
    consultant = request.to_consultant
    if consultant is not None and (not consultant.is_active or consultant.store_id != request.to_store_id):
        consultant = None  # left or moved since the request: the new store assigns someone
    today = timezone.localdate()
    member_transfer(
        member=request.member,
        to_store=request.to_store,
        consultant=consultant,
        by=by,
        note=note or request.reason,
        on=today,
        request=request,
    )
    request.status = TransferStatus.DONE
    request.decided_by = by
    request.decided_at = timezone.now()
    request.effective_on = today
    request.decision_note = request.decision_note or note[:200]
    request.save(update_fields=["status", "decided_by", "decided_at", "effective_on", "decision_note"])


@transaction.atomic
def transfer_decide(*, request: TransferRequest, agree: bool, by: Staff, note: str = "") -> TransferRequest:
    """The sending store agrees (the member moves today) or declines (a note says why)."""
    request = TransferRequest.objects.select_for_update().select_related("member", "to_store").get(pk=request.pk)
    if not can_decide_transfer(by, request):
        raise PermissionDenied(_("只有原门店的VIP专员或店长可以处理该申请。"))
    note = (note or "").strip()[:200]
    if request.member.home_store_id != request.from_store_id:
        raise ValidationError(_("会员已不在原门店，该申请无法处理。"))
    if not agree:
        if not note:
            raise ValidationError({"note": _("请说明不同意的原因。")})
        request.status = TransferStatus.DECLINED
        request.decided_by, request.decided_at, request.decision_note = by, timezone.now(), note
        request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        audit_log(actor=by, action="member.transfer.declined", obj=request, store=request.from_store, note=note)
        return request
    request.decision_note = note
    audit_log(actor=by, action="member.transfer.agreed", obj=request, store=request.from_store, note=note)
    _complete(request, by=by, note=note)
    return request


@transaction.atomic
def transfer_cancel(*, request: TransferRequest, by: Staff) -> TransferRequest:
    """The receiving store withdraws its pending request."""
    request = TransferRequest.objects.select_for_update().get(pk=request.pk)
    if not can_cancel_transfer(by, request):
        raise PermissionDenied(_("只有申请门店的VIP专员或店长可以撤回。"))
    request.status = TransferStatus.CANCELLED
    request.decided_by, request.decided_at = by, timezone.now()
    request.save(update_fields=["status", "decided_by", "decided_at"])
    audit_log(actor=by, action="member.transfer.cancelled", obj=request, store=request.to_store)
    return request


# --- Reads ---------------------------------------------------------------------------------------


def transfer_scope(*, viewer: Staff) -> QuerySet[TransferRequest]:
    """The requests the viewer may see: HQ all; a store's leads those into or out of their store."""
    qs = TransferRequest.objects.all()
    if viewer.is_hq:
        return qs
    if not viewer.is_store_lead or viewer.store_id is None:
        return qs.none()
    return qs.filter(Q(from_store_id=viewer.store_id) | Q(to_store_id=viewer.store_id))


def transfer_get(*, viewer: Staff, pk: int) -> TransferRequest:
    """A request of the viewer's scope, else 404."""
    try:
        return transfer_scope(viewer=viewer).select_related("member", "from_store", "to_store").get(pk=pk)
    except (TransferRequest.DoesNotExist, ValueError):
        raise Http404 from None


def transfer_list(*, viewer: Staff, direction: str = "") -> QuerySet[TransferRequest]:
    """The viewer's requests, pending first, newest first: `direction` "in" (into their store),
    "out" (out of it) or "" (both; HQ: all)."""
    qs = transfer_scope(viewer=viewer)
    if direction == "in" and viewer.store_id:
        qs = qs.filter(to_store_id=viewer.store_id)
    elif direction == "out" and viewer.store_id:
        qs = qs.filter(from_store_id=viewer.store_id)
    pending_first = Case(
        When(status=TransferStatus.PENDING, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return qs.select_related(
        "member", "from_store", "to_store", "to_consultant", "requested_by", "decided_by"
    ).order_by(pending_first, "-requested_at", "-pk")


def pending_transfer_of(*, member: Member) -> TransferRequest | None:
    return (
        TransferRequest.objects.filter(member=member, status=TransferStatus.PENDING)
        .select_related("to_store", "requested_by")
        .first()
    )


# --- Finding the member to ask for (exact card or full phone) ------------------------------------


@dataclass(frozen=True)
class TransferCandidate:
    """What the receiving store sees of another store's member: name, tier, masked phone, card
    and home store (DOMAIN §13), and a token naming the member for the request form."""

    member: Member
    masked_phone: str
    token: str


def transfer_token(*, viewer: Staff, member: Member) -> str:
    return signing.dumps({"m": member.pk, "v": viewer.pk}, salt=SIGNING_SALT)


def transfer_token_member(*, viewer: Staff, token: str) -> Member:
    """The member a token from the lookup names, if it was given to this viewer lately; else 404."""
    try:
        data = signing.loads(token or "", salt=SIGNING_SALT, max_age=TOKEN_MAX_AGE)
    except signing.BadSignature:
        raise Http404 from None
    if not isinstance(data, dict) or data.get("v") != viewer.pk:
        raise Http404
    member = Member.objects.select_related("home_store").filter(pk=data.get("m"), erased_at__isnull=True).first()
    if member is None:
        raise Http404
    return member

"""The complaint workflow (DOMAIN §8): registration, one transition service, the SLA check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Notification, Role, Staff, Store
from duties.services import email_queue, emails_keyed
from members.models import Member, ProgramRules
from members.selectors import member_by_phone, member_scope
from members.services import member_open_complaints_set
from members.validators import normalize_phone
from visits.models import TaskKind
from visits.services import task_create

from .models import OPEN_STATES, Category, Complaint, ComplaintChannel, ComplaintEvent, Severity, Status

LEADS = {Role.VIP_SPECIALIST, Role.MANAGER, Role.HQ}
APPROVERS = {Role.MANAGER, Role.HQ}
REVISIT_AFTER_DAYS = 3


@dataclass(frozen=True)
class Step:
    """Who may make a transition: store leads, the approvers, and/or the responsible staff."""

    roles: frozenset[str]
    assigned: bool = False  # the complaint's responsible staff may do it too
    required: tuple[str, ...] = ()  # fields that must be given (or already set) for this step


S = Status
TRANSITIONS: dict[tuple[str, str], Step] = {
    (S.REGISTERED, S.ACCEPTED): Step(frozenset(LEADS)),
    (S.REGISTERED, S.REJECTED): Step(frozenset(LEADS), required=("rejection_reason", "customer_told")),
    (S.ACCEPTED, S.INVESTIGATING): Step(frozenset(LEADS), assigned=True),
    (S.INVESTIGATING, S.SOLUTION_PROPOSED): Step(frozenset(LEADS), assigned=True, required=("solution",)),
    # A manager sends a solution back for more work, or approves it.
    (S.SOLUTION_PROPOSED, S.INVESTIGATING): Step(frozenset(APPROVERS)),
    (S.SOLUTION_PROPOSED, S.APPROVED): Step(frozenset(APPROVERS)),
    # Without approval only when none is needed (checked in `_check_gate`).
    (S.SOLUTION_PROPOSED, S.CARRIED_OUT): Step(frozenset(LEADS), assigned=True),
    (S.APPROVED, S.CARRIED_OUT): Step(frozenset(LEADS), assigned=True),
    (S.CARRIED_OUT, S.CUSTOMER_CONFIRMED): Step(frozenset(LEADS), assigned=True, required=("confirmation_note",)),
    (S.CUSTOMER_CONFIRMED, S.REVISITED): Step(frozenset(LEADS), assigned=True),
    (S.REVISITED, S.CLOSED): Step(frozenset(LEADS)),
    (S.REJECTED, S.CLOSED): Step(frozenset(LEADS)),
    # Reopening: back to investigation, with a reason.
    (S.CLOSED, S.INVESTIGATING): Step(frozenset(LEADS)),
}
# Fields a transition may set, beyond the note.
FIELDS = {
    "rejection_reason",
    "customer_told",
    "responsible_staff",
    "responsible_department",
    "solution",
    "compensation_amount",
    "compensation_gift",
    "confirmation_note",
}


def needs_approval(complaint: Complaint) -> bool:
    """A manager approves when the compensation is above the store's limit or it is serious."""
    return complaint.severity == Severity.HIGH or (complaint.compensation_amount or Decimal(0)) > (
        complaint.store.compensation_limit
    )


def allowed_transitions(complaint: Complaint, actor: Staff) -> list[str]:
    """The states `actor` may move the complaint to now (for the buttons on its page)."""
    return [
        to
        for (frm, to), step in TRANSITIONS.items()
        if frm == complaint.status and _may(step, complaint, actor) and _gate_error(complaint, to) is None
    ]


def _may(step: Step, complaint: Complaint, actor: Staff) -> bool:
    if actor.role != Role.HQ and actor.store_id != complaint.store_id:
        return False
    if actor.role in step.roles:
        return True
    return step.assigned and complaint.responsible_staff_id == actor.pk


def _gate_error(complaint: Complaint, to: str) -> str | None:
    if complaint.status == S.SOLUTION_PROPOSED and to == S.CARRIED_OUT and needs_approval(complaint):
        return _("赔偿超过门店限额或投诉严重：须先由店长审批。")
    return None


def complaint_member_find(*, by: Staff, store: Store, ref: str) -> Member | None:
    """The member of `store` in `by`'s scope whose card number is `ref`, else whose full phone
    number it is (an exact lookup, audited: DOMAIN §11); None when there is none. A prefix of a
    number finds nobody, as a number no one has."""
    scope = member_scope(viewer=by).filter(home_store=store)
    return scope.filter(card_no=ref).first() or member_by_phone(viewer=by, qs=scope, text=ref, via="complaint")


def complaint_register(
    *,
    store: Store,
    by: Staff,
    channel: str,
    category: str,
    description: str,
    severity: str = Severity.LOW,
    member: Member | None = None,
    walk_in_name: str = "",
    walk_in_phone: str = "",
    received_at: datetime | None = None,
    cross_store: bool = False,
    member_ref: str = "",
) -> Complaint:
    """登记: anyone in the store, in under a minute: who, what kind, what happened.

    The customer is `member`, or the member `member_ref` names (a card number or a full phone
    number, found by `complaint_member_find`: the register page and the API send what was typed),
    or a walk-in by name.

    `cross_store`: another store's member complaining here (members.cross_store, DOMAIN §13). The
    complaint belongs to the store that received it: its staff handle it, on its SLA and figures;
    only the revisit goes to the member's own consultant (see `complaint_transition`).
    """
    errors: dict[str, str] = {}
    ref = (member_ref or "").strip().replace(" ", "")
    if member is None and ref:
        member = complaint_member_find(by=by, store=store, ref=ref)
        if member is None:
            errors["member_ref"] = _("本店没有卡号或手机号为 %(ref)s 的会员。") % {"ref": ref}
    if member is not None and member.home_store_id != store.pk and not cross_store:
        errors["member"] = _("会员不属于该门店。")
    if member is None and not ref and not walk_in_name.strip():
        errors["walk_in_name"] = _("请填写会员卡号/手机号，或非会员顾客的姓名。")
    if walk_in_phone:
        try:
            walk_in_phone = normalize_phone(walk_in_phone)
        except ValidationError as e:
            errors["walk_in_phone"] = e.messages[0]
    if channel not in ComplaintChannel.values:
        errors["channel"] = _("请选择投诉渠道。")
    if category not in Category.values:
        errors["category"] = _("请选择投诉类别。")
    if severity not in Severity.values:
        errors["severity"] = _("请选择严重程度。")
    if not description.strip():
        errors["description"] = _("请填写投诉内容。")
    received_at = received_at or timezone.now()
    if received_at > timezone.now() + timedelta(minutes=5):
        errors["received_at"] = _("接收时间不能晚于现在。")
    if errors:
        # Outside the transaction below: the audit of an exact phone lookup stays, found or not.
        raise ValidationError(errors)
    with transaction.atomic():
        complaint = Complaint.objects.create(
            store=store,
            member=member,
            walk_in_name=walk_in_name.strip(),
            walk_in_phone=walk_in_phone,
            channel=channel,
            category=category,
            severity=severity,
            description=description.strip(),
            received_by=by,
            received_at=received_at,
        )
        ComplaintEvent.objects.create(
            complaint=complaint, from_status="", to_status=S.REGISTERED, by=by, at=received_at
        )
        _sync_member(complaint)
    return complaint


@transaction.atomic
def complaint_transition(
    *, complaint: Complaint, to: str, by: Staff, note: str = "", via_task: int | None = None, **fields: Any
) -> Complaint:
    """Move a complaint one step (DOMAIN §8), logging who, when and why.

    Raises PermissionDenied when `by` may not make this step, ValidationError when the step does
    not exist from the current state, a required field is missing, or approval is needed first.
    `via_task`: the step is the completion of that revisit task, which the workflow asked of `by`
    whatever their role, so the role check is skipped (not the store's); the step is theirs.
    """
    complaint = Complaint.objects.select_for_update().select_related("store").get(pk=complaint.pk)
    unknown = set(fields) - FIELDS
    if unknown:
        raise ValueError(f"not settable by a transition: {sorted(unknown)}")
    step = TRANSITIONS.get((complaint.status, to))
    if step is None:
        raise ValidationError(
            _("投诉不能从“%(from)s”变为“%(to)s”。") % {"from": complaint.get_status_display(), "to": Status(to).label}
        )
    if via_task is not None and by.role != Role.HQ and by.store_id not in _revisit_stores(complaint):
        raise PermissionDenied(_("您无权执行这一步。"))
    if via_task is None and not _may(step, complaint, by):
        raise PermissionDenied(_("您无权执行这一步。"))
    for name, value in fields.items():
        setattr(complaint, name, value.strip() if isinstance(value, str) else value)
    errors = {name: _("这一步需要填写此项。") for name in step.required if not getattr(complaint, name)}
    if to == S.INVESTIGATING and not (complaint.responsible_staff_id or complaint.responsible_department):
        errors["responsible_staff"] = _("请指定责任人或责任部门。")
    if complaint.responsible_staff_id and complaint.responsible_staff.store_id != complaint.store_id:
        errors["responsible_staff"] = _("责任人须为本店员工。")
    if complaint.compensation_amount is not None and complaint.compensation_amount < 0:
        errors["compensation_amount"] = _("赔偿金额不能为负数。")
    if (complaint.status, to) == (S.CLOSED, S.INVESTIGATING) and not note.strip():
        errors["note"] = _("重新打开投诉须说明原因。")
    gate = _gate_error(complaint, to)
    if gate:
        errors["__all__"] = gate
    if errors:
        raise ValidationError(errors)

    now = timezone.now()
    from_status = complaint.status
    complaint.status = to
    if from_status == S.REGISTERED:
        complaint.first_response_at = now
    if to == S.APPROVED:
        complaint.approved_by = by
    if to == S.CARRIED_OUT:
        complaint.carried_out_at = now
    if to in (S.CLOSED,):
        complaint.closed_at = now
    if from_status == S.CLOSED:
        complaint.closed_at = None
        complaint.reopened += 1
    complaint.save()
    ComplaintEvent.objects.create(
        complaint=complaint,
        from_status=from_status,
        to_status=to,
        by=by,
        at=now,
        note=note.strip(),
        data={
            **{k: str(v.pk if hasattr(v, "pk") else v) for k, v in fields.items() if v not in (None, "")},
            **({"task": via_task} if via_task is not None else {}),
        },
    )
    if to == S.CARRIED_OUT and complaint.member_id:
        task_create(
            member=complaint.member,
            kind=TaskKind.COMPLAINT_REVISIT,
            due_date=timezone.localdate(now) + timedelta(days=REVISIT_AFTER_DAYS),
            origin=f"complaint:{complaint.pk}:{complaint.reopened}",
            note=_("投诉回访：%(category)s") % {"category": complaint.get_category_display()},
            # Another store's member: the task lives in the home store, with the member's own
            # consultant (DOMAIN §13), not with this store's responsible staff.
            assignee=complaint.responsible_staff if complaint.store_id == complaint.member.home_store_id else None,
        )
    _sync_member(complaint)
    return complaint


def _revisit_stores(complaint: Complaint) -> set[int]:
    """Whose staff may record the revisit: the complaint's store and, for another store's member,
    the member's home store (where the revisit task is)."""
    stores = {complaint.store_id}
    if complaint.member_id:
        stores.add(complaint.member.home_store_id)
    return stores


def _sync_member(complaint: Complaint) -> None:
    if complaint.member_id:
        member_open_complaints_recount(member_id=complaint.member_id)


def member_open_complaints_recount(*, member_id: int) -> None:
    """The member's count of open complaints (it holds the tier and stops sales pushes), counted again."""
    count = Complaint.objects.filter(member_id=member_id, status__in=OPEN_STATES).count()
    member_open_complaints_set(member_id=member_id, count=count)


def on_task_completed(sender, task, visit, **kwargs) -> None:
    """A completed complaint-revisit task records the revisit: the customer confirmed (if not yet)
    and revisited, with the visit's satisfaction on the timeline."""
    if task.kind != TaskKind.COMPLAINT_REVISIT or not task.origin.startswith("complaint:"):
        return
    complaint = Complaint.objects.filter(pk=int(task.origin.split(":")[1])).first()
    if complaint is None or visit.staff is None:
        return
    note = _("回访：%(outcome)s（满意度 %(score)s）") % {
        "outcome": visit.outcome,
        "score": visit.satisfaction or "—",
    }
    # The steps are credited to whoever did the revisit (the visit's staff), whatever their role:
    # completing the revisit task is what the workflow asked of them. (They used to fall back to
    # the store's manager, so the timeline credited the manager with work others did.)
    actor = visit.staff
    if complaint.status == S.CARRIED_OUT:
        complaint_transition(
            complaint=complaint,
            to=S.CUSTOMER_CONFIRMED,
            by=actor,
            note=note,
            via_task=task.pk,
            confirmation_note=visit.outcome,
        )
        complaint.refresh_from_db()
    if complaint.status == S.CUSTOMER_CONFIRMED:
        complaint_transition(complaint=complaint, to=S.REVISITED, by=actor, note=note, via_task=task.pk)
        ComplaintEvent.objects.filter(complaint=complaint, to_status=S.REVISITED).order_by("-pk").update(
            data={"visit": visit.pk, "satisfaction": visit.satisfaction, "task": task.pk}
        )


# --- SLA --------------------------------------------------------------------------------------


def sla_deadlines(complaint: Complaint, rules: ProgramRules | None = None) -> tuple[datetime, datetime]:
    rules = rules or ProgramRules.load()
    return (
        complaint.received_at + timedelta(hours=rules.complaint_response_hours),
        complaint.received_at + timedelta(hours=rules.complaint_solution_hours),
    )


BEFORE_SOLUTION = [S.REGISTERED, S.ACCEPTED, S.INVESTIGATING, S.SOLUTION_PROPOSED, S.APPROVED]


def sla_check(*, store: Store, now: datetime | None = None) -> dict[str, int]:
    """Escalate every breach to the store's managers, once per breach: no first response within
    the response SLA; no solution carried out within the solution SLA."""
    now = now or timezone.now()
    rules = ProgramRules.load()
    open_here = Complaint.objects.filter(store=store).select_for_update(skip_locked=True)
    with transaction.atomic():
        response = list(
            open_here.filter(
                status=S.REGISTERED,
                response_escalated_at__isnull=True,
                received_at__lt=now - timedelta(hours=rules.complaint_response_hours),
            )
        )
        solution = list(
            open_here.filter(
                status__in=BEFORE_SOLUTION,
                solution_escalated_at__isnull=True,
                received_at__lt=now - timedelta(hours=rules.complaint_solution_hours),
            )
        )
        Complaint.objects.filter(pk__in=[c.pk for c in response]).update(response_escalated_at=now)
        Complaint.objects.filter(pk__in=[c.pk for c in solution]).update(solution_escalated_at=now)
        breaches = [(c, "response", rules.complaint_response_hours) for c in response] + [
            (c, "solution", rules.complaint_solution_hours) for c in solution
        ]
        ComplaintEvent.objects.bulk_create(
            [
                ComplaintEvent(
                    complaint=c,
                    from_status=c.status,
                    to_status=c.status,
                    at=now,
                    note=_("超过%(hours)s小时未%(what)s，已升级至店长。")
                    % {"hours": hours, "what": _("首次响应") if kind == "response" else _("解决")},
                    data={"escalation": kind},
                )
                for c, kind, hours in breaches
            ]
        )
        managers = list(Staff.objects.filter(store=store, role=Role.MANAGER, is_active=True))
        notes = []
        for c, kind, hours in breaches:
            text = _("投诉 #%(pk)s（%(who)s，%(category)s）超过 %(hours)s 小时未%(what)s。") % {
                "pk": c.pk,
                "who": c.customer_name,
                "category": c.get_category_display(),
                "hours": hours,
                "what": _("首次响应") if kind == "response" else _("解决"),
            }
            url = reverse("complaints:detail", args=[c.pk])
            for manager in managers:
                notes.append(Notification(recipient=manager, text=text, url=url))
                if manager.email:
                    # Through the outbox: sent once the escalation is committed, once per breach.
                    email_queue(
                        to=[manager.email],
                        subject=_("投诉超时升级：#%(pk)s") % {"pk": c.pk},
                        body=text,
                        key=f"complaint-sla:{c.pk}:{kind}:{manager.pk}",
                    )
        Notification.objects.bulk_create(notes)
    return {"response_breaches": len(response), "solution_breaches": len(solution), "notified": len(notes)}


# --- Erasure (DOMAIN §11) -------------------------------------------------------------------------


def on_member_erased(sender, member: Member, by: Staff | None, traces: list, **kwargs) -> None:
    """An erased member's complaints keep their figures (category, dates, SLA) but every text
    staff wrote is scrubbed of the person's name, phone and card: the complaint's own fields, its
    timeline notes and the escalation notifications about it."""
    from members.services import scrub_rows

    complaints = Complaint.objects.filter(member=member)
    text_fields = (
        "description",
        "rejection_reason",
        "customer_told",
        "solution",
        "compensation_gift",
        "confirmation_note",
        "walk_in_name",
        "walk_in_phone",
    )
    scrub_rows(complaints, text_fields, traces)
    scrub_rows(ComplaintEvent.objects.filter(complaint__member=member), ("note",), traces)
    ids = list(complaints.values_list("pk", flat=True))
    urls = [reverse("complaints:detail", args=[pk]) for pk in ids]
    scrub_rows(Notification.objects.filter(url__in=urls), ("text",), traces)
    # The escalation e-mails kept in the outbox (sla_check's keys) name the customer too.
    if ids:
        emails = emails_keyed(prefixes=[f"complaint-sla:{pk}:" for pk in ids])
        scrub_rows(emails, ("subject", "body", "html"), traces)

"""Writes for the daily work: tasks, visits, invitations, gift plans, and the daily duty."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Staff, Store
from accounts.services import audit_log
from duties.services import emails_queue
from members.dates import next_occurrence
from members.models import ImportantDate, Member, ProgramRules, Purchase
from members.selectors import ids_filter
from members.validators import validate_past_date

from .cards import GREETING_KINDS, Reason, card_move, cards_meet, closed_by_other, tasks_add
from .feedback import feedback_scrub, low_satisfaction_follow_up
from .generation import (
    POST_PURCHASE_MAX_AGE_DAYS,
    Assigner,
    Batch,
    gift_plans_follow_tier,
    occasion_of,
    post_purchase_due,
    preparations_for_members,
    purchases_close,
    store_members,
    tasks_generate,
)
from .models import (
    TOUCH_KINDS,
    Channel,
    ClosedBy,
    FollowUpTask,
    GiftPlan,
    GiftStatus,
    Invitation,
    InvitationStatus,
    MessageTemplate,
    Occasion,
    TaskKind,
    TaskReason,
    TaskStatus,
    Visit,
    VisitResult,
)
from .signals import task_completed

DAILY_DUTY = "daily"


# --- Tasks -----------------------------------------------------------------------------------


def task_create(
    *,
    member: Member,
    kind: str,
    due_date: date,
    origin: str,
    note: str = "",
    assignee: Staff | None = None,
) -> tuple[FollowUpTask, bool]:
    """A reason for another part of the system (complaint revisit, manual follow-up, invitation…),
    through the card engine: a contact reason joins the person's open card for the member.

    Idempotent: the same member, kind and origin give back the task already carrying it. Returns
    (the task carrying the reason, whether the reason is new); a sales push to a member with an
    open complaint is dropped: (None, False).
    """
    if assignee is not None and not assignee.is_active:
        # A named person who has since left (a complaint's responsible staff): a deactivated
        # person never holds open tasks, so the member's usual owner takes it.
        assignee = None
    assignee_id = assignee.pk if assignee else Assigner.for_store(member.home_store)(member.consultant_id)
    reason = Reason(member.pk, assignee_id, kind, origin[:60], due_date, note[:200])
    added = tasks_add(store=member.home_store, reasons=[reason], on=timezone.localdate())
    found = TaskReason.objects.filter(member=member, kind=kind, origin=reason.origin).select_related("task").first()
    return (found.task if found else None), bool(added)


def _check_next_follow_up(value: date | None, today: date) -> None:
    if value is None:
        return
    if value <= today:
        raise ValidationError({"next_follow_up": _("下次回访日期须晚于今天。")})
    if value > today + timedelta(days=366):
        raise ValidationError({"next_follow_up": _("下次回访日期不能超过一年。")})


def _check_retry_on(value: date | None, today: date) -> None:
    if value is not None and not today < value <= today + timedelta(days=90):
        raise ValidationError({"retry_on": _("再次联系的日期须在明天到 90 天之内。")})


@transaction.atomic
def visit_record(
    *,
    member: Member,
    by: Staff,
    channel: str,
    outcome: str,
    result: str = VisitResult.REACHED,
    satisfaction: int | None = None,
    notes: str = "",
    purpose: str = "",
    next_follow_up: date | None = None,
    at: datetime | None = None,
    task: FollowUpTask | None = None,
    retry_on: date | None = None,
    store: Store | None = None,
    suggestions: str = "",
) -> Visit:
    """回访记录: one contact, logged from anywhere (Today, member page, campaign, complaint).

    Reached: it closes the member's open cards whose purpose it meets (every "be in touch" reason,
    and dated reasons due by today; a later greeting moves to a new card) and resets the care
    clock. Not reached: an attempt on `task` (or on the person's card for the member due by
    today): the task stays open for the next day or `retry_on`. A next follow-up date becomes a
    `manual` reason for the same person.

    `store`: where the contact happened, the member's home store unless given (a visit at another
    store's counter, members.cross_store). Another store's staff cannot hold the member's tasks:
    their next follow-up date goes to the member's own consultant in the home store (DOMAIN §13).
    """
    at = at or timezone.now()
    today = timezone.localdate()
    errors = {}
    if channel not in Channel.values:
        errors["channel"] = _("请选择回访方式。")
    if result not in VisitResult.values:
        errors["result"] = _("请选择联系结果。")
    if not outcome.strip():
        errors["outcome"] = _("请填写回访结果。")
    if satisfaction is not None and not 1 <= satisfaction <= 5:
        errors["satisfaction"] = _("满意度须为 1–5。")
    if len(suggestions) > 1000:
        errors["suggestions"] = _("顾客意见和建议最多 1000 字。")
    if errors:
        raise ValidationError(errors)
    validate_past_date(timezone.localdate(at), label=_("回访时间"))
    _check_next_follow_up(next_follow_up, today)
    _check_retry_on(retry_on, today)
    reached = result == VisitResult.REACHED
    day = timezone.localdate(at)
    if not reached and task is None:
        task = (
            FollowUpTask.objects.filter(member=member, assignee=by, status=TaskStatus.OPEN, scheduled_for__lte=day)
            .order_by("-is_contact", "scheduled_for", "pk")
            .first()
        )
    visit = Visit.objects.create(
        member=member,
        store=store or member.home_store,
        staff=by,
        channel=channel,
        at=at,
        purpose=purpose,
        result=result,
        outcome=outcome.strip(),
        satisfaction=satisfaction,
        notes=notes,
        suggestions=suggestions.strip(),
        next_follow_up=next_follow_up,
        attempt_of=None if reached else task,
    )
    if reached:
        contact_reached(member=member, visit=visit, day=day, task=task)
    elif task is not None:
        _attempt(task, day=day, retry_on=retry_on)
    if next_follow_up:
        task_create(
            member=member,
            kind=TaskKind.MANUAL,
            due_date=next_follow_up,
            origin=f"visit:{visit.pk}",
            note=outcome.strip()[:200],
            assignee=by if by.is_hq or by.store_id == member.home_store_id else None,
        )
    # After the contact has closed what it meets, so the revisit it asks for stays open.
    low_satisfaction_follow_up(visit=visit)
    return visit


def contact_reached(*, member: Member, visit: Visit, day: date, task: FollowUpTask | None = None) -> None:
    """A reached contact closes the member's open cards whose purpose it meets: every "be in touch"
    reason (care, win-back, upgrade, keep tier) and every dated reason due by `day`. The task it was
    logged on (`task`) is closed whole, except a greeting for a later day."""
    own = task.pk if task is not None else None

    def meets(card: FollowUpTask, reason: TaskReason) -> bool:
        if card.pk == own:
            return not (reason.kind in GREETING_KINDS and reason.due_date > day)
        return reason.kind in TOUCH_KINDS or reason.due_date <= day

    cards_meet(member_ids=[member.pk], meets=meets, day=day, closed_by=closed_by_other(own), visit=visit)
    if task is not None:
        task.refresh_from_db()
        if task.status == TaskStatus.OPEN:
            # Nothing it holds could be met (a greeting due later, or not a contact task): closing
            # it was asked for all the same.
            task.status = TaskStatus.DONE
            task.done_on = day
            task.closed_by = ClosedBy.CONTACT
            task.closed_by_visit = visit
        task.visit = visit
        task.save(update_fields=["status", "done_on", "closed_by", "closed_by_visit", "visit", "updated_at"])


def _attempt(task: FollowUpTask, *, day: date, retry_on: date | None) -> FollowUpTask:
    """Not reached: one more attempt; the task comes back on the next day (or `retry_on`), and
    after `attempts_before_escalation` attempts it goes to the store's VIP specialist."""
    task = FollowUpTask.objects.select_for_update().get(pk=task.pk)
    if task.status != TaskStatus.OPEN:
        return task
    task.attempts += 1
    task.scheduled_for = retry_on or day + timedelta(days=1)
    task.save(update_fields=["attempts", "scheduled_for", "updated_at"])
    specialist = Assigner.for_store(task.store).fallback
    if task.attempts >= ProgramRules.load().attempts_before_escalation and specialist not in (None, task.assignee_id):
        task = card_move(task=task, assignee_id=specialist)
    return task


@transaction.atomic
def task_complete(
    *,
    task: FollowUpTask,
    by: Staff,
    channel: str,
    outcome: str,
    result: str = VisitResult.REACHED,
    satisfaction: int | None = None,
    notes: str = "",
    next_follow_up: date | None = None,
    retry_on: date | None = None,
    suggestions: str = "",
) -> Visit:
    """Record the contact made for a task. Reached: the task is done (and every other card of the
    member it meets). Not reached: an attempt; the task stays open (see `visit_record`)."""
    task = FollowUpTask.objects.select_for_update().select_related("member__home_store").get(pk=task.pk)
    if task.status != TaskStatus.OPEN:
        raise ValidationError(
            _("该任务已不是待办状态（%(status)s）。") % {"status": task.get_status_display()}, code="not_open"
        )
    visit = visit_record(
        member=task.member,
        by=by,
        channel=channel,
        outcome=outcome,
        result=result,
        satisfaction=satisfaction,
        notes=notes,
        purpose=task.get_kind_display(),
        next_follow_up=next_follow_up,
        task=task,
        retry_on=retry_on,
        suggestions=suggestions,
    )
    if visit.reached:
        task.refresh_from_db()
        task_completed.send(sender=FollowUpTask, task=task, visit=visit)
    return visit


@transaction.atomic
def task_snooze(*, task: FollowUpTask, until: date, by: Staff) -> FollowUpTask:
    # Re-read under a lock: a snooze racing a completion must not snooze a done task.
    task = FollowUpTask.objects.select_for_update().select_related("store").get(pk=task.pk)
    today = timezone.localdate()
    if task.status != TaskStatus.OPEN:
        raise ValidationError(_("只能推迟待办任务。"), code="not_open")
    if until <= today or until > today + timedelta(days=90):
        raise ValidationError({"until": _("推迟到的日期须在明天到 90 天之内。")})
    # The due date stays: lateness is measured from it (DOMAIN §6); only the working date moves.
    task.scheduled_for = until
    task.save(update_fields=["scheduled_for", "updated_at"])
    audit_log(actor=by, action="task.snoozed", obj=task, store=task.store, until=until.isoformat())
    return task


@transaction.atomic
def task_reassign(*, task: FollowUpTask, assignee: Staff, by: Staff) -> FollowUpTask:
    """Give a task to another person of the store; a card joins that person's open card for the
    member, if any (the task returned is the one carrying the reasons)."""
    task = FollowUpTask.objects.select_for_update().select_related("store").get(pk=task.pk)
    if task.status != TaskStatus.OPEN:
        raise ValidationError(_("只能转派待办任务。"), code="not_open")
    if assignee.store_id != task.store_id or not assignee.is_active:
        raise ValidationError({"assignee": _("只能分配给本店在职员工。")})
    task = card_move(task=task, assignee_id=assignee.pk)
    audit_log(actor=by, action="task.reassigned", obj=task, store=task.store, assignee=assignee.pk)
    return task


@transaction.atomic
def task_cancel(*, task: FollowUpTask, by: Staff, reason: str = "") -> FollowUpTask:
    task = FollowUpTask.objects.select_for_update().select_related("store").get(pk=task.pk)
    if task.status != TaskStatus.OPEN:
        raise ValidationError(_("只能取消待办任务。"))
    task.status = TaskStatus.CANCELLED
    task.note = (reason or task.note)[:200]
    task.save(update_fields=["status", "note", "updated_at"])
    audit_log(actor=by, action="task.cancelled", obj=task, store=task.store, reason=reason)
    return task


def on_purchase_recorded(sender, purchase: Purchase, **kwargs) -> None:
    """A purchase recorded at a till or by the POS: see `purchases_followed`."""
    purchases_followed(purchases=[purchase])


def on_purchases_imported(sender, purchases: list[Purchase], **kwargs) -> None:
    """Receipts brought in by an import: the same as at the till, at once. The import sends only
    the receipts it has just inserted, in its transaction: no follow-up can name them yet."""
    purchases_followed(purchases=purchases, new=True)


def purchases_followed(*, purchases: list[Purchase], today: date | None = None, new: bool = False) -> None:
    """What receipts bring to the list, set-based: each receipt with amount > 0 closes its member's
    care, win-back, upgrade and keep-tier reasons and gets a follow-up (due `post_purchase_days`
    after the purchase, or today if later; receipts older than a month get none), on the
    member's card; planned gifts follow a new tier. The daily run catches any missed here.
    `new`: the receipts were created in this transaction, so their follow-ups are not looked up
    on file first (tasks_add)."""
    today = today or timezone.localdate()
    positive = [p for p in purchases if p.amount > 0]
    if not positive:
        return
    rules = ProgramRules.load()
    purchases_close(receipts=[(p.member_id, p.date, p.created_at) for p in positive])
    # Only the columns needed, the ids as one array (issue 14: an import touches 60,000 members).
    members = {
        pk: (home_store_id, consultant_id)
        for pk, home_store_id, consultant_id in ids_filter(
            Member.objects.filter(erased_at__isnull=True), "id", sorted({p.member_id for p in positive})
        ).values_list("pk", "home_store_id", "consultant_id")
    }
    gift_plans_follow_tier(member_ids=list(members))
    stores = {s.pk: s for s in Store.objects.filter(pk__in={home for home, _c in members.values()})}
    batches: dict[int, Batch] = {}
    receipt_note = _("小票 %(no)s")  # translated once, not once a receipt
    for p in positive:
        member = members.get(p.member_id)
        if member is None or p.date < today - timedelta(days=POST_PURCHASE_MAX_AGE_DAYS):
            continue
        home_store_id, consultant_id = member
        batch = batches.setdefault(home_store_id, Batch(stores[home_store_id], on=today, rules=rules))
        batch.task(
            member_id=p.member_id,
            consultant_id=consultant_id,
            kind=TaskKind.POST_PURCHASE,
            due=post_purchase_due(p.date, today, rules),
            origin=f"purchase:{p.pk}",
            note=receipt_note % {"no": p.receipt_no},
        )
    for batch in batches.values():
        batch.save(new=new)


def on_member_dates_changed(sender, member: Member, **kwargs) -> None:
    """A member enrolled, or a birthday or important date added: a preparation due within the lead
    days is made at once."""
    preparations_for_members(member_ids=[member.pk], today=timezone.localdate())


# --- Invitations -----------------------------------------------------------------------------

# "Bought" may follow any step but a refusal, because a purchase in the window proves the visit
# (invitation_advance checks that there is one): a member who walks in and buys, or who comes the
# day after being marked a no-show, has bought.
INVITATION_NEXT = {
    InvitationStatus.INVITED: {
        InvitationStatus.CONFIRMED,
        InvitationStatus.ARRIVED,
        InvitationStatus.BOUGHT,
        InvitationStatus.DECLINED,
    },
    InvitationStatus.CONFIRMED: {
        InvitationStatus.ARRIVED,
        InvitationStatus.BOUGHT,
        InvitationStatus.NO_SHOW,
        InvitationStatus.DECLINED,
    },
    InvitationStatus.ARRIVED: {InvitationStatus.BOUGHT},
    InvitationStatus.BOUGHT: set(),
    InvitationStatus.DECLINED: set(),
    InvitationStatus.NO_SHOW: {InvitationStatus.BOUGHT},
}

# An invitation is "bought" when the member has a receipt with a positive amount at the inviting
# store dated from the invitation's day to this many days after it (the same span as a campaign's
# default attribution days). The one rule for the manual step and the automatic one.
INVITATION_BOUGHT_DAYS = 7


def invitation_bought_window(for_date: date) -> tuple[date, date]:
    """The purchase dates that make an invitation for `for_date` bought, both ends included."""
    return for_date, for_date + timedelta(days=INVITATION_BOUGHT_DAYS)


def invitation_purchase_exists(invitation: Invitation) -> bool:
    start, end = invitation_bought_window(invitation.for_date)
    return Purchase.objects.filter(
        member_id=invitation.member_id, store_id=invitation.store_id, amount__gt=0, date__range=(start, end)
    ).exists()


@transaction.atomic
def invitation_create(*, member: Member, by: Staff, for_date: date, purpose: str) -> Invitation:
    """邀约 a member to the store; an `invitation` task reminds the inviter the day before."""
    today = timezone.localdate()
    if for_date < today:
        raise ValidationError({"for_date": _("邀约日期不能早于今天。")})
    if not purpose.strip():
        raise ValidationError({"purpose": _("请填写邀约目的。")})
    invitation = Invitation.objects.create(
        member=member, store=member.home_store, invited_by=by, for_date=for_date, purpose=purpose.strip()
    )
    task_create(
        member=member,
        kind=TaskKind.INVITATION,
        due_date=max(today, for_date - timedelta(days=1)),
        origin=f"invitation:{invitation.pk}",
        note=_("确认邀约：%(purpose)s（%(date)s）") % {"purpose": invitation.purpose, "date": for_date},
        assignee=by,
    )
    return invitation


@transaction.atomic
def invitation_advance(*, invitation: Invitation, status: str, by: Staff | None) -> Invitation:
    """Move an invitation along the funnel (INVITATION_NEXT). "Bought" needs a purchase in the
    window (invitation_bought_window); `by` is None when a recorded purchase sets it."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if status not in INVITATION_NEXT.get(invitation.status, set()):
        raise ValidationError(
            _("邀约不能从“%(from)s”变为“%(to)s”。")
            % {"from": invitation.get_status_display(), "to": InvitationStatus(status).label},
            code="invalid_transition",
        )
    if status == InvitationStatus.BOUGHT and not invitation_purchase_exists(invitation):
        start, end = invitation_bought_window(invitation.for_date)
        raise ValidationError(
            _("%(start)s 至 %(end)s 该会员在本店没有消费记录，不能标为已成交；录入小票后会自动标记。")
            % {"start": start, "end": end},
            code="no_purchase",
        )
    invitation.status = status
    invitation.status_changed_at = timezone.now()
    invitation.save(update_fields=["status", "status_changed_at"])
    return invitation


# --- Gifts -----------------------------------------------------------------------------------

GIFT_NEXT = {
    GiftStatus.PLANNED: {GiftStatus.PREPARED, GiftStatus.DECLINED},
    GiftStatus.PREPARED: {GiftStatus.DELIVERED, GiftStatus.DECLINED},
    GiftStatus.DELIVERED: set(),
    GiftStatus.DECLINED: set(),
}


@transaction.atomic
def gift_plan_mark(*, plan: GiftPlan, status: str, by: Staff) -> GiftPlan:
    plan = GiftPlan.objects.select_for_update().get(pk=plan.pk)
    if status not in GIFT_NEXT.get(plan.status, set()):
        raise ValidationError(
            _("礼品不能从“%(from)s”变为“%(to)s”。")
            % {"from": plan.get_status_display(), "to": GiftStatus(status).label}
        )
    plan.status = status
    plan.status_by = by
    plan.status_at = timezone.now()
    plan.save(update_fields=["status", "status_by", "status_at"])
    if status == GiftStatus.PREPARED:
        # The preparation task for this occasion is done (birthday:<day>, occasion-prep:<id>:<day>).
        FollowUpTask.objects.filter(
            member_id=plan.member_id,
            kind=TaskKind.BIRTHDAY_PREP,
            status=TaskStatus.OPEN,
            origin__endswith=f":{plan.occasion_date}",
        ).update(
            status=TaskStatus.DONE, done_on=timezone.localdate(), closed_by=ClosedBy.GIFT, updated_at=timezone.now()
        )
    return plan


def month_bounds(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


@transaction.atomic
def gift_plans_for_month(*, store: Store, year: int, month: int) -> int:
    """Plan every birthday (all tiers) and occasion (tiers A and B) falling in the month, with the
    gift by tier; idempotent. The month-end duty calls it for the next month; staff can too."""
    start, end = month_bounds(year, month)
    batch = Batch(store)
    # A solar date falls in the month it is written in (29 February on the 28th): only lunar ones
    # need the calendar, so the rest are picked by month in the query.
    in_month = Q(birthday_lunar=True) | Q(birthday__month=month)
    for pk, birthday, lunar, tier in (
        store_members(store)
        .filter(in_month, birthday__isnull=False)
        .values_list("pk", "birthday", "birthday_lunar", "tier")
    ):
        occurrence = next_occurrence(birthday, lunar=lunar, on_or_after=start)
        if occurrence <= end:
            batch.gift(member_id=pk, tier=tier, occasion=Occasion.BIRTHDAY, on=occurrence)
    labels = dict(ImportantDate._meta.get_field("kind").choices)
    dates = (
        ImportantDate.objects.filter(
            member__home_store=store, member__erased_at__isnull=True, member__tier__in=["A", "B"]
        )
        .filter(Q(lunar=True) | Q(date__month=month))
        .values_list("member_id", "member__tier", "date", "lunar", "kind", "label")
    )
    for member_id, tier, original, lunar, kind, label in dates:
        occurrence = next_occurrence(original, lunar=lunar, on_or_after=start)
        if occurrence <= end:
            batch.gift(
                member_id=member_id,
                tier=tier,
                occasion=occasion_of(kind),
                on=occurrence,
                label=label or str(labels.get(kind, kind)),
            )
    return batch.save()["gift_plans"]


# --- The daily duty --------------------------------------------------------------------------


def daily_work(store: Store, on: date) -> dict:
    """The daily duty's work for one store and date: the day's tasks, then (for today only) the
    morning digest. Catch-up days generate their tasks but send no stale digest."""
    counts = tasks_generate(store=store, on=on)
    counts["digests"] = digest_send(store=store, on=on) if on == timezone.localdate() else 0
    return counts


def digest_send(*, store: Store, on: date) -> int:
    """Email each staff member with open tasks their list for the day: due today, overdue, and the
    count for the next 7 days. One query for all the counts. The emails go to the outbox, keyed by
    store, date and person: sent once the duty commits, once each however often it runs."""
    week_end = on + timedelta(days=7)
    # On today's list is what the working date (moved by capacity, snoozes and attempts) brings to
    # today or before; of that, overdue is measured from the first due date, which never moves.
    on_list = Q(scheduled_for__lte=on)
    rows = (
        FollowUpTask.objects.filter(store=store, status=TaskStatus.OPEN, scheduled_for__lte=week_end)
        .values("assignee_id")
        .annotate(
            due_today=Count("pk", filter=on_list & Q(due_date__gte=on)),
            overdue=Count("pk", filter=on_list & Q(due_date__lt=on)),
            upcoming=Count("pk", filter=Q(scheduled_for__gt=on)),
        )
    )
    counts = {row["assignee_id"]: row for row in rows if row["due_today"] or row["overdue"]}
    staff = Staff.objects.filter(pk__in=counts, is_active=True).exclude(email="")
    emails = []
    for person in staff:
        context = {"staff": person, "store": store, "on": on, **counts[person.pk]}
        subject = _("%(date)s 今日回访：%(today)s 项到期，%(overdue)s 项逾期") % {
            "date": on,
            "today": context["due_today"],
            "overdue": context["overdue"],
        }
        body = render_to_string("visits/email/digest.txt", context)
        key = f"digest:{store.pk}:{on}:{person.pk}"
        emails.append({"to": [person.email], "subject": subject, "body": body, "key": key})
    return emails_queue(emails) if emails else 0  # two queries for the store's digests


# --- Invitations in bulk (campaign launches) ---------------------------------------------------


@transaction.atomic
def invitations_bulk_create(
    *, store: Store, members: list[tuple[int, int | None]], for_date: date, purpose: str, origin: str
) -> dict[int, tuple[int, int | None]]:
    """Invite many members of one store at once: an Invitation each, from their consultant (else
    the store's VIP specialist or manager), and an `invitation` task for that person, due today or
    three days before `for_date`. `members` holds (member id, consultant id); `origin` keys the
    tasks (``{origin}:{member id}``) so a repeated call adds no second task.

    Returns {member id: (invitation id, inviter id)}. Set-based: a few queries whatever the size.
    """
    assign = Assigner.for_store(store)
    today = timezone.localdate()
    rows = [(member_id, assign(consultant_id)) for member_id, consultant_id in members]
    invitations = Invitation.objects.bulk_create(
        [
            Invitation(member_id=member_id, store=store, invited_by_id=inviter, for_date=for_date, purpose=purpose)
            for member_id, inviter in rows
        ],
        batch_size=1000,
    )
    due = max(today, for_date - timedelta(days=3))
    # Through the card engine: each invitation joins the inviter's card for the member; none to a
    # member with an open complaint.
    batch = Batch(store, on=today)
    for member_id, inviter in rows:
        batch.task(
            member_id=member_id,
            consultant_id=inviter,
            assignee_id=inviter,
            kind=TaskKind.INVITATION,
            due=due,
            origin=f"{origin}:{member_id}",
            note=_("邀约：%(purpose)s（%(date)s）") % {"purpose": purpose, "date": for_date},
        )
    batch.save()
    return {inv.member_id: (inv.pk, inv.invited_by_id) for inv in invitations}


@transaction.atomic
def tasks_bulk_create(*, store: Store, rows: list[tuple[int, int | None, str, date, str, str]]) -> int:
    """Many tasks for one store at once, for duties (upgrade pushes…): rows of (member id,
    consultant id, kind, due date, origin, note). Assigned like generated tasks; what is on file
    (same member, kind and origin) is skipped; contact kinds join their cards. Returns how many
    reasons were added."""
    batch = Batch(store)
    for member_id, consultant_id, kind, due, origin, note in rows:
        batch.task(member_id=member_id, consultant_id=consultant_id, kind=kind, due=due, origin=origin, note=note)
    counts = batch.save()
    return sum(v for k, v in counts.items() if k != "gift_plans")


# --- Message templates (h2, issue 9 item 9) --------------------------------------------------
# Who edits which: HQ the defaults (no store) and any store's; a store's VIP specialist and manager
# their own store's. A consultant picks and edits the text on a card but changes no template.


def can_edit_message_template(viewer: Staff, store: Store | None) -> bool:
    if viewer.is_hq:
        return True
    return (viewer.is_vip_specialist or viewer.is_manager) and store is not None and store.pk == viewer.store_id


@transaction.atomic
def message_template_save(
    *,
    by: Staff,
    store: Store | None,
    kind: str,
    name: str,
    body: str,
    replaces: MessageTemplate | None = None,
    template: MessageTemplate | None = None,
) -> MessageTemplate:
    """Create (`template` None) or change a template. The body must use only known variables; a
    store's override replaces one HQ default of the same kind, once per store."""
    from .messages import template_errors

    if not can_edit_message_template(by, store):
        raise PermissionDenied
    errors = {}
    if kind not in TaskKind.values:
        errors["kind"] = _("请选择任务类型。")
    if not name.strip():
        errors["name"] = _("请填写模板名称。")
    if not body.strip():
        errors["body"] = _("请填写模板内容。")
    elif body_errors := template_errors(body):
        errors["body"] = body_errors
    if replaces is not None:
        if store is None or replaces.store_id is not None or replaces.kind != kind:
            errors["replaces"] = _("只能替代同一任务类型的总部模板。")
        elif (
            MessageTemplate.objects.filter(store=store, replaces=replaces)
            .exclude(pk=template.pk if template else None)
            .exists()
        ):
            errors["replaces"] = _("本店已有替代这个总部模板的模板，请直接修改它。")
    if errors:
        raise ValidationError(errors)
    created = template is None
    template = template or MessageTemplate(store=store)
    template.kind, template.name, template.body = kind, name.strip(), body.strip()
    template.replaces = replaces
    template.updated_by = by
    template.save()
    audit_log(
        actor=by,
        action="message_template.created" if created else "message_template.changed",
        obj=template,
        store=store,
        kind=kind,
        name=template.name,
    )
    return template


@transaction.atomic
def message_template_delete(*, template: MessageTemplate, by: Staff) -> None:
    """Delete a template; deleting an HQ default deletes the stores' overrides of it too."""
    if not can_edit_message_template(by, template.store):
        raise PermissionDenied
    audit_log(actor=by, action="message_template.deleted", obj=template, store=template.store, name=template.name)
    template.delete()


def message_sent_record(*, task: FollowUpTask, by: Staff, channel: str, template: MessageTemplate | None) -> None:
    """A greeting copied from a card to be sent by `channel`: written to the audit log with the
    template it came from. Sending is not reaching: the card stays until a contact is logged."""
    if channel not in Channel.values:
        raise ValidationError({"channel": _("请选择发送方式。")})
    audit_log(
        actor=by,
        action="task.message.sent",
        obj=task,
        store=task.store,
        channel=channel,
        template=template.pk if template else None,
    )


# --- Erasure (DOMAIN §11) -------------------------------------------------------------------------
# A member's erasure request (members.services.member_erase, through the member_erased signal):
# what is still open for the person is closed, and what staff wrote about them here is scrubbed of
# their name, phone and card. Set-based: a few queries over that one member's rows.


@transaction.atomic
def tasks_cancel_for_member(*, member: Member, by: Staff | None, reason: str) -> int:
    """Cancel every open task of the member in one update (their reasons stay with the card, now
    closed), audited once with the task ids. Returns how many were cancelled."""
    open_tasks = FollowUpTask.objects.filter(member=member, status=TaskStatus.OPEN)
    ids = sorted(open_tasks.values_list("pk", flat=True))
    if ids:
        FollowUpTask.objects.filter(pk__in=ids).update(
            status=TaskStatus.CANCELLED, note=reason[:200], updated_at=timezone.now()
        )
        audit_log(
            actor=by, action="member.tasks.cancelled", obj=member, store=member.home_store, tasks=ids, reason=reason
        )
    return len(ids)


def on_member_erased(sender, member: Member, by: Staff | None, traces: list, **kwargs) -> None:
    """Close the erased member's open tasks, invitations and undelivered gifts; scrub visits, task
    notes, invitation purposes and gift labels."""
    from members.services import scrub_rows

    now = timezone.now()
    tasks_cancel_for_member(member=member, by=by, reason=_("会员已删除个人信息"))
    Invitation.objects.filter(member=member, status__in=[InvitationStatus.INVITED, InvitationStatus.CONFIRMED]).update(
        status=InvitationStatus.DECLINED, status_changed_at=now
    )
    GiftPlan.objects.filter(member=member, status__in=[GiftStatus.PLANNED, GiftStatus.PREPARED]).update(
        status=GiftStatus.DECLINED, status_by=by, status_at=now
    )
    scrub_rows(Visit.objects.filter(member=member), ("purpose", "outcome", "notes", "suggestions"), traces)
    feedback_scrub(member=member, traces=traces)
    scrub_rows(FollowUpTask.objects.filter(member=member), ("note",), traces)
    scrub_rows(TaskReason.objects.filter(member=member), ("note",), traces)
    scrub_rows(Invitation.objects.filter(member=member), ("purpose",), traces)
    scrub_rows(GiftPlan.objects.filter(member=member), ("label",), traces)
    # Another member's greeting for this person ("配偶 <name> 生日", members.relations): the
    # relation-made reasons of any member, a small set, lose the erased person's name too.
    related = Q(origin__startswith="relation")
    scrub_rows(TaskReason.objects.filter(related).exclude(member=member), ("note",), traces)
    scrub_rows(FollowUpTask.objects.filter(related).exclude(member=member), ("note",), traces)

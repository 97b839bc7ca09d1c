"""Follow-up from what customers say (issue 12 item 6): a low satisfaction score alerts the store's
leads and puts a revisit on the VIP specialist's list; opinions and suggestions (收集顾客意见和
建议) are read back for the weekly report.

A low score belongs to the member's home store, whose specialist and manager answer for the member,
wherever the contact was made (a visit at another store's counter, DOMAIN §13). The revisit is a
`manual` reason with the origin ``low-satisfaction:<visit pk>``: one per visit, idempotent through
the card engine's (member, kind, origin) constraint, and it joins the specialist's open card for
the member. Its notifications and e-mails go out only when that reason is new, so recording the
same visit's consequences twice alerts nobody twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Notification, Role, Staff, Store
from accounts.services import audit_log
from duties.services import email_queue, emails_keyed
from members.models import Member

from .models import FollowUpTask, TaskKind, Visit

# Satisfaction is 1–5 (DOMAIN §7); "satisfied" is 4 and up (§6). 1 and 2 are the customer saying
# something went wrong: someone who can change things calls back.
LOW_SATISFACTION = 2
LOW_SATISFACTION_ORIGIN = "low-satisfaction"
# The weekly report lists at most this many suggestions (the count covers them all).
WEEK_SUGGESTIONS_SHOWN = 50


def is_low(satisfaction: int | None) -> bool:
    return satisfaction is not None and satisfaction <= LOW_SATISFACTION


def _leads(store: Store) -> list[Staff]:
    """The store's active VIP specialists and managers, specialist first (then by pk, as the
    card engine's fallback picks them)."""
    leads = Staff.objects.filter(store=store, is_active=True, role__in=[Role.VIP_SPECIALIST, Role.MANAGER])
    return sorted(leads, key=lambda s: (s.role != Role.VIP_SPECIALIST, s.pk))


@transaction.atomic
def low_satisfaction_follow_up(*, visit: Visit) -> FollowUpTask | None:
    """For a visit scored 1 or 2: a revisit (`manual`, origin ``low-satisfaction:<visit>``) for the
    home store's VIP specialist (else its manager, else the member's usual owner), due the day
    after the visit (today at the earliest); an in-app notification to the specialist and the
    manager and, with an address on file, an e-mail through the outbox after commit. Once per
    visit: a second call returns the task and notifies nobody. None when the score is not low or
    the member is erased."""
    from .services import task_create  # services calls this module

    if not is_low(visit.satisfaction):
        return None
    member = Member.objects.select_related("home_store").get(pk=visit.member_id)
    if member.erased_at is not None:
        return None
    leads = _leads(member.home_store)
    day = timezone.localdate(visit.at)
    note = _("满意度 %(score)s/5：%(outcome)s") % {"score": visit.satisfaction, "outcome": visit.outcome}
    task, added = task_create(
        member=member,
        kind=TaskKind.MANUAL,
        due_date=max(day + timedelta(days=1), timezone.localdate()),
        origin=f"{LOW_SATISFACTION_ORIGIN}:{visit.pk}",
        note=note,
        assignee=leads[0] if leads else None,
    )
    if not added:
        return task
    _notify(visit=visit, member=member, leads=leads)
    audit_log(
        actor=visit.staff,
        action="visit.low_satisfaction",
        obj=visit,
        store=member.home_store,
        satisfaction=visit.satisfaction,
        task=task.pk if task else None,
        notified=[person.pk for person in leads],
    )
    return task


def _notify(*, visit: Visit, member: Member, leads: list[Staff]) -> None:
    text = _("低满意度：%(name)s（%(card)s）%(score)s/5，%(staff)s 记录：%(outcome)s。已安排回访。") % {
        "name": member.name,
        "card": member.card_no,
        "score": visit.satisfaction,
        "staff": visit.staff or "—",
        "outcome": visit.outcome,
    }
    url = reverse("members:detail", args=[member.pk])
    Notification.objects.bulk_create([Notification(recipient=person, text=text[:300], url=url) for person in leads])
    subject = _("低满意度回访提醒：%(name)s %(score)s/5") % {"name": member.name, "score": visit.satisfaction}
    body = "\n".join(
        filter(
            None,
            [
                text,
                _("顾客意见和建议：%(text)s") % {"text": visit.suggestions} if visit.suggestions else "",
                _("备注：%(text)s") % {"text": visit.notes} if visit.notes else "",
            ],
        )
    )
    for person in leads:
        if person.email:
            email_queue(
                to=[person.email],
                subject=subject[:255],
                body=body,
                key=f"{LOW_SATISFACTION_ORIGIN}:{visit.pk}:{person.pk}",
            )


def feedback_scrub(*, member: Member, traces: list[re.Pattern]) -> None:
    """An erased member (DOMAIN §11): the low-satisfaction notifications (they link to the member's
    page) and e-mails (keyed by the member's visits) lose the person's name, phone and card."""
    from members.services import scrub_rows

    url = reverse("members:detail", args=[member.pk])
    scrub_rows(Notification.objects.filter(url=url), ("text",), traces)
    visit_ids = list(Visit.objects.filter(member=member).values_list("pk", flat=True))
    if visit_ids:
        prefixes = [f"{LOW_SATISFACTION_ORIGIN}:{pk}:" for pk in visit_ids]
        scrub_rows(emails_keyed(prefixes=prefixes), ("subject", "body", "html"), traces)


# --- The weekly report's block ----------------------------------------------------------------


def short_name(name: str) -> str:
    """A member's name as a shared report shows it: the surname and a mask (张** / 欧阳*)."""
    name = (name or "").strip()
    if not name:
        return "—"
    keep = 2 if len(name) >= 4 else 1
    return name[:keep] + "*" * max(len(name) - keep, 1)


@dataclass(frozen=True)
class FeedbackRow:
    member_id: int
    member: str  # short_name
    tier: str
    day: date
    satisfaction: int | None
    text: str  # the suggestions, or for a low score without any, the outcome
    staff: str


@dataclass(frozen=True)
class WeekFeedback:
    suggestions: list[FeedbackRow]
    suggestions_count: int
    low: list[FeedbackRow]
    low_count: int


def week_feedback(*, store: Store, start: date, end: date) -> WeekFeedback:
    """The visits made at `store` from `start` to `end` (store-local days) with opinions and
    suggestions, and those scored 1–2, newest first; names shortened. Read live, not frozen with
    the snapshot, so that a member's erasure reaches the report too. Two queries."""
    lo = timezone.make_aware(datetime.combine(start, time.min))
    hi = timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min))
    visits = (
        Visit.objects.filter(store=store, at__gte=lo, at__lt=hi)
        .select_related("member", "staff")
        .order_by("-at", "-pk")
    )
    with_suggestions = visits.exclude(suggestions="")
    low = visits.filter(satisfaction__lte=LOW_SATISFACTION)
    suggestion_rows = [_row(v, v.suggestions) for v in with_suggestions[: WEEK_SUGGESTIONS_SHOWN + 1]]
    low_rows = [_row(v, v.suggestions or v.outcome) for v in low[: WEEK_SUGGESTIONS_SHOWN + 1]]
    return WeekFeedback(
        suggestions=suggestion_rows[:WEEK_SUGGESTIONS_SHOWN],
        suggestions_count=_count(with_suggestions, suggestion_rows),
        low=low_rows[:WEEK_SUGGESTIONS_SHOWN],
        low_count=_count(low, low_rows),
    )


def _count(qs, rows: list) -> int:
    # Only ask the database when the list was cut: the usual week has a handful.
    return len(rows) if len(rows) <= WEEK_SUGGESTIONS_SHOWN else qs.count()


def _row(visit: Visit, text: str) -> FeedbackRow:
    return FeedbackRow(
        member_id=visit.member_id,
        member=short_name(visit.member.name),
        tier=visit.member.tier,
        day=timezone.localdate(visit.at),
        satisfaction=visit.satisfaction,
        text=text,
        staff=str(visit.staff) if visit.staff else "—",
    )

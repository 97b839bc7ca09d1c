"""The half-month top spenders (seed: 每半个月根据消费前三名客户和重要客户进行回访): on the 1st and
the 16th, each store's N biggest spenders of the half-month just ended, and its members flagged
important, get a revisit from their consultant.

Definitions (documented in /tmp/team/readme_followup.md):
- Half-months are the 1st–15th and the 16th–month end, store-local dates. The duty on the 16th
  looks at the 1st–15th; the duty on the 1st at the previous month's 16th–end.
- A store's members are those whose home store it is (DOMAIN §6: member figures belong to the home
  store); their spend is the net sum of their receipts dated in the half-month at any till,
  returns included (negative), so a purchase returned within the half counts for nothing. Only a
  positive net spend ranks; ties go by card number.
- N is `settings.VIPCRM_TOP_SPENDERS` (default TOP_SPENDERS_DEFAULT = 3): no schema change.
- "Important" is the member tag 重要客户 (IMPORTANT_TAG), which store leads already manage: a flag
  staff set on purpose, unlike tier A, which a purchase gives.
- The revisit is a `manual` reason (a dated contact: met by a reached contact on or after its due
  date, not by a purchase — the point is to hear the customer) due on the duty's date, origin
  ``top-spender:<duty date>``: one per member and half-month, joining the member's card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Staff, Store
from duties.models import DutyRun, DutyRunStatus
from duties.runs import duty_run
from members.models import Member, Purchase
from members.selectors import displayed_phone
from members.tiers import month_end

from .models import FollowUpTask, TaskKind, TaskReason
from .services import tasks_bulk_create

TOP_SPENDERS_DUTY = "top_spenders"
TOP_SPENDERS_DEFAULT = 3
IMPORTANT_TAG = "重要客户"
ORIGIN = "top-spender"
# How far back a catch-up looks for a missed 1st or 16th: a month and a half, three half-months.
CATCH_UP_DAYS = 46


def top_n() -> int:
    return max(int(getattr(settings, "VIPCRM_TOP_SPENDERS", TOP_SPENDERS_DEFAULT)), 0)


# --- Half-months -------------------------------------------------------------------------------


def half_month_of(day: date) -> tuple[date, date]:
    """The half-month holding `day`: the 1st–15th or the 16th–month end."""
    if day.day <= 15:
        return day.replace(day=1), day.replace(day=15)
    return day.replace(day=16), month_end(day)


def half_month_before(day: date) -> tuple[date, date]:
    """The half-month that ended before the one holding `day`."""
    start, _end = half_month_of(day)
    return half_month_of(start - timedelta(days=1))


def half_month_after(day: date) -> tuple[date, date]:
    _start, end = half_month_of(day)
    return half_month_of(end + timedelta(days=1))


def is_due(day: date) -> bool:
    """The duty runs on the 1st and the 16th, the first day after a half-month."""
    return day.day in (1, 16)


def list_date(start: date) -> date:
    """The date the revisit list of the half-month starting `start` is made (the day after it)."""
    return half_month_of(start)[1] + timedelta(days=1)


def origin_for(on: date) -> str:
    return f"{ORIGIN}:{on.isoformat()}"


# --- Reads -------------------------------------------------------------------------------------


@dataclass
class TopSpender:
    member: Member
    spend: Decimal  # net, in the half-month
    receipts: int
    rank: int | None  # 1..N among the top spenders; None for an important member outside them
    important: bool
    task: FollowUpTask | None = None  # the revisit carrying this half-month's reason, once made
    phone: str = ""  # masked (members.selectors.displayed_phone), set for a viewer


def top_spenders(*, store: Store, start: date, end: date, n: int | None = None) -> list[TopSpender]:
    """The store's top `n` spenders from `start` to `end`, then its important members not among
    them (by spend, then card number). Erased members are left out. Four queries whatever the
    store's size (spends, the tag, the members, their spends if important)."""
    n = top_n() if n is None else n
    in_period = Q(date__gte=start, date__lte=end)
    home = Purchase.objects.filter(in_period, member__home_store=store, member__erased_at__isnull=True)
    ranked = list(
        home.values("member_id")
        .annotate(total=Sum("amount"), receipts=Count("pk"))
        .filter(total__gt=0)
        .order_by("-total", "member__card_no")[:n]
    )
    top_ids = [row["member_id"] for row in ranked]
    important_ids = set(
        Member.objects.filter(home_store=store, erased_at__isnull=True, tags__name=IMPORTANT_TAG).values_list(
            "pk", flat=True
        )
    )
    extra = important_ids - set(top_ids)
    spends = {row["member_id"]: row for row in ranked}
    if extra:
        spends.update(
            {
                row["member_id"]: row
                for row in home.filter(member_id__in=extra)
                .values("member_id")
                .annotate(total=Sum("amount"), receipts=Count("pk"))
                .order_by()
            }
        )
    members = Member.objects.select_related("consultant").in_bulk([*top_ids, *extra])
    rows = [
        TopSpender(
            member=members[pk],
            spend=spends[pk]["total"],
            receipts=spends[pk]["receipts"],
            rank=i,
            important=pk in important_ids,
        )
        for i, pk in enumerate(top_ids, start=1)
    ]
    others = [
        TopSpender(
            member=members[pk],
            spend=spends.get(pk, {}).get("total") or Decimal("0.00"),
            receipts=spends.get(pk, {}).get("receipts", 0),
            rank=None,
            important=True,
        )
        for pk in extra
    ]
    return rows + sorted(others, key=lambda r: (-r.spend, r.member.card_no))


def top_spenders_for(*, viewer: Staff, store: Store, start: date, end: date) -> list[TopSpender]:
    """The page's list: `top_spenders` with each member's revisit for this half-month (the task
    carrying the reason ``top-spender:<the day after end>``), for a viewer of the store (else
    nothing). One more query for the tasks."""
    if not (viewer.is_hq or viewer.store_id == store.pk):
        return []
    rows = top_spenders(store=store, start=start, end=end)
    reasons = TaskReason.objects.filter(
        member_id__in=[r.member.pk for r in rows], kind=TaskKind.MANUAL, origin=origin_for(end + timedelta(days=1))
    ).select_related("task__assignee")
    tasks = {reason.member_id: reason.task for reason in reasons}
    for row in rows:
        row.task = tasks.get(row.member.pk)
        row.phone = displayed_phone(viewer, row.member)
    return rows


# --- The duty ----------------------------------------------------------------------------------


def top_spenders_work(store: Store, on: date) -> dict:
    """On the 1st or the 16th: a revisit (`manual`, origin ``top-spender:<on>``, due `on`) for each
    of the store's top spenders of the half-month just ended and each important member, assigned
    like generated tasks (the consultant, else the VIP specialist, else the manager). Idempotent:
    a second run adds nothing."""
    if not is_due(on):
        raise ValueError(f"{on} is not the 1st or the 16th")
    start, end = half_month_before(on)
    rows = top_spenders(store=store, start=start, end=end)
    period = f"{start:%m-%d}–{end:%m-%d}"
    tasks = [
        (
            row.member.pk,
            row.member.consultant_id,
            TaskKind.MANUAL,
            on,
            origin_for(on),
            _reason_note(row, period),
        )
        for row in rows
    ]
    added = tasks_bulk_create(store=store, rows=tasks) if tasks else 0
    return {
        "top_spenders": sum(1 for r in rows if r.rank is not None),
        "important": sum(1 for r in rows if r.important),
        "tasks": added,
    }


def _reason_note(row: TopSpender, period: str) -> str:
    if row.rank is not None:
        note = _("半月回访：%(period)s 消费第 %(rank)s 名 ¥%(spend)s") % {
            "period": period,
            "rank": row.rank,
            "spend": f"{row.spend:,.2f}",
        }
        return note + (_("（重要客户）") if row.important else "")
    return _("半月回访：重要客户（%(period)s 消费 ¥%(spend)s）") % {"period": period, "spend": f"{row.spend:,.2f}"}


def top_spenders_days_to_run(*, store: Store, through: date) -> list[date]:
    """The 1sts and 16ths still to run through `through`, oldest first: those after the last
    completed run (at most CATCH_UP_DAYS back). A store that never ran it starts with the latest."""
    earliest = through - timedelta(days=CATCH_UP_DAYS - 1)
    due = [d for d in (earliest + timedelta(days=i) for i in range(CATCH_UP_DAYS)) if is_due(d)]
    done = DutyRun.objects.filter(
        duty=TOP_SPENDERS_DUTY, store=store, status=DutyRunStatus.DONE, date__lte=through
    ).values_list("date", flat=True)
    last = done.order_by("-date").first()
    if last is None:
        return due[-1:]
    return [d for d in due if d > last]


def top_spenders_catch_up(*, store: Store, through: date | None = None) -> list:
    """Run the duty for every 1st and 16th it missed, then `through` if due; each once."""
    through = through or timezone.localdate()
    return [
        duty_run(duty=TOP_SPENDERS_DUTY, store=store, on=day, work=top_spenders_work)
        for day in top_spenders_days_to_run(store=store, through=through)
    ]

"""Reads for the daily work pages: the Today list, the store board, visits, invitations, gifts.

Every read takes the viewer and goes through a scoped queryset (HQ: every store; everyone else:
their own store), so another store's task, invitation or gift plan is a 404, never a 403.
Whether a viewer may *act* on an object in scope (a consultant on another consultant's task) is a
separate yes/no here, which the views turn into a 403.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Avg, Count, F, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Staff, Store
from members.models import Member, Purchase
from members.selectors import can_see_full_contact

from .models import (
    FollowUpTask,
    GiftPlan,
    GiftStatus,
    Invitation,
    InvitationStatus,
    TaskKind,
    TaskStatus,
    Visit,
    VisitResult,
)
from .services import GIFT_NEXT, INVITATION_NEXT, invitation_bought_window

UPCOMING_DAYS = 7


# --- Scope -----------------------------------------------------------------------------------


def _scoped(qs: QuerySet, viewer: Staff, store_field: str = "store_id") -> QuerySet:
    """HQ sees every store; everyone else only their own (a storeless non-HQ user sees nothing)."""
    if viewer.is_hq:
        return qs
    if viewer.store_id is None:
        return qs.none()
    return qs.filter(**{store_field: viewer.store_id})


def _get(qs: QuerySet, pk):
    try:
        return qs.get(pk=pk)
    except (qs.model.DoesNotExist, ValueError, TypeError):
        raise Http404 from None


def task_scope(*, viewer: Staff) -> QuerySet[FollowUpTask]:
    return _scoped(FollowUpTask.objects.all(), viewer)


def task_get(*, viewer: Staff, pk: int) -> FollowUpTask:
    """The task with what its row shows, or 404 outside the viewer's store."""
    return _get(task_scope(viewer=viewer).select_related("member", "assignee", "store", "visit"), pk)


def can_work_task(viewer: Staff, task: FollowUpTask) -> bool:
    """Complete or snooze: consultants their own tasks; VIP specialist, manager and HQ any in scope."""
    return viewer.is_store_lead or task.assignee_id == viewer.pk


def can_reassign_task(viewer: Staff) -> bool:
    return viewer.is_store_lead


def invitation_scope(*, viewer: Staff) -> QuerySet[Invitation]:
    return _scoped(Invitation.objects.all(), viewer)


def invitation_get(*, viewer: Staff, pk: int) -> Invitation:
    return _get(invitation_scope(viewer=viewer).select_related("member", "invited_by", "store"), pk)


def can_advance_invitation(viewer: Staff, invitation: Invitation) -> bool:
    """Consultants follow their own invitations through; store leads any of the store's."""
    return viewer.is_store_lead or invitation.invited_by_id == viewer.pk


def gift_plan_scope(*, viewer: Staff) -> QuerySet[GiftPlan]:
    return _scoped(GiftPlan.objects.all(), viewer)


def gift_plan_get(*, viewer: Staff, pk: int) -> GiftPlan:
    return _get(gift_plan_scope(viewer=viewer).select_related("member__consultant", "store", "status_by"), pk)


def store_for(*, viewer: Staff, store_id: int | None = None) -> Store | None:
    """The store a page is about: the viewer's own, or for HQ the one picked (None = all)."""
    if not viewer.is_hq:
        return viewer.store
    if not store_id:
        return None
    return Store.objects.filter(pk=store_id).first()


# --- Rates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """A rate with its numerator and denominator (DOMAIN §6); no rate when nothing to divide by."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def percent(self) -> float | None:
        return None if self.value is None else round(self.value * 100, 1)


# --- Today -----------------------------------------------------------------------------------


def task_greeting(task: FollowUpTask, *, sender: Staff) -> str:
    """A ready text to paste into WeChat, fitting the task's kind. The name is the member's full
    name: surnames cannot be split off reliably (复姓), and a wrong 张女士 is worse than none."""
    context = {
        "name": task.member.name,
        "store": task.store.name,
        "sender": str(sender),
    }
    texts = {
        TaskKind.BIRTHDAY: _(
            "亲爱的%(name)s，今天是您的生日！%(store)s全体同事祝您生日快乐、美丽常在！"
            "我们为您准备了一份生日礼物，方便时欢迎到店领取。——%(sender)s"
        ),
        TaskKind.BIRTHDAY_PREP: _(
            "亲爱的%(name)s，您的生日快到了，我们为您准备了一份生日礼物，"
            "这几天方便来店里坐坐吗？我给您留着。——%(sender)s"
        ),
        TaskKind.POST_PURCHASE: _(
            "亲爱的%(name)s，感谢您选购我们的衣服！穿着还合身、舒服吗？如需修改或想要搭配建议，随时找我。——%(sender)s"
        ),
        TaskKind.CARE: _(
            "亲爱的%(name)s，好久不见，最近一切都好吗？店里到了一批新款，很适合您的风格，有空欢迎来试穿。——%(sender)s"
        ),
        TaskKind.OCCASION: _(
            "亲爱的%(name)s，%(store)s祝您和家人节日快乐、幸福美满！"
            "我们为您准备了一份心意，方便时欢迎到店。——%(sender)s"
        ),
        TaskKind.WIN_BACK: _(
            "亲爱的%(name)s，好久没见到您了，很想念您！店里新到了不少适合您的款式，"
            "还为您准备了专属礼遇，期待您的光临。——%(sender)s"
        ),
        TaskKind.COMPLAINT_REVISIT: _(
            "亲爱的%(name)s，上次给您带来不便，非常抱歉。想回访一下问题是否已妥善解决，"
            "您还有什么需要我们改进的吗？——%(sender)s"
        ),
        TaskKind.UPGRADE_PUSH: _(
            "亲爱的%(name)s，您离升级更高等级会员只差一点点啦，升级后可享受更多专属礼遇。"
            "店里新款已到，欢迎来看看。——%(sender)s"
        ),
        TaskKind.INVITATION: _(
            "亲爱的%(name)s，跟您确认一下到店的时间，我会提前为您准备好，期待您的光临！"
            "如时间有变请随时告诉我。——%(sender)s"
        ),
    }
    text = texts.get(
        task.kind, _("亲爱的%(name)s，您好！我是%(store)s的%(sender)s，想跟您回访一下近况，有什么需要随时找我。")
    )
    return text % context


@dataclass
class TodayList:
    """The viewer's (or a store's) open tasks: overdue, due today, due in the next 7 days."""

    today: date
    store: Store | None
    whole_store: bool
    overdue: list[FollowUpTask] = field(default_factory=list)
    due_today: list[FollowUpTask] = field(default_factory=list)
    upcoming: list[FollowUpTask] = field(default_factory=list)
    done_today: int = 0

    @property
    def open_count(self) -> int:
        return len(self.overdue) + len(self.due_today) + len(self.upcoming)


def annotate_task_row(task: FollowUpTask, *, viewer: Staff, today: date) -> FollowUpTask:
    """What a Today row shows beyond the task: overdue days, the greeting, whether to offer a call
    (the full number is never on the page: the call link goes through an audited redirect)."""
    task.overdue_days = (today - task.due_date).days if task.status == TaskStatus.OPEN else 0
    task.greeting = task_greeting(task, sender=viewer)
    task.can_call = can_see_full_contact(viewer, task.member)
    task.can_work = can_work_task(viewer, task)
    return task


def today_list(*, viewer: Staff, whole_store: bool = False, store: Store | None = None, today: date | None = None):
    """Open tasks due up to 7 days ahead, in two queries whatever their number.

    Consultants always see their own; a VIP specialist or manager may ask for the whole store;
    HQ sees the store it picked.
    """
    today = today or timezone.localdate()
    if viewer.is_hq:
        whole_store = True
    elif not viewer.is_store_lead:
        whole_store = False
    store = store if viewer.is_hq else viewer.store
    result = TodayList(today=today, store=store, whole_store=whole_store)
    tasks = task_scope(viewer=viewer)
    if viewer.is_hq:
        tasks = tasks.filter(store=store) if store else tasks.none()
    if not whole_store:
        tasks = tasks.filter(assignee=viewer)
    rows = (
        tasks.filter(status=TaskStatus.OPEN, due_date__lte=today + timedelta(days=UPCOMING_DAYS))
        .select_related("member", "assignee", "store")
        .order_by("due_date", "member__name", "pk")
    )
    for task in rows:
        annotate_task_row(task, viewer=viewer, today=today)
        if task.due_date < today:
            result.overdue.append(task)
        elif task.due_date == today:
            result.due_today.append(task)
        else:
            result.upcoming.append(task)
    result.done_today = tasks.filter(status=TaskStatus.DONE, done_on=today).count()
    return result


# --- Store board -----------------------------------------------------------------------------


@dataclass
class BoardRow:
    assignee: Staff | None
    store_code: str
    due: int
    done: int
    on_time: int
    overdue_open: int

    @property
    def completion(self) -> Rate:
        return Rate(self.done, self.due)

    @property
    def on_time_rate(self) -> Rate:
        return Rate(self.on_time, self.due)


def store_board(*, viewer: Staff, start: date, end: date, store: Store | None = None, today: date | None = None):
    """Per assignee, tasks due in [start, end] (cancelled excluded, DOMAIN §6): done by `end`,
    done on time (on or before the due date), and still open past their due date.

    One aggregate query over the period's tasks, then one for the assignees' names; the total row
    is summed from the rows.
    """
    today = today or timezone.localdate()
    tasks = task_scope(viewer=viewer).filter(due_date__range=(start, end)).exclude(status=TaskStatus.CANCELLED)
    if store is not None:
        tasks = tasks.filter(store=store)
    done = Q(status=TaskStatus.DONE, done_on__lte=end)
    figures = (
        tasks.values("assignee_id", "store__code")
        .annotate(
            due=Count("pk"),
            done=Count("pk", filter=done),
            on_time=Count("pk", filter=done & Q(done_on__lte=F("due_date"))),
            overdue_open=Count("pk", filter=Q(status=TaskStatus.OPEN, due_date__lt=today)),
        )
        .order_by("store__code", "assignee_id")
    )
    figures = list(figures)
    people = Staff.objects.in_bulk([row["assignee_id"] for row in figures if row["assignee_id"]])
    rows = [
        BoardRow(
            assignee=people.get(row["assignee_id"]),
            store_code=row["store__code"],
            due=row["due"],
            done=row["done"],
            on_time=row["on_time"],
            overdue_open=row["overdue_open"],
        )
        for row in figures
    ]
    rows.sort(key=lambda r: (r.store_code, r.assignee is None, str(r.assignee or "")))
    total = BoardRow(
        assignee=None,
        store_code="",
        due=sum(r.due for r in rows),
        done=sum(r.done for r in rows),
        on_time=sum(r.on_time for r in rows),
        overdue_open=sum(r.overdue_open for r in rows),
    )
    return rows, total


# --- Visits on the member page ---------------------------------------------------------------


def last_contact_at() -> Subquery:
    """When the member was last reached (DOMAIN §7), as an expression on a Member queryset: a
    correlated lookup on the (member, -at) index, evaluated only for the rows returned."""
    reached = Visit.objects.filter(member_id=OuterRef("pk"), result=VisitResult.REACHED).order_by("-at")
    return Subquery(reached.values("at")[:1])


def member_visits(*, member: Member) -> QuerySet[Visit]:
    """The member's visits, newest first (the member was fetched through the viewer's scope)."""
    return member.visits.select_related("staff", "task").order_by("-at", "-pk")


def member_open_tasks(*, member: Member) -> QuerySet[FollowUpTask]:
    return member.tasks.filter(status=TaskStatus.OPEN).select_related("assignee").order_by("due_date", "pk")


# --- Invitations -----------------------------------------------------------------------------

# The one meaning of "confirmed" and "attended" for the invitation funnel here and the campaign
# results (campaigns.selectors): how far an invitation got along invited → confirmed → arrived →
# bought. Confirmed = reached "confirmed" or a later step: an arrival or a purchase passed it (a
# walk-in may skip the click), and a no-show can only follow a confirmation (INVITATION_NEXT), so
# leaving it out would hide every no-show from the arrival rate's denominator. A declined
# invitation counts as invited only.
REACHED_CONFIRMED = frozenset(
    {InvitationStatus.CONFIRMED, InvitationStatus.NO_SHOW, InvitationStatus.ARRIVED, InvitationStatus.BOUGHT}
)
REACHED_ARRIVED = frozenset({InvitationStatus.ARRIVED, InvitationStatus.BOUGHT})


def invitation_reached_confirmed(status: str) -> bool:
    """Whether an invitation in `status` counts as confirmed (funnel and campaign alike)."""
    return status in REACHED_CONFIRMED


def invitation_reached_arrived(status: str) -> bool:
    """Whether an invitation in `status` counts as attended (funnel and campaign alike)."""
    return status in REACHED_ARRIVED


# The invitations page's views: upcoming (the default: what is still to come, soonest first), past
# (most recent first) and all (by date). The date range and status filters apply within each.
INVITATION_VIEWS = ("upcoming", "past", "all")


@dataclass
class InvitationFilters:
    start: date | None = None
    end: date | None = None
    status: str = ""
    invited_by_id: int | None = None
    store: Store | None = None
    view: str = "all"
    today: date | None = None


def invitation_list(*, viewer: Staff, filters: InvitationFilters, with_status: bool = True) -> QuerySet[Invitation]:
    """Invitations in scope, by the date invited for, ordered for the view: upcoming (for_date on
    or after today) soonest first, past most recent first, all by date. Consultants see only
    their own (DOMAIN §11: own figures); `with_status` False leaves the status filter out, for the
    funnel."""
    qs = invitation_scope(viewer=viewer)
    today = filters.today or timezone.localdate()
    if filters.view == "upcoming":
        qs = qs.filter(for_date__gte=today).order_by("for_date", "pk")
    elif filters.view == "past":
        qs = qs.filter(for_date__lt=today).order_by("-for_date", "-pk")
    else:
        qs = qs.order_by("for_date", "pk")
    if viewer.is_consultant:
        qs = qs.filter(invited_by=viewer)
    elif filters.invited_by_id:
        qs = qs.filter(invited_by_id=filters.invited_by_id)
    if filters.store is not None:
        qs = qs.filter(store=filters.store)
    if filters.start:
        qs = qs.filter(for_date__gte=filters.start)
    if filters.end:
        qs = qs.filter(for_date__lte=filters.end)
    if with_status and filters.status:
        qs = qs.filter(status=filters.status)
    return qs


@dataclass
class FunnelRow:
    invited_by: Staff | None
    invited: int
    confirmed: int
    arrived: int
    bought: int

    @property
    def confirm_rate(self) -> Rate:
        return Rate(self.confirmed, self.invited)

    @property
    def arrive_rate(self) -> Rate:
        return Rate(self.arrived, self.confirmed)

    @property
    def buy_rate(self) -> Rate:
        return Rate(self.bought, self.arrived)

    @property
    def overall_rate(self) -> Rate:
        return Rate(self.bought, self.invited)


def invitation_funnel(*, viewer: Staff, filters: InvitationFilters) -> tuple[list[FunnelRow], FunnelRow]:
    """invited → confirmed → arrived → bought, per inviter and overall, in one aggregate query
    (plus one for the inviters' names). The status filter does not apply: a funnel of only the
    'bought' invitations would say nothing."""
    figures = list(
        invitation_list(viewer=viewer, filters=filters, with_status=False)
        .order_by()
        .values("invited_by_id")
        .annotate(
            invited=Count("pk"),
            confirmed=Count("pk", filter=Q(status__in=REACHED_CONFIRMED)),
            arrived=Count("pk", filter=Q(status__in=REACHED_ARRIVED)),
            bought=Count("pk", filter=Q(status=InvitationStatus.BOUGHT)),
        )
        .order_by("invited_by_id")
    )
    people = Staff.objects.in_bulk([row["invited_by_id"] for row in figures if row["invited_by_id"]])
    rows = [
        FunnelRow(
            invited_by=people.get(row["invited_by_id"]),
            invited=row["invited"],
            confirmed=row["confirmed"],
            arrived=row["arrived"],
            bought=row["bought"],
        )
        for row in figures
    ]
    rows.sort(key=lambda r: (r.invited_by is None, str(r.invited_by or "")))
    total = FunnelRow(
        invited_by=None,
        invited=sum(r.invited for r in rows),
        confirmed=sum(r.confirmed for r in rows),
        arrived=sum(r.arrived for r in rows),
        bought=sum(r.bought for r in rows),
    )
    return rows, total


def invitation_next_statuses(invitation: Invitation, *, has_purchase: bool = True) -> list[tuple[str, str]]:
    """The statuses an invitation may move to next, in funnel order, as (value, label). "Bought"
    only when the member has a receipt in the window (`has_purchase`, from
    invitations_with_purchase): invitation_advance would refuse it otherwise."""
    allowed = INVITATION_NEXT.get(invitation.status, set())
    if not has_purchase:
        allowed = allowed - {InvitationStatus.BOUGHT}
    return [(value, label) for value, label in InvitationStatus.choices if value in allowed]


def invitations_with_purchase(invitations: list[Invitation]) -> set[int]:
    """The ids of those invitations whose member has a receipt with a positive amount at the
    inviting store inside the invitation's bought window (invitation_bought_window). One query
    for a page of invitations, whatever its size."""
    if not invitations:
        return set()
    windows = {inv.pk: invitation_bought_window(inv.for_date) for inv in invitations}
    days: dict[tuple[int, int], list[date]] = {}
    for member_id, store_id, day in Purchase.objects.filter(
        member_id__in={inv.member_id for inv in invitations},
        store_id__in={inv.store_id for inv in invitations},
        amount__gt=0,
        date__gte=min(start for start, _end in windows.values()),
        date__lte=max(end for _start, end in windows.values()),
    ).values_list("member_id", "store_id", "date"):
        days.setdefault((member_id, store_id), []).append(day)
    return {
        inv.pk
        for inv in invitations
        if any(windows[inv.pk][0] <= day <= windows[inv.pk][1] for day in days.get((inv.member_id, inv.store_id), []))
    }


# --- Gifts -----------------------------------------------------------------------------------


def gift_plan_list(*, viewer: Staff, start: date, end: date, store: Store | None = None) -> QuerySet[GiftPlan]:
    """The month's birthday and occasion gift plans, in date order."""
    qs = gift_plan_scope(viewer=viewer).filter(occasion_date__range=(start, end))
    if store is not None:
        qs = qs.filter(store=store)
    return qs.select_related("member__consultant", "store", "status_by").order_by("occasion_date", "member__name", "pk")


def gift_next_statuses(plan: GiftPlan) -> list[tuple[str, str]]:
    allowed = GIFT_NEXT.get(plan.status, set())
    return [(value, label) for value, label in GiftStatus.choices if value in allowed]


# --- Figures for the KPIs (reports.kpis) ---------------------------------------------------------


def _follow_up_counts(end: date) -> dict[str, Count]:
    """DOMAIN §6: due = tasks due in the period (cancelled excluded: the caller filters); done =
    closed by a reached contact (its own, another one, or a purchase that met it; an unreached
    attempt never closes a task) by `end`; on time = closed so on or before the due date. The due
    date is the first one the task was given: snoozes and attempts move only `scheduled_for`."""
    return {
        "due": Count("pk"),
        "done": Count("pk", filter=Q(status=TaskStatus.DONE, done_on__lte=end)),
        "on_time": Count("pk", filter=Q(status=TaskStatus.DONE, done_on__lte=F("due_date"))),
    }


def follow_up_figures(*, store_ids: list[int] | None, start: date, end: date) -> dict[str, int]:
    """Tasks due in [start, end] (cancelled excluded), those closed by a reached contact by `end`
    and those closed so on or before their due date (`_follow_up_counts`): one query."""
    tasks = FollowUpTask.objects.filter(due_date__gte=start, due_date__lte=end).exclude(status=TaskStatus.CANCELLED)
    if store_ids is not None:
        tasks = tasks.filter(store_id__in=store_ids)
    return tasks.aggregate(**_follow_up_counts(end))


def satisfaction_figures(*, store_ids: list[int] | None, start: date, end: date) -> dict:
    """Visits in the period with a score: how many, their mean, and how many scored 4 or 5."""
    lo = timezone.make_aware(datetime.combine(start, time.min))
    hi = timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min))
    visits = Visit.objects.filter(at__gte=lo, at__lt=hi, satisfaction__isnull=False)
    if store_ids is not None:
        visits = visits.filter(store_id__in=store_ids)
    return visits.aggregate(
        scored=Count("pk"), mean=Avg("satisfaction"), satisfied=Count("pk", filter=Q(satisfaction__gte=4))
    )


def week_figures(*, store: Store, start: date, end: date) -> dict:
    """The weekly report's figures from visits (DOMAIN §10): visits by channel, invitations by
    status (for dates in the period), each person's tasks due, done and on time and visits made,
    and the birthdays of the coming seven days. A fixed number of queries."""
    from .generation import _birthdays_on  # the daily rule's own matcher: lunar and 29 Feb aware

    lo = timezone.make_aware(datetime.combine(start, time.min))
    hi = timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min))
    visits = Visit.objects.filter(store=store, at__gte=lo, at__lt=hi)
    by_channel = dict(visits.values_list("channel").annotate(n=Count("pk")).order_by())
    invitations = dict(
        Invitation.objects.filter(store=store, for_date__gte=start, for_date__lte=end)
        .values_list("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    tasks = FollowUpTask.objects.filter(store=store, due_date__gte=start, due_date__lte=end).exclude(
        status=TaskStatus.CANCELLED
    )
    people: dict[int, dict] = {}
    for row in tasks.values("assignee_id").annotate(
        due=Count("pk"),
        done=Count("pk", filter=Q(status=TaskStatus.DONE, done_on__lte=end)),
        on_time=Count("pk", filter=Q(status=TaskStatus.DONE, done_on__lte=F("due_date"))),
    ):
        if row["assignee_id"]:
            people[row["assignee_id"]] = {"due": row["due"], "done": row["done"], "on_time": row["on_time"]}
    for staff_id, n in visits.values_list("staff_id").annotate(n=Count("pk")).order_by():
        if staff_id:
            people.setdefault(staff_id, {"due": 0, "done": 0, "on_time": 0})["visits"] = n
    birthdays = []
    for offset in range(1, 8):
        day = end + timedelta(days=offset)
        birthdays += [(member_id, day.isoformat(), tier) for member_id, _consultant, tier in _birthdays_on(store, day)]
    return {
        "visits_by_channel": by_channel,
        "invitations": invitations,
        "people": people,
        "birthdays_next_week": birthdays,
    }


# --- Targets and dashboards (reports.targets, reports.dashboards) -------------------------------
# The follow-up completion of DOMAIN §6 grouped by store or by person, and satisfaction by person:
# one query each.


def follow_up_figures_by(*, by: str, store_ids: list[int] | None, start: date, end: date) -> dict[int, dict]:
    """`follow_up_figures` per store (`by="store"`) or per assignee (`by="assignee"`):
    {id: {"due", "done", "on_time"}}."""
    key = {"store": "store_id", "assignee": "assignee_id"}[by]
    tasks = FollowUpTask.objects.filter(due_date__gte=start, due_date__lte=end).exclude(status=TaskStatus.CANCELLED)
    if store_ids is not None:
        tasks = tasks.filter(store_id__in=store_ids)
    rows = tasks.values(key).annotate(**_follow_up_counts(end)).order_by()
    return {row[key]: {"due": row["due"], "done": row["done"], "on_time": row["on_time"]} for row in rows if row[key]}


def satisfaction_by_staff(*, store_id: int, start: date, end: date) -> dict[int, dict]:
    """`satisfaction_figures` per member of staff who made the visits: {id: {"scored", "mean",
    "satisfied"}}."""
    lo = timezone.make_aware(datetime.combine(start, time.min))
    hi = timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min))
    rows = (
        Visit.objects.filter(store_id=store_id, at__gte=lo, at__lt=hi, satisfaction__isnull=False, staff__isnull=False)
        .values("staff_id")
        .annotate(scored=Count("pk"), mean=Avg("satisfaction"), satisfied=Count("pk", filter=Q(satisfaction__gte=4)))
        .order_by()
    )
    return {row["staff_id"]: {k: row[k] for k in ("scored", "mean", "satisfied")} for row in rows}

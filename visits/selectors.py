"""Reads for the daily work pages: the Today list, the store board, visits, invitations, gifts.

Every read takes the viewer and goes through a scoped queryset (HQ: every store; everyone else:
their own store), so another store's task, invitation or gift plan is a 404, never a 403.
Whether a viewer may *act* on an object in scope (a consultant on another consultant's task) is a
separate yes/no here, which the views turn into a 403.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import partial

from django.core.paginator import Page, Paginator
from django.db.models import (
    Avg,
    Case,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.http import Http404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat, formats, timezone
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Staff, Store
from members.models import Member, ProgramRules, Purchase
from members.selectors import can_see_full_contact, ids_filter, spend_12m
from members.templatetags.money import format_money
from members.tiers import TierRules, missing_to_next_tier
from vipcrm.rates import Rate  # the one rate type (DOMAIN §6); visits' pages use it as before

from .messages import MessageContext, render
from .models import (
    Channel,
    ClosedBy,
    FollowUpTask,
    GiftPlan,
    GiftStatus,
    Invitation,
    InvitationStatus,
    MessageTemplate,
    TaskKind,
    TaskReason,
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


# --- Today -----------------------------------------------------------------------------------


TODAY_PER_PAGE = 50
# Stand-in ids (no real id reaches them): each card's links are made from one reversed URL per
# action with the first (reverse() is slow enough to matter at 50 cards with six links each), and
# the actions panel is rendered once with both, a task's and a member's (`views.card_actions`).
STAND_IN_ID, STAND_IN_MEMBER_ID = 2147483647, 2147483646
CARD_URLS = {
    "task": ("visits:task", "pk"),
    "complete": ("visits:task_complete", "pk"),
    "snooze": ("visits:task_snooze", "pk"),
    "reassign": ("visits:task_reassign", "pk"),
    "message": ("visits:task_message", "pk"),
    "call": ("visits:call", "member_id"),
    "member": ("members:detail", "member_id"),
}
# When a store has no template for any of a card's kinds (HQ deleted them all): still something
# to send. Member-facing text, like the templates themselves: in the member's language, not gettext.
FALLBACK_MESSAGE = "{称呼}您好！我是{门店}的{顾问}，想跟您回访一下近况，有什么需要随时找我。"


@dataclass
class TodayList:
    """One page of the viewer's (or a store's) cards, and the counts above them."""

    today: date
    store: Store | None
    whole_store: bool
    when: str  # "today": working date today or earlier; "upcoming": the next 7 days
    page: Page
    kind: str = ""
    tier: str = ""
    kind_counts: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, label, cards)
    overdue: int = 0
    due_today: int = 0
    upcoming: int = 0
    done_today: int = 0

    @property
    def cards(self) -> list[FollowUpTask]:
        return list(self.page.object_list)

    @property
    def open_count(self) -> int:
        return self.overdue + self.due_today


def message_templates_for(*, store: Store | None) -> dict[str, list[MessageTemplate]]:
    """The templates a store's staff pick from, by kind: the store's own, and HQ's defaults the
    store has not replaced. One query."""
    rows = MessageTemplate.objects.filter(Q(store__isnull=True) | Q(store=store)) if store else None
    rows = rows if rows is not None else MessageTemplate.objects.filter(store__isnull=True)
    rows = list(rows.order_by("kind", "position", "pk"))
    replaced = {t.replaces_id for t in rows if t.replaces_id}
    by_kind: dict[str, list[MessageTemplate]] = {}
    for template in rows:
        if template.pk not in replaced:
            by_kind.setdefault(template.kind, []).append(template)
    return by_kind


def card_rows(
    qs: QuerySet[FollowUpTask], *, today: date, rules: ProgramRules, greetings: bool = True
) -> QuerySet[FollowUpTask]:
    """What a card shows beyond the task, in the same query: the last reached contact (when, how,
    by whom), the last purchase (date, amount), the 12-month spend, and for `greetings` the next
    gift; the reasons come in one more query (`with_reasons`)."""
    reached = Visit.objects.filter(member_id=OuterRef("member_id"), result=VisitResult.REACHED).order_by("-at", "-pk")
    bought = Purchase.objects.filter(member_id=OuterRef("member_id"), amount__gt=0).order_by("-date", "-pk")
    shown = {
        "last_contact_at": Subquery(reached.values("at")[:1]),
        "last_contact_channel": Subquery(reached.values("channel")[:1]),
        "last_contact_staff_id": Subquery(reached.values("staff_id")[:1]),
        "last_purchase_on": Subquery(bought.values("date")[:1]),
        "last_purchase_amount": Subquery(bought.values("amount")[:1]),
    }
    qs = _ranked(qs, today=today, rules=rules)
    if greetings:  # they also name the gift, the store and the member's consultant; the list has no greetings
        gift = GiftPlan.objects.filter(
            member_id=OuterRef("member_id"),
            status__in=(GiftStatus.PLANNED, GiftStatus.PREPARED),
            occasion_date__gte=today,
        ).order_by("occasion_date", "pk")
        shown["gift"] = Subquery(gift.values("gift")[:1])
        qs = qs.select_related("member__consultant", "assignee", "store")
    else:  # the columns the list's cards read, not the whole rows (a third: issue 14)
        qs = qs.select_related("member", "assignee").only(*CARD_FIELDS)
    return qs.annotate(**shown)


# What a card on the list reads of its task, member and assignee (`annotate_card`, `_card_show`,
# `can_see_full_contact`, `can_work_task`, members/_tier_badge.html, `str(staff)`).
CARD_FIELDS = (
    "store",
    "member",
    "assignee",
    "kind",
    "is_contact",
    "status",
    "due_date",
    "scheduled_for",
    "attempts",
    "member__name",
    "member__tier",
    "member__tier_locked",
    "member__open_complaints",
    "member__joined_on",
    "member__style_preferences",
    "member__notes",
    "member__erased_at",
    "member__consultant",
    "member__home_store",
    "assignee__display_name",
    "assignee__first_name",
    "assignee__last_name",
    "assignee__username",
)


def with_reasons(cards: list[FollowUpTask]) -> list[FollowUpTask]:
    """Each card's reasons as `card.reason_list`, in their order, in one query (not a prefetch:
    it makes a queryset per card, a few milliseconds a page; issue 14)."""
    found: dict[int, list[TaskReason]] = {card.pk: [] for card in cards}
    if found:
        for reason in TaskReason.objects.filter(task_id__in=found):
            found[reason.task_id].append(reason)
    for card in cards:
        card.reason_list = found[card.pk]
    return cards


def _ranked(qs: QuerySet[FollowUpTask], *, today: date, rules: ProgramRules) -> QuerySet[FollowUpTask]:
    """What Today orders by beyond the task's own fields: the 12-month spend, and overdue or not."""
    return qs.annotate(
        spend=spend_12m(on=today, window_days=rules.spend_window_days, member="member_id"),
        late=Case(When(due_date__lt=today, then=Value(0)), default=Value(1), output_field=IntegerField()),
    )


@dataclass
class CardPage:
    """What every card on a page shares: read once, used for each card."""

    viewer: Staff
    today: date
    rules: ProgramRules
    templates: dict[str, list[MessageTemplate]] | None  # None: the greetings are not wanted
    staff_names: dict[int, str]
    urls: dict[str, tuple[str, str]]
    day_format: str = "n月j日"
    days: dict[date, str] = field(default_factory=dict)
    kind_labels: dict[str, str] = field(default_factory=dict)  # `get_kind_display`, translated once a page
    badges: dict[tuple, str] = field(default_factory=dict)
    weekdays: dict[date, str] = field(default_factory=dict)
    counts: dict[tuple[Callable, int], str] = field(default_factory=dict)
    to_next_format: str = ""

    def day(self, on: date) -> str:
        """`on` as the cards show a reason's date (`|date:t.day`), formatted once per date a page."""
        text = self.days.get(on)
        if text is None:
            text = self.days[on] = dateformat.format(on, self.day_format)
        return text

    def weekday(self, on: date) -> str:
        """`on` as a moved card shows it (`|date:t.day_weekday`), formatted once per date a page."""
        text = self.weekdays.get(on)
        if text is None:
            text = self.weekdays[on] = formats.date_format(on, _("n月j日 D"))
        return text

    def count_text(self, message: Callable[[int], str], name: str, n: int) -> str:
        """`{% blocktranslate count name=n %}…{% endblocktranslate %}`: the message for `n`, with `n`
        as the template prints it (the card escapes the whole: the messages hold no markup); made
        once per message and number a page."""
        text = self.counts.get((message, n))
        if text is None:
            text = self.counts[(message, n)] = message(n) % {name: formats.localize(n)}
        return text

    def to_next(self, tier: str, amount: str) -> str:
        """`{% blocktranslate with tier=… amount=… %}距 {{ tier }} 级差 {{ amount }}{% endblocktranslate %}`."""
        if not self.to_next_format:
            self.to_next_format = _("距 %(tier)s 级差 %(amount)s")
        return self.to_next_format % {"tier": tier, "amount": amount}

    def badge(self, member: Member) -> str:
        """The member's tier badge (members/_tier_badge.html), rendered once per look a page: it
        shows only the tier, the lock and the open complaints."""
        key = (member.tier, member.tier_locked, member.open_complaints)
        html = self.badges.get(key)
        if html is None:
            html = self.badges[key] = render_to_string("members/_tier_badge.html", {"member": member})
        return html

    @classmethod
    def load(
        cls, *, viewer: Staff, today: date, rules: ProgramRules, store: Store | None, cards, messages: bool = False
    ) -> CardPage:
        """`messages`: also the store's templates (the greeting panel; the list leaves them out)."""
        ids = {c.last_contact_staff_id for c in cards if c.last_contact_staff_id}
        names = {pk: str(staff) for pk, staff in Staff.objects.in_bulk(ids).items()} if ids else {}
        urls = {key: (reverse(name, args=[STAND_IN_ID]), attr) for key, (name, attr) in CARD_URLS.items()}
        templates = message_templates_for(store=store) if messages else None
        labels = {value: str(label) for value, label in TaskKind.choices}
        return cls(viewer, today, rules, templates, names, urls, _("n月j日"), kind_labels=labels)


def _lapse(card: FollowUpTask, page: CardPage) -> str:
    """ "lapsed" past the churn window (DOMAIN §6), "lapsing" inside the win-back warning, or ""."""
    member = card.member
    anchor = max(filter(None, [card.last_purchase_on, member.joined_on]))
    days = (page.today - anchor).days
    if days >= page.rules.churn_days:
        return "lapsed"
    if days >= page.rules.churn_days - page.rules.win_back_days:
        return "lapsing"
    return ""


def _card_messages(card: FollowUpTask, page: CardPage, kinds: list[str]) -> list[tuple[int | None, str, str]]:
    """(template id, name, text) for each template of the card's kinds, its first reason's first."""
    member = card.member
    context = MessageContext(
        name=member.name,
        gender=member.gender,
        consultant=str(member.consultant or page.viewer),
        store=card.store.name,
        gift=card.gift or "",
        to_next_tier=card.to_next_tier,
        birthday=member.birthday,
        birthday_lunar=member.birthday_lunar,
    )
    found = []
    for kind in dict.fromkeys(kinds):
        for template in page.templates.get(kind, []):
            found.append((template.pk, template.name, render(template.body, context, today=page.today)))
    return found or [(None, _("问候"), render(str(FALLBACK_MESSAGE), context, today=page.today))]


def annotate_card(card: FollowUpTask, page: CardPage, extra: list[FollowUpTask] = ()) -> FollowUpTask:
    """Everything a card shows, from the row and what the page shares: no query (the reasons are
    read: `with_reasons`). `extra`: the member's preparation or complaint tasks shown on this card."""
    today = page.today
    card.extra_tasks = list(extra)
    for task in card.extra_tasks:  # a gift is prepared `lead_days` ahead: its month on the gifts page
        task.gift_month = f"{task.due_date + timedelta(days=page.rules.lead_days):%Y-%m}"
        task.complete_url = page.urls["complete"][0].replace(str(STAND_IN_ID), str(task.pk))
        task.day = page.day(task.due_date)
        task.label = page.kind_labels.get(task.kind, task.kind)
    for reason in card.reason_list:
        reason.day = page.day(reason.due_date)
        reason.label = page.kind_labels.get(reason.kind, reason.kind)
    card.overdue_days = max((today - card.due_date).days, 0) if card.status == TaskStatus.OPEN else 0
    card.moved = card.scheduled_for > today  # not on today's list: tried or snoozed to a later day
    tiers = TierRules.from_program(page.rules)
    card.next_tier, card.to_next_tier = missing_to_next_tier(card.spend, card.member.tier, tiers)
    # What the card prints, made here rather than by a filter per card in the template (issue 14).
    card.spend_text = format_money(card.spend, 0)
    card.last_purchase_text = format_money(card.last_purchase_amount, 0)
    # `|date:"Y-m-d"`, which is the ISO date.
    card.last_purchase_day = card.last_purchase_on.isoformat() if card.last_purchase_on else ""
    at = card.last_contact_at
    card.last_contact_day = timezone.template_localtime(at).date().isoformat() if at else ""
    card.to_next_text = format_money(card.to_next_tier, 0) if card.next_tier else ""
    card.style_short = Truncator(card.member.style_preferences).chars(40) if card.member.style_preferences else ""
    card.notes_short = Truncator(card.member.notes).chars(40) if card.member.notes else ""
    card.last_contact_by = page.staff_names.get(card.last_contact_staff_id, "")
    card.last_contact_channel_label = Channel(card.last_contact_channel).label if card.last_contact_channel else ""
    card.lapse = _lapse(card, page)
    if page.templates is not None:
        kinds = [r.kind for r in card.reason_list] or [card.kind]
        card.messages = _card_messages(card, page, kinds + [t.kind for t in card.extra_tasks])
    card.can_call = can_see_full_contact(page.viewer, card.member)
    card.can_work = can_work_task(page.viewer, card)
    card.urls = {key: url.replace(str(STAND_IN_ID), str(getattr(card, attr))) for key, (url, attr) in page.urls.items()}
    card.show = _card_show(card, page)
    return card


def _overdue_days(n: int) -> str:
    return ngettext("逾期 %(days)s 天", "逾期 %(days)s 天", n)


def _no_answers(n: int) -> str:
    return ngettext("未接通 %(n)s 次", "未接通 %(n)s 次", n)


def _card_show(card: FollowUpTask, page: CardPage) -> dict:
    """What visits/_card.html prints, as plain values: a template reads a dict key much faster
    than a model attribute, and 50 cards read some 70 each (issue 14)."""
    member = card.member
    overdue = card.overdue_days
    return {
        "pk": card.pk,
        "name": member.name,
        "urls": card.urls,
        "badge": partial(page.badge, member),  # made when printed (a callable), inside the card's render
        "lapse": card.lapse,
        "overdue": page.count_text(_overdue_days, "days", overdue) if overdue > 0 else "",
        "moved_day": page.weekday(card.scheduled_for) if card.moved else "",
        "attempts": page.count_text(_no_answers, "n", card.attempts) if card.attempts else "",
        "reasons": [{"label": r.label, "note": r.note, "day": r.day} for r in card.reason_list],
        "extra_tasks": [
            {
                "label": t.label,
                "note": t.note,
                "day": t.day,
                "kind": t.kind,
                "gift_month": t.gift_month,
                "complete_url": t.complete_url,
            }
            for t in card.extra_tasks
        ],
        "last_contact_at": card.last_contact_at,
        # Runs of plain text printed as one value (the card escapes it whole, as it did each part).
        "last_contact_text": f"{card.last_contact_day} · {card.last_contact_channel_label}"
        + (f" · {card.last_contact_by}" if card.last_contact_by else ""),
        "last_purchase_on": card.last_purchase_on,
        "last_purchase_day": card.last_purchase_day,
        "last_purchase_text": card.last_purchase_text,
        "spend_text": card.spend_text,
        "to_next": page.to_next(card.next_tier, card.to_next_text) if card.next_tier else "",
        "preferences": bool(member.style_preferences or member.notes),
        "preferences_text": " · ".join(filter(None, [card.style_short, card.notes_short])),
        "other_owner": card.assignee_id != page.viewer.pk,
        "assignee": card.assignee,
        "can_work": card.can_work,
        "can_call": card.can_call,
        "can_reassign": page.viewer.is_store_lead,
    }


def _listed(tasks: QuerySet[FollowUpTask], *, today: date, when: str) -> QuerySet[FollowUpTask]:
    if when == "upcoming":
        return tasks.filter(scheduled_for__gt=today, scheduled_for__lte=today + timedelta(days=UPCOMING_DAYS))
    return tasks.filter(scheduled_for__lte=today)


def _listed_ids(listed: QuerySet[FollowUpTask], *, today: date, when: str, kind: str) -> tuple[list[int], Counter]:
    """The ids of the listed cards, and the listed tasks per reason kind, from two plain reads: the
    listed tasks, then their reasons by id. A kind picked: the tasks with a reason of that kind;
    otherwise every contact task, and the preparation and complaint tasks with no card of the same
    member and person on the same view (those go on that card: `_tasks_on_cards`).

    (In SQL the card condition and the kind counts read the store's open tasks three times a page,
    and with the statistics of the night before (the first morning after go-live) PostgreSQL read
    every open task and every reason of the chain for them: 200-300 ms at 20 stores; issue 14.)"""
    rows = list(listed.order_by().values_list("pk", "is_contact", "member_id", "assignee_id", "scheduled_for"))
    kinds: dict[int, set[str]] = {}
    if rows:
        # The ids as one array (PostgreSQL): a few hundred `IN` placeholders cost the driver ~9 ms
        # of parsing the statement for them, more than the read.
        ids = [row[0] for row in rows]
        reasons = ids_filter(TaskReason.objects.all(), "task_id", ids).values_list("task_id", "kind")
        for task_id, reason_kind in reasons:
            kinds.setdefault(task_id, set()).add(reason_kind)
    by_kind = Counter(reason_kind for found in kinds.values() for reason_kind in found)
    if kind:
        return [row[0] for row in rows if kind in kinds.get(row[0], ())], by_kind
    cards: dict[tuple[int, int], list[date]] = {}
    for _pk, contact, member_id, assignee_id, on in rows:
        if contact and assignee_id is not None:
            cards.setdefault((member_id, assignee_id), []).append(on)

    def on_a_card(member_id: int, assignee_id: int | None, on: date) -> bool:
        days = cards.get((member_id, assignee_id), ())
        if when == "upcoming":
            return any(today < day <= on for day in days)
        return any(day <= today for day in days)

    return [pk for pk, contact, member, assignee, on in rows if contact or not on_a_card(member, assignee, on)], by_kind


def today_list(
    *,
    viewer: Staff,
    whole_store: bool = False,
    store: Store | None = None,
    today: date | None = None,
    kind: str = "",
    tier: str = "",
    when: str = "today",
    page: int | str | None = 1,
) -> TodayList:
    """The viewer's cards for today (working date today or earlier) or the next 7 days, one per
    member and person, paged 50 a page: overdue first (by first due date: a snooze or an unanswered
    call keeps the lateness), then by tier and 12-month spend. A handful of queries however many
    cards: the counts, the page with what each card shows, its reasons, the tasks shown on its
    cards, the names of who last reached them, the templates.

    Consultants always see their own; a VIP specialist or manager may ask for the whole store;
    HQ sees the store it picked.
    """
    today = today or timezone.localdate()
    if viewer.is_hq:
        whole_store = True
    elif not viewer.is_store_lead:
        whole_store = False
    store = store if viewer.is_hq else viewer.store
    tasks = task_scope(viewer=viewer)
    if viewer.is_hq:
        tasks = tasks.filter(store=store) if store else tasks.none()
    if not whole_store:
        tasks = tasks.filter(assignee=viewer)
    rules = ProgramRules.load()
    listed = _listed(tasks.filter(status=TaskStatus.OPEN), today=today, when=when)
    if tier:
        listed = listed.filter(member__tier=tier)
    ids, by_kind = _listed_ids(listed, today=today, when=when, kind=kind)
    open_ = Q(status=TaskStatus.OPEN)
    counts = tasks.aggregate(
        overdue=Count("pk", filter=open_ & Q(scheduled_for__lte=today, due_date__lt=today)),
        due_today=Count("pk", filter=open_ & Q(scheduled_for__lte=today, due_date__gte=today)),
        upcoming=Count(
            "pk", filter=open_ & Q(scheduled_for__gt=today, scheduled_for__lte=today + timedelta(days=UPCOMING_DAYS))
        ),
        done_today=Count("pk", filter=Q(status=TaskStatus.DONE, done_on=today)),
    )
    # The page ordered by what the order needs (lateness, tier, 12-month spend), with what its
    # cards show, in one query: PostgreSQL computes that after the sort, for the rows it returns.
    # A deeper page picks its ids in a subquery first, so the skipped cards compute nothing.
    if when == "upcoming":
        order = ("scheduled_for", "member__tier", F("spend").desc(), "pk")
    else:
        order = ("late", "member__tier", F("spend").desc(), "due_date", "pk")
    paginator = Paginator(
        card_rows(ids_filter(tasks, "id", ids), today=today, rules=rules, greetings=False).order_by(*order),
        TODAY_PER_PAGE,
    )
    paginator.count = len(ids)
    paged = paginator.get_page(page)
    if paged.number > 1:
        picked = tasks.filter(pk__in=paged.object_list.values("pk"))
        paged.object_list = card_rows(picked, today=today, rules=rules, greetings=False).order_by(*order)
    cards = with_reasons(list(paged.object_list))
    extra = {} if kind else _tasks_on_cards(tasks, cards, today=today, when=when)
    shared = CardPage.load(viewer=viewer, today=today, rules=rules, store=store, cards=cards)
    paged.object_list = [annotate_card(c, shared, extra.get((c.member_id, c.assignee_id), [])) for c in cards]
    return TodayList(
        today=today,
        store=store,
        whole_store=whole_store,
        when=when,
        page=paged,
        kind=kind,
        tier=tier,
        kind_counts=[(value, label, by_kind[value]) for value, label in TaskKind.choices if by_kind.get(value)],
        **counts,
    )


def _tasks_on_cards(tasks, cards, *, today: date, when: str) -> dict[tuple[int, int | None], list[FollowUpTask]]:
    """The preparation and complaint tasks that `_listed_ids` folded into the page's cards."""
    on_page = {(c.member_id, c.assignee_id): c for c in cards if c.is_contact}
    if not on_page:
        return {}
    found: dict[tuple[int, int | None], list[FollowUpTask]] = {}
    others = _listed(tasks.filter(status=TaskStatus.OPEN, is_contact=False), today=today, when=when).filter(
        member_id__in={member_id for member_id, _assignee in on_page}
    )
    for task in others.order_by("scheduled_for", "pk"):
        card = on_page.get((task.member_id, task.assignee_id))
        shows = card is not None and (
            card.scheduled_for <= today if when != "upcoming" else today < card.scheduled_for <= task.scheduled_for
        )
        if shows:
            found.setdefault((task.member_id, task.assignee_id), []).append(task)
    return found


def reasons_closed_by(*, visit: Visit) -> int:
    """How many reasons a reached contact closed, on every card it met."""
    return TaskReason.objects.filter(task__closed_by_visit=visit).count()


def today_card(*, viewer: Staff, pk: int, today: date | None = None, messages: bool = False) -> FollowUpTask:
    """One card as the list shows it (after an action on it), or 404 outside the viewer's store;
    `messages`: with its greetings filled in (`card.messages`), for the greeting panel."""
    today = today or timezone.localdate()
    rules = ProgramRules.load()
    card = with_reasons([_get(card_rows(task_scope(viewer=viewer), today=today, rules=rules), pk)])[0]
    extra = {}
    if card.is_contact and card.status == TaskStatus.OPEN:
        extra = _tasks_on_cards(task_scope(viewer=viewer), [card], today=today, when="today")
    shared = CardPage.load(viewer=viewer, today=today, rules=rules, store=card.store, cards=[card], messages=messages)
    return annotate_card(card, shared, extra.get((card.member_id, card.assignee_id), []))


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


# Invited = an invitation actually made (DOMAIN §9). A campaign's launch writes each member of the
# audience an invitation and an `invitation` task for their consultant, due before the day: that
# invitation is only planned until the consultant has done it, i.e. until the task is closed by a
# reached contact (on this card or another, DOMAIN §7) or the invitation moves on (confirmed,
# declined, arrived…: the member was told). An invitation written by hand (invitation_create) is
# made when written. The launch's tasks are recognised by their reason: kind `invitation`, origin
# `campaign:<campaign>:<member>` (invitations_bulk_create), written with the invitation (within
# LAUNCH_SPAN of it) for the same member.
LAUNCH_SPAN = timedelta(minutes=30)
CONTACT_CLOSES = (ClosedBy.CONTACT, ClosedBy.OTHER_CONTACT)


def invitation_planned(prefix: str = "") -> Exists:
    """True for an invitation a campaign launch planned whose task is not yet done by a reached
    contact. `prefix` reaches the invitation from another model ("invitation__" from a campaign's
    audience)."""
    created = OuterRef(f"{prefix}created_at")
    return Exists(
        TaskReason.objects.filter(
            kind=TaskKind.INVITATION,
            member_id=OuterRef(f"{prefix}member_id"),
            origin__startswith="campaign:",
            created_at__gte=created,
            created_at__lte=ExpressionWrapper(created + LAUNCH_SPAN, output_field=DateTimeField()),
        ).exclude(task__status=TaskStatus.DONE, task__closed_by__in=CONTACT_CLOSES)
    )


def invitation_made(prefix: str = "") -> Q:
    """The invitations counted as invited, by the funnel and the campaign results alike."""
    return ~Q(**{f"{prefix}status": InvitationStatus.INVITED}) | ~invitation_planned(prefix)


def invitation_counts_invited(status: str, *, planned: bool) -> bool:
    """`invitation_made` for one invitation already read: its status and `invitation_planned`."""
    return status != InvitationStatus.INVITED or not planned


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
    (plus one for the inviters' names). Invited counts the invitations made (`invitation_made`):
    one a campaign launch planned counts once its task is done. The status filter does not apply:
    a funnel of only the 'bought' invitations would say nothing."""
    figures = list(
        invitation_list(viewer=viewer, filters=filters, with_status=False)
        .order_by()
        .values("invited_by_id")
        .annotate(
            invited=Count("pk", filter=invitation_made()),
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


def satisfaction_figures_by_store(*, store_ids: list[int] | None, start: date, end: date) -> dict[int, dict]:
    """`satisfaction_figures` per store, one query: {store id: {"scored", "mean", "satisfied"}}
    (a store with no scored visit is absent)."""
    lo = timezone.make_aware(datetime.combine(start, time.min))
    hi = timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min))
    visits = Visit.objects.filter(at__gte=lo, at__lt=hi, satisfaction__isnull=False)
    if store_ids is not None:
        visits = visits.filter(store_id__in=store_ids)
    rows = (
        visits.values("store_id")
        .annotate(scored=Count("pk"), mean=Avg("satisfaction"), satisfied=Count("pk", filter=Q(satisfaction__gte=4)))
        .order_by()
    )
    return {row["store_id"]: {k: row[k] for k in ("scored", "mean", "satisfied")} for row in rows}


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


# --- Targets and dashboards (reports.selectors, reports.dashboards) -------------------------------
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


# --- Message templates ---------------------------------------------------------------------------


def message_template_scope(*, viewer: Staff) -> QuerySet[MessageTemplate]:
    """HQ: every template; a store's staff: HQ's defaults and their own store's."""
    qs = MessageTemplate.objects.select_related("store", "replaces", "updated_by")
    if viewer.is_hq:
        return qs
    if viewer.store_id is None:
        return qs.none()
    return qs.filter(Q(store__isnull=True) | Q(store_id=viewer.store_id))


def message_template_get(*, viewer: Staff, pk) -> MessageTemplate:
    return _get(message_template_scope(viewer=viewer), pk)


@dataclass
class TemplateGroup:
    kind: str
    label: str
    defaults: list[MessageTemplate]  # HQ's, each with `.override`: the store's replacement or None
    own: list[MessageTemplate]  # the store's additions


def message_template_groups(*, viewer: Staff, store: Store | None) -> list[TemplateGroup]:
    """The templates page: per task kind, HQ's defaults (with the store's override of each, if
    any) and the store's own additions. `store` None: HQ's defaults only. One query."""
    qs = message_template_scope(viewer=viewer).filter(Q(store__isnull=True) | Q(store=store))
    rows = list(qs.order_by("kind", "position", "pk"))
    overrides = {t.replaces_id: t for t in rows if t.store_id and t.replaces_id}
    groups = {value: TemplateGroup(value, label, [], []) for value, label in TaskKind.choices}
    for template in rows:
        if template.store_id is None:
            template.override = overrides.get(template.pk)
            groups[template.kind].defaults.append(template)
        elif template.replaces_id is None:
            groups[template.kind].own.append(template)
    return list(groups.values())


# --- The API's lists (issue 13): tasks and visits, through the scopes above --------------------


@dataclass
class TaskFilters:
    """The API's task list: the viewer's own tasks, or the store's (`whole_store`, for those who
    may see it); narrowed by a reason's kind, the status and a range of due dates."""

    whole_store: bool = False
    kind: str = ""
    status: str = ""
    due_from: date | None = None
    due_to: date | None = None


def can_see_store_tasks(viewer: Staff) -> bool:
    """The store's whole list: VIP specialist, manager and HQ (a consultant sees their own, as on Today)."""
    return viewer.is_store_lead


def task_list(*, viewer: Staff, filters: TaskFilters) -> QuerySet[FollowUpTask]:
    """Tasks in the viewer's scope: their own, or the store's (HQ: every store's) when asked for
    by someone who may see it. `kind` matches any reason on a card, as Today's kind filter."""
    tasks = task_scope(viewer=viewer)
    if not (filters.whole_store and can_see_store_tasks(viewer)):
        tasks = tasks.filter(assignee=viewer)
    if filters.kind:
        tasks = tasks.filter(Exists(TaskReason.objects.filter(task_id=OuterRef("pk"), kind=filters.kind)))
    if filters.status:
        tasks = tasks.filter(status=filters.status)
    if filters.due_from:
        tasks = tasks.filter(due_date__gte=filters.due_from)
    if filters.due_to:
        tasks = tasks.filter(due_date__lte=filters.due_to)
    return tasks


def visit_scope(*, viewer: Staff) -> QuerySet[Visit]:
    """The visits of the members the viewer may see (HQ: all; others: their store's members),
    wherever the contact happened, as the member page lists them."""
    return _scoped(Visit.objects.all(), viewer, "member__home_store_id")


def visit_get(*, viewer: Staff, pk: int) -> Visit:
    return _get(visit_scope(viewer=viewer).select_related("member", "staff", "store", "task"), pk)

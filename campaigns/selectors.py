"""Reads of campaigns: scope, and the results (DOMAIN §9) computed from the frozen audience."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Count, Prefetch, Q, QuerySet, Sum, Window
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Role, Staff, Store
from members.models import Member, MemberTag, Tier
from vipcrm.rates import Rate
from visits.models import InvitationStatus
from visits.selectors import (
    invitation_counts_invited,
    invitation_planned,
    invitation_reached_arrived,
    invitation_reached_confirmed,
)

from .models import Campaign, CampaignMember, CampaignStatus
from .segments import Segment, segment_members

ZERO = Decimal("0.00")


def campaign_scope(*, viewer: Staff) -> QuerySet[Campaign]:
    """HQ sees every campaign; store staff those that include their store."""
    if viewer.is_hq:
        return Campaign.objects.all()
    return Campaign.objects.filter(stores=viewer.store_id).distinct()


def campaign_get(*, viewer: Staff, pk: int) -> Campaign:
    try:
        return campaign_scope(viewer=viewer).get(pk=pk)
    except Campaign.DoesNotExist:
        raise Http404 from None


def attribution_window(campaign: Campaign) -> tuple[date, date]:
    """Purchases from the first day (or the launch, if later: nothing bought before the launch is
    the campaign's doing) to the last day plus the attribution days count (DOMAIN §9)."""
    start = campaign.start_date
    if campaign.launched_at:
        start = max(start, timezone.localdate(campaign.launched_at))
    return start, campaign.end_date + timedelta(days=campaign.attribution_days)


def rate(numerator, denominator) -> dict:
    """A rate with what it is made of; no denominator, no rate (DOMAIN §6): the one rate type's
    JSON, money as strings as the API shows it."""
    return Rate(numerator, denominator).as_json(decimals_as_strings=True)


@dataclass
class Figures:
    label: str = ""
    consultant_id: int | None = None
    audience: int = 0  # members in the frozen audience (an invitation planned for each)
    invited: int = 0
    confirmed: int = 0
    attended: int = 0
    buyers: int = 0
    sales: Decimal = ZERO

    def add(self, status: str | None, amount: Decimal, *, planned: bool = False) -> None:
        """One member of the audience: their invitation's status (None: none on file) and whether
        it is still only planned (`invitation_planned`), and what they bought in the window."""
        # The invitation funnel's meaning of invited, confirmed and attended (visits.selectors), so
        # the campaign page and the invitations page never disagree: invited is an invitation made,
        # not a member of the audience the launch planned one for.
        self.audience += 1
        if status is None:
            status = InvitationStatus.INVITED
            planned = True
        self.invited += invitation_counts_invited(status, planned=planned)
        self.confirmed += invitation_reached_confirmed(status)
        self.attended += invitation_reached_arrived(status)
        self.buyers += amount > 0
        self.sales += amount

    def as_json(self, budget: Decimal | None = None) -> dict:
        data = {
            "label": self.label,
            "consultant_id": self.consultant_id,
            "audience": self.audience,
            "invited": self.invited,
            "confirmed": self.confirmed,
            "attended": self.attended,
            "buyers": self.buyers,
            "sales": str(self.sales),
            "attendance_rate": rate(self.attended, self.invited),
            "confirmation_rate": rate(self.confirmed, self.invited),
            "sales_per_invitee": str((self.sales / self.invited).quantize(Decimal("0.01"))) if self.invited else None,
        }
        if budget is not None:
            data["cost_per_buyer"] = str((budget / self.buyers).quantize(Decimal("0.01"))) if self.buyers else None
        return data


@dataclass
class CampaignResults:
    campaign: Campaign
    total: Figures
    by_consultant: list[Figures]
    rows: list[tuple[CampaignMember, Decimal]] = field(default_factory=list)

    def goals(self) -> dict:
        c = self.campaign
        return {
            "invitees": rate(self.total.invited, c.goal_invitees),
            "attendance": rate(self.total.attended, c.goal_attendance),
            "sales": rate(self.total.sales, c.goal_sales),
        }

    def as_json(self) -> dict:
        start, end = attribution_window(self.campaign)
        return {
            "window": {"start": start.isoformat(), "end": end.isoformat()},
            "budget": str(self.campaign.budget),
            "total": self.total.as_json(self.campaign.budget),
            "goals": self.goals(),
            "by_consultant": [f.as_json() for f in self.by_consultant],
        }


def campaign_results(*, campaign: Campaign, with_rows: bool = False) -> CampaignResults:
    """Results per member and in total from the frozen audience: one query. A member's amount is
    the net of their purchases (returns negative) in the campaign's stores within the window,
    from the day they joined the audience if later (a member added by an extension gets no
    credit for what they bought before: DOMAIN §9). Invited counts invitations made
    (`visits.selectors.invitation_made`)."""
    start, end = attribution_window(campaign)
    store_ids = list(campaign.stores.values_list("pk", flat=True))
    in_window = Q(member__purchases__date__gte=TruncDate("added_at")) & Q(
        member__purchases__date__gte=start,
        member__purchases__date__lte=end,
        member__purchases__store_id__in=store_ids,
    )
    audience = (
        CampaignMember.objects.filter(campaign=campaign)
        .select_related("member", "consultant", "invitation")
        .annotate(
            amount=Sum("member__purchases__amount", filter=in_window),
            planned=invitation_planned("invitation__"),
        )
        .order_by("consultant_id", "member__name")
    )
    total = Figures()
    per: dict[int | None, Figures] = {}
    rows = []
    for cm in audience:
        amount = cm.amount or ZERO
        status = cm.invitation.status if cm.invitation else None
        total.add(status, amount, planned=cm.planned)
        label = str(cm.consultant) if cm.consultant else "—"
        mine = per.setdefault(cm.consultant_id, Figures(label=label, consultant_id=cm.consultant_id))
        mine.add(status, amount, planned=cm.planned)
        if with_rows:
            rows.append((cm, amount))
    return CampaignResults(campaign, total, sorted(per.values(), key=lambda f: -f.sales), rows)


# --- Reads for the campaign pages (issue 5 item 5) -----------------------------------------------
# Added with the pages: the list and calendar, the results as a viewer may see them, a preview of a
# segment not saved yet, the segment in words. Nothing above this line changed.

# The list's status filter: a launched campaign whose last day has passed counts as ended even
# before its summary moves it to `ended`, because that is what staff mean by "已结束".
STATUS_FILTERS = {
    "draft": Q(status=CampaignStatus.DRAFT),
    "launched": Q(status=CampaignStatus.LAUNCHED),  # narrowed by date in campaign_list
    "ended": Q(status=CampaignStatus.ENDED),  # widened by date in campaign_list
    "archived": Q(status=CampaignStatus.ARCHIVED),
}


def campaign_phase(campaign: Campaign, *, today: date) -> tuple[str, str]:
    """Where a campaign stands today, for its badge: (key, label)."""
    if campaign.status == CampaignStatus.LAUNCHED:
        if today < campaign.start_date:
            return "upcoming", _("已发布·未开始")
        if today <= campaign.end_date:
            return "running", _("进行中")
        return "ended", _("已结束")
    return campaign.status, CampaignStatus(campaign.status).label


def campaign_list(*, viewer: Staff, status: str = "", today: date | None = None) -> QuerySet[Campaign]:
    """The campaigns the viewer may see, newest first, with their stores and audience size:
    two queries however many there are."""
    today = today or timezone.localdate()
    qs = campaign_scope(viewer=viewer)
    if status == "launched":
        qs = qs.filter(STATUS_FILTERS["launched"], end_date__gte=today)
    elif status == "ended":
        qs = qs.filter(STATUS_FILTERS["ended"] | Q(status=CampaignStatus.LAUNCHED, end_date__lt=today))
    elif status in STATUS_FILTERS:
        qs = qs.filter(STATUS_FILTERS[status])
    return (
        qs.annotate(audience_size=Count("audience", distinct=True))
        .prefetch_related(Prefetch("stores", queryset=Store.objects.order_by("code")))
        .order_by("-start_date", "-id")
    )


def campaign_month(*, viewer: Staff, first: date, last: date) -> list[Campaign]:
    """The campaigns the viewer may see that run on any day of [first, last]: two queries."""
    return list(
        campaign_scope(viewer=viewer)
        .filter(start_date__lte=last, end_date__gte=first)
        .prefetch_related(Prefetch("stores", queryset=Store.objects.order_by("code")))
        .order_by("start_date", "-end_date", "id")
    )


def campaigns_to_invite_to(*, store_id: int, today: date | None = None) -> list[Campaign]:
    """The store's campaigns not over yet (planned or launched), soonest first, for the purpose of
    an invitation made by hand: one with a campaign's name, for one of its days, joins that
    campaign's audience at launch or extension instead of a second invitation. One query."""
    today = today or timezone.localdate()
    return list(
        Campaign.objects.filter(
            stores=store_id, status__in=[CampaignStatus.DRAFT, CampaignStatus.LAUNCHED], end_date__gte=today
        )
        .order_by("start_date", "pk")
        .distinct()
    )


def campaign_is_own(viewer: Staff, campaign: Campaign) -> bool:
    """HQ, or staff of the campaign's one store: campaign_save refuses other stores, so a campaign
    across stores is HQ's to change. Uses `campaign.stores.all()` (prefetched, or one query)."""
    return viewer.is_hq or {s.pk for s in campaign.stores.all()} == {viewer.store_id}


def campaign_can_plan(viewer: Staff, campaign: Campaign) -> bool:
    """The VIP specialist, the manager and HQ plan (edit, preview, launch) until it is archived."""
    planner = viewer.role in (Role.VIP_SPECIALIST, Role.MANAGER, Role.HQ)
    return planner and not campaign.is_archived and campaign_is_own(viewer, campaign)


def campaign_can_summarise(viewer: Staff, campaign: Campaign) -> bool:
    """The manager and HQ write the summary and archive it, until it is archived."""
    manager = viewer.role in (Role.MANAGER, Role.HQ)
    return manager and not campaign.is_archived and campaign_is_own(viewer, campaign)


@dataclass
class ViewerResults:
    """The results as one viewer may see them. `figures` is shaped like `CampaignResults.as_json()`
    (and like the frozen `Campaign.summary_figures`), so one template shows live and frozen figures;
    a consultant's `by_consultant` holds their own line only and `rows` their own invitees."""

    figures: dict
    rows: list[tuple[CampaignMember, Decimal]]
    own_only: bool


def campaign_results_for(*, viewer: Staff, campaign: Campaign, with_rows: bool = True) -> ViewerResults:
    """campaign_results for a page: the totals for everyone; a consultant's own line and invitees
    only. Same queries as campaign_results (two)."""
    results = campaign_results(campaign=campaign, with_rows=with_rows or viewer.is_consultant)
    figures = results.as_json()
    rows = results.rows
    if viewer.is_consultant:
        rows = [(cm, amount) for cm, amount in rows if cm.consultant_id == viewer.pk]
        mine = Figures(label=str(viewer))
        for cm, amount in rows:
            mine.add(cm.invitation.status if cm.invitation else InvitationStatus.INVITED, amount)
        figures["by_consultant"] = [mine.as_json()] if rows else []
        if not with_rows:
            rows = []
    return ViewerResults(figures=figures, rows=rows, own_only=viewer.is_consultant)


def segment_preview(
    *, segment: Segment, stores: list[Store] | QuerySet[Store], on: date | None = None, sample: int = 10
) -> tuple[int, list[Member]]:
    """What campaign_preview gives, for a segment still in the edit form (not saved yet)."""
    on = on or timezone.localdate()
    qs = segment_members(segment, stores=stores, on=on)
    if sample <= 0:
        return qs.count(), []
    # The segment's sums run once (issue 14): the first ids, A first, each with the number of
    # members selected (a window over the whole selection), then those members' rows.
    first = list(
        qs.annotate(selected=Window(Count("*"))).order_by("tier", "name", "pk").values_list("pk", "selected")[:sample]
    )
    found = Member.objects.select_related("consultant").in_bulk([pk for pk, _selected in first])
    return (first[0][1] if first else 0), [found[pk] for pk, _selected in first]


def segment_in_words(segment: Segment) -> list[tuple[str, str]]:
    """The segment's conditions as (what, value) lines, consent first because it always applies.
    One query each for a chosen consultant and chosen tags."""
    lines = [(_("营销同意"), _("必须（始终生效）"))]
    if segment.tiers:
        lines.append((_("等级"), _("、").join(str(Tier(t).label) for t in segment.tiers)))
    if segment.last_purchase_from or segment.last_purchase_to:
        start = segment.last_purchase_from.isoformat() if segment.last_purchase_from else "…"
        end = segment.last_purchase_to.isoformat() if segment.last_purchase_to else "…"
        lines.append((_("最近消费"), f"{start} ~ {end}"))
    if segment.spend_min is not None or segment.spend_max is not None:
        low = f"¥{segment.spend_min:.2f}" if segment.spend_min is not None else "…"
        high = f"¥{segment.spend_max:.2f}" if segment.spend_max is not None else "…"
        lines.append((_("近 12 个月消费"), f"{low} ~ {high}"))
    if segment.birthday_month:
        lines.append((_("生日月份"), _("%(month)d 月（含农历生日）") % {"month": segment.birthday_month}))
    if segment.consultant_id:
        consultant = Staff.objects.filter(pk=segment.consultant_id).first()
        lines.append((_("专属顾问"), str(consultant) if consultant else "—"))
    if segment.tag_ids:
        names = MemberTag.objects.filter(pk__in=segment.tag_ids).order_by("name").values_list("name", flat=True)
        lines.append((_("标签"), _("、").join(names) or "—"))
    return lines

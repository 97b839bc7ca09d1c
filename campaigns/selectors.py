"""Reads of campaigns: scope, and the results (DOMAIN §9) computed from the frozen audience."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum
from django.http import Http404

from accounts.models import Staff
from visits.models import InvitationStatus

from .models import Campaign, CampaignMember

CONFIRMED = {InvitationStatus.CONFIRMED, InvitationStatus.ARRIVED, InvitationStatus.BOUGHT}
ATTENDED = {InvitationStatus.ARRIVED, InvitationStatus.BOUGHT}
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
    """Purchases from the first day to the last day plus the attribution days count."""
    return campaign.start_date, campaign.end_date + timedelta(days=campaign.attribution_days)


def rate(numerator, denominator) -> dict:
    """A rate with what it is made of; no denominator, no rate (DOMAIN §6)."""
    value = round(float(numerator) / float(denominator), 4) if denominator else None
    return {
        "numerator": numerator if isinstance(numerator, int) else str(numerator),
        "denominator": denominator if isinstance(denominator, int) else str(denominator),
        "rate": value,
    }


@dataclass
class Figures:
    label: str = ""
    invited: int = 0
    confirmed: int = 0
    attended: int = 0
    buyers: int = 0
    sales: Decimal = ZERO

    def add(self, status: str, amount: Decimal) -> None:
        self.invited += 1
        self.confirmed += status in CONFIRMED
        self.attended += status in ATTENDED
        self.buyers += amount > 0
        self.sales += amount

    def as_json(self, budget: Decimal | None = None) -> dict:
        data = {
            "label": self.label,
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
    the net of their purchases (returns negative) in the campaign's stores within the window."""
    start, end = attribution_window(campaign)
    store_ids = list(campaign.stores.values_list("pk", flat=True))
    in_window = Q(
        member__purchases__date__gte=start, member__purchases__date__lte=end, member__purchases__store_id__in=store_ids
    )
    audience = (
        CampaignMember.objects.filter(campaign=campaign)
        .select_related("member", "consultant", "invitation")
        .annotate(amount=Sum("member__purchases__amount", filter=in_window))
        .order_by("consultant_id", "member__name")
    )
    total = Figures()
    per: dict[int | None, Figures] = {}
    rows = []
    for cm in audience:
        amount = cm.amount or ZERO
        status = cm.invitation.status if cm.invitation else InvitationStatus.INVITED
        total.add(status, amount)
        label = str(cm.consultant) if cm.consultant else "—"
        per.setdefault(cm.consultant_id, Figures(label=label)).add(status, amount)
        if with_rows:
            rows.append((cm, amount))
    return CampaignResults(campaign, total, sorted(per.values(), key=lambda f: -f.sales), rows)

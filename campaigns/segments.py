"""Segments (DOMAIN §9): who a campaign is for. Marketing consent is always required (§11)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models import Max, Q, QuerySet, Sum
from django.utils.translation import gettext as _

from accounts.models import Store
from members.models import Member, ProgramRules, Tier
from members.selectors import lunar_birthday_ids_in_month


@dataclass
class Segment:
    tiers: list[str] = field(default_factory=list)
    last_purchase_from: date | None = None
    last_purchase_to: date | None = None
    spend_min: Decimal | None = None
    spend_max: Decimal | None = None
    birthday_month: int | None = None
    consultant_id: int | None = None
    tag_ids: list[int] = field(default_factory=list)

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("last_purchase_from", "last_purchase_to"):
            data[key] = data[key].isoformat() if data[key] else None
        for key in ("spend_min", "spend_max"):
            data[key] = str(data[key]) if data[key] is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict | None) -> Segment:
        data = data or {}
        try:
            return cls(
                tiers=[t for t in data.get("tiers") or [] if t in Tier.values],
                last_purchase_from=date.fromisoformat(data["last_purchase_from"])
                if data.get("last_purchase_from")
                else None,
                last_purchase_to=date.fromisoformat(data["last_purchase_to"]) if data.get("last_purchase_to") else None,
                spend_min=Decimal(data["spend_min"]) if data.get("spend_min") not in (None, "") else None,
                spend_max=Decimal(data["spend_max"]) if data.get("spend_max") not in (None, "") else None,
                birthday_month=int(data["birthday_month"]) if data.get("birthday_month") else None,
                consultant_id=int(data["consultant_id"]) if data.get("consultant_id") else None,
                tag_ids=[int(t) for t in data.get("tag_ids") or []],
            )
        except (ValueError, TypeError, InvalidOperation) as e:
            raise ValidationError(_("人群条件无效：%(error)s") % {"error": e}) from e

    def validate(self) -> None:
        errors = {}
        if self.last_purchase_from and self.last_purchase_to and self.last_purchase_from > self.last_purchase_to:
            errors["last_purchase_to"] = _("最近消费的结束日期须不早于开始日期。")
        if self.spend_min is not None and self.spend_max is not None and self.spend_min > self.spend_max:
            errors["spend_max"] = _("消费上限须不低于下限。")
        if self.birthday_month is not None and not 1 <= self.birthday_month <= 12:
            errors["birthday_month"] = _("生日月份须为 1–12。")
        if errors:
            raise ValidationError(errors)


def purchases_that_decide(segment: Segment, *, on: date, window: int) -> date | None:
    """The first day of the purchases that decide whether a member passes the segment's purchase
    conditions, when only members with such a purchase can pass; None when a member without any
    purchase may pass (no purchase condition, or only an upper bound), so all are read.

    A last purchase on or after `last_purchase_from` means a positive purchase dated from then on,
    and the maximum of those is the last purchase ever (so `last_purchase_to` compares the same
    date); a minimum 12-month spend needs a purchase in the window (a member with none has no sum,
    which no minimum admits), and any spend condition sums the window's purchases, all dated after
    `on` − `window` days."""
    if not segment.last_purchase_from and segment.spend_min is None:
        return None
    firsts = []
    if segment.last_purchase_from:
        firsts.append(segment.last_purchase_from)
    if segment.spend_min is not None or segment.spend_max is not None:
        firsts.append(on - timedelta(days=window - 1))
    return min(firsts)


def segment_members(segment: Segment, *, stores: list[Store] | QuerySet[Store], on: date) -> QuerySet[Member]:
    """The members a segment selects in these stores on day `on`: one query (plus one for lunar
    birthdays when a birthday month is chosen). Only members with marketing consent, never erased."""
    qs = Member.objects.filter(home_store__in=stores, marketing_consent=True, erased_at__isnull=True, joined_on__lte=on)
    if segment.tiers:
        qs = qs.filter(tier__in=segment.tiers)
    if segment.consultant_id:
        qs = qs.filter(consultant_id=segment.consultant_id)
    if segment.tag_ids:
        # A subquery, not a join: a join would repeat a member per tag and inflate the sums below.
        tagged = Member.tags.through.objects.filter(membertag_id__in=segment.tag_ids).values("member_id")
        qs = qs.filter(pk__in=tagged)
    spends = segment.spend_min is not None or segment.spend_max is not None
    window = ProgramRules.load().spend_window_days if spends else 0
    since = purchases_that_decide(segment, on=on, window=window)
    if since is not None:
        # Only purchases from `since` on can decide who passes (issue 14): the sums below read
        # those of the members that pass the conditions above, not every purchase of the chain.
        qs = qs.filter(purchases__date__gte=since)
    if segment.last_purchase_from or segment.last_purchase_to:
        qs = qs.annotate(last_purchase=Max("purchases__date", filter=Q(purchases__amount__gt=0)))
        if segment.last_purchase_from:
            qs = qs.filter(last_purchase__gte=segment.last_purchase_from)
        if segment.last_purchase_to:
            qs = qs.filter(last_purchase__lte=segment.last_purchase_to)
    if spends:
        spent = Sum(
            "purchases__amount", filter=Q(purchases__date__gt=on - timedelta(days=window), purchases__date__lte=on)
        )
        qs = qs.annotate(spend_12m=spent)
        if segment.spend_min is not None:
            qs = qs.filter(spend_12m__gte=segment.spend_min)
        if segment.spend_max is not None:
            qs = qs.filter(Q(spend_12m__lte=segment.spend_max) | Q(spend_12m__isnull=True))
    if segment.birthday_month:
        # The coming birthday month (DOMAIN §7): in December, January is next January.
        lunar_ids = lunar_birthday_ids_in_month(qs, on=on, month=segment.birthday_month)
        qs = qs.filter(Q(birthday__month=segment.birthday_month, birthday_lunar=False) | Q(pk__in=lunar_ids))
    return qs

"""Writes for campaigns (DOMAIN §9): plan, launch with a frozen audience, summarise, archive."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Staff, Store
from accounts.services import audit_log
from visits.models import Invitation
from visits.services import invitations_bulk_create

from .models import Campaign, CampaignMember, CampaignStatus
from .segments import Segment, segment_members
from .selectors import segment_preview

# campaign_save's plan fields, in the order forms show them.
PLAN_FIELDS = (
    "name",
    "type",
    "start_date",
    "end_date",
    "attribution_days",
    "budget",
    "goal_invitees",
    "goal_attendance",
    "goal_sales",
)


def _stores_allowed(by: Staff, stores: list[Store]) -> None:
    if not stores:
        raise ValidationError({"stores": _("请至少选择一家门店。")})
    if not by.is_hq and any(store.pk != by.store_id for store in stores):
        raise ValidationError({"stores": _("只能为本店策划活动。")})


def _check_not_archived(campaign: Campaign) -> None:
    if campaign.is_archived:
        raise ValidationError(_("活动已归档，不能再修改。"))


@transaction.atomic
def campaign_save(
    *, by: Staff, stores: list[Store], segment: Segment, campaign: Campaign | None = None, **fields: Any
) -> Campaign:
    """Create or edit a campaign's plan. The segment can change only before launch."""
    unknown = set(fields) - set(PLAN_FIELDS)
    if unknown:
        raise ValueError(f"not plan fields: {sorted(unknown)}")
    # Read the campaign afresh under a lock: the caller's copy may predate a launch or archiving.
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk) if campaign else Campaign(created_by=by)
    _check_not_archived(campaign)
    launched = campaign.pk is not None and campaign.status != CampaignStatus.DRAFT
    for name, value in fields.items():
        setattr(campaign, name, value)
    errors = {}
    if not (campaign.name or "").strip():
        errors["name"] = _("请填写活动名称。")
    if campaign.start_date and campaign.end_date and campaign.end_date < campaign.start_date:
        errors["end_date"] = _("结束日期须不早于开始日期。")
    for name in ("budget", "goal_sales"):
        if getattr(campaign, name) is not None and getattr(campaign, name) < 0:
            errors[name] = _("不能为负数。")
    if errors:
        raise ValidationError(errors)
    _stores_allowed(by, stores)
    segment.validate()
    if launched and (segment.to_json() != Segment.from_json(campaign.segment).to_json()):
        raise ValidationError({"segment": _("活动已发布，名单已冻结，不能再改人群条件。")})
    if launched and {s.pk for s in stores} != set(campaign.stores.values_list("pk", flat=True)):
        raise ValidationError({"stores": _("活动已发布，不能再改门店。")})
    campaign.segment = segment.to_json()
    campaign.save()
    if not launched:
        campaign.stores.set(stores)
    return campaign


def campaign_preview(*, campaign: Campaign, on: date | None = None, sample: int = 10) -> tuple[int, list]:
    """How many members the segment selects now, and a few of them, before launch."""
    on = on or timezone.localdate()
    segment = Segment.from_json(campaign.segment)
    return segment_preview(segment=segment, stores=campaign.stores.all(), on=on, sample=sample)


def _invite_new_audience(*, campaign: Campaign, stores: list[Store], today: date) -> tuple[int, int]:
    """Add to the audience the members the segment selects today who are not in it yet, and
    invite each once. Skipped: members already in the audience, whatever their invitation's
    status (invited, confirmed, declined…), so a member who declined is never asked again.
    A member a consultant already invited by hand to this campaign (an invitation at one of its
    stores, for one of its days, whose purpose is the campaign's name, not yet in any audience)
    joins the audience with that invitation instead of a second one. A member with an open
    complaint gets no sales push (DOMAIN §7): left out now, an extension after the complaint is
    closed invites them. Set-based.

    Returns (members added, of whom newly invited)."""
    in_audience = CampaignMember.objects.filter(campaign=campaign).values("member_id")
    rows = list(
        segment_members(Segment.from_json(campaign.segment), stores=stores, on=today)
        .exclude(pk__in=in_audience)
        .exclude(open_complaints__gt=0)
        .values_list("pk", "home_store_id", "consultant_id", "tier")
    )
    if not rows:
        return 0, 0
    linked = CampaignMember.objects.filter(invitation__isnull=False).values("invitation_id")
    by_hand: dict[int, tuple[int, int | None]] = {}
    for invitation_id, member_id, invited_by_id in (
        Invitation.objects.filter(
            member_id__in=[row[0] for row in rows],
            store__in=stores,
            purpose=campaign.name.strip(),
            for_date__range=(campaign.start_date, campaign.end_date),
        )
        .exclude(pk__in=linked)
        .order_by("-pk")
        .values_list("pk", "member_id", "invited_by_id")
    ):
        by_hand.setdefault(member_id, (invitation_id, invited_by_id))
    by_store: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
    for member_id, store_id, consultant_id, _tier in rows:
        if member_id not in by_hand:
            by_store[store_id].append((member_id, consultant_id))
    invitations = dict(by_hand)
    for store in stores:
        if by_store.get(store.pk):
            invitations |= invitations_bulk_create(
                store=store,
                members=by_store[store.pk],
                for_date=max(campaign.start_date, today),
                purpose=campaign.name,
                origin=f"campaign:{campaign.pk}",
            )
    CampaignMember.objects.bulk_create(
        [
            CampaignMember(
                campaign=campaign,
                member_id=member_id,
                store_id=store_id,
                tier=tier,
                invitation_id=invitations[member_id][0],
                consultant_id=invitations[member_id][1],
            )
            for member_id, store_id, _consultant, tier in rows
        ],
        batch_size=1000,
    )
    return len(rows), len(rows) - len(by_hand)


@transaction.atomic
def campaign_launch(*, campaign: Campaign, by: Staff) -> int:
    """发布: freeze the audience the segment gives today and invite each member through their
    consultant (an Invitation and an `invitation` task each); members already invited by hand to
    it keep that invitation. Returns the audience size."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != CampaignStatus.DRAFT:
        raise ValidationError(_("只有草稿状态的活动可以发布。"))
    today = timezone.localdate()
    if campaign.end_date < today:
        raise ValidationError(_("活动已经结束，不能发布。"))
    stores = list(campaign.stores.all())
    _stores_allowed(by, stores)
    added, _invited = _invite_new_audience(campaign=campaign, stores=stores, today=today)
    if not added:
        raise ValidationError(_("人群条件没有选出任何会员（只包含同意营销的会员）。"))
    campaign.status = CampaignStatus.LAUNCHED
    campaign.launched_at = timezone.now()
    campaign.save(update_fields=["status", "launched_at", "updated_at"])
    audit_log(actor=by, action="campaign.launched", obj=campaign, audience=added)
    return added


@transaction.atomic
def campaign_extend(*, campaign: Campaign, by: Staff) -> int:
    """补充邀约: while a launched campaign has not ended, add the members its segment selects
    today who are not in the audience yet (new members, new consent, a tier reached since the
    launch) and invite them. Never a second invitation for anyone already in the audience,
    declined ones included. Returns how many were added (0 when nobody is new)."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    today = timezone.localdate()
    if campaign.status != CampaignStatus.LAUNCHED or campaign.end_date < today:
        raise ValidationError(_("只有已发布且未结束的活动可以补充邀约。"))
    stores = list(campaign.stores.all())
    _stores_allowed(by, stores)
    added, invited = _invite_new_audience(campaign=campaign, stores=stores, today=today)
    if added:
        audit_log(actor=by, action="campaign.extended", obj=campaign, added=added, invited=invited)
    return added


def campaign_has_ended(campaign: Campaign, today: date | None = None) -> bool:
    return campaign.status != CampaignStatus.DRAFT and (today or timezone.localdate()) > campaign.end_date


@transaction.atomic
def campaign_summary_save(*, campaign: Campaign, by: Staff, findings: str, problems: str, solutions: str) -> Campaign:
    """The manager's summary, written after the campaign ends and until it is archived."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _check_not_archived(campaign)
    _stores_allowed(by, list(campaign.stores.all()))
    if not campaign_has_ended(campaign):
        raise ValidationError(_("活动结束后才能写总结。"))
    campaign.findings, campaign.problems, campaign.solutions = findings.strip(), problems.strip(), solutions.strip()
    if campaign.status == CampaignStatus.LAUNCHED:
        campaign.status = CampaignStatus.ENDED
    campaign.save(update_fields=["findings", "problems", "solutions", "status", "updated_at"])
    return campaign


@transaction.atomic
def campaign_archive(*, campaign: Campaign, by: Staff) -> Campaign:
    """归档: freeze the figures into the summary; from then on the campaign is read-only. Only once
    the attribution window has closed, so that the figures are final."""
    from .selectors import campaign_results  # reads; imported here to keep services → selectors one-way

    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    _check_not_archived(campaign)
    _stores_allowed(by, list(campaign.stores.all()))
    today = timezone.localdate()
    last_day = campaign.end_date + timedelta(days=campaign.attribution_days)
    if campaign.status == CampaignStatus.DRAFT or today <= last_day:
        raise ValidationError(_("归因期（至 %(day)s）结束后才能归档。") % {"day": last_day})
    if not campaign.findings.strip():
        raise ValidationError({"findings": _("归档前请先填写活动总结。")})
    results = campaign_results(campaign=campaign)
    campaign.summary_figures = results.as_json()
    campaign.status = CampaignStatus.ARCHIVED
    campaign.archived_at = timezone.now()
    campaign.archived_by = by
    campaign.save(update_fields=["summary_figures", "status", "archived_at", "archived_by", "updated_at"])
    audit_log(actor=by, action="campaign.archived", obj=campaign)
    return campaign

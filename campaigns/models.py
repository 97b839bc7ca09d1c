from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import Store
from members.models import MONEY, Member


class CampaignType(models.TextChoices):
    STORE_EVENT = "store_event", _("店内活动")
    PRIVATE_VIEWING = "private_viewing", _("私享会")
    NEW_SEASON = "new_season", _("新品季")
    HOLIDAY = "holiday", _("节日")
    BIRTHDAY_MONTH = "birthday_month", _("生日月")
    WIN_BACK = "win_back", _("流失挽回")


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    LAUNCHED = "launched", _("已发布")
    ENDED = "ended", _("已结束")
    ARCHIVED = "archived", _("已归档")


class Campaign(models.Model):
    """活动 (DOMAIN §9): planned, launched with a frozen audience, counted, summarised, archived."""

    name = models.CharField(_("活动名称"), max_length=100)
    type = models.CharField(_("类型"), max_length=20, choices=CampaignType.choices)
    stores = models.ManyToManyField(Store, verbose_name=_("门店"), related_name="campaigns")
    start_date = models.DateField(_("开始日期"))
    end_date = models.DateField(_("结束日期"))
    # Purchases up to this many days after the end still count for the campaign.
    attribution_days = models.PositiveSmallIntegerField(_("归因天数"), default=7)
    budget = models.DecimalField(_("预算"), **MONEY, default=0)
    goal_invitees = models.PositiveIntegerField(_("目标邀约人数"), default=0)
    goal_attendance = models.PositiveIntegerField(_("目标到场人数"), default=0)
    goal_sales = models.DecimalField(_("目标销售额"), **MONEY, default=0)
    # The segment as chosen (tiers, last purchase range, spend range, birthday month, consultant,
    # tags); the audience it gave is frozen at launch in CampaignMember.
    segment = models.JSONField(_("人群条件"), default=dict, blank=True)
    status = models.CharField(_("状态"), max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("创建人"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    launched_at = models.DateTimeField(_("发布时间"), null=True, blank=True)
    # The summary report (活动总结): figures frozen at archiving, the manager's words.
    findings = models.TextField(_("活动总结"), blank=True)
    problems = models.TextField(_("存在问题"), blank=True)
    solutions = models.TextField(_("改进措施"), blank=True)
    summary_figures = models.JSONField(_("总结数据"), default=dict, blank=True)
    archived_at = models.DateTimeField(_("归档时间"), null=True, blank=True)
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("归档人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("活动")
        verbose_name_plural = pgettext_lazy("plural", "活动")
        ordering = ["-start_date", "-id"]
        indexes = [models.Index(fields=["status", "start_date"], name="campaign_status_start_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__gte=models.F("start_date")), name="campaign_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_archived(self) -> bool:
        return self.status == CampaignStatus.ARCHIVED


class CampaignMember(models.Model):
    """One member of a launched campaign's frozen audience, with their invitation."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="audience")
    member = models.ForeignKey(Member, verbose_name=_("会员"), on_delete=models.CASCADE, related_name="campaigns")
    store = models.ForeignKey(Store, verbose_name=_("门店"), on_delete=models.PROTECT, related_name="+")
    # Who was to invite them at launch (the member's consultant then, or the store's fallback).
    consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("负责顾问"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    tier = models.CharField(_("发布时等级"), max_length=1)
    invitation = models.OneToOneField(
        "visits.Invitation", verbose_name=_("邀约"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("活动名单")
        verbose_name_plural = pgettext_lazy("plural", "活动名单")
        constraints = [models.UniqueConstraint(fields=["campaign", "member"], name="campaign_member_once")]
        indexes = [models.Index(fields=["campaign", "consultant"], name="campaign_member_consultant_idx")]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.member_id}"

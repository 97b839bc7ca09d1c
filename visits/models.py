from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import Store
from members.models import MONEY, Member, Tier


class TaskKind(models.TextChoices):
    POST_PURCHASE = "post_purchase", _("购后回访")
    CARE = "care", _("定期关怀")
    BIRTHDAY_PREP = "birthday_prep", _("生日准备")
    BIRTHDAY = "birthday", _("生日祝福")
    OCCASION = "occasion", _("纪念日/家人节日")
    WIN_BACK = "win_back", _("流失挽回")
    COMPLAINT_REVISIT = "complaint_revisit", _("投诉回访")
    UPGRADE_PUSH = "upgrade_push", _("升级推动")
    KEEP_TIER = "keep_tier", _("保级提醒")
    INVITATION = "invitation", _("邀约")
    MANUAL = "manual", _("手动回访")


# Contact kinds (DOMAIN §7): a person has at most one open contact task per member, its "card";
# a new reason joins it. Preparation (gift for a birthday or occasion) and complaint revisits stay
# their own tasks.
CONTACT_KINDS = frozenset(
    {
        TaskKind.POST_PURCHASE,
        TaskKind.CARE,
        TaskKind.BIRTHDAY,
        TaskKind.OCCASION,
        TaskKind.WIN_BACK,
        TaskKind.UPGRADE_PUSH,
        TaskKind.KEEP_TIER,
        TaskKind.INVITATION,
        TaskKind.MANUAL,
    }
)
# Kinds the daily capacity spreads over the following days; every other kind is never capped.
CAPPED_KINDS = frozenset({TaskKind.CARE, TaskKind.WIN_BACK})
# Sales pushes: never to a member with an open complaint.
SALES_PUSH_KINDS = frozenset({TaskKind.UPGRADE_PUSH, TaskKind.KEEP_TIER, TaskKind.INVITATION})
# Reasons any reached contact or purchase meets whenever it happens: they ask for "be in touch".
# Dated reasons (a greeting on the day, a post-purchase call, an invitation reminder, a chosen
# follow-up date) are met by a reached contact on or after their due date only.
TOUCH_KINDS = frozenset({TaskKind.CARE, TaskKind.WIN_BACK, TaskKind.UPGRADE_PUSH, TaskKind.KEEP_TIER})
# What a purchase meets (DOMAIN §7): the same "be in touch" reasons.
PURCHASE_MEETS = TOUCH_KINDS


class TaskStatus(models.TextChoices):
    OPEN = "open", _("待办")
    DONE = "done", _("已完成")
    CANCELLED = "cancelled", _("已取消")


class Channel(models.TextChoices):
    PHONE = "phone", _("电话")
    SMS = "sms", _("短信")
    WECHAT = "wechat", _("微信")
    IN_STORE = "in_store", _("到店")
    HOME_VISIT = "home_visit", _("上门拜访")


class VisitResult(models.TextChoices):
    REACHED = "reached", _("已联系上")
    NO_ANSWER = "no_answer", _("未接通")
    SWITCHED_OFF = "switched_off", _("关机/停机")
    DECLINED = "declined", _("拒绝沟通")


class ClosedBy(models.TextChoices):
    CONTACT = "contact", _("本任务回访")
    OTHER_CONTACT = "other_contact", _("其他回访")
    PURCHASE = "purchase", _("消费")
    GIFT = "gift", _("礼品备好")


class Visit(models.Model):
    """回访记录: one contact with a member, with or without a task behind it."""

    # No single-column member or store index: (member, at) and (store, at) lead with them (issue 14).
    member = models.ForeignKey(
        Member, verbose_name=_("会员"), on_delete=models.CASCADE, related_name="visits", db_index=False
    )
    store = models.ForeignKey(
        Store, verbose_name=_("门店"), on_delete=models.PROTECT, related_name="visits", db_index=False
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("员工"), on_delete=models.SET_NULL, null=True, related_name="visits"
    )
    channel = models.CharField(_("方式"), max_length=12, choices=Channel.choices)
    at = models.DateTimeField(_("时间"))
    purpose = models.CharField(_("目的"), max_length=100, blank=True)
    # Reached or not (DOMAIN §7): only a reached contact closes tasks and resets the care clock;
    # an unreached one is an attempt on the task it was made for.
    result = models.CharField(_("联系结果"), max_length=12, choices=VisitResult.choices, default=VisitResult.REACHED)
    outcome = models.CharField(_("结果"), max_length=200)
    satisfaction = models.PositiveSmallIntegerField(
        _("满意度"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    notes = models.TextField(_("备注"), blank=True)
    # 收集顾客意见和建议 (seed): what the customer said the store should change, listed in the
    # weekly report; kept apart from `notes`, which is staff's own memo.
    suggestions = models.TextField(_("顾客意见和建议"), blank=True, default="")
    next_follow_up = models.DateField(_("下次回访"), null=True, blank=True)
    # An unreached contact made for a task: the card lists its attempts.
    attempt_of = models.ForeignKey(
        "FollowUpTask",
        verbose_name=_("尝试任务"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="attempt_visits",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("回访记录")
        verbose_name_plural = pgettext_lazy("plural", "回访记录")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["member", "-at"], name="visit_member_at_idx"),
            models.Index(fields=["store", "-at"], name="visit_store_at_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(satisfaction__isnull=True) | models.Q(satisfaction__gte=1, satisfaction__lte=5),
                name="visit_satisfaction_1_to_5",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member} {self.get_channel_display()} {self.at:%Y-%m-%d}"

    @property
    def reached(self) -> bool:
        return self.result == VisitResult.REACHED


class FollowUpTask(models.Model):
    """回访任务 on the day's list. A contact task is a *card*: one open per member and person (a
    partial unique constraint), with every reason it is due for in `reasons`. `due_date` is the
    earliest reason's first due date, the measure of lateness (DOMAIN §6): snoozes and unreached
    attempts move only the working date `scheduled_for`. `kind` and `origin` are the first reason's."""

    # No single-column store, member or assignee index: the indexes in Meta lead with each, and every
    # index is one more write for each card the duties and imports make or close (issue 14). Nor a
    # (member, kind, status) one: the unique (member, kind, origin) leads with member and kind, and a
    # member's open tasks have their own index. A person's or store's tasks are found by status and
    # working date (the day's list) or by due date (reports); a status filter on due dates reads
    # the first of those: each of these indexes costs an import ~4 µs a card.
    store = models.ForeignKey(
        Store, verbose_name=_("门店"), on_delete=models.PROTECT, related_name="tasks", db_index=False
    )
    member = models.ForeignKey(
        Member, verbose_name=_("会员"), on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("负责人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tasks",
        db_index=False,
    )
    kind = models.CharField(_("类型"), max_length=20, choices=TaskKind.choices)
    # Set from `kind` when the task is made (a contact kind): what the one-card constraint covers.
    is_contact = models.BooleanField(_("联系任务"), default=False, editable=False)
    due_date = models.DateField(_("到期日"))
    scheduled_for = models.DateField(_("安排日期"))
    status = models.CharField(_("状态"), max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    origin = models.CharField(_("来源"), max_length=60)
    note = models.CharField(_("说明"), max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(_("未接通次数"), default=0)
    # The visit logged on this task itself (task_complete).
    visit = models.OneToOneField(
        Visit, verbose_name=_("回访记录"), on_delete=models.SET_NULL, null=True, blank=True, related_name="task"
    )
    done_on = models.DateField(_("完成日期"), null=True, blank=True)
    closed_by = models.CharField(_("完成方式"), max_length=14, choices=ClosedBy.choices, blank=True)
    # The reached contact that closed it, logged on this task or anywhere else. Indexed where set
    # only (Meta): most tasks are closed otherwise or still open, and their NULLs need no entry.
    closed_by_visit = models.ForeignKey(
        Visit,
        verbose_name=_("完成回访"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="closed_tasks",
        db_index=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("回访任务")
        verbose_name_plural = pgettext_lazy("plural", "回访任务")
        ordering = ["due_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "kind", "origin"], name="task_once_per_member_kind_origin"),
            models.UniqueConstraint(
                fields=["member", "assignee"],
                condition=models.Q(status="open", is_contact=True),
                name="task_one_open_card_per_member_assignee",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="done") | models.Q(done_on__isnull=False), name="task_done_has_date"
            ),
        ]
        indexes = [
            models.Index(fields=["store", "due_date"], name="task_store_due_idx"),
            models.Index(fields=["assignee", "status", "scheduled_for"], name="task_assignee_status_sched_idx"),
            models.Index(fields=["store", "status", "scheduled_for"], name="task_store_status_sched_idx"),
            # Open tasks are few beside the history: a member's open tasks (the daily care rule's
            # check, hand-overs) without reading the closed ones.
            models.Index(fields=["member"], condition=models.Q(status="open"), name="task_open_member_idx"),
            models.Index(
                fields=["closed_by_visit"],
                condition=models.Q(closed_by_visit__isnull=False),
                name="task_closed_by_visit_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.member} {self.due_date}"

    def save(self, *args, **kwargs):
        self.is_contact = self.kind in CONTACT_KINDS
        if self.scheduled_for is None:
            self.scheduled_for = self.due_date
        super().save(*args, **kwargs)

    @property
    def snoozed(self) -> bool:
        """Moved past its due date by a snooze or an unreached attempt."""
        return self.scheduled_for > self.due_date


class TaskReason(models.Model):
    """Why a task is on the list: one row per (member, kind, origin) ever generated, so generating a
    day twice adds nothing (a database constraint). A card has one or more; `due_date` is the
    first date this reason was due."""

    task = models.ForeignKey(FollowUpTask, verbose_name=_("任务"), on_delete=models.CASCADE, related_name="reasons")
    # No member index of its own: the unique (member, kind, origin) leads with member and kind.
    member = models.ForeignKey(
        Member, verbose_name=_("会员"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    kind = models.CharField(_("类型"), max_length=20, choices=TaskKind.choices)
    origin = models.CharField(_("来源"), max_length=60)
    note = models.CharField(_("说明"), max_length=200, blank=True)
    due_date = models.DateField(_("到期日"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("任务原因")
        verbose_name_plural = pgettext_lazy("plural", "任务原因")
        ordering = ["due_date", "id"]
        constraints = [
            models.UniqueConstraint(fields=["member", "kind", "origin"], name="task_reason_once_per_member_kind_origin")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.origin}"


class InvitationStatus(models.TextChoices):
    INVITED = "invited", _("已邀约")
    CONFIRMED = "confirmed", _("已确认")
    ARRIVED = "arrived", _("已到店")
    BOUGHT = "bought", _("已成交")
    DECLINED = "declined", _("已婉拒")
    NO_SHOW = "no_show", _("未到店")


class Invitation(models.Model):
    """邀约: inviting a member to the store, followed through the funnel."""

    member = models.ForeignKey(Member, verbose_name=_("会员"), on_delete=models.CASCADE, related_name="invitations")
    store = models.ForeignKey(Store, verbose_name=_("门店"), on_delete=models.PROTECT, related_name="invitations")
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("邀约人"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    for_date = models.DateField(_("邀约日期"))
    purpose = models.CharField(_("目的"), max_length=100)
    status = models.CharField(
        _("状态"), max_length=10, choices=InvitationStatus.choices, default=InvitationStatus.INVITED
    )
    status_changed_at = models.DateTimeField(_("状态更新时间"), auto_now_add=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("邀约")
        verbose_name_plural = pgettext_lazy("plural", "邀约")
        ordering = ["-for_date", "-id"]
        indexes = [
            models.Index(fields=["store", "for_date"], name="invitation_store_date_idx"),
            models.Index(fields=["invited_by", "for_date"], name="invitation_staff_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.member} {self.for_date} {self.get_status_display()}"


class Occasion(models.TextChoices):
    BIRTHDAY = "birthday", _("生日")
    ANNIVERSARY = "anniversary", _("结婚纪念日")
    FAMILY = "family", _("家人节日")


class GiftPolicy(models.Model):
    """生日礼品 by tier: which gift each tier gets for an occasion, and its budget."""

    tier = models.CharField(_("等级"), max_length=1, choices=Tier.choices)
    occasion = models.CharField(_("场合"), max_length=12, choices=Occasion.choices)
    gift = models.CharField(_("礼品"), max_length=100)
    budget = models.DecimalField(_("预算"), **MONEY)

    class Meta:
        verbose_name = _("礼品标准")
        verbose_name_plural = pgettext_lazy("plural", "礼品标准")
        ordering = ["occasion", "tier"]
        constraints = [models.UniqueConstraint(fields=["tier", "occasion"], name="gift_policy_once_per_tier_occasion")]

    def __str__(self) -> str:
        return f"{self.get_occasion_display()} {self.tier}: {self.gift}"


class GiftStatus(models.TextChoices):
    PLANNED = "planned", _("已计划")
    PREPARED = "prepared", _("已备好")
    DELIVERED = "delivered", _("已送达")
    DECLINED = "declined", _("已婉拒")


class GiftPlan(models.Model):
    """One gift for one member's occasion on one date."""

    member = models.ForeignKey(Member, verbose_name=_("会员"), on_delete=models.CASCADE, related_name="gift_plans")
    store = models.ForeignKey(Store, verbose_name=_("门店"), on_delete=models.PROTECT, related_name="gift_plans")
    occasion = models.CharField(_("场合"), max_length=12, choices=Occasion.choices)
    occasion_date = models.DateField(_("日期"))
    label = models.CharField(_("说明"), max_length=100, blank=True)
    tier = models.CharField(_("等级"), max_length=1, choices=Tier.choices)
    gift = models.CharField(_("礼品"), max_length=100)
    budget = models.DecimalField(_("预算"), **MONEY, default=0)
    status = models.CharField(_("状态"), max_length=10, choices=GiftStatus.choices, default=GiftStatus.PLANNED)
    status_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("经办人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    status_at = models.DateTimeField(_("经办时间"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("礼品计划")
        verbose_name_plural = pgettext_lazy("plural", "礼品计划")
        ordering = ["occasion_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "occasion", "occasion_date"], name="gift_plan_once_per_member_occasion_date"
            ),
        ]
        indexes = [models.Index(fields=["store", "occasion_date"], name="gift_plan_store_date_idx")]

    def __str__(self) -> str:
        return f"{self.member} {self.get_occasion_display()} {self.occasion_date}: {self.gift}"


# --- Message templates (issue 9, item 9) -----------------------------------------------------


class MessageTemplate(models.Model):
    """话术模板: a ready text for a kind of task, with variables ({称呼}, {顾问}…) filled in per
    member on the card (visits.messages). HQ's templates (`store` empty) are every store's
    defaults; a store's own template either adds to them or, with `replaces`, stands in for one
    HQ default in that store."""

    store = models.ForeignKey(
        Store,
        verbose_name=_("门店"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="message_templates",
        help_text=_("留空为总部默认模板。"),
    )
    kind = models.CharField(_("任务类型"), max_length=20, choices=TaskKind.choices)
    name = models.CharField(_("名称"), max_length=40)
    body = models.TextField(_("内容"), max_length=500)
    replaces = models.ForeignKey(
        "self",
        verbose_name=_("替代总部模板"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="overrides",
    )
    position = models.PositiveSmallIntegerField(_("排序"), default=0)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("修改人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("修改时间"), auto_now=True)

    class Meta:
        verbose_name = _("话术模板")
        verbose_name_plural = pgettext_lazy("plural", "话术模板")
        ordering = ["kind", "position", "id"]
        constraints = [
            # One override of a default per store; an HQ default replaces nothing.
            models.UniqueConstraint(fields=["store", "replaces"], name="message_template_one_override_per_store"),
            models.CheckConstraint(
                condition=models.Q(replaces__isnull=True) | models.Q(store__isnull=False),
                name="message_template_only_stores_override",
            ),
        ]
        indexes = [models.Index(fields=["store", "kind"], name="msg_template_store_kind_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.name}"

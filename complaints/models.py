from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import Store
from members.models import MONEY, Member


class Status(models.TextChoices):
    REGISTERED = "registered", _("已登记")
    ACCEPTED = "accepted", _("已受理")
    REJECTED = "rejected", _("不予受理")
    INVESTIGATING = "investigating", _("调查中")
    SOLUTION_PROPOSED = "solution_proposed", _("已提出方案")
    APPROVED = "approved", _("已审批")
    CARRIED_OUT = "carried_out", _("已执行")
    CUSTOMER_CONFIRMED = "customer_confirmed", _("顾客已确认")
    REVISITED = "revisited", _("已回访")
    CLOSED = "closed", _("已结案")


# Not yet closed (nor rejected): the member is at risk and keeps their tier at the month-end review.
OPEN_STATES = [
    Status.REGISTERED,
    Status.ACCEPTED,
    Status.INVESTIGATING,
    Status.SOLUTION_PROPOSED,
    Status.APPROVED,
    Status.CARRIED_OUT,
    Status.CUSTOMER_CONFIRMED,
    Status.REVISITED,
]


class Category(models.TextChoices):
    PRODUCT_QUALITY = "product_quality", _("商品质量")
    ALTERATION = "alteration", _("修改/售后")
    SERVICE_ATTITUDE = "service_attitude", _("服务态度")
    PRICE_PROMOTION = "price_promotion", _("价格/促销")
    ENVIRONMENT = "environment", _("购物环境")
    OTHER = "other", _("其他")


class Severity(models.TextChoices):
    LOW = "low", _("一般")
    MEDIUM = "medium", _("较重")
    HIGH = "high", _("严重")


class ComplaintChannel(models.TextChoices):
    IN_STORE = "in_store", _("到店")
    PHONE = "phone", _("电话")
    WECHAT = "wechat", _("微信")
    ONLINE = "online", _("网络/平台")
    OTHER = "other", _("其他")


class Complaint(models.Model):
    """投诉, from registration to closure (DOMAIN §8). `status` changes only through
    `complaints.services.complaint_transition`, which logs every step as a ComplaintEvent."""

    store = models.ForeignKey(Store, verbose_name=_("门店"), on_delete=models.PROTECT, related_name="complaints")
    member = models.ForeignKey(
        Member, verbose_name=_("会员"), on_delete=models.PROTECT, null=True, blank=True, related_name="complaints"
    )
    walk_in_name = models.CharField(_("顾客姓名"), max_length=50, blank=True)
    walk_in_phone = models.CharField(_("顾客电话"), max_length=20, blank=True)
    channel = models.CharField(_("渠道"), max_length=10, choices=ComplaintChannel.choices)
    category = models.CharField(_("类别"), max_length=20, choices=Category.choices)
    severity = models.CharField(_("严重程度"), max_length=10, choices=Severity.choices, default=Severity.LOW)
    description = models.TextField(_("投诉内容"))
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("受理人"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    received_at = models.DateTimeField(_("接收时间"))
    status = models.CharField(_("状态"), max_length=20, choices=Status.choices, default=Status.REGISTERED)
    responsible_staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("责任人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_complaints",
    )
    responsible_department = models.CharField(_("责任部门"), max_length=50, blank=True)
    rejection_reason = models.TextField(_("不予受理原因"), blank=True)
    customer_told = models.TextField(_("告知顾客"), blank=True)
    solution = models.TextField(_("解决方案"), blank=True)
    compensation_amount = models.DecimalField(_("赔偿金额"), **MONEY, null=True, blank=True)
    compensation_gift = models.CharField(_("赔偿礼品"), max_length=100, blank=True)
    confirmation_note = models.TextField(_("顾客确认"), blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("审批人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Milestones, set by the transitions; the SLA figures and statistics read them.
    first_response_at = models.DateTimeField(_("首次响应"), null=True, blank=True)
    carried_out_at = models.DateTimeField(_("方案执行"), null=True, blank=True)
    closed_at = models.DateTimeField(_("结案"), null=True, blank=True)
    # Set once per breach by the hourly SLA duty, so a breach is escalated once.
    response_escalated_at = models.DateTimeField(_("响应超时升级"), null=True, blank=True)
    solution_escalated_at = models.DateTimeField(_("解决超时升级"), null=True, blank=True)
    reopened = models.PositiveSmallIntegerField(_("重开次数"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("投诉")
        verbose_name_plural = pgettext_lazy("plural", "投诉")
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["store", "status"], name="complaint_store_status_idx"),
            models.Index(fields=["store", "received_at"], name="complaint_store_received_idx"),
            models.Index(fields=["member", "status"], name="complaint_member_status_idx"),
            models.Index(fields=["responsible_staff", "status"], name="complaint_staff_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(member__isnull=False) | ~models.Q(walk_in_name=""),
                name="complaint_has_a_customer",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.customer_name} {self.get_category_display()}"

    @property
    def customer_name(self) -> str:
        return self.member.name if self.member_id else self.walk_in_name

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES


class ComplaintEvent(models.Model):
    """One step of a complaint's timeline: who moved it from where to where, when, and why."""

    complaint = models.ForeignKey(Complaint, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(_("原状态"), max_length=20, choices=Status.choices, blank=True)
    to_status = models.CharField(_("新状态"), max_length=20, choices=Status.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    at = models.DateTimeField(_("时间"))
    note = models.TextField(_("说明"), blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("投诉记录")
        verbose_name_plural = pgettext_lazy("plural", "投诉记录")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["complaint", "at"], name="complaint_event_idx")]

    def __str__(self) -> str:
        return f"{self.from_status}→{self.to_status} {self.at:%Y-%m-%d %H:%M}"

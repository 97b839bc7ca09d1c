"""The email outbox: every email the system sends is first a row here (DOMAIN §10); and the record
of the scheduled duties' runs (DutyRun).

A row is written inside the transaction that decides to send it, so a rollback leaves no email
behind, and it is sent only after that transaction commits. Its status records how far it got, so
a worker killed mid-send or a mail server that is down loses nothing: the periodic flush sends
whatever is still due.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Store


class OutboxStatus(models.TextChoices):
    QUEUED = "queued", _("待发送")
    SENDING = "sending", _("发送中")
    SENT = "sent", _("已发送")
    FAILED = "failed", _("发送失败")


class OutboxEmail(models.Model):
    """One email to send, once.

    `key` names what the email is about ("digest:<store>:<date>:<staff>"), unique, so a duty run
    twice queues nothing new. `next_attempt_at` is when the flush may next pick the row up: a
    minute after it is queued (the send queued on commit normally gets there first), after a
    failure the backoff, and while it is being sent the claim's timeout.
    """

    key = models.CharField(_("唯一键"), max_length=200, unique=True)
    kind = models.CharField(_("类型"), max_length=40)
    to = models.JSONField(_("收件人"), default=list)
    subject = models.CharField(_("主题"), max_length=255)
    body = models.TextField(_("正文"))
    html = models.TextField(_("HTML 正文"), blank=True, default="")
    status = models.CharField(_("状态"), max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.QUEUED)
    attempts = models.PositiveIntegerField(_("尝试次数"), default=0)
    last_error = models.TextField(_("最近错误"), blank=True, default="")
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    # Who holds the row while it is being sent: a fresh token per claim, so that a sender whose
    # claim timed out and was taken over cannot overwrite the new holder's outcome.
    claim = models.CharField(_("发送凭据"), max_length=32, blank=True, default="")
    claimed_at = models.DateTimeField(_("开始发送"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("下次尝试"), default=timezone.now)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("待发邮件")
        verbose_name_plural = _("待发邮件")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"


# --- Runs of the scheduled duties ----------------------------------------------------------------


class DutyRunStatus(models.TextChoices):
    RUNNING = "running", _("运行中")
    DONE = "done", _("完成")
    FAILED = "failed", _("失败")


class DutyRun(models.Model):
    """One run of a scheduled duty (DOMAIN §10) for a store, a business date and (for hourly
    duties) an hour.

    At most one per duty, store, date and slot (a database constraint): a second call finds it and
    does nothing; a failed run is retried in place. Moved here from reports (issue 12): the table
    keeps its name, so the runs recorded before the move stay.
    """

    duty = models.CharField(_("任务"), max_length=30)
    store = models.ForeignKey(Store, verbose_name=_("门店"), on_delete=models.CASCADE, related_name="duty_runs")
    date = models.DateField(_("业务日期"))
    # Hourly duties run many times a day: the hour ("07"); "" for daily and longer duties.
    slot = models.CharField(_("时段"), max_length=5, blank=True, default="")
    status = models.CharField(_("状态"), max_length=10, choices=DutyRunStatus.choices, default=DutyRunStatus.RUNNING)
    started_at = models.DateTimeField(_("开始"))
    finished_at = models.DateTimeField(_("结束"), null=True, blank=True)
    counts = models.JSONField(_("数量"), default=dict, blank=True)
    error = models.TextField(_("错误"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)

    class Meta:
        db_table = "reports_dutyrun"
        verbose_name = _("定时任务记录")
        verbose_name_plural = _("定时任务记录")
        ordering = ["-date", "duty", "store_id"]
        constraints = [
            models.UniqueConstraint(fields=["duty", "store", "date", "slot"], name="duty_run_once_per_store_date")
        ]
        indexes = [models.Index(fields=["store", "duty", "-date"], name="dutyrun_store_duty_date_idx")]

    def __str__(self) -> str:
        return f"{self.duty} {self.store.code} {self.date} {self.status}"

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


# --- Webhooks (issue 13 item 4) ----------------------------------------------------------------
# A store may have other systems told when a member is enrolled or changes tier: a signed POST per
# event to each of its active hooks. The deliveries are an outbox like the emails': written in the
# transaction that made the change, sent after it commits (duties/webhooks.py).


class WebhookEvent(models.TextChoices):
    TIER_CHANGED = "tier_changed", _("会员等级变化")
    MEMBER_ENROLLED = "member_enrolled", _("会员开卡")


class Webhook(models.Model):
    """A URL a store's other systems listen on. The secret signs every delivery; it is kept in
    clear (signing needs it) and shown to the store's manager and HQ on the hook's page."""

    store = models.ForeignKey(Store, verbose_name=_("门店"), on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(_("接收地址"), max_length=500)
    secret = models.CharField(_("签名密钥"), max_length=64)
    events = models.JSONField(_("事件"), default=list)
    is_active = models.BooleanField(_("启用"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)

    class Meta:
        verbose_name = _("Webhook")
        verbose_name_plural = _("Webhook")
        ordering = ["store_id", "-created_at"]

    def __str__(self) -> str:
        return f"{self.url} ({self.store_id})"

    @property
    def event_labels(self) -> list[str]:
        return [WebhookEvent(event).label for event in self.events if event in WebhookEvent.values]


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("待发送")
    DELIVERED = "delivered", _("已送达")
    FAILED = "failed", _("已放弃")


class WebhookDelivery(models.Model):
    """One event for one hook, sent until the receiver answers 2xx or the attempts run out.

    `payload` holds minimal data (event, store code, card no., tiers, dates; never a name or a
    phone). `uid` is sent as X-VIPCRM-Delivery: the same on every attempt, for the receiver to
    drop repeats. `next_attempt_at` is when the sweep may next take it: the backoff after a
    failure, the claim's timeout while it is being sent."""

    webhook = models.ForeignKey(Webhook, verbose_name=_("Webhook"), on_delete=models.CASCADE, related_name="deliveries")
    uid = models.UUIDField(_("投递编号"), default=uuid.uuid4, unique=True, editable=False)
    event = models.CharField(_("事件"), max_length=30, choices=WebhookEvent.choices)
    payload = models.JSONField(_("内容"), default=dict)
    status = models.CharField(_("状态"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(_("尝试次数"), default=0)
    claim = models.CharField(_("发送凭据"), max_length=32, blank=True, default="")
    next_attempt_at = models.DateTimeField(_("下次尝试"), default=timezone.now)
    last_status_code = models.PositiveIntegerField(_("最近响应码"), null=True, blank=True)
    last_error = models.TextField(_("最近错误"), blank=True, default="")
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    delivered_at = models.DateTimeField(_("送达时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("Webhook 投递")
        verbose_name_plural = _("Webhook 投递")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due")]

    def __str__(self) -> str:
        return f"{self.event} {self.uid} ({self.status})"

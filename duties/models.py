"""The email outbox: every email the system sends is first a row here (DOMAIN §10).

A row is written inside the transaction that decides to send it, so a rollback leaves no email
behind, and it is sent only after that transaction commits. Its status records how far it got, so
a worker killed mid-send or a mail server that is down loses nothing: the periodic flush sends
whatever is still due.
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


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

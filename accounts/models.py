from django.conf import settings
from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Store(models.Model):
    code = models.CharField(_("门店编码"), max_length=20, unique=True)
    name = models.CharField(_("门店名称"), max_length=100)
    region = models.CharField(_("区域"), max_length=50, blank=True)
    address = models.CharField(_("地址"), max_length=200, blank=True)
    is_active = models.BooleanField(_("营业中"), default=True)
    # Compensation above this needs a manager's approval (DOMAIN §8).
    compensation_limit = models.DecimalField(_("赔偿审批限额"), max_digits=12, decimal_places=2, default=500)

    class Meta:
        verbose_name = _("门店")
        verbose_name_plural = pgettext_lazy("plural", "门店")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Role(models.TextChoices):
    CONSULTANT = "consultant", _("形象顾问")
    VIP_SPECIALIST = "vip_specialist", _("VIP专员")
    MANAGER = "manager", _("店长")
    HQ = "hq", _("总部")


class Staff(AbstractUser):
    """A person who logs in. Everyone but HQ belongs to exactly one store."""

    role = models.CharField(_("角色"), max_length=20, choices=Role.choices, default=Role.CONSULTANT)
    store = models.ForeignKey(
        Store, verbose_name=_("门店"), on_delete=models.PROTECT, null=True, blank=True, related_name="staff"
    )
    display_name = models.CharField(_("显示名"), max_length=50, blank=True)
    # Set when a manager resets the password (accounts.services.staff_password_reset): the person
    # sees only the password change page until they have chosen their own.
    must_change_password = models.BooleanField(_("需修改密码"), default=False)

    objects = UserManager()

    class Meta:
        verbose_name = _("员工")
        verbose_name_plural = pgettext_lazy("plural", "员工")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role="hq") | models.Q(store__isnull=False),
                name="staff_store_required_unless_hq",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or self.get_full_name() or self.username

    @property
    def is_hq(self) -> bool:
        return self.role == Role.HQ

    @property
    def is_manager(self) -> bool:
        return self.role == Role.MANAGER

    @property
    def is_vip_specialist(self) -> bool:
        return self.role == Role.VIP_SPECIALIST

    @property
    def is_consultant(self) -> bool:
        return self.role == Role.CONSULTANT

    @property
    def is_store_lead(self) -> bool:
        """VIP specialist, manager or HQ: may see and manage every member in their scope."""
        return self.role in (Role.VIP_SPECIALIST, Role.MANAGER, Role.HQ)

    @property
    def has_signed_agreement(self) -> bool:
        """Without a confidentiality agreement on file, member data is shown masked (DOMAIN §11).

        Cached on the instance: a page asks many times and the answer cannot change mid-request.
        """
        if not hasattr(self, "_signed_agreement"):
            self._signed_agreement = self.agreements.exists()
        return self._signed_agreement


def agreement_scan_path(agreement: "ConfidentialityAgreement", filename: str) -> str:
    # A random stored name: neither guessable nor able to write outside the folder.
    import uuid

    return f"agreements/{uuid.uuid4().hex}.scan"


class ConfidentialityAgreement(models.Model):
    """保密协议: every consultant signs one before seeing full member data."""

    staff = models.ForeignKey(Staff, verbose_name=_("员工"), on_delete=models.CASCADE, related_name="agreements")
    signed_on = models.DateField(_("签署日期"))
    version = models.CharField(_("版本"), max_length=20, default="1.0")
    # The signed paper, scanned (PDF or image): evidence the VIP specialist files with the record.
    scan = models.FileField(_("扫描件"), upload_to=agreement_scan_path, max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        Staff,
        verbose_name=_("登记人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("保密协议")
        verbose_name_plural = pgettext_lazy("plural", "保密协议")
        constraints = [
            models.UniqueConstraint(fields=["staff", "version"], name="agreement_once_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.staff} v{self.version} ({self.signed_on})"

    # Append-only (DOMAIN §11): the agreement is the evidence that opens full member data, so a
    # filed one is never edited, back-dated or deleted; a new version supersedes it.
    FROZEN = ("staff_id", "version", "signed_on")

    def save(self, *args, **kwargs) -> None:
        if self._state.adding:
            error = self.date_error()
            if error:
                raise ValidationError({"signed_on": error})
        else:
            on_file = type(self).objects.filter(pk=self.pk).values(*self.FROZEN).first()
            if on_file is not None and on_file != {name: getattr(self, name) for name in self.FROZEN}:
                raise ValidationError(_("已签署的保密协议不能修改：请登记新版本。"))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError(_("保密协议不能删除：请登记新版本取代旧版本。"))

    def clean(self) -> None:
        if self._state.adding and self.staff_id is not None:
            error = self.date_error()
            if error:
                raise ValidationError({"signed_on": error})

    def date_error(self) -> str | None:
        """Why `signed_on` cannot date a new agreement: in the future, or earlier than the latest
        agreement on file for the same person (that would back-date it)."""
        if self.signed_on is None:
            return None
        if self.signed_on > timezone.localdate():
            return _("签署日期不能晚于今天。")
        latest = type(self).objects.filter(staff_id=self.staff_id).aggregate(m=models.Max("signed_on"))["m"]
        if latest is not None and self.signed_on < latest:
            return _("签署日期不能早于此前协议的签署日期（%(date)s）：协议不能倒签。") % {"date": latest}
        return None


class AuditEntry(models.Model):
    """Who saw or changed member data (DOMAIN §11). Actions are dotted: `member.phone.viewed`."""

    at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # Copied at write time: the entry keeps naming the person after their account is deleted.
    actor_name = models.CharField(_("操作人姓名"), max_length=150, blank=True)
    actor_username = models.CharField(_("操作人账号"), max_length=150, blank=True)
    store = models.ForeignKey(Store, verbose_name=_("门店"), on_delete=models.SET_NULL, null=True, blank=True)
    action = models.CharField(_("动作"), max_length=60, db_index=True)
    object_type = models.CharField(_("对象类型"), max_length=40, blank=True)
    object_id = models.CharField(_("对象ID"), max_length=40, blank=True)
    data = models.JSONField(_("详情"), default=dict, blank=True)

    class Meta:
        verbose_name = _("审计日志")
        verbose_name_plural = pgettext_lazy("plural", "审计日志")
        ordering = ["-at"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        who = self.actor_name or self.data.get("via", "")
        return f"{self.at:%Y-%m-%d %H:%M} {who} {self.action} {self.object_type}:{self.object_id}"


class Notification(models.Model):
    """An in-app message to one staff member (complaint escalations, duty failures…)."""

    recipient = models.ForeignKey(
        Staff, verbose_name=_("接收人"), on_delete=models.CASCADE, related_name="notifications"
    )
    text = models.CharField(_("内容"), max_length=300)
    url = models.CharField(_("链接"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)
    read_at = models.DateTimeField(_("已读"), null=True, blank=True)

    class Meta:
        verbose_name = _("通知")
        verbose_name_plural = pgettext_lazy("plural", "通知")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread_idx")]

    def __str__(self) -> str:
        return self.text


class ApiKey(models.Model):
    """A store's POS key (issue 13): a till's credential for the `/api/v1/pos/` endpoints only.

    The key is shown once, at creation; only its public `prefix` (to find the row) and the SHA-256
    of the whole key are stored, so a copy of the database opens no till (accounts.api_keys)."""

    store = models.ForeignKey(Store, verbose_name=_("门店"), on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(_("名称"), max_length=60)
    prefix = models.CharField(_("前缀"), max_length=16, unique=True)
    hashed_key = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        Staff, verbose_name=_("创建人"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        Staff, verbose_name=_("吊销人"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(_("最近使用"), null=True, blank=True)

    class Meta:
        verbose_name = _("收银接口密钥")
        verbose_name_plural = pgettext_lazy("plural", "收银接口密钥")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.prefix} {self.name}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

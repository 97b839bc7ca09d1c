from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import ExtractMonth
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.models import Store

MONEY = {"max_digits": 12, "decimal_places": 2}


class Tier(models.TextChoices):
    A = "A", _("A 级")
    B = "B", _("B 级")
    C = "C", _("C 级")


# Higher rank = better tier; comparisons go through this, never through letters.
TIER_RANK = {Tier.C: 0, Tier.B: 1, Tier.A: 2}


class Gender(models.TextChoices):
    FEMALE = "F", _("女")
    MALE = "M", _("男")


class ProgramRules(models.Model):
    """The chain's program rules (DOMAIN §4): one row, edited by HQ."""

    tier_a_min = models.DecimalField(_("A 级最低12个月消费"), **MONEY, default=Decimal("50000.00"))
    tier_b_min = models.DecimalField(_("B 级最低12个月消费"), **MONEY, default=Decimal("10000.00"))
    spend_window_days = models.PositiveIntegerField(_("消费统计窗口（天）"), default=365)
    churn_days = models.PositiveIntegerField(_("流失判定（无消费天数）"), default=180)
    care_days_a = models.PositiveIntegerField(_("A 级关怀周期（天）"), default=30)
    care_days_b = models.PositiveIntegerField(_("B 级关怀周期（天）"), default=60)
    care_days_c = models.PositiveIntegerField(_("C 级关怀周期（天）"), default=90)
    post_purchase_days = models.PositiveIntegerField(_("购后回访（天后）"), default=2)
    lead_days = models.PositiveIntegerField(_("礼品/节日提前准备（天）"), default=7)
    win_back_days = models.PositiveIntegerField(_("流失预警（提前天数）"), default=30)
    upgrade_candidate_ratio = models.DecimalField(
        _("升级候选比例"),
        max_digits=4,
        decimal_places=2,
        default=Decimal("0.80"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("1.00"))],
    )
    complaint_response_hours = models.PositiveIntegerField(_("投诉首次响应时限（小时）"), default=24)
    complaint_solution_hours = models.PositiveIntegerField(_("投诉解决时限（小时）"), default=48)
    daily_care_capacity = models.PositiveIntegerField(
        _("每人每天关怀任务上限"), default=15, validators=[MinValueValidator(1)]
    )
    attempts_before_escalation = models.PositiveIntegerField(
        _("未接通几次后转 VIP 专员"), default=3, validators=[MinValueValidator(1)]
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("会员计划规则")
        verbose_name_plural = pgettext_lazy("plural", "会员计划规则")
        constraints = [
            models.CheckConstraint(condition=models.Q(pk=1), name="program_rules_single_row"),
            models.CheckConstraint(condition=models.Q(tier_a_min__gt=models.F("tier_b_min")), name="tier_a_above_b"),
            models.CheckConstraint(condition=models.Q(tier_b_min__gt=0), name="tier_b_positive"),
        ]

    def __str__(self) -> str:
        return str(_("会员计划规则"))

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "ProgramRules":
        rules, _created = cls.objects.get_or_create(pk=1)
        return rules

    def min_spend(self, tier: str) -> Decimal:
        return {Tier.A: self.tier_a_min, Tier.B: self.tier_b_min, Tier.C: Decimal("0.00")}[tier]

    def care_days(self, tier: str) -> int:
        return {Tier.A: self.care_days_a, Tier.B: self.care_days_b, Tier.C: self.care_days_c}[tier]


class MemberTag(models.Model):
    """A label staff give members (“婚礼季”, “偏好真丝”) for segments and searches."""

    name = models.CharField(_("标签"), max_length=30, unique=True)

    class Meta:
        verbose_name = _("会员标签")
        verbose_name_plural = pgettext_lazy("plural", "会员标签")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MemberQuerySet(models.QuerySet):
    def of_store(self, store: Store) -> "MemberQuerySet":
        return self.filter(home_store=store)


class Member(models.Model):
    card_no = models.CharField(_("卡号"), max_length=30, unique=True)
    name = models.CharField(_("姓名"), max_length=50)
    gender = models.CharField(_("性别"), max_length=1, choices=Gender.choices, blank=True)
    # Normalised: mainland mobiles as 11 digits, others in E.164 (+<country><number>).
    phone = models.CharField(_("手机"), max_length=20, unique=True)
    # For search by the last four digits, which is how staff find a customer at the till.
    phone_last4 = models.CharField(max_length=4, editable=False, db_index=True)
    # The date of birth as on the ID card (solar). `birthday_lunar` means the member celebrates it
    # on the lunar calendar, so its yearly occurrence is computed there.
    birthday = models.DateField(_("生日"), null=True, blank=True)
    birthday_lunar = models.BooleanField(_("农历生日"), default=False)
    address = models.CharField(_("地址"), max_length=200, blank=True)
    email = models.EmailField(_("邮箱"), blank=True)
    wechat = models.CharField(_("微信"), max_length=50, blank=True)
    marketing_consent = models.BooleanField(_("同意营销"), default=False)
    marketing_consent_at = models.DateField(_("营销同意日期"), null=True, blank=True)
    # No single-column index: four indexes in Meta lead with the home store (issue 14: fewer writes).
    home_store = models.ForeignKey(
        Store, verbose_name=_("所属门店"), on_delete=models.PROTECT, related_name="members", db_index=False
    )
    consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("专属顾问"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="members",
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("开卡人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    joined_on = models.DateField(_("入会日期"))
    # The current tier: a cache of the last TierChange, kept by the tier engine only. No index names
    # it: a tier moved by the replay or the month-end review is then rewritten in place on its page
    # (a HOT update, with the table's free space: migration 0012), not in each of the member's
    # 16 indexes; a store's members by tier are read through the store's own indexes.
    tier = models.CharField(_("等级"), max_length=1, choices=Tier.choices, default=Tier.C)
    tier_locked = models.BooleanField(_("等级锁定"), default=False)
    # Open complaints (kept by complaints through `member_open_complaints_set`): such a member is
    # shown at risk and keeps their tier at the month-end review while any is open.
    open_complaints = models.PositiveSmallIntegerField(_("未结投诉"), default=0)
    top_size = models.CharField(_("上装尺码"), max_length=10, blank=True)
    bottom_size = models.CharField(_("下装尺码"), max_length=10, blank=True)
    shoe_size = models.CharField(_("鞋码"), max_length=10, blank=True)
    style_preferences = models.CharField(_("风格偏好"), max_length=200, blank=True)
    notes = models.TextField(_("备注"), blank=True)
    tags = models.ManyToManyField(MemberTag, verbose_name=_("标签"), blank=True, related_name="members")
    erased_at = models.DateTimeField(_("已匿名化"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MemberQuerySet.as_manager()

    class Meta:
        verbose_name = _("会员")
        verbose_name_plural = pgettext_lazy("plural", "会员")
        ordering = ["-joined_on", "-id"]
        indexes = [
            models.Index(fields=["home_store", "consultant"], name="member_store_consultant_idx"),
            models.Index(fields=["home_store", "-joined_on", "-id"], name="member_store_joined_idx"),
            # HQ's member list (every store) in its default order, a page at a time (issue 14).
            models.Index(fields=["-joined_on", "-id"], name="member_joined_idx"),
            models.Index(fields=["home_store", "name"], name="member_store_name_idx"),
            models.Index(ExtractMonth("birthday"), "home_store", name="member_birth_month_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.card_no})"

    def save(self, *args, **kwargs):
        self.phone_last4 = self.phone[-4:]
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "phone" in update_fields:
            kwargs["update_fields"] = set(update_fields) | {"phone_last4"}
        super().save(*args, **kwargs)


class ImportantDateKind(models.TextChoices):
    SPOUSE_BIRTHDAY = "spouse_birthday", _("配偶生日")
    CHILD_BIRTHDAY = "child_birthday", _("子女生日")
    PARENT_BIRTHDAY = "parent_birthday", _("父母生日")
    WEDDING_ANNIVERSARY = "wedding_anniversary", _("结婚纪念日")
    OTHER = "other", _("其他")


class ImportantDate(models.Model):
    """结婚纪念日、家人生日: dates worth a greeting. `date` is the original (solar) date."""

    member = models.ForeignKey(Member, verbose_name=_("会员"), on_delete=models.CASCADE, related_name="important_dates")
    kind = models.CharField(_("类型"), max_length=30, choices=ImportantDateKind.choices)
    date = models.DateField(_("日期"))
    lunar = models.BooleanField(_("农历"), default=False)
    label = models.CharField(_("说明"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("重要日期")
        verbose_name_plural = pgettext_lazy("plural", "重要日期")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.date}"


class PurchaseSource(models.TextChoices):
    STORE = "store", _("门店录入")
    IMPORT = "import", _("导入")
    POS = "pos", _("收银系统")


class Purchase(models.Model):
    """A receipt (小票). Returns are negative and may point at the purchase they return."""

    # No single-column index on store or member: (store, date), (store, receipt_no) and (member, date)
    # lead with them, and each index is one more write per receipt (issue 14).
    store = models.ForeignKey(
        Store, verbose_name=_("门店"), on_delete=models.PROTECT, related_name="purchases", db_index=False
    )
    receipt_no = models.CharField(_("小票号"), max_length=40)
    member = models.ForeignKey(
        Member, verbose_name=_("会员"), on_delete=models.PROTECT, related_name="purchases", db_index=False
    )
    consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("导购"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sales",
    )
    date = models.DateField(_("日期"))
    amount = models.DecimalField(_("金额"), **MONEY)
    # Indexed where set only (Meta): a receipt's returns; the sales themselves need no entry.
    original = models.ForeignKey(
        "self",
        verbose_name=_("原小票"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="returns",
        db_index=False,
    )
    items = models.TextField(_("商品"), blank=True)
    source = models.CharField(_("来源"), max_length=10, choices=PurchaseSource.choices, default=PurchaseSource.STORE)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("消费记录")
        verbose_name_plural = pgettext_lazy("plural", "消费记录")
        ordering = ["-date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "receipt_no"], name="purchase_receipt_unique_per_store"),
            models.CheckConstraint(condition=~models.Q(amount=0), name="purchase_amount_nonzero"),
        ]
        indexes = [
            # Carries the amount: a member's purchase figures (the KPIs' per-member reads, issue 14)
            # are read from the index alone, not from the member's heap pages scattered over the chain.
            models.Index(fields=["member", "date"], include=["amount"], name="purchase_member_date_cov_idx"),
            models.Index(fields=["store", "date"], name="purchase_store_date_idx"),
            # The daily duty's "receipts recorded yesterday" (post-purchase calls), issue 14.
            models.Index(fields=["created_at"], name="purchase_recorded_idx"),
            models.Index(fields=["original"], condition=models.Q(original__isnull=False), name="purchase_returns_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.receipt_no} {self.amount}"

    @property
    def is_return(self) -> bool:
        return self.amount < 0


class TierChangeReason(models.TextChoices):
    PURCHASE = "purchase", _("消费升级")
    REVIEW = "review", _("月末评审")
    MANUAL = "manual", _("手动调整")
    IMPORT = "import", _("导入")


class TierChange(models.Model):
    """升级/降级. Purchase and review changes are derived (the engine rewrites them); manual and
    import changes are inputs the engine keeps."""

    member = models.ForeignKey(Member, verbose_name=_("会员"), on_delete=models.CASCADE, related_name="tier_changes")
    date = models.DateField(_("日期"))
    from_tier = models.CharField(_("原等级"), max_length=1, choices=Tier.choices)
    to_tier = models.CharField(_("新等级"), max_length=1, choices=Tier.choices)
    reason = models.CharField(_("原因"), max_length=10, choices=TierChangeReason.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    note = models.CharField(_("备注"), max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("等级变更")
        verbose_name_plural = pgettext_lazy("plural", "等级变更")
        ordering = ["date", "id"]
        indexes = [
            models.Index(fields=["member", "date"], name="tierchange_member_date_idx"),
            models.Index(fields=["date", "reason"], name="tierchange_date_reason_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.from_tier}→{self.to_tier} ({self.reason})"

    @property
    def is_upgrade(self) -> bool:
        return TIER_RANK[self.to_tier] > TIER_RANK[self.from_tier]


class TierHold(models.Model):
    """A month-end review that left this member's tier alone (an open complaint). Replays skip
    the review at that date too, so the history stays what happened."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="tier_holds")
    date = models.DateField(_("评审日期"))
    reason = models.CharField(_("原因"), max_length=100)

    class Meta:
        verbose_name = _("等级评审暂缓")
        verbose_name_plural = pgettext_lazy("plural", "等级评审暂缓")
        constraints = [models.UniqueConstraint(fields=["member", "date"], name="tier_hold_once_per_member_date")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.date} {self.reason}"


class TierReview(models.Model):
    """One month-end review per store and date: proof it ran, and what it did."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="tier_reviews")
    date = models.DateField(_("评审日期"))
    downgrades = models.PositiveIntegerField(_("降级人数"), default=0)
    held = models.PositiveIntegerField(_("暂缓人数"), default=0)
    ran_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("月末等级评审")
        verbose_name_plural = pgettext_lazy("plural", "月末等级评审")
        constraints = [models.UniqueConstraint(fields=["store", "date"], name="tier_review_once_per_store_date")]

    def __str__(self) -> str:
        return f"{self.store.code} {self.date}"


class ImportJobStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("检查中")
    PREVIEWED = "previewed", _("待确认")
    COMMITTING = "committing", _("导入中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")


def import_upload_path(job: "ImportJob", filename: str) -> str:
    # The name the user gave is kept in `filename`; the stored name is random, so it can be
    # neither guessed nor used to write outside the folder.
    import uuid

    return f"imports/{uuid.uuid4().hex}.upload"


class ImportJob(models.Model):
    """An uploaded file being previewed, then committed, by a worker (members/imports.py).

    The file sits in Django's default storage so that any web process or worker can read it; the
    preview's outcome (counts, every bad row with its reason) is kept as JSON for the page."""

    kind = models.CharField(
        _("导入内容"), max_length=10, choices=[("members", _("会员")), ("purchases", _("消费记录"))]
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("上传人"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    store = models.ForeignKey(Store, verbose_name=_("门店"), on_delete=models.CASCADE, null=True, blank=True)
    filename = models.CharField(_("文件名"), max_length=200, blank=True)
    file = models.FileField(_("文件"), upload_to=import_upload_path, max_length=200, blank=True)
    size = models.PositiveBigIntegerField(_("大小（字节）"), default=0)
    language = models.CharField(max_length=10, blank=True)
    status = models.CharField(
        _("状态"), max_length=12, choices=ImportJobStatus.choices, default=ImportJobStatus.QUEUED, db_index=True
    )
    rows_done = models.PositiveIntegerField(_("已处理行数"), default=0)
    rows_total = models.PositiveIntegerField(_("总行数"), null=True, blank=True)
    result = models.JSONField(_("结果"), default=dict, blank=True)
    error = models.TextField(_("错误"), blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("导入任务")
        verbose_name_plural = pgettext_lazy("plural", "导入任务")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.filename} ({self.get_status_display()})"

    @property
    def is_working(self) -> bool:
        return self.status in (ImportJobStatus.QUEUED, ImportJobStatus.RUNNING, ImportJobStatus.COMMITTING)


# --- Ownership and cross-store service (DOMAIN §13) ---------------------------------------------


class OwnerChangeReason(models.TextChoices):
    ENROL = "enrol", _("开卡")
    ASSIGN = "assign", _("指定顾问")
    HANDOVER = "handover", _("交接")
    TRANSFER = "transfer", _("转店")
    MERGE = "merge", _("合并")
    IMPORT = "import", _("导入")
    DEACTIVATED = "deactivated", _("员工停用")


class MemberOwnerChange(models.Model):
    """The owner history (DOMAIN §13): from `date` on, the member's home store is `store` and their
    consultant `consultant` (none: unassigned). A row whose store differs from `previous_store` is a
    transfer: a period's member figures belong to the home store on the period's last day, which
    these rows give back for any past date (`members.selectors.home_store_on`)."""

    member = models.ForeignKey(Member, verbose_name=_("会员"), on_delete=models.CASCADE, related_name="owner_history")
    date = models.DateField(_("生效日期"))
    store = models.ForeignKey(Store, verbose_name=_("所属门店"), on_delete=models.PROTECT, related_name="+")
    consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("专属顾问"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    previous_store = models.ForeignKey(
        Store, verbose_name=_("原门店"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    previous_consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("原顾问"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.CharField(_("原因"), max_length=12, choices=OwnerChangeReason.choices)
    note = models.CharField(_("备注"), max_length=200, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("记录时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("归属变更")
        verbose_name_plural = pgettext_lazy("plural", "归属变更")
        ordering = ["date", "id"]
        indexes = [
            models.Index(fields=["member", "date"], name="owner_member_date_idx"),
            # Transfers after a date: the few rows that move a past period's members between stores.
            models.Index(fields=["date"], condition=models.Q(reason="transfer"), name="owner_transfer_date_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.date} {self.reason}"


class TransferStatus(models.TextChoices):
    PENDING = "pending", _("待原门店同意")
    DONE = "done", _("已转店")
    DECLINED = "declined", _("已拒绝")
    CANCELLED = "cancelled", _("已撤回")


class TransferRequest(models.Model):
    """转店: asked for by the receiving store (at the member's request) and agreed by the sending
    store, or done at once by HQ (DOMAIN §13). At most one open request per member."""

    member = models.ForeignKey(
        Member, verbose_name=_("会员"), on_delete=models.CASCADE, related_name="transfer_requests"
    )
    from_store = models.ForeignKey(Store, verbose_name=_("原门店"), on_delete=models.PROTECT, related_name="+")
    to_store = models.ForeignKey(Store, verbose_name=_("新门店"), on_delete=models.PROTECT, related_name="+")
    to_consultant = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("新顾问"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.CharField(_("转店原因"), max_length=200)
    status = models.CharField(
        _("状态"), max_length=10, choices=TransferStatus.choices, default=TransferStatus.PENDING, db_index=True
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("申请人"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    requested_at = models.DateTimeField(_("申请时间"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("处理人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    decision_note = models.CharField(_("处理说明"), max_length=200, blank=True)
    # The store-local day the member's figures start counting for the new store.
    effective_on = models.DateField(_("生效日期"), null=True, blank=True)

    class Meta:
        verbose_name = _("转店申请")
        verbose_name_plural = pgettext_lazy("plural", "转店申请")
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["member"], condition=models.Q(status="pending"), name="transfer_one_pending_per_member"
            ),
            models.CheckConstraint(
                condition=~models.Q(from_store=models.F("to_store")), name="transfer_between_stores"
            ),
        ]
        indexes = [models.Index(fields=["from_store", "status"], name="transfer_from_status_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.from_store_id}→{self.to_store_id} ({self.status})"


class DuplicateKind(models.TextChoices):
    PHONE = "phone", _("手机号相同")
    NAME_BIRTHDAY = "name_birthday", _("姓名和生日相同")
    CARD = "card", _("卡号相近")


class DuplicateDismissal(models.Model):
    """A manager looked at two profiles the review list paired and said they are two people: the
    pair is not listed again. Stored with the smaller id first."""

    first = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("非重复会员")
        verbose_name_plural = pgettext_lazy("plural", "非重复会员")
        constraints = [
            models.UniqueConstraint(fields=["first", "second"], name="duplicate_dismissed_once"),
            models.CheckConstraint(condition=models.Q(first__lt=models.F("second")), name="duplicate_pair_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.first_id} ≠ {self.second_id}"


class MemberMerge(models.Model):
    """合并: `merged` (gone) was the same person as `survivor`. Keeps what the merged profile was
    (its fields, the choices made, how many records moved) so the merge can be explained later, and
    its card number so a search by the old card still finds the person."""

    survivor = models.ForeignKey(Member, verbose_name=_("保留会员"), on_delete=models.CASCADE, related_name="merges")
    merged_card_no = models.CharField(_("被合并卡号"), max_length=30, db_index=True)
    merged_member_id = models.PositiveIntegerField(_("被合并会员ID"))
    # The merged profile's fields, the field choices made ({field: "survivor" | "merged"}), and the
    # number of records of each kind moved.
    merged_profile = models.JSONField(_("被合并资料"), default=dict)
    choices = models.JSONField(_("字段选择"), default=dict)
    moved = models.JSONField(_("转移记录"), default=dict)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("操作人"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("会员合并")
        verbose_name_plural = pgettext_lazy("plural", "会员合并")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.merged_card_no} → {self.survivor_id}"


class RelationKind(models.TextChoices):
    SPOUSE = "spouse", _("配偶")
    PARENT = "parent", _("父母")
    CHILD = "child", _("子女")
    SIBLING = "sibling", _("兄弟姐妹")
    FRIEND = "friend", _("朋友")
    REFERRED_BY = "referred_by", _("推荐人")


class MemberRelation(models.Model):
    """A family link or a referral. `relative` is another member when they are one; otherwise the
    relative is recorded by name (and birthday, for the greeting) without becoming a member. The
    kind reads from `member`: (A, spouse, B) = B is A's spouse; (A, referred_by, B) = B referred A."""

    member = models.ForeignKey(Member, verbose_name=_("会员"), on_delete=models.CASCADE, related_name="relations")
    kind = models.CharField(_("关系"), max_length=12, choices=RelationKind.choices)
    relative = models.ForeignKey(
        Member,
        verbose_name=_("关联会员"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="relations_as_relative",
    )
    name = models.CharField(_("姓名"), max_length=50, blank=True)
    birthday = models.DateField(_("生日"), null=True, blank=True)
    birthday_lunar = models.BooleanField(_("农历生日"), default=False)
    note = models.CharField(_("备注"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("登记人"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("家庭关系")
        verbose_name_plural = pgettext_lazy("plural", "家庭关系")
        ordering = ["kind", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "relative", "kind"],
                condition=models.Q(relative__isnull=False),
                name="relation_once_per_pair_kind",
            ),
            models.CheckConstraint(
                condition=models.Q(relative__isnull=False) | ~models.Q(name=""), name="relation_names_someone"
            ),
            models.CheckConstraint(condition=~models.Q(relative=models.F("member")), name="relation_not_self"),
        ]
        indexes = [models.Index(fields=["relative"], name="relation_relative_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.kind} {self.relative_id or self.name}"


# --- Large exports (issue 14): built by a worker, downloaded from the job's page -----------------


class ExportJobStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("生成中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")


def export_file_path(job: "ExportJob", filename: str) -> str:
    # A random stored name: the file is reached only through the job's download view.
    import uuid

    return f"exports/{uuid.uuid4().hex}.csv"


class ExportJob(models.Model):
    """A member export too large to stream inside a request, written to a file by a worker
    (members/export_jobs.py). `filters` are the list's filters as asked for; the worker re-reads
    the requester's rights. Downloadable by the requester only, until `expires_at`."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("导出人"), on_delete=models.CASCADE, related_name="+"
    )
    store = models.ForeignKey(Store, verbose_name=_("门店"), on_delete=models.CASCADE, null=True, blank=True)
    filters = models.JSONField(_("筛选条件"), default=dict, blank=True)
    language = models.CharField(max_length=10, blank=True)
    status = models.CharField(
        _("状态"), max_length=10, choices=ExportJobStatus.choices, default=ExportJobStatus.QUEUED, db_index=True
    )
    file = models.FileField(_("文件"), upload_to=export_file_path, max_length=200, blank=True)
    rows_done = models.PositiveIntegerField(_("已写入行数"), default=0)
    rows_total = models.PositiveIntegerField(_("总行数"), null=True, blank=True)
    error = models.TextField(_("错误"), blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    expires_at = models.DateTimeField(_("过期时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("导出任务")
        verbose_name_plural = pgettext_lazy("plural", "导出任务")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_by_id} {self.created_at:%Y-%m-%d %H:%M} ({self.get_status_display()})"

    @property
    def is_working(self) -> bool:
        return self.status in (ExportJobStatus.QUEUED, ExportJobStatus.RUNNING)

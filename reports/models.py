from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Store


class SnapshotKind(models.TextChoices):
    WEEKLY = "weekly", _("周报")
    MID_MONTH = "mid_month", _("月中快照")
    MONTHLY = "monthly", _("月报")


class ReportSnapshot(models.Model):
    """周报 / 月报: the figures of a period for a store, frozen when taken. Taking the same snapshot
    again returns this one unchanged (a database constraint keeps it single)."""

    store = models.ForeignKey(Store, verbose_name=_("门店"), on_delete=models.CASCADE, related_name="snapshots")
    kind = models.CharField(_("类型"), max_length=10, choices=SnapshotKind.choices)
    period_start = models.DateField(_("开始"))
    period_end = models.DateField(_("结束"))
    # The KPI object (as report_kpis prints it) plus the kind's extras and, under "members", the ids
    # behind each figure, so the report links to the people as they were then.
    figures = models.JSONField(_("数据"), default=dict)
    taken_at = models.DateTimeField(_("生成时间"), auto_now_add=True)
    # 已重述: the period's ledger changed after the snapshot was taken (a late import, a back-dated
    # purchase, return or tier change): when that was found and the figures recomputed then, kept
    # beside the frozen ones (which never change). Set again if the ledger changes once more.
    restated_at = models.DateTimeField(_("重述时间"), null=True, blank=True)
    restated_figures = models.JSONField(_("重述数据"), default=dict, blank=True)
    # When the restatement check last compared the period's ledger (None: not since taken): only
    # ledger rows written after this (or taken_at) make it look again.
    ledger_checked_at = models.DateTimeField(_("核对时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("报表快照")
        verbose_name_plural = _("报表快照")
        ordering = ["-period_end", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "kind", "period_start", "period_end"], name="snapshot_once_per_period"
            ),
        ]
        indexes = [models.Index(fields=["store", "kind", "-period_end"], name="snapshot_store_kind_idx")]

    def __str__(self) -> str:
        return f"{self.store.code} {self.get_kind_display()} {self.period_start}–{self.period_end}"

    @property
    def restated_rows(self) -> list[dict]:
        """The restated figures that differ from the frozen ones, for the report page:
        [{"label", "frozen", "now"}] as text."""
        if self.restated_at is None:
            return []
        rows = []
        for key, label in RESTATED_LABELS:
            if key.startswith("tier_"):
                tier = key.removeprefix("tier_")
                frozen = (self.figures.get("tier_mix") or {}).get(tier, {}).get("count")
                now = (self.restated_figures.get("tier_mix") or {}).get(tier, {}).get("count")
            else:
                frozen, now = self.figures.get(key), self.restated_figures.get(key)
            if frozen != now:
                rows.append({"label": label, "frozen": _figure_text(frozen), "now": _figure_text(now)})
        return rows


RESTATED_LABELS = (
    ("active_at_start", _("期初活跃会员")),
    ("churn_rate", _("流失率")),
    ("repurchase_rate", _("复购率")),
    ("upgrade_rate", _("升级率")),
    ("win_backs", _("唤回")),
    ("downgrades", _("降级")),
    ("new_members", _("新开卡")),
    ("tier_A", _("A 级人数")),
    ("tier_B", _("B 级人数")),
    ("tier_C", _("C 级人数")),
    ("old_vip_sales", _("老VIP销售额")),
    ("new_vip_sales", _("新卡销售额")),
)


def _figure_text(value) -> str:
    """A frozen or restated figure as the restatement table prints it."""
    if value is None:
        return "—"
    if isinstance(value, dict) and "numerator" in value:
        rate = value.get("rate")
        share = "—" if rate is None else f"{100 * rate:.1f}%"
        return f"{share} ({value['numerator']}/{value['denominator']})"
    if isinstance(value, str):
        return f"¥{value}"
    return str(value)


# --- Targets and store sales (issue 6 item 4) ----------------------------------------------------


class SalesSource(models.TextChoices):
    MANUAL = "manual", _("手工录入")
    POS = "pos", _("收银系统")


class StoreDailySales(models.Model):
    """门店日销售总额: the store's total sales of a day, members or not, entered by the manager or
    pushed by the POS. The denominator of the VIP sales share (DOMAIN §6); one row per store and
    day, a correction overwrites it."""

    store = models.ForeignKey(Store, verbose_name=_("门店"), on_delete=models.CASCADE, related_name="daily_sales")
    date = models.DateField(_("日期"))
    total_sales = models.DecimalField(_("销售总额"), max_digits=14, decimal_places=2)
    source = models.CharField(_("来源"), max_length=10, choices=SalesSource.choices, default=SalesSource.MANUAL)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("录入人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("门店日销售")
        verbose_name_plural = _("门店日销售")
        ordering = ["store_id", "date"]
        constraints = [
            models.UniqueConstraint(fields=["store", "date"], name="daily_sales_once_per_store_date"),
            models.CheckConstraint(condition=models.Q(total_sales__gte=0), name="daily_sales_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.store.code} {self.date} {self.total_sales}"


class TargetMetric(models.TextChoices):
    OLD_VIP_SALES = "old_vip_sales", _("老VIP销售额")
    NEW_VIP_SALES = "new_vip_sales", _("新卡销售额")
    NEW_MEMBERS = "new_members", _("新开卡数")
    VIP_SALES_SHARE = "vip_sales_share", _("VIP销售占比")
    FOLLOW_UP_COMPLETION = "follow_up_completion", _("回访完成率")


# Amounts that add up: a year is the sum of its months, a month the sum of its people's shares.
# The others are rates (a fraction, 0.35 = 35%): every month and person aims at the year's rate
# unless given their own.
MONEY_METRICS = (TargetMetric.OLD_VIP_SALES, TargetMetric.NEW_VIP_SALES)
COUNT_METRICS = (TargetMetric.NEW_MEMBERS,)
ADDITIVE_METRICS = (*MONEY_METRICS, *COUNT_METRICS)
RATE_METRICS = (TargetMetric.VIP_SALES_SHARE, TargetMetric.FOLLOW_UP_COMPLETION)
# A store-wide measure (the store's till totals are not per person): not allocated to staff.
STORE_ONLY_METRICS = (TargetMetric.VIP_SALES_SHARE,)
TARGET_AMOUNT = {"max_digits": 14, "decimal_places": 4}


class AnnualTarget(models.Model):
    """年度目标: a store's plan for one metric and year, split into months by weight."""

    store = models.ForeignKey(Store, verbose_name=_("门店"), on_delete=models.CASCADE, related_name="targets")
    year = models.PositiveSmallIntegerField(_("年度"))
    metric = models.CharField(_("指标"), max_length=30, choices=TargetMetric.choices)
    amount = models.DecimalField(_("年度目标"), **TARGET_AMOUNT)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("设定人"), on_delete=models.SET_NULL, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("年度目标")
        verbose_name_plural = _("年度目标")
        ordering = ["store_id", "year", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["store", "year", "metric"], name="target_once_per_store_year_metric"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="target_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.store.code} {self.year} {self.get_metric_display()} {self.amount}"

    @property
    def is_rate(self) -> bool:
        return self.metric in RATE_METRICS


class MonthlyTarget(models.Model):
    """月度目标: the year's amount × this month's weight / the sum of the weights (rates: the year's
    rate). Quarters are the sums of their months, shown, not stored."""

    annual = models.ForeignKey(
        AnnualTarget, verbose_name=_("年度目标"), on_delete=models.CASCADE, related_name="months"
    )
    month = models.PositiveSmallIntegerField(_("月份"))
    weight = models.DecimalField(_("权重"), max_digits=6, decimal_places=2, default=1)
    amount = models.DecimalField(_("月度目标"), **TARGET_AMOUNT)

    class Meta:
        verbose_name = _("月度目标")
        verbose_name_plural = _("月度目标")
        ordering = ["annual_id", "month"]
        constraints = [
            models.UniqueConstraint(fields=["annual", "month"], name="target_month_once"),
            models.CheckConstraint(condition=models.Q(month__gte=1, month__lte=12), name="target_month_1_to_12"),
            models.CheckConstraint(condition=models.Q(weight__gte=0), name="target_weight_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.annual} {self.month:02d} {self.amount}"


class StaffTarget(models.Model):
    """个人目标: a month's target allocated to a person. For amounts that add up, a month's shares
    may not exceed the month's target."""

    monthly = models.ForeignKey(
        MonthlyTarget, verbose_name=_("月度目标"), on_delete=models.CASCADE, related_name="allocations"
    )
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("员工"), on_delete=models.CASCADE, related_name="targets"
    )
    amount = models.DecimalField(_("个人目标"), **TARGET_AMOUNT)

    class Meta:
        verbose_name = _("个人目标")
        verbose_name_plural = _("个人目标")
        ordering = ["monthly_id", "staff_id"]
        constraints = [
            models.UniqueConstraint(fields=["monthly", "staff"], name="target_once_per_staff_month"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="staff_target_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.monthly} {self.staff} {self.amount}"


# --- Commentary: reports sent up (issue 12 item 5) -----------------------------------------------


class ReportCommentary(models.Model):
    """点评与上报: what the VIP specialist (or the manager) makes of a report's figures — problems,
    improvements, next actions — submitted to the manager and HQ, who acknowledge it.

    Written until submitted, then kept as submitted: a later edit is refused (a further remark
    goes in the comment thread), so what the manager acknowledged is what was sent."""

    snapshot = models.OneToOneField(
        ReportSnapshot, verbose_name=_("报表"), on_delete=models.CASCADE, related_name="commentary"
    )
    problems = models.TextField(_("存在问题"), blank=True)
    improvements = models.TextField(_("改进措施"), blank=True)
    next_actions = models.TextField(_("下一步行动"), blank=True)
    written_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("填写人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    submitted_at = models.DateTimeField(_("提交时间"), null=True, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("提交人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(_("确认时间"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("确认人"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("报表点评")
        verbose_name_plural = _("报表点评")
        constraints = [
            # Acknowledged means submitted first.
            models.CheckConstraint(
                condition=models.Q(acknowledged_at__isnull=True) | models.Q(submitted_at__isnull=False),
                name="commentary_acknowledged_after_submitted",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.snapshot} {_('点评')}"

    @property
    def submitted(self) -> bool:
        return self.submitted_at is not None

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None


class ReportComment(models.Model):
    """A remark in a report's thread (the manager's or HQ's reply, the specialist's answer): kept
    as written, never edited; the author's name is copied so it still reads after they leave."""

    snapshot = models.ForeignKey(
        ReportSnapshot, verbose_name=_("报表"), on_delete=models.CASCADE, related_name="comments"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("作者"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    author_name = models.CharField(_("作者姓名"), max_length=150, blank=True)
    text = models.TextField(_("内容"))
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("报表留言")
        verbose_name_plural = _("报表留言")
        ordering = ["snapshot_id", "created_at", "pk"]
        indexes = [models.Index(fields=["snapshot", "created_at"], name="report_comment_snapshot_idx")]

    def __str__(self) -> str:
        return f"{self.snapshot_id} {self.author_name} {self.created_at:%Y-%m-%d %H:%M}"

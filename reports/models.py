from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Store


class DutyRunStatus(models.TextChoices):
    RUNNING = "running", _("运行中")
    DONE = "done", _("完成")
    FAILED = "failed", _("失败")


class DutyRun(models.Model):
    """One run of a scheduled duty (DOMAIN §10) for a store, a business date and (for hourly
    duties) an hour.

    At most one per duty, store, date and slot (a database constraint): a second call finds it and
    does nothing; a failed run is retried in place.
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

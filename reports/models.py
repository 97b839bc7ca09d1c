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

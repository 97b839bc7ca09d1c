"""Admin for reports: read-only.

The frozen report snapshots are written by the duties only (reports.services.snapshot_take; the
record of the duties' runs is duties.admin's): a snapshot is what the report said at the time, and
a restated one shows beside it what the ledger says now. Targets and the stores' daily sales
are written through reports.services (annual_target_set, month_weights_set, staff_allocation_set and
the daily sales service), which split a year into months by weight, keep people's shares within the
month's target and check who may set them; editing a row here would go around those rules."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts.admin import ReadOnlyAdmin

from .models import (
    AnnualTarget,
    MonthlyTarget,
    ReportComment,
    ReportCommentary,
    ReportSnapshot,
    StaffTarget,
    StoreDailySales,
)


@admin.register(ReportSnapshot)
class ReportSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("period_end", "kind", "store", "period_start", "taken_at", "restated_at")
    list_filter = ("kind", "store", ("restated_at", admin.EmptyFieldListFilter))
    list_select_related = ("store",)
    search_fields = ("store__code",)
    date_hierarchy = "period_end"


@admin.register(StoreDailySales)
class StoreDailySalesAdmin(ReadOnlyAdmin):
    list_display = ("date", "store", "total_sales", "source", "entered_by", "updated_at")
    list_filter = ("source", "store")
    list_select_related = ("store", "entered_by")
    date_hierarchy = "date"


class MonthlyTargetInline(admin.TabularInline):
    model = MonthlyTarget
    extra = 0
    fields = ("month", "weight", "amount")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AnnualTarget)
class AnnualTargetAdmin(ReadOnlyAdmin):
    list_display = ("year", "store", "metric", "amount", "set_by", "updated_at")
    list_filter = ("year", "metric", "store")
    list_select_related = ("store", "set_by")
    inlines = (MonthlyTargetInline,)


@admin.register(MonthlyTarget)
class MonthlyTargetAdmin(ReadOnlyAdmin):
    list_display = ("year", "month", "store", "metric", "weight", "amount")
    list_filter = ("annual__year", "annual__metric", "annual__store")
    list_select_related = ("annual__store",)

    @admin.display(description=_("年度"), ordering="annual__year")
    def year(self, obj: MonthlyTarget) -> int:
        return obj.annual.year

    @admin.display(description=_("门店"), ordering="annual__store__code")
    def store(self, obj: MonthlyTarget):
        return obj.annual.store

    @admin.display(description=_("指标"), ordering="annual__metric")
    def metric(self, obj: MonthlyTarget) -> str:
        return obj.annual.get_metric_display()


@admin.register(StaffTarget)
class StaffTargetAdmin(ReadOnlyAdmin):
    list_display = ("staff", "year", "month", "store", "metric", "amount")
    list_filter = ("monthly__annual__year", "monthly__annual__metric", "monthly__annual__store")
    list_select_related = ("monthly__annual__store", "staff")
    search_fields = ("staff__username", "staff__display_name")

    @admin.display(description=_("年度"), ordering="monthly__annual__year")
    def year(self, obj: StaffTarget) -> int:
        return obj.monthly.annual.year

    @admin.display(description=_("月份"), ordering="monthly__month")
    def month(self, obj: StaffTarget) -> int:
        return obj.monthly.month

    @admin.display(description=_("门店"), ordering="monthly__annual__store__code")
    def store(self, obj: StaffTarget):
        return obj.monthly.annual.store

    @admin.display(description=_("指标"), ordering="monthly__annual__metric")
    def metric(self, obj: StaffTarget) -> str:
        return obj.monthly.annual.get_metric_display()


# The VIP specialist's commentary and the thread on a report (reports.commentary): written on the
# report page, where submission locks it and notifies the manager and HQ.


@admin.register(ReportCommentary)
class ReportCommentaryAdmin(ReadOnlyAdmin):
    list_display = ("snapshot", "written_by", "submitted_at", "acknowledged_at")
    list_filter = (("submitted_at", admin.EmptyFieldListFilter), ("acknowledged_at", admin.EmptyFieldListFilter))
    list_select_related = ("snapshot__store", "written_by")


@admin.register(ReportComment)
class ReportCommentAdmin(ReadOnlyAdmin):
    list_display = ("snapshot", "author_name", "created_at")
    list_select_related = ("snapshot__store",)

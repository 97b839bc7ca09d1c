"""Admin for the daily work. Visits, tasks, invitations and gift plans are written by the services
(which create the follow-up tasks, keep generation idempotent, move the funnels one allowed step
at a time and log who did what), so here they are read-only; the gift standards are HQ's table."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.admin import ReadOnlyAdmin

from .models import FollowUpTask, GiftPlan, GiftPolicy, Invitation, MessageTemplate, TaskReason, TaskStatus, Visit
from .services import task_cancel


@admin.register(Visit)
class VisitAdmin(ReadOnlyAdmin):
    """A contact that happened: evidence for the KPIs (completion, satisfaction), never rewritten."""

    list_display = ("at", "member", "store", "staff", "channel", "purpose", "outcome", "satisfaction")
    list_filter = ("channel", "satisfaction", "store")
    list_select_related = ("member", "store", "staff")
    search_fields = ("member__card_no", "member__name", "outcome", "staff__username")
    date_hierarchy = "at"


@admin.register(FollowUpTask)
class FollowUpTaskAdmin(ReadOnlyAdmin):
    """Generated (once per member, kind and origin) and completed, snoozed, reassigned or cancelled
    through the services, which record the visit or the audit entry. The one write offered here,
    cancelling, goes through the same service."""

    list_display = ("due_date", "kind", "member", "store", "assignee", "status", "done_on", "origin")
    list_filter = ("status", "kind", "store")
    list_select_related = ("member", "store", "assignee")
    search_fields = ("member__card_no", "member__name", "origin", "assignee__username")
    date_hierarchy = "due_date"
    actions = ("cancel_tasks",)

    @admin.action(description=_("取消所选待办任务"))
    def cancel_tasks(self, request, queryset):
        tasks = list(queryset.filter(status=TaskStatus.OPEN))
        for task in tasks:
            task_cancel(task=task, by=request.user, reason=str(_("管理后台取消")))
        self.message_user(request, _("已取消 %(n)d 项待办任务。") % {"n": len(tasks)})


@admin.register(TaskReason)
class TaskReasonAdmin(ReadOnlyAdmin):
    """Why a card is on the list, one row per member, kind and origin ever generated (the
    constraint that keeps generation idempotent); written only by visits.cards."""

    list_display = ("due_date", "kind", "member", "task", "origin", "note")
    list_filter = ("kind",)
    list_select_related = ("member", "task", "task__member")
    search_fields = ("member__card_no", "member__name", "origin")
    date_hierarchy = "due_date"


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    """The funnel moves one allowed step at a time (invitation_advance); a campaign's audience
    points at its invitations."""

    list_display = ("for_date", "member", "store", "invited_by", "purpose", "status", "status_changed_at")
    list_filter = ("status", "store")
    list_select_related = ("member", "store", "invited_by")
    search_fields = ("member__card_no", "member__name", "purpose")
    date_hierarchy = "for_date"


class GiftPolicyForm(forms.ModelForm):
    class Meta:
        model = GiftPolicy
        fields = ("occasion", "tier", "gift", "budget")

    def clean_budget(self):
        budget = self.cleaned_data["budget"]
        if budget is not None and budget < 0:
            raise ValidationError(_("预算不能为负数。"))
        return budget


@admin.register(GiftPolicy)
class GiftPolicyAdmin(admin.ModelAdmin):
    """HQ's gift standard by tier and occasion. Gift plans copy the gift and budget when they are
    made, so a change applies to the plans made from then on."""

    form = GiftPolicyForm
    list_display = ("occasion", "tier", "gift", "budget")
    list_display_links = ("occasion", "tier")
    list_editable = ("gift", "budget")
    list_filter = ("occasion", "tier")
    search_fields = ("gift",)


@admin.register(GiftPlan)
class GiftPlanAdmin(ReadOnlyAdmin):
    """Planned by the month-end duty (idempotent: one per member, occasion and date) and marked
    prepared or delivered through gift_plan_mark, which records who did it."""

    list_display = ("occasion_date", "occasion", "member", "store", "tier", "gift", "budget", "status", "status_by")
    list_filter = ("status", "occasion", "tier", "store")
    list_select_related = ("member", "store", "status_by")
    search_fields = ("member__card_no", "member__name", "gift", "label")
    date_hierarchy = "occasion_date"


@admin.register(MessageTemplate)
class MessageTemplateAdmin(ReadOnlyAdmin):
    """Edited on the app's template pages (visits:message_templates), where the variables are
    checked and every change is audited; read-only here."""

    list_display = ("kind", "name", "store", "replaces", "updated_by", "updated_at")
    list_filter = ("kind", "store")
    list_select_related = ("store", "replaces", "updated_by")
    search_fields = ("name", "body")

"""Admin for the outbox and the duties' runs: read-only. Outbox rows are written by
duties.services.email_queue and moved on by the senders only; the list shows what went out, what
waits and why it failed. Runs are written by duties.runs.duty_run only: a run is the proof a
store's list was made or its report taken."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts.admin import ReadOnlyAdmin

from .models import DutyRun, OutboxEmail, Webhook, WebhookDelivery


@admin.register(OutboxEmail)
class OutboxEmailAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "recipients", "subject", "status", "attempts", "sent_at", "next_attempt_at")
    list_filter = ("status", "kind")
    search_fields = ("key", "subject", "last_error")
    date_hierarchy = "created_at"

    @admin.display(description=_("收件人"))
    def recipients(self, obj: OutboxEmail) -> str:
        return ", ".join(obj.to)


@admin.register(DutyRun)
class DutyRunAdmin(ReadOnlyAdmin):
    list_display = ("date", "slot", "duty", "store", "status", "attempts", "started_at", "finished_at", "duration")
    list_filter = ("status", "duty", "store")
    list_select_related = ("store",)
    search_fields = ("duty", "store__code", "error")
    date_hierarchy = "date"

    @admin.display(description=_("耗时（秒）"))
    def duration(self, obj: DutyRun) -> str:
        return "—" if obj.seconds is None else f"{obj.seconds:.1f}"


@admin.register(Webhook)
class WebhookAdmin(ReadOnlyAdmin):
    """A store's webhooks, for support. Created, disabled and resent by the store's manager in the
    app (duties.webhooks); the signing secret stays off these pages."""

    list_display = ("store", "url", "events", "is_active", "created_by", "created_at")
    list_filter = ("is_active", "store")
    list_select_related = ("store", "created_by")
    fields = ("store", "url", "events", "is_active", "created_by", "created_at")

    def get_readonly_fields(self, request, obj=None):
        return self.fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "webhook", "event", "status", "attempts", "last_status_code", "delivered_at")
    list_filter = ("status", "event")
    list_select_related = ("webhook__store",)
    search_fields = ("uid", "last_error")
    date_hierarchy = "created_at"

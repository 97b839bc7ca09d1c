"""Admin for the outbox: read-only. Rows are written by duties.services.email_queue and moved on
by the senders only; the list shows what went out, what waits and why it failed."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts.admin import ReadOnlyAdmin

from .models import OutboxEmail


@admin.register(OutboxEmail)
class OutboxEmailAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "recipients", "subject", "status", "attempts", "sent_at", "next_attempt_at")
    list_filter = ("status", "kind")
    search_fields = ("key", "subject", "last_error")
    date_hierarchy = "created_at"

    @admin.display(description=_("收件人"))
    def recipients(self, obj: OutboxEmail) -> str:
        return ", ".join(obj.to)

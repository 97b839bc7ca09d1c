"""Admin for complaints: read-only. A complaint is registered by complaint_register and moves only
through complaint_transition, which checks who may take each step, gates compensation behind a
manager's approval, sets the SLA milestones, keeps the member's open-complaint count and logs the
step as a ComplaintEvent. Editing a field here would go around all of that, and the timeline is
evidence for the customer and the SLA figures."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts.admin import ReadOnlyAdmin
from members.validators import mask_phone

from .models import Complaint, ComplaintEvent


class ComplaintEventInline(admin.TabularInline):
    model = ComplaintEvent
    extra = 0
    fields = ("at", "from_status", "to_status", "by", "note")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("by")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Complaint)
class ComplaintAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "received_at",
        "store",
        "customer",
        "category",
        "severity",
        "status",
        "responsible_staff",
        "closed_at",
    )
    list_display_links = ("id", "received_at")
    list_filter = ("status", "severity", "category", "channel", "store")
    list_select_related = ("store", "member", "responsible_staff")
    search_fields = ("=id", "member__card_no", "member__name", "walk_in_name", "description")
    date_hierarchy = "received_at"
    inlines = (ComplaintEventInline,)

    def get_readonly_fields(self, request, obj=None):
        # Every field, but a walk-in customer's phone only masked: the staff pages do not show it.
        names = [f.name for f in Complaint._meta.fields if f.name != "walk_in_phone"]
        names.insert(names.index("walk_in_name") + 1, "masked_walk_in_phone")
        return names

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)

    @admin.display(description=_("顾客"), ordering="walk_in_name")
    def customer(self, obj: Complaint) -> str:
        return obj.customer_name

    @admin.display(description=_("顾客电话"))
    def masked_walk_in_phone(self, obj: Complaint) -> str:
        return mask_phone(obj.walk_in_phone) if obj.walk_in_phone else "—"


@admin.register(ComplaintEvent)
class ComplaintEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "complaint", "store", "from_status", "to_status", "by", "note")
    list_filter = ("to_status", "complaint__store")
    list_select_related = ("complaint__store", "complaint__member", "by")
    search_fields = ("=complaint__id", "note")
    date_hierarchy = "at"

    @admin.display(description=_("门店"), ordering="complaint__store__code")
    def store(self, obj: ComplaintEvent):
        return obj.complaint.store

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from .models import ApiKey, AuditEntry, ConfidentialityAgreement, Notification, Role, Staff, Store
from .services import agreement_record


class ReadOnlyAdmin(admin.ModelAdmin):
    """Browse and search only: for records that are evidence or that only a service may write
    (it keeps the rules and the side effects in one place). Every app's admin uses it."""

    # Counting every row on each page is slow on the big tables and tells nothing useful.
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "region", "is_active", "staff_count")
    list_filter = ("is_active", "region")
    search_fields = ("code", "name", "address")
    ordering = ("code",)

    def get_queryset(self, request):
        # One query for the counts, not one per row.
        return super().get_queryset(request).annotate(staff_total=Count("staff", distinct=True))

    @admin.display(description=_("员工数"), ordering="staff_total")
    def staff_count(self, obj: Store) -> int:
        return obj.staff_total


class StoreRequiredUnlessHQ:
    """The database refuses a non-HQ staff member without a store; say so on the field instead."""

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("role", Role.CONSULTANT) != Role.HQ and not cleaned.get("store"):
            self.add_error("store", _("除总部外，员工必须属于一个门店。"))
        return cleaned


class StaffCreationForm(StoreRequiredUnlessHQ, UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = Staff
        fields = ("username", "role", "store", "display_name")


class StaffChangeForm(StoreRequiredUnlessHQ, UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = Staff
        fields = "__all__"


class AgreementInline(admin.TabularInline):
    """Agreements are append-only (DOMAIN §11): the ones on file are shown read-only and cannot be
    deleted; a new version is added as a new row (not back-dated: see the model)."""

    model = ConfidentialityAgreement
    fk_name = "staff"
    extra = 0
    fields = ("version", "signed_on", "recorded_by", "created_at")
    readonly_fields = ("recorded_by", "created_at")
    can_delete = False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Staff)
class StaffAdmin(UserAdmin):
    form = StaffChangeForm
    add_form = StaffCreationForm
    list_display = ("username", "display_name", "role", "store", "is_active", "is_staff", "last_login")
    list_filter = ("role", "store", "is_active", "is_staff", "is_superuser")
    list_select_related = ("store",)
    search_fields = ("username", "display_name", "first_name", "last_name", "email")
    ordering = ("store__code", "role", "username")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("门店与角色"), {"fields": ("role", "store", "display_name")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (
            _("Permissions"),
            {
                "fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions"),
                "classes": ("collapse",),
            },
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {"classes": ("wide",), "fields": ("username", "role", "store", "display_name", "password1", "password2")},
        ),
    )
    inlines = (AgreementInline,)

    def save_formset(self, request, form, formset, change):
        if formset.model is not ConfidentialityAgreement:
            return super().save_formset(request, form, formset, change)
        # New agreements only (the inline cannot change or delete one), through the service, which
        # records whoever enters it and writes the audit entry.
        for agreement in formset.save(commit=False):
            agreement_record(
                staff=form.instance, signed_on=agreement.signed_on, version=agreement.version, by=request.user
            )


@admin.register(ConfidentialityAgreement)
class ConfidentialityAgreementAdmin(admin.ModelAdmin):
    list_display = ("staff", "store", "version", "signed_on", "recorded_by")
    list_filter = ("version", "staff__store")
    list_select_related = ("staff__store", "recorded_by")
    search_fields = ("staff__username", "staff__display_name")
    raw_id_fields = ("staff", "recorded_by")
    date_hierarchy = "signed_on"

    @admin.display(description=_("门店"), ordering="staff__store__code")
    def store(self, obj: ConfidentialityAgreement):
        return obj.staff.store

    # Append-only (DOMAIN §11): read and add, never change or delete; a new version supersedes.
    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fields(self, request, obj=None):
        return ("staff", "version", "signed_on") if obj is None else ("staff", "version", "signed_on", "recorded_by")

    def save_model(self, request, obj, form, change):
        saved = agreement_record(staff=obj.staff, signed_on=obj.signed_on, version=obj.version, by=request.user)
        obj.pk, obj.recorded_by, obj._state.adding = saved.pk, saved.recorded_by, False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The audit log is evidence: it can be read and searched, never written or erased here."""

    # The actor's name as written at the time: it survives the deletion of their account.
    list_display = ("at", "actor_name", "actor_username", "store", "action", "object_type", "object_id")
    list_filter = ("store", "object_type")
    list_select_related = ("store",)
    search_fields = ("action", "object_id", "actor_username", "actor_name")
    date_hierarchy = "at"


class ReadFilter(admin.SimpleListFilter):
    title = _("已读")
    parameter_name = "read"

    def lookups(self, request, model_admin):
        return (("no", _("未读")), ("yes", _("已读")))

    def queryset(self, request, queryset):
        if self.value() in ("no", "yes"):
            return queryset.filter(read_at__isnull=self.value() == "no")
        return queryset


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """Written by the duties (complaint escalations…) and read by their recipient, who alone marks
    them read: here they show who was told what and when, e.g. whether a manager saw an escalation."""

    list_display = ("created_at", "recipient", "store", "text", "read_at")
    list_filter = (ReadFilter, "recipient__store")
    list_select_related = ("recipient__store",)
    search_fields = ("text", "recipient__username", "recipient__display_name")
    date_hierarchy = "created_at"

    @admin.display(description=_("门店"), ordering="recipient__store__code")
    def store(self, obj: Notification):
        return obj.recipient.store


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    """POS keys, for support: which store, who made it, when it was last used or revoked. Keys are
    created and revoked by the store's manager in the app (accounts.api_keys); the hash stays out."""

    list_display = ("prefix", "name", "store", "created_by", "created_at", "last_used_at", "revoked_at")
    list_filter = ("store", ("revoked_at", admin.EmptyFieldListFilter))
    list_select_related = ("store", "created_by")
    search_fields = ("prefix", "name")
    fields = ("prefix", "name", "store", "created_by", "created_at", "last_used_at", "revoked_at", "revoked_by")

    def get_readonly_fields(self, request, obj=None):
        return self.fields

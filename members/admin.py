"""Admin for support and HQ. It reads everything, but it does not go around the tier engine: the
ledger (purchases) and tier history are written by the services only, so here they are read-only."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.admin import ReadOnlyAdmin
from accounts.services import audit_log

from .models import (
    DuplicateDismissal,
    ExportJob,
    ImportantDate,
    ImportJob,
    Member,
    MemberMerge,
    MemberOwnerChange,
    MemberRelation,
    MemberTag,
    ProgramRules,
    Purchase,
    TierChange,
    TierHold,
    TierReview,
    TransferRequest,
)
from .selectors import can_see_full_contact, member_search
from .services import (
    PROGRAM_RULE_FIELDS,
    phone_owner_error,
    program_rules_errors,
    program_rules_update,
    tiers_replay,
)
from .validators import mask_phone, mask_text, normalize_phone, validate_past_date

TIER_RULES = ("tier_a_min", "tier_b_min", "spend_window_days")


class ProgramRulesForm(forms.ModelForm):
    class Meta:
        model = ProgramRules
        fields = PROGRAM_RULE_FIELDS

    def clean(self):
        # The rules' checks are the service's (members.services.program_rules_errors), as for the API.
        cleaned = super().clean()
        current = {name: getattr(self.instance, name) for name in PROGRAM_RULE_FIELDS}
        for name, problems in program_rules_errors({**current, **cleaned}).items():
            if name not in self.errors:  # a field already refused keeps its own message
                self.add_error(name, problems)
        return cleaned


@admin.register(ProgramRules)
class ProgramRulesAdmin(admin.ModelAdmin):
    """One row: the list goes straight to it; it can be neither added twice nor deleted."""

    form = ProgramRulesForm
    readonly_fields = ("updated_at",)
    fieldsets = (
        (_("等级"), {"fields": ("tier_a_min", "tier_b_min", "spend_window_days", "upgrade_candidate_ratio")}),
        (
            _("回访与关怀"),
            {
                "fields": (
                    "churn_days",
                    "win_back_days",
                    "care_days_a",
                    "care_days_b",
                    "care_days_c",
                    "post_purchase_days",
                    "lead_days",
                    "daily_care_capacity",
                    "attempts_before_escalation",
                )
            },
        ),
        (_("投诉"), {"fields": ("complaint_response_hours", "complaint_solution_hours")}),
        (None, {"fields": ("updated_at",)}),
    )

    def has_add_permission(self, request):
        return not ProgramRules.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        rules = ProgramRules.load()
        return redirect(reverse("admin:members_programrules_change", args=[rules.pk]))

    def save_model(self, request, obj, form, change):
        # Saved (and audited) by the service, as the API saves them; the form has checked the values.
        program_rules_update(by=request.user, **{name: form.cleaned_data[name] for name in form.changed_data})
        obj.refresh_from_db()
        if set(form.changed_data) & set(TIER_RULES):
            messages.warning(
                request, _("等级门槛或统计窗口已修改：运行 manage.py rebuild_tiers 按新规则重算所有会员的等级。")
            )


class MemberAdminForm(forms.ModelForm):
    """The same input rules as the staff pages (DOMAIN §12), and the same privacy (DOMAIN §11): the
    stored phone is never sent to the browser. The field shows it masked and takes a new number;
    left empty, the number stays as it is."""

    phone = forms.CharField(label=_("手机"), required=False, max_length=30)

    class Meta:
        model = Member
        fields = (
            "card_no",
            "name",
            "gender",
            "phone",
            "birthday",
            "birthday_lunar",
            "home_store",
            "consultant",
            "opened_by",
            "joined_on",
            "address",
            "email",
            "wechat",
            "marketing_consent",
            "marketing_consent_at",
            "top_size",
            "bottom_size",
            "shoe_size",
            "style_preferences",
            "notes",
            "tags",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["phone"] = ""
        field = self.fields["phone"]
        if self.instance.pk:
            masked = mask_phone(self.instance.phone)
            field.widget.attrs.update(placeholder=masked, autocomplete="off")
            field.help_text = _("当前 %(masked)s；留空则不修改。") % {"masked": masked}
        else:
            field.required = True

    def clean_phone(self):
        raw = self.cleaned_data["phone"].strip()
        if not raw and self.instance.pk:
            return self.instance.phone  # unchanged
        phone = normalize_phone(raw)
        taken = phone_owner_error(phone, exclude_pk=self.instance.pk)
        if taken:
            raise ValidationError(taken)
        return phone

    def clean(self):
        cleaned = super().clean()
        for name in ("birthday", "joined_on", "marketing_consent_at"):
            try:
                validate_past_date(cleaned.get(name), label=str(Member._meta.get_field(name).verbose_name))
            except ValidationError as e:
                self.add_error(name, e)
        consultant, store = cleaned.get("consultant"), cleaned.get("home_store")
        if consultant is not None and store is not None and consultant.store_id != store.pk:
            self.add_error("consultant", _("顾问必须属于会员的所属门店。"))
        return cleaned


class ImportantDateInline(admin.TabularInline):
    model = ImportantDate
    extra = 0
    fields = ("kind", "date", "lunar", "label")


@admin.register(Member)
class MemberAdmin(admin.ModelAdmin):
    form = MemberAdminForm
    list_display = ("card_no", "name", "masked_phone", "tier", "tier_locked", "home_store", "consultant", "joined_on")
    list_filter = ("tier", "tier_locked", "home_store", "gender", "birthday_lunar", "marketing_consent", "tags")
    list_select_related = ("home_store", "consultant")
    # Shows the search box; what a search matches is `member_search`'s one rule (get_search_results).
    search_fields = ("card_no", "name")
    raw_id_fields = ("consultant", "opened_by")
    filter_horizontal = ("tags",)
    date_hierarchy = "joined_on"
    show_full_result_count = False
    # Tier and lock belong to the tier engine and the manager's lock (a recorded manual change);
    # the open complaints count to the complaint workflow.
    readonly_fields = ("tier", "tier_locked", "open_complaints", "erased_at", "created_at", "updated_at")
    inlines = (ImportantDateInline,)
    actions = ("replay_tiers",)
    fieldsets = (
        (None, {"fields": ("card_no", "name", "gender", "phone", "birthday", "birthday_lunar")}),
        (
            _("门店"),
            {
                "fields": (
                    "home_store",
                    "consultant",
                    "opened_by",
                    "joined_on",
                    "tier",
                    "tier_locked",
                    "open_complaints",
                )
            },
        ),
        (_("联系与营销"), {"fields": ("address", "email", "wechat", "marketing_consent", "marketing_consent_at")}),
        (_("偏好"), {"fields": ("top_size", "bottom_size", "shoe_size", "style_preferences", "notes", "tags")}),
        (None, {"fields": ("erased_at", "created_at", "updated_at")}),
    )

    @admin.display(description=_("手机"), ordering="phone")
    def masked_phone(self, obj: Member) -> str:
        return mask_phone(obj.phone)

    @admin.display(description=_("地址"))
    def masked_address(self, obj: Member) -> str:
        return mask_text(obj.address, 6)

    @admin.display(description=_("邮箱"))
    def masked_email(self, obj: Member) -> str:
        return mask_text(obj.email, 2)

    @admin.display(description=_("微信"))
    def masked_wechat(self, obj: Member) -> str:
        return mask_text(obj.wechat, 2)

    def get_fieldsets(self, request, obj=None):
        """Without the right to see a member's contact details in full (the agreement gate of the
        staff pages, for superusers too), the admin shows them masked and read-only."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or can_see_full_contact(request.user, obj):
            return fieldsets
        masked = {"address": "masked_address", "email": "masked_email", "wechat": "masked_wechat"}
        return [
            (title, {**options, "fields": tuple(masked.get(name, name) for name in options["fields"])})
            for title, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "masked_address", "masked_email", "masked_wechat")

    def get_search_results(self, request, queryset, search_term):
        """The staff pages' rule (DOMAIN §11): last four digits or the exact full number (audited),
        never a prefix; names and card numbers as there."""
        if not search_term.strip():
            return queryset, False
        return member_search(viewer=request.user, qs=queryset, text=search_term, via="admin"), False

    def has_delete_permission(self, request, obj=None):
        # Erasure anonymises and keeps the purchase totals (DOMAIN §11); deleting would lose them.
        return False

    def save_model(self, request, obj, form, change):
        if obj.marketing_consent and not obj.marketing_consent_at:
            obj.marketing_consent_at = timezone.localdate()
        if not obj.marketing_consent:
            obj.marketing_consent_at = None
        if not change and obj.opened_by_id is None:
            obj.opened_by = request.user
        super().save_model(request, obj, form, change)
        audit_log(
            actor=request.user,
            action="member.edited" if change else "member.created",
            obj=obj,
            store=obj.home_store,
            fields=sorted(form.changed_data),
            via="admin",
        )
        if change and "joined_on" in form.changed_data:
            tiers_replay(member_ids=[obj.pk])

    @admin.action(description=_("按消费记录重算所选会员的等级"))
    def replay_tiers(self, request, queryset):
        stats = tiers_replay(member_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request, _("已重算 %(n)d 位会员，其中 %(c)d 位有变化。") % {"n": stats.members, "c": stats.changed_members}
        )


@admin.register(MemberTag)
class MemberTagAdmin(admin.ModelAdmin):
    """HQ's vocabulary of tags; staff put them on members."""

    list_display = ("name", "member_count")
    search_fields = ("name",)

    def get_queryset(self, request):
        # One query for the counts, not one per row.
        return super().get_queryset(request).annotate(member_total=Count("members", distinct=True))

    @admin.display(description=_("会员数"), ordering="member_total")
    def member_count(self, obj: MemberTag) -> int:
        return obj.member_total


@admin.register(ImportantDate)
class ImportantDateAdmin(admin.ModelAdmin):
    list_display = ("member", "kind", "date", "lunar", "label")
    list_filter = ("kind", "lunar")
    list_select_related = ("member",)
    search_fields = ("member__card_no", "member__name", "label")
    raw_id_fields = ("member",)


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin):
    """The ledger: purchases come from the staff pages, imports and the POS through purchase_record,
    which keeps tiers right. A mistake is corrected by a return, so only the items text is editable."""

    list_display = ("receipt_no", "store", "member", "date", "amount", "original", "consultant", "source")
    list_filter = ("source", "store")
    list_select_related = ("store", "member", "consultant", "original")
    search_fields = ("receipt_no", "member__card_no", "member__name")
    raw_id_fields = ("member", "consultant", "original", "recorded_by")
    date_hierarchy = "date"
    show_full_result_count = False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "items"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyAdmin):
    list_display = ("member", "date", "from_tier", "to_tier", "reason", "by", "note")
    list_filter = ("reason", "to_tier", "member__home_store")
    list_select_related = ("member", "by")
    search_fields = ("member__card_no", "member__name")
    date_hierarchy = "date"


@admin.register(TierReview)
class TierReviewAdmin(ReadOnlyAdmin):
    list_display = ("store", "date", "downgrades", "ran_at")
    list_filter = ("store",)
    list_select_related = ("store",)
    date_hierarchy = "date"


@admin.register(TierHold)
class TierHoldAdmin(ReadOnlyAdmin):
    """Written by the month-end review; every later replay reads it to skip the held review, so
    changing one here would rewrite tier history."""

    list_display = ("member", "store", "date", "reason")
    list_filter = ("member__home_store",)
    list_select_related = ("member__home_store",)
    search_fields = ("member__card_no", "member__name")
    date_hierarchy = "date"

    @admin.display(description=_("门店"), ordering="member__home_store__code")
    def store(self, obj: TierHold):
        return obj.member.home_store


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    """Uploads and how they ended, for support: who, what, when, how far, why it failed. The
    preview itself (rows, names, phone numbers) stays on the uploader's own page."""

    list_display = ("created_at", "kind", "filename", "store", "created_by", "status", "rows_total", "finished_at")
    list_filter = ("status", "kind", "store")
    list_select_related = ("store", "created_by")
    date_hierarchy = "created_at"
    fields = (
        "kind",
        "filename",
        "size",
        "store",
        "created_by",
        "status",
        "rows_done",
        "rows_total",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    )

    def get_readonly_fields(self, request, obj=None):
        return self.fields


# --- Ownership (DOMAIN §13): written by members.ownership, transfers, merging and relations ------
# Read-only here: each row is the evidence of a service's decision (who moved whom, who agreed,
# what a merge joined), and the services keep tasks, figures and audit entries in step with them.


@admin.register(MemberOwnerChange)
class MemberOwnerChangeAdmin(ReadOnlyAdmin):
    list_display = ("member", "date", "store", "consultant", "previous_store", "previous_consultant", "reason", "by")
    list_filter = ("reason", "store")
    list_select_related = ("member", "store", "consultant", "previous_store", "previous_consultant", "by")
    search_fields = ("member__card_no",)
    date_hierarchy = "date"


@admin.register(TransferRequest)
class TransferRequestAdmin(ReadOnlyAdmin):
    list_display = ("member", "from_store", "to_store", "status", "requested_by", "requested_at", "decided_by")
    list_filter = ("status", "from_store", "to_store")
    list_select_related = ("member", "from_store", "to_store", "requested_by", "decided_by")
    search_fields = ("member__card_no",)


@admin.register(DuplicateDismissal)
class DuplicateDismissalAdmin(ReadOnlyAdmin):
    list_display = ("first", "second", "by", "at")
    list_select_related = ("first", "second", "by")


@admin.register(MemberMerge)
class MemberMergeAdmin(ReadOnlyAdmin):
    """What a merge joined. The merged profile's fields (a name, a phone) stay on the survivor's
    page for those who may see them; here only the card, the counts and who did it."""

    list_display = ("survivor", "merged_card_no", "by", "at")
    list_select_related = ("survivor", "by")
    search_fields = ("merged_card_no", "survivor__card_no")
    fields = ("survivor", "merged_card_no", "merged_member_id", "choices", "moved", "by", "at")

    def get_readonly_fields(self, request, obj=None):
        return self.fields


@admin.register(MemberRelation)
class MemberRelationAdmin(ReadOnlyAdmin):
    """Family links; a non-member relative's name is personal data, kept off the list."""

    list_display = ("member", "kind", "relative", "created_by", "created_at")
    list_filter = ("kind",)
    list_select_related = ("member", "relative", "created_by")
    search_fields = ("member__card_no",)
    fields = ("member", "kind", "relative", "birthday", "birthday_lunar", "created_by", "created_at")

    def get_readonly_fields(self, request, obj=None):
        return self.fields


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdmin):
    """Large member exports and how they ended, for support: who, when, how far, why it failed. The
    file itself is downloaded by its requester only (members/export_jobs.py), not from here."""

    list_display = ("created_at", "created_by", "store", "status", "rows_done", "rows_total", "expires_at")
    list_filter = ("status", "store")
    list_select_related = ("store", "created_by")
    date_hierarchy = "created_at"
    fields = (
        "created_by",
        "store",
        "filters",
        "status",
        "rows_done",
        "rows_total",
        "error",
        "created_at",
        "started_at",
        "finished_at",
        "expires_at",
    )

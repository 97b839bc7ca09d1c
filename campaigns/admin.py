"""Admin for campaigns. The plan of a campaign not yet archived can be edited here, through
campaign_save like the campaign pages; the segment, the launch, the summary and archiving belong to
those pages and their services. An archived campaign is read-only, and a launched one's audience is
frozen: its members are browsed here, never changed."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.admin import ReadOnlyAdmin

from .models import Campaign, CampaignMember, CampaignStatus
from .segments import Segment
from .services import PLAN_FIELDS, campaign_save


class CampaignAdminForm(forms.ModelForm):
    """The checks campaign_save makes, so that they show on the form rather than as an error page."""

    user = None  # who is editing: set by CampaignAdmin.get_form

    class Meta:
        model = Campaign
        fields = (*PLAN_FIELDS, "stores")

    def clean(self):
        cleaned = super().clean()
        for name in ("budget", "goal_sales"):
            if cleaned.get(name) is not None and cleaned[name] < 0:
                self.add_error(name, _("不能为负数。"))
        # Only a draft's stores are on the form; a launched campaign keeps its own.
        if "stores" in self.fields:
            stores = cleaned.get("stores")
            if stores is not None and not stores:
                self.add_error("stores", _("请至少选择一家门店。"))
        else:
            stores = self.instance.stores.all()
        if stores and self.user is not None and not self.user.is_hq and any(s.pk != self.user.store_id for s in stores):
            self.add_error("stores" if "stores" in self.fields else None, _("只能为本店策划活动。"))
        if self.instance.pk and Campaign.objects.filter(pk=self.instance.pk, status=CampaignStatus.ARCHIVED).exists():
            raise ValidationError(_("活动已归档，不能再修改。"))
        return cleaned


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = ("name", "type", "status", "start_date", "end_date", "store_codes", "audience_size", "created_by")
    list_filter = ("status", "type", "stores")
    list_select_related = ("created_by",)
    search_fields = ("name",)
    filter_horizontal = ("stores",)
    date_hierarchy = "start_date"
    fieldsets = (
        (None, {"fields": ("name", "type", "status", "stores", "start_date", "end_date", "attribution_days")}),
        (_("预算与目标"), {"fields": ("budget", "goal_invitees", "goal_attendance", "goal_sales")}),
        (_("人群与名单"), {"fields": ("segment", "launched_at", "audience_link")}),
        (
            _("活动总结"),
            {"fields": ("findings", "problems", "solutions", "summary_figures", "archived_at", "archived_by")},
        ),
        (None, {"fields": ("created_by", "created_at", "updated_at")}),
    )
    # Set by the launch, the summary page and archiving, never by editing the plan.
    service_owned = (
        "status",
        "segment",
        "launched_at",
        "audience_link",
        "findings",
        "problems",
        "solutions",
        "summary_figures",
        "archived_at",
        "archived_by",
        "created_by",
        "created_at",
        "updated_at",
    )

    def get_queryset(self, request):
        # The stores of every row in one query, the audience sizes in the same one as the rows.
        return super().get_queryset(request).prefetch_related("stores").annotate(audience_total=Count("audience"))

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)  # a new class each time
        form.user = request.user
        return form

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            return (*self.service_owned, "stores")  # launched: the stores are frozen with the audience
        return self.service_owned

    def has_add_permission(self, request):
        # A campaign is planned on the campaign pages, where the segment is chosen and previewed.
        return False

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not (obj is not None and obj.is_archived)

    def has_delete_permission(self, request, obj=None):
        # Only a draft: a launched campaign has invited its audience and counts in the figures.
        return super().has_delete_permission(request, obj) and (obj is None or obj.status == CampaignStatus.DRAFT)

    def get_deleted_objects(self, objs, request):
        # The bulk action asks has_delete_permission without an object: refuse the launched here.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        protected = [*protected, *(c for c in objs if c.status != CampaignStatus.DRAFT)]
        return deleted, counts, perms_needed, protected

    def save_model(self, request, obj, form, change):
        # Through the service, like the campaign pages: it locks the row and re-checks the rules.
        stores = form.cleaned_data.get("stores")
        campaign_save(
            by=request.user,
            campaign=obj,
            stores=list(stores) if stores is not None else list(obj.stores.all()),
            segment=Segment.from_json(obj.segment),
            **{name: form.cleaned_data[name] for name in PLAN_FIELDS if name in form.cleaned_data},
        )

    @admin.display(description=_("门店"))
    def store_codes(self, obj: Campaign) -> str:
        return ", ".join(store.code for store in obj.stores.all())

    @admin.display(description=_("名单人数"), ordering="audience_total")
    def audience_size(self, obj: Campaign) -> int:
        return obj.audience_total

    @admin.display(description=_("活动名单"))
    def audience_link(self, obj: Campaign) -> str:
        # A link, not an inline: an audience runs to thousands, which one page cannot show.
        url = reverse("admin:campaigns_campaignmember_changelist") + f"?campaign__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("%(n)d 位会员") % {"n": obj.audience_total})


@admin.register(CampaignMember)
class CampaignMemberAdmin(ReadOnlyAdmin):
    """The audience frozen at launch, with the invitation made for each member."""

    list_display = ("campaign", "member", "store", "tier", "consultant", "invitation_status", "added_at")
    list_filter = ("campaign", "tier", "store")
    list_select_related = ("campaign", "member", "store", "consultant", "invitation")
    search_fields = ("member__card_no", "member__name", "campaign__name")

    @admin.display(description=_("邀约状态"), ordering="invitation__status")
    def invitation_status(self, obj: CampaignMember) -> str:
        return obj.invitation.get_status_display() if obj.invitation_id else "—"

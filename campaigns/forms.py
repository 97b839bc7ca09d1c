"""Forms for the campaign pages. They validate and hand clean data to a service; they never save.

The rules (dates in order, stores the planner may use, a sensible segment) live in
`campaign_save` and `Segment.validate`; a form only parses, and shows the service's errors.
"""

from __future__ import annotations

from datetime import date

from django import forms
from django.forms.models import fields_for_model
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Staff, Store
from members.forms import BIRTHDAY_MONTHS, ServiceErrorsMixin, StaffChoiceField, date_widget, staff_choices
from members.models import MemberTag, Tier
from visits.forms import add_months, month_widget

from .models import Campaign, CampaignStatus
from .segments import Segment
from .services import PLAN_FIELDS

SEGMENT_FIELDS = [
    "tiers",
    "last_purchase_from",
    "last_purchase_to",
    "spend_min",
    "spend_max",
    "birthday_month",
    "consultant",
    "tags",
]
MONTH_CHOICES = [("", _("不限")), *BIRTHDAY_MONTHS]


class SegmentForm(ServiceErrorsMixin, forms.Form):
    """Who a campaign is for: the stores (HQ picks; store staff plan for their own store) and the
    segment's conditions. Marketing consent is not a field: it is always required."""

    stores = forms.ModelMultipleChoiceField(
        label=_("门店"),
        queryset=Store.objects.none(),
        required=False,  # campaign_save says "请至少选择一家门店"
        widget=forms.CheckboxSelectMultiple,
    )
    tiers = forms.MultipleChoiceField(
        label=_("会员等级"),
        choices=Tier.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("不选即全部等级。"),
    )
    last_purchase_from = forms.DateField(label=_("最近消费从"), required=False, widget=date_widget())
    last_purchase_to = forms.DateField(label=_("最近消费到"), required=False, widget=date_widget())
    spend_min = forms.DecimalField(
        label=_("近 12 个月消费不低于"), required=False, min_value=0, max_digits=12, decimal_places=2
    )
    spend_max = forms.DecimalField(
        label=_("近 12 个月消费不高于"), required=False, min_value=0, max_digits=12, decimal_places=2
    )
    birthday_month = forms.TypedChoiceField(
        label=_("生日月份"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=MONTH_CHOICES,
        help_text=_("农历生日按当年农历换算。"),
    )
    consultant = StaffChoiceField(label=_("专属顾问"), required=False, queryset=Staff.objects.none())
    tags = forms.ModelMultipleChoiceField(
        label=_("标签"), queryset=MemberTag.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )

    def __init__(self, *args, viewer: Staff, **kwargs):
        super().__init__(*args, **kwargs)
        self.viewer = viewer
        if viewer.is_hq:
            self.fields["stores"].queryset = Store.objects.filter(is_active=True).order_by("code")
        else:
            # Store staff plan for their own store only: no choice to offer (the page names it).
            del self.fields["stores"]
        self.fields["consultant"].queryset = staff_choices(viewer=viewer)
        self.fields["consultant"].show_store = viewer.is_hq
        self.fields["consultant"].empty_label = _("不限")
        self.fields["tags"].queryset = MemberTag.objects.order_by("name")

    @staticmethod
    def initial_for(segment: Segment) -> dict:
        return {
            "tiers": segment.tiers,
            "last_purchase_from": segment.last_purchase_from,
            "last_purchase_to": segment.last_purchase_to,
            "spend_min": segment.spend_min,
            "spend_max": segment.spend_max,
            "birthday_month": segment.birthday_month,
            "consultant": segment.consultant_id,
            "tags": segment.tag_ids,
        }

    def segment(self) -> Segment:
        data = self.cleaned_data
        return Segment(
            tiers=list(data.get("tiers") or []),
            last_purchase_from=data.get("last_purchase_from"),
            last_purchase_to=data.get("last_purchase_to"),
            spend_min=data.get("spend_min"),
            spend_max=data.get("spend_max"),
            birthday_month=data.get("birthday_month"),
            consultant_id=data["consultant"].pk if data.get("consultant") else None,
            tag_ids=sorted(t.pk for t in data.get("tags") or []),
        )

    def chosen_stores(self) -> list[Store]:
        if "stores" in self.fields:
            return list(self.cleaned_data.get("stores") or [])
        return [self.viewer.store]


class CampaignForm(SegmentForm):
    """The plan (name, type, dates, budget, goals), then who it is for. Once the campaign is
    launched its audience is frozen: stores and segment are shown read-only; once archived, all is."""

    def __init__(self, *args, viewer: Staff, campaign: Campaign | None = None, **kwargs):
        if campaign is not None:
            initial = {name: getattr(campaign, name) for name in PLAN_FIELDS}
            initial |= self.initial_for(Segment.from_json(campaign.segment))
            initial["stores"] = [s.pk for s in campaign.stores.all()]
            kwargs["initial"] = initial | kwargs.get("initial", {})
        super().__init__(*args, viewer=viewer, **kwargs)
        plan = fields_for_model(
            Campaign,
            fields=PLAN_FIELDS,
            widgets={"start_date": date_widget(), "end_date": date_widget()},
            help_texts={"attribution_days": _("活动结束后这些天内的消费仍计入活动业绩。")},
        )
        # The plan first, then who it is for (the declared fields).
        self.fields = {**plan, **self.fields}
        self.frozen = campaign is not None and campaign.status != CampaignStatus.DRAFT
        if self.frozen:
            for name in ["stores", *SEGMENT_FIELDS]:
                if name in self.fields:
                    self.fields[name].disabled = True
        if campaign is not None and campaign.is_archived:
            for field in self.fields.values():
                field.disabled = True

    def plan(self) -> dict:
        return {name: self.cleaned_data[name] for name in PLAN_FIELDS}


class ListFilterForm(forms.Form):
    # The keys of selectors.STATUS_FILTERS.
    status = forms.ChoiceField(
        label=_("状态"),
        required=False,
        choices=[
            ("", _("全部状态")),
            ("draft", _("草稿")),
            ("launched", _("已发布（未结束）")),
            ("ended", _("已结束")),
            ("archived", _("已归档")),
        ],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["status"].widget.attrs["class"] = "form-select form-select-sm"

    def chosen_status(self) -> str:
        return self.cleaned_data.get("status", "") if self.is_valid() else ""


class MonthForm(forms.Form):
    """?month=YYYY-MM; this month when missing or not a month."""

    month = forms.DateField(label=_("月份"), required=False, widget=month_widget(), input_formats=["%Y-%m"])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["month"].widget.attrs["class"] = "form-control form-control-sm"

    def first_day(self) -> date:
        month = self.cleaned_data.get("month") if self.is_valid() else None
        return (month or timezone.localdate()).replace(day=1)

    @staticmethod
    def neighbours(first: date) -> tuple[date, date]:
        return add_months(first, -1), add_months(first, 1)


class SummaryForm(ServiceErrorsMixin, forms.Form):
    findings = forms.CharField(
        label=_("活动总结"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,  # campaign_archive asks for it; a draft summary may be saved without
        help_text=_("效果如何、哪些做法有效。归档前必须填写。"),
    )
    problems = forms.CharField(label=_("存在问题"), widget=forms.Textarea(attrs={"rows": 3}), required=False)
    solutions = forms.CharField(label=_("改进措施"), widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, *args, campaign: Campaign, **kwargs):
        kwargs.setdefault(
            "initial",
            {"findings": campaign.findings, "problems": campaign.problems, "solutions": campaign.solutions},
        )
        super().__init__(*args, **kwargs)

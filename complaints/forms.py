from datetime import date

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Staff, Store

from .models import Category, ComplaintChannel, Severity, Status


class RegisterForm(forms.Form):
    """登记 in under a minute: the member by card or phone (or a walk-in's name), what kind,
    what happened. Who the customer is, is the service's to find and check
    (`complaint_register(member_ref=…)`), for this page and the API alike."""

    member_ref = forms.CharField(
        label=_("会员卡号或手机号"), required=False, help_text=_("会员请填卡号或手机号；非会员留空并填写姓名。")
    )
    walk_in_name = forms.CharField(label=_("顾客姓名（非会员）"), required=False, max_length=50)
    walk_in_phone = forms.CharField(label=_("顾客电话（非会员）"), required=False, max_length=30)
    channel = forms.ChoiceField(
        label=_("渠道"), choices=ComplaintChannel.choices, initial=ComplaintChannel.IN_STORE, widget=forms.RadioSelect
    )
    category = forms.ChoiceField(label=_("类别"), choices=Category.choices, widget=forms.RadioSelect)
    severity = forms.ChoiceField(
        label=_("严重程度"), choices=Severity.choices, initial=Severity.LOW, widget=forms.RadioSelect
    )
    description = forms.CharField(label=_("投诉内容"), widget=forms.Textarea(attrs={"rows": 3}))
    store = forms.ModelChoiceField(label=_("门店"), queryset=Store.objects.none(), required=False)

    def __init__(self, *args, viewer: Staff, **kwargs):
        super().__init__(*args, **kwargs)
        self.viewer = viewer
        if viewer.is_hq:
            self.fields["store"].queryset = Store.objects.filter(is_active=True)
            self.fields["store"].required = True
        else:
            del self.fields["store"]

    def store_for(self) -> Store:
        return self.cleaned_data.get("store") or self.viewer.store


class TransitionForm(forms.Form):
    """One step of the workflow; which fields apply depends on the target state."""

    to = forms.ChoiceField(choices=Status.choices, widget=forms.HiddenInput)
    note = forms.CharField(label=_("说明"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    rejection_reason = forms.CharField(
        label=_("不予受理原因"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    customer_told = forms.CharField(label=_("告知顾客的内容"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    responsible_staff = forms.ModelChoiceField(label=_("责任人"), queryset=Staff.objects.none(), required=False)
    responsible_department = forms.CharField(label=_("责任部门"), required=False, max_length=50)
    solution = forms.CharField(label=_("解决方案"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    compensation_amount = forms.DecimalField(label=_("赔偿金额"), required=False, min_value=0, decimal_places=2)
    compensation_gift = forms.CharField(label=_("赔偿礼品"), required=False, max_length=100)
    confirmation_note = forms.CharField(label=_("顾客确认"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    # The fields each target state asks for (the service decides which are required).
    FIELDS_FOR = {
        Status.REJECTED: ["rejection_reason", "customer_told"],
        Status.INVESTIGATING: ["responsible_staff", "responsible_department"],
        Status.SOLUTION_PROPOSED: ["solution", "compensation_amount", "compensation_gift"],
        Status.CUSTOMER_CONFIRMED: ["confirmation_note"],
    }

    def __init__(self, *args, complaint, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["responsible_staff"].queryset = Staff.objects.filter(store_id=complaint.store_id, is_active=True)

    def service_fields(self) -> dict:
        """Only the fields this step takes, and only those given (an empty field changes nothing)."""
        to = self.cleaned_data["to"]
        return {
            name: self.cleaned_data[name]
            for name in self.FIELDS_FOR.get(to, [])
            if self.cleaned_data.get(name) not in (None, "")
        }


class PeriodForm(forms.Form):
    start = forms.DateField(label=_("从"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("到"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    by = forms.ChoiceField(
        label=_("分组"), choices=[("category", _("按类别")), ("staff", _("按责任人"))], required=False
    )
    store = forms.ModelChoiceField(
        label=_("门店"), queryset=Store.objects.filter(is_active=True), required=False, empty_label=_("全部门店")
    )

    def __init__(self, *args, viewer: Staff, **kwargs):
        super().__init__(*args, **kwargs)
        if not viewer.is_hq:
            del self.fields["store"]

    def period(self) -> tuple[date, date]:
        today = timezone.localdate()
        data = self.cleaned_data if self.is_valid() else {}
        start = data.get("start") or today.replace(day=1)
        end = data.get("end") or today
        return (start, end) if start <= end else (end, start)

"""Forms of the cross-store service (members.cross_store_views). They parse what is typed and hand
it to the existing services (`purchase_record`, `visit_record`, `complaint_register`), which hold
the rules: amount, dates and duplicates are checked there, not here."""

from __future__ import annotations

from crispy_forms.bootstrap import InlineRadios
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Staff
from complaints.forms import RegisterForm

from .forms import ServiceErrorsMixin, StaffChoiceField, date_widget, staff_choices


class LookupForm(forms.Form):
    text = forms.CharField(
        label=_("卡号或完整手机号"),
        max_length=40,
        help_text=_("只能按完整卡号或完整手机号查找他店会员；姓名、尾号或号码前几位查不到。"),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True, "inputmode": "text"}),
    )


class CrossStoreReceiptForm(ServiceErrorsMixin, forms.Form):
    """A receipt rung at this store's till. Returns are not taken here: they point at the original
    receipt, which is the member's history, and that stays with the home store."""

    receipt_no = forms.CharField(label=_("小票号"), max_length=40)
    date = forms.DateField(label=_("日期"), widget=date_widget())
    amount = forms.DecimalField(
        label=_("金额（元）"),
        max_digits=12,
        decimal_places=2,
        min_value=0,
        help_text=_("只登记消费；退货请由会员所属门店办理。"),
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.01"}),
    )
    consultant = StaffChoiceField(label=_("导购"), required=False, queryset=Staff.objects.none())
    items = forms.CharField(label=_("商品"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, viewer: Staff, **kwargs):
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("date", timezone.localdate())
        if viewer.is_consultant:
            initial.setdefault("consultant", viewer.pk)
        super().__init__(*args, prefix="receipt", **kwargs)
        # The seller is one of this store's staff: the receipt counts for this store (DOMAIN §6).
        self.fields["consultant"].queryset = staff_choices(viewer=viewer)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Row(Column("receipt_no", css_class="col-sm-6"), Column("date", css_class="col-sm-6")),
            "amount",
            "consultant",
            "items",
        )

    def record_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "receipt_no": data["receipt_no"],
            "date": data["date"],
            "amount": data["amount"],
            "consultant": data["consultant"],
            "items": data["items"],
        }


class CrossStoreComplaintForm(ServiceErrorsMixin, forms.Form):
    """A complaint received at this store's counter: the registration form's own fields, without
    the member search (the member is already found)."""

    channel = RegisterForm.base_fields["channel"]
    category = RegisterForm.base_fields["category"]
    severity = RegisterForm.base_fields["severity"]
    description = RegisterForm.base_fields["description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="complaint", **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            InlineRadios("channel"), InlineRadios("category"), InlineRadios("severity"), "description"
        )

    def register_kwargs(self) -> dict:
        data = self.cleaned_data
        return {k: data[k] for k in ("channel", "category", "severity", "description")}

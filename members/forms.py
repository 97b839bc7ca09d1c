"""Forms for the member pages. They validate and hand clean data to a service; they never save.

Choices (consultants, stores, receipts) are always scoped to what the viewer may see.
"""

from __future__ import annotations

from decimal import Decimal

from crispy_forms.bootstrap import InlineRadios
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.forms.boundfield import BoundField
from django.forms.models import model_to_dict
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, Staff, Store

from .models import Gender, ImportantDate, Member, Purchase, Tier
from .selectors import (
    MemberFilters,
    can_see_full_contact,
    member_returnable_purchases,
    phone_search_audit,
    store_staff,
)
from .services import phone_owner_error
from .validators import mask_phone, normalize_phone, validate_past_date

DATE_INPUT = {"type": "date"}


def date_widget() -> forms.DateInput:
    # The ISO format is what <input type="date"> expects, whatever the active language.
    return forms.DateInput(attrs=DATE_INPUT, format="%Y-%m-%d")


class ServiceErrorsMixin:
    """Put a service's ValidationError (a dict of field → messages) on the form."""

    def add_service_errors(self, error: ValidationError) -> None:
        if not hasattr(error, "error_dict"):
            self.add_error(None, error.messages)
            return
        for field, messages in error.message_dict.items():
            target = field if field in self.fields and field != NON_FIELD_ERRORS else None
            # add_error drops the field from cleaned_data; the form is re-rendered, never reused.
            self.add_error(target, messages)


class StaffChoiceField(forms.ModelChoiceField):
    """A staff member as colleagues know them: name and role (and store, for HQ's lists)."""

    def __init__(self, *args, show_store: bool = False, **kwargs):
        self.show_store = show_store
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj: Staff) -> str:
        label = f"{obj} · {obj.get_role_display()}"
        if self.show_store and obj.store_id:
            label = f"{obj.store.code} · {label}"
        return label


def staff_choices(*, viewer: Staff, store_id: int | None = None):
    return store_staff(viewer=viewer, store_id=store_id).select_related("store").order_by("store__code", "username")


# --- The member list's filters ---------------------------------------------------------------


# Lazy and one literal each: formatting a lazy "%(month)d 月" at import time would freeze it in the
# language of the moment, and English reads month names (May), not numbers.
BIRTHDAY_MONTHS = [
    (1, _("1 月")),
    (2, _("2 月")),
    (3, _("3 月")),
    (4, _("4 月")),
    (5, _("5 月")),
    (6, _("6 月")),
    (7, _("7 月")),
    (8, _("8 月")),
    (9, _("9 月")),
    (10, _("10 月")),
    (11, _("11 月")),
    (12, _("12 月")),
]


def _staff_label(name: str, role: str, store_code: str | None, *, show_store: bool) -> str:
    """`StaffChoiceField.label_from_instance`, from values rather than a model instance."""
    label = f"{name} · {role}"
    return f"{store_code} · {label}" if show_store and store_code else label


def filter_consultant_choices(viewer: Staff) -> list[tuple[int, str]]:
    """The member list's consultant filter: `staff_choices` with `StaffChoiceField`'s labels, read
    as values (issue 14: HQ's list offers every store's staff, a few hundred, on every page; a model
    instance and a widget option each were a quarter of the list's time)."""
    roles = {value: str(label) for value, label in Role.choices}
    rows = staff_choices(viewer=viewer).values_list(
        "pk", "store__code", "display_name", "first_name", "last_name", "username", "role"
    )
    return [
        (
            pk,
            _staff_label(
                display or f"{first} {last}".strip() or username, roles.get(role, role), code, show_store=viewer.is_hq
            ),
        )
        for pk, code, display, first, last, username, role in rows
    ]


class MemberFilterForm(forms.Form):
    """The member list's filter bar: what it offers and shows as chosen (the list itself is filtered
    by `members.filters.MemberPageFilterSet`). Its choices are plain values, not model instances, and
    `selects()` hands them to the template without widgets: what a page leaves behind for the cyclic
    garbage collector is a few lists of strings and numbers (issue 14, vipcrm/warmup.py)."""

    q = forms.CharField(
        label=_("搜索"),
        required=False,
        max_length=50,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": _("姓名、卡号、手机或尾号")}),
    )
    tier = forms.ChoiceField(label=_("等级"), required=False, choices=[("", _("全部等级")), *Tier.choices])
    consultant = forms.TypedChoiceField(label=_("专属顾问"), required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(
        label=_("状态"),
        required=False,
        choices=[("", _("全部状态")), ("active", _("活跃")), ("lapsed", _("已流失"))],
    )
    birthday_month = forms.TypedChoiceField(
        label=_("生日月份"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("全部月份")), *BIRTHDAY_MONTHS],
    )
    scope = forms.ChoiceField(label=_("范围"), required=False)
    sort = forms.ChoiceField(
        label=_("排序"),
        required=False,
        choices=[
            ("", _("按入会日期")),
            ("last_contact", _("最久未联系")),
            ("spend", _("12个月消费")),
            ("tier", _("等级")),
        ],
    )

    def __init__(self, *args, viewer: Staff, **kwargs):
        super().__init__(*args, **kwargs)
        self.viewer = viewer
        # A consultant opens on their own members; the store's leads on the whole store, and they
        # (who hand members out) also on those without a consultant.
        scopes = [("mine", _("我的会员")), ("store", _("全店会员") if not viewer.is_hq else _("全部会员"))]
        if viewer.is_hq:
            scopes = scopes[1:]
        if viewer.is_store_lead:
            scopes.append(("unassigned", _("未分配顾问")))
        self.fields["scope"].choices = scopes
        self.fields["scope"].initial = self.default_scope = "mine" if viewer.is_consultant else "store"
        self.order_fields(["q", "scope"])
        self.fields["consultant"].choices = [("", _("全部顾问")), *filter_consultant_choices(viewer)]
        if viewer.is_hq:
            stores = Store.objects.order_by("code").values_list("pk", "code", "name")
            self.fields["store"] = forms.TypedChoiceField(
                label=_("门店"),
                required=False,
                coerce=int,
                empty_value=None,
                choices=[("", _("全部门店")), *((pk, f"{code} {name}") for pk, code, name in stores)],  # Store.__str__
            )
        for name, field in self.fields.items():
            if name != "q":
                field.widget.attrs["class"] = "form-select form-select-sm"

    def selects(self) -> list[tuple[BoundField, list[tuple[str, str, bool]]]]:
        """Every filter but the search box, with its options as (value, label, selected): the
        value shown as chosen is marked as a `Select` widget marks it (the first option whose value
        matches), without the widget's per-option dictionaries and templates."""
        found = []
        for name in self.fields:
            if name == "q":
                continue
            field = self[name]
            chosen = set(field.field.widget.format_value(field.value()))
            options = []
            for value, label in field.field.choices:
                value = str(value)
                selected = value in chosen
                if selected:
                    chosen = set()
                options.append((value, label, selected))
            found.append((field, options))
        return found

    def value(self, name: str):
        """The cleaned value of one filter; an invalid value (a hand-edited URL) is ignored."""
        if not self.is_bound:
            return None
        self.is_valid()
        return self.cleaned_data.get(name)

    def filters(self) -> MemberFilters:
        return MemberFilters(
            query=self.value("q") or "",
            tier=self.value("tier") or "",
            consultant_id=self.value("consultant"),
            status=self.value("status") or "",
            birthday_month=self.value("birthday_month"),
            scope=self.chosen_scope(),
        )

    def chosen_scope(self) -> str:
        """The scope asked for, else the viewer's default ("store" is every member in scope)."""
        return self.value("scope") or self.default_scope

    @property
    def is_filtered(self) -> bool:
        if not self.is_bound:
            return False
        chosen = (name for name in self.fields if name not in ("scope", "sort"))
        return self.chosen_scope() != self.default_scope or any(self.value(name) for name in chosen)


# --- Create and edit -------------------------------------------------------------------------

PROFILE_FIELDS = (
    "name",
    "card_no",
    "phone",
    "gender",
    "birthday",
    "birthday_lunar",
    "joined_on",
    "address",
    "wechat",
    "email",
    "marketing_consent",
    "top_size",
    "bottom_size",
    "shoe_size",
    "style_preferences",
    "notes",
)
# Only shown to whoever may see them in full (DOMAIN §11): editing them means reading them.
CONTACT_FIELDS = ("phone", "address", "wechat", "email")


class MemberForm(ServiceErrorsMixin, forms.ModelForm):
    """The profile, for `member_enroll` (create) and `member_update` (edit).

    It is bound to a throwaway instance, never to the member being edited: the service compares
    the member's values before and after, so the form must not write into it.
    """

    class Meta:
        model = Member
        fields = PROFILE_FIELDS
        widgets = {
            "birthday": date_widget(),
            "joined_on": date_widget(),
            "phone": forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
            "notes": forms.Textarea(attrs={"rows": 3}),
            "address": forms.TextInput(),
        }
        help_texts = {
            "birthday": _("身份证上的出生日期；会员过农历生日的，请勾选“农历生日”。"),
            "phone": _("大陆手机号 11 位；境外号码请以 + 和国家代码开头。"),
            "marketing_consent": _("会员同意接收活动邀请和营销信息。服务回访不需要此项。"),
        }

    def __init__(self, *args, viewer: Staff, member: Member | None = None, **kwargs):
        if member is not None:
            kwargs["initial"] = {**model_to_dict(member, fields=PROFILE_FIELDS), **kwargs.get("initial", {})}
        else:
            kwargs.setdefault("initial", {}).setdefault("joined_on", timezone.localdate())
        super().__init__(*args, **kwargs)
        self.viewer = viewer
        self.member = member
        self.contact_hidden = False
        self.fields["gender"].choices = [("", _("未填")), *Gender.choices]
        if member is not None:
            if not can_see_full_contact(viewer, member):
                self.contact_hidden = True
                for name in CONTACT_FIELDS:
                    del self.fields[name]
            else:
                self._phone_write_only(member)
        else:
            self._add_create_fields()
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = self._layout()

    def _phone_write_only(self, member: Member) -> None:
        """The edit form never holds the stored number (opening it would be a view of it, written to
        the audit log by a GET): it shows the number masked and takes a new one, if typed."""
        field = self.fields["phone"]
        field.required = False
        field.widget.attrs["placeholder"] = mask_phone(member.phone)
        field.help_text = _("当前 %(masked)s；留空则不修改，需要完整号码请在会员页点“显示”。") % {
            "masked": mask_phone(member.phone)
        }
        self.initial["phone"] = ""

    def _add_create_fields(self) -> None:
        viewer = self.viewer
        if viewer.is_hq:
            # HQ belongs to no store: the member's store is chosen, every time.
            self.fields["store"] = forms.ModelChoiceField(
                label=_("所属门店"), queryset=Store.objects.filter(is_active=True).order_by("code")
            )
        self.fields["consultant"] = StaffChoiceField(
            label=_("专属顾问"),
            required=False,
            queryset=staff_choices(viewer=viewer),
            show_store=viewer.is_hq,
            empty_label=_("（暂不指定）"),
            initial=viewer.pk if viewer.is_consultant else None,
            help_text=_("顾问开卡时默认为本人。"),
        )
        if viewer.is_manager or viewer.is_hq:
            self.fields["tier"] = forms.ChoiceField(
                label=_("初始等级"),
                required=False,
                choices=Tier.choices,
                initial=Tier.C,
                help_text=_("新会员默认 C 级；设为 A 或 B 级会记为一次手动调整。"),
            )

    def _layout(self) -> Layout:
        def present(*names):
            return [name for name in names if name in self.fields]

        def pair(*names):
            return Row(*[Column(name, css_class="col-sm-6") for name in present(*names)])

        parts = [*present("store"), pair("name", "card_no"), pair("phone", "gender")]
        # 农历生日 sits under the birthday it qualifies, also when the columns stack on a phone.
        parts += [
            Row(Column("birthday", "birthday_lunar", css_class="col-sm-6"), Column("joined_on", css_class="col-sm-6"))
        ]
        parts += [*present("address"), pair("wechat", "email"), "marketing_consent"]
        parts += [Row(*[Column(n, css_class="col-4") for n in ("top_size", "bottom_size", "shoe_size")])]
        parts += ["style_preferences", "notes", *present("consultant", "tier")]
        return Layout(*parts)

    # Shown (by members/_duplicate_warning.html) only when the profile looks like another one.
    confirm_duplicate = forms.BooleanField(label=_("已核对，不是同一人，仍然保存"), required=False)

    def clean(self):
        cleaned = super().clean()
        self.duplicates = []
        if not self.errors:  # an exact phone or card already taken is an error of its own
            from .duplicates import form_twins

            self.duplicates = form_twins(
                viewer=self.viewer, member=self.member, cleaned=cleaned, changed=self.changed_data
            )
            if self.duplicates and not cleaned.get("confirm_duplicate"):
                raise ValidationError(
                    _("这位会员可能已经建档（见下方提示）。请先核对；确认不是同一人后勾选“仍然保存”再提交。"),
                    code="possible_duplicate",
                )
        return cleaned

    def validate_unique(self) -> None:
        # Phone and card number are checked by clean_phone and the service, with messages that
        # name the member who has them; the model's generic message would say less.
        pass

    def clean_phone(self) -> str:
        if self.member is not None and not self.cleaned_data["phone"].strip():
            return self.member.phone  # left empty on the edit form: unchanged
        phone = normalize_phone(self.cleaned_data["phone"])
        exclude_pk = self.member.pk if self.member else None
        taken = phone_owner_error(phone, exclude_pk=exclude_pk, viewer=self.viewer)
        if taken:
            # Naming who has a typed number is an exact-number lookup: audited like the search.
            owners = Member.objects.filter(phone=phone).exclude(pk=exclude_pk).values_list("pk", flat=True)
            phone_search_audit(self.viewer, phone, owners, "member_form")
            raise ValidationError(taken, code="duplicate")
        return phone

    def clean_birthday(self):
        value = self.cleaned_data["birthday"]
        validate_past_date(value, label=_("生日"))
        return value

    def clean_joined_on(self):
        value = self.cleaned_data["joined_on"]
        validate_past_date(value, label=_("入会日期"))
        return value

    def profile(self) -> dict:
        """The profile fields as the services take them."""
        return {name: self.cleaned_data[name] for name in PROFILE_FIELDS if name in self.fields}

    def store(self) -> Store:
        return self.cleaned_data["store"] if self.viewer.is_hq else self.viewer.store

    def enroll_kwargs(self) -> dict:
        """Everything `member_enroll` needs besides `by`."""
        return {
            "store": self.store(),
            "tier": self.cleaned_data.get("tier") or Tier.C,
            "consultant": self.cleaned_data.get("consultant"),
            **self.profile(),
        }


# --- Purchases -------------------------------------------------------------------------------


class ReceiptChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Purchase) -> str:
        return f"{obj.receipt_no} · {obj.date:%Y-%m-%d} · ¥{number_format(obj.amount, 2, force_grouping=True)}"


class PurchaseForm(ServiceErrorsMixin, forms.Form):
    """A purchase or a return. Staff type a positive amount and say which it is; a return is
    recorded as a negative amount, as on the ledger."""

    PURCHASE, RETURN = "purchase", "return"

    kind = forms.ChoiceField(
        label=_("类型"),
        choices=[(PURCHASE, _("消费")), (RETURN, _("退货"))],
        initial=PURCHASE,
        widget=forms.RadioSelect,
    )
    receipt_no = forms.CharField(label=_("小票号"), max_length=40)
    date = forms.DateField(label=_("日期"), widget=date_widget())
    amount = forms.DecimalField(
        label=_("金额（元）"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0.01"),
        help_text=_("填正数；退货也填正数，系统按退货记为负数。"),
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.01"}),
    )
    original = ReceiptChoiceField(
        label=_("原小票"),
        required=False,
        queryset=Purchase.objects.none(),
        empty_label=_("（不指定）"),
        help_text=_("退货时选择所退商品的原小票。"),
    )
    consultant = StaffChoiceField(label=_("导购"), required=False, queryset=Staff.objects.none())
    items = forms.CharField(label=_("商品"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, viewer: Staff, member: Member, **kwargs):
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("date", timezone.localdate())
        initial.setdefault("consultant", member.consultant_id)
        super().__init__(*args, **kwargs)
        self.member = member
        self.fields["consultant"].queryset = staff_choices(viewer=viewer, store_id=member.home_store_id)
        self.fields["original"].queryset = member_returnable_purchases(member=member)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            InlineRadios("kind"),
            Row(Column("receipt_no", css_class="col-sm-6"), Column("date", css_class="col-sm-6")),
            "amount",
            "original",
            "consultant",
            "items",
        )

    def clean_date(self):
        value = self.cleaned_data["date"]
        validate_past_date(value, label=_("消费日期"))
        return value

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == self.PURCHASE and cleaned.get("original"):
            self.add_error("original", _("只有退货才需要选择原小票。"))
        return cleaned

    def record_kwargs(self) -> dict:
        """Everything `purchase_record` needs besides member, store and `by`."""
        data = self.cleaned_data
        amount = -data["amount"] if data["kind"] == self.RETURN else data["amount"]
        return {
            "receipt_no": data["receipt_no"],
            "date": data["date"],
            "amount": amount,
            "consultant": data["consultant"],
            "items": data["items"],
            "original": data["original"],
        }


# --- Consultant, tier, important dates -------------------------------------------------------


class AssignConsultantForm(ServiceErrorsMixin, forms.Form):
    consultant = StaffChoiceField(
        label=_("专属顾问"), required=False, queryset=Staff.objects.none(), empty_label=_("（不指定）")
    )

    def __init__(self, *args, viewer: Staff, member: Member, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("consultant", member.consultant_id)
        super().__init__(*args, **kwargs)
        self.fields["consultant"].queryset = staff_choices(viewer=viewer, store_id=member.home_store_id)
        self.helper = FormHelper()
        self.helper.form_tag = False


class TierForm(ServiceErrorsMixin, forms.Form):
    tier = forms.ChoiceField(label=_("等级"), choices=Tier.choices, widget=forms.RadioSelect)
    lock = forms.BooleanField(
        label=_("锁定等级"),
        required=False,
        help_text=_("锁定后系统不再按消费自动升降级；不锁定时系统会立即按消费记录重新计算。"),
    )
    note = forms.CharField(label=_("备注"), required=False, max_length=200)

    def __init__(self, *args, member: Member, **kwargs):
        initial = kwargs.setdefault("initial", {})
        initial.setdefault("tier", member.tier)
        initial.setdefault("lock", member.tier_locked)
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(InlineRadios("tier"), "lock", "note")


class ImportantDateForm(ServiceErrorsMixin, forms.ModelForm):
    class Meta:
        model = ImportantDate
        fields = ("kind", "date", "lunar", "label")
        widgets = {"date": date_widget()}
        help_texts = {"date": _("原始日期（如结婚当天、家人的出生日期）。"), "lunar": _("按农历过的日子请勾选。")}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "date")
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Row(Column("kind", css_class="col-sm-6"), Column("date", css_class="col-sm-6")),
            "lunar",
            "label",
        )

    def clean_date(self):
        value = self.cleaned_data["date"]
        validate_past_date(value, label=_("日期"))
        return value

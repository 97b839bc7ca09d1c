"""Forms for the daily work pages. They validate and hand clean data to a service; they never save.

Choices (staff, stores) are scoped to what the viewer may see.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from crispy_forms.bootstrap import InlineRadios
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Staff, Store
from members.forms import ServiceErrorsMixin, StaffChoiceField, date_widget, staff_choices
from members.models import Tier
from members.validators import validate_past_date

from .messages import template_errors
from .models import Channel, InvitationStatus, TaskKind, VisitResult

# The outcomes staff pick most; tapping one submits the completion form (the second tap). The
# first reach the member (the card closes); the others are attempts (the card comes back).
QUICK_OUTCOMES = (_("已联系，满意"), _("已预约到店"))
NOT_REACHED_OUTCOMES = (
    (VisitResult.NO_ANSWER, _("未接通")),
    (VisitResult.SWITCHED_OFF, _("关机/停机")),
    (VisitResult.DECLINED, _("拒绝沟通")),
)
SATISFACTION_CHOICES = [(n, str(n)) for n in range(1, 6)]
MAX_RANGE_DAYS = 366


def month_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "month"}, format="%Y-%m")


def week_of(day: date) -> tuple[date, date]:
    """Monday to Sunday around `day`."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


def month_of(day: date) -> tuple[date, date]:
    return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])


def add_months(day: date, months: int) -> date:
    """The first of the month `months` away from `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def small_widgets(fields) -> None:
    """Filter bars: compact Bootstrap inputs and selects."""
    for f in fields.values():
        is_select = isinstance(f.widget, forms.Select)
        f.widget.attrs["class"] = "form-select form-select-sm" if is_select else "form-control form-control-sm"


class FilterMixin:
    """GET filter forms: an invalid value (a hand-edited URL) falls back to the default."""

    def value(self, name: str):
        if not self.is_bound:
            return self.fields[name].initial
        self.is_valid()
        return self.cleaned_data.get(name, self.fields[name].initial)

    def _add_store_field(self, viewer: Staff, *, empty_label) -> None:
        if viewer.is_hq:
            self.fields["store"] = forms.ModelChoiceField(
                label=_("门店"),
                required=empty_label is None,
                queryset=Store.objects.filter(is_active=True).order_by("code"),
                empty_label=empty_label,
            )


# --- Today -----------------------------------------------------------------------------------


class TaskCompleteForm(ServiceErrorsMixin, forms.Form):
    """The outcome of a task. A quick-pick chip is a submit button named `outcome`; what is typed
    in `outcome_text` is added to it (or stands alone when no chip was tapped). A not-reached chip
    (未接通…) sets the result: the contact is an attempt and the card comes back on `retry_on`
    (tomorrow when empty)."""

    channel = forms.ChoiceField(
        label=_("方式"), choices=Channel.choices, initial=Channel.PHONE, widget=forms.RadioSelect
    )
    outcome = forms.CharField(label=_("结果"), required=False, max_length=60)
    outcome_text = forms.CharField(
        label=_("结果"), required=False, max_length=140, widget=forms.TextInput(attrs={"placeholder": _("其他结果")})
    )
    satisfaction = forms.TypedChoiceField(
        label=_("满意度"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=SATISFACTION_CHOICES,
        widget=forms.RadioSelect,
    )
    notes = forms.CharField(label=_("备注"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    suggestions = forms.CharField(
        label=_("顾客意见和建议"), required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2})
    )
    next_follow_up = forms.DateField(label=_("下次回访"), required=False, widget=date_widget())
    result = forms.ChoiceField(
        label=_("联系结果"), required=False, choices=VisitResult.choices, initial=VisitResult.REACHED
    )
    retry_on = forms.DateField(label=_("未联系上时，改到哪天再联系"), required=False, widget=date_widget())

    def __init__(self, *args, task_pk: int | None = None, **kwargs):
        # Many rows on one page: each form's ids must be its own.
        kwargs.setdefault("auto_id", f"t{task_pk}_%s" if task_pk else "id_%s")
        super().__init__(*args, **kwargs)
        self.quick_outcomes = [str(o) for o in QUICK_OUTCOMES]
        self.not_reached_outcomes = [str(label) for _result, label in NOT_REACHED_OUTCOMES]

    def clean(self):
        cleaned = super().clean()
        chip = (cleaned.get("outcome") or "").strip()
        text = (cleaned.get("outcome_text") or "").strip()
        not_reached = {str(label): result for result, label in NOT_REACHED_OUTCOMES}
        result = cleaned.get("result") or VisitResult.REACHED
        if chip in not_reached:
            result = not_reached[chip]
        elif chip and chip not in self.quick_outcomes:
            # Not one of ours (a hand-made request): treat it as typed text.
            text, chip = " ".join(filter(None, [chip, text])), ""
        if not chip and not text:
            if result == VisitResult.REACHED:
                self.add_error("outcome_text", _("请选择或填写回访结果。"))
            chip = str(VisitResult(result).label)
        cleaned["outcome"] = "；".join(filter(None, [chip, text]))[:200]
        cleaned["result"] = result
        return cleaned

    def complete_kwargs(self) -> dict:
        """What `task_complete` needs besides the task and `by`."""
        data = self.cleaned_data
        return {
            "channel": data["channel"],
            "outcome": data["outcome"],
            "satisfaction": data["satisfaction"],
            "notes": data["notes"],
            "suggestions": data["suggestions"],
            "next_follow_up": data["next_follow_up"],
            "result": data["result"],
            "retry_on": data["retry_on"] if data["result"] != VisitResult.REACHED else None,
        }


# How a greeting leaves the card: pasted into WeChat or sent as a text message.
MESSAGE_CHANNELS = ((Channel.WECHAT, Channel.WECHAT.label), (Channel.SMS, Channel.SMS.label))


class MessageSentForm(forms.Form):
    """A greeting copied from a card: the channel, and the template it started from (one of the
    store's; none when the text was written from scratch)."""

    channel = forms.ChoiceField(choices=MESSAGE_CHANNELS)
    template = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)

    def __init__(self, *args, templates: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.templates = {t.pk: t for group in templates.values() for t in group}
        self.fields["template"].choices = [("", "—")] + [(pk, t.name) for pk, t in self.templates.items()]

    def clean_template(self):
        pk = self.cleaned_data["template"]
        return self.templates.get(pk) if pk else None


class SnoozeForm(ServiceErrorsMixin, forms.Form):
    """Tomorrow, in 3 days (buttons named `days`), or a picked date."""

    days = forms.TypedChoiceField(
        label=_("推迟"), required=False, coerce=int, empty_value=None, choices=[(1, _("明天")), (3, _("3 天后"))]
    )
    until = forms.DateField(label=_("推迟到"), required=False, widget=date_widget())

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("days"):
            cleaned["until"] = timezone.localdate() + timedelta(days=cleaned["days"])
        elif not cleaned.get("until") and "until" not in self.errors:
            self.add_error("until", _("请选择推迟到哪一天。"))
        return cleaned


class ReassignForm(ServiceErrorsMixin, forms.Form):
    assignee = StaffChoiceField(label=_("转派给"), queryset=Staff.objects.none())

    def __init__(self, *args, viewer: Staff, task, **kwargs):
        kwargs.setdefault("auto_id", f"r{task.pk}_%s")
        kwargs.setdefault("initial", {}).setdefault("assignee", task.assignee_id)
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = staff_choices(viewer=viewer, store_id=task.store_id)
        self.fields["assignee"].widget.attrs["class"] = "form-select form-select-sm"


class TodayForm(FilterMixin, forms.Form):
    scope = forms.ChoiceField(
        label=_("范围"), required=False, choices=[("mine", _("我的")), ("store", _("全店"))], initial="mine"
    )
    when = forms.ChoiceField(
        label=_("日期"), required=False, choices=[("today", _("今天")), ("upcoming", _("未来 7 天"))], initial="today"
    )
    kind = forms.ChoiceField(label=_("类型"), required=False, choices=[("", _("全部类型")), *TaskKind.choices])
    tier = forms.ChoiceField(label=_("等级"), required=False, choices=[("", _("全部等级")), *Tier.choices])

    def __init__(self, *args, viewer: Staff, **kwargs):
        super().__init__(*args, **kwargs)
        if viewer.is_hq:
            self.fields["store"] = forms.ModelChoiceField(
                label=_("门店"),
                required=False,
                queryset=Store.objects.filter(is_active=True).order_by("code"),
                empty_label=None,
            )
        small_widgets(self.fields)

    def picked_store(self) -> Store | None:
        """HQ's pick, or the first store: HQ has no list of its own to start from."""
        if "store" not in self.fields:
            return None
        return self.value("store") or self.fields["store"].queryset.first()


# --- Visits ----------------------------------------------------------------------------------


class VisitForm(ServiceErrorsMixin, forms.Form):
    """A visit recorded from the member page, without a task behind it."""

    channel = forms.ChoiceField(
        label=_("方式"), choices=Channel.choices, initial=Channel.PHONE, widget=forms.RadioSelect
    )
    at = forms.DateTimeField(
        label=_("时间"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        help_text=_("留空为现在。"),
    )
    purpose = forms.CharField(label=_("目的"), required=False, max_length=100)
    # Reached or not: a contact not reached is an attempt on the person's card due that day, and
    # closes nothing (visit_record).
    result = forms.ChoiceField(
        label=_("联系结果"),
        required=False,
        choices=VisitResult.choices,
        initial=VisitResult.REACHED,
        widget=forms.RadioSelect,
    )
    outcome = forms.CharField(
        label=_("结果"), max_length=200, widget=forms.TextInput(attrs={"list": "outcome-picks", "autocomplete": "off"})
    )
    satisfaction = forms.TypedChoiceField(
        label=_("满意度"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("未评")), *SATISFACTION_CHOICES],
        widget=forms.RadioSelect,
    )
    notes = forms.CharField(label=_("备注"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    suggestions = forms.CharField(
        label=_("顾客意见和建议"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("顾客对产品、服务、门店的意见，会汇总到周报。"),
    )
    next_follow_up = forms.DateField(
        label=_("下次回访"), required=False, widget=date_widget(), help_text=_("填写后会生成一条回访任务。")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.quick_outcomes = [str(o) for o in QUICK_OUTCOMES]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            InlineRadios("channel"),
            Row(Column("at", css_class="col-sm-6"), Column("purpose", css_class="col-sm-6")),
            InlineRadios("result"),
            "outcome",
            InlineRadios("satisfaction"),
            "notes",
            "suggestions",
            "next_follow_up",
        )

    def clean_at(self):
        value = self.cleaned_data["at"]
        if value is not None:
            if value > timezone.now() + timedelta(minutes=5):
                raise ValidationError(_("回访时间不能晚于现在。"))
            validate_past_date(timezone.localdate(value), label=_("回访时间"))
        return value

    def record_kwargs(self) -> dict:
        """What `visit_record` needs besides the member and `by`."""
        data = self.cleaned_data
        return {
            "channel": data["channel"],
            "result": data["result"] or VisitResult.REACHED,
            "outcome": data["outcome"],
            "satisfaction": data["satisfaction"],
            "notes": data["notes"],
            "suggestions": data["suggestions"],
            "purpose": data["purpose"],
            "next_follow_up": data["next_follow_up"],
            "at": data["at"],
        }


# --- Invitations -----------------------------------------------------------------------------


class InvitationForm(ServiceErrorsMixin, forms.Form):
    for_date = forms.DateField(label=_("邀约到店日期"), widget=date_widget())
    purpose = forms.CharField(
        label=_("目的"),
        max_length=100,
        widget=forms.TextInput(attrs={"list": "purpose-picks", "autocomplete": "off"}),
        help_text=_("如：新品到店试穿、私享会、生日礼品领取。"),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("for_date", timezone.localdate() + timedelta(days=1))
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False


class InvitationFilterForm(FilterMixin, forms.Form):
    start = forms.DateField(label=_("从"), required=False, widget=date_widget())
    end = forms.DateField(label=_("到"), required=False, widget=date_widget())
    status = forms.ChoiceField(
        label=_("状态"), required=False, choices=[("", _("全部状态")), *InvitationStatus.choices]
    )
    consultant = StaffChoiceField(label=_("邀约人"), required=False, queryset=Staff.objects.none())
    # Upcoming first (the default): what is still to come is what staff act on. The page shows
    # the views as tabs, so the field itself is hidden.
    view = forms.ChoiceField(
        required=False,
        initial="upcoming",
        choices=[("upcoming", _("即将到店")), ("past", _("已过去")), ("all", _("全部"))],
        widget=forms.HiddenInput,
    )

    def __init__(self, *args, viewer: Staff, today: date | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if viewer.is_consultant:
            del self.fields["consultant"]
        else:
            self.fields["consultant"].queryset = staff_choices(viewer=viewer)
            self.fields["consultant"].show_store = viewer.is_hq
            self.fields["consultant"].empty_label = _("全部员工")
        self._add_store_field(viewer, empty_label=_("全部门店"))
        small_widgets(self.fields)


# --- Board, gifts ----------------------------------------------------------------------------


class RangeForm(FilterMixin, forms.Form):
    """A date range, this week (Monday–Sunday) by default."""

    start = forms.DateField(label=_("从"), required=False, widget=date_widget())
    end = forms.DateField(label=_("到"), required=False, widget=date_widget())

    def __init__(self, *args, viewer: Staff, today: date | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        monday, sunday = week_of(today or timezone.localdate())
        self.fields["start"].initial, self.fields["end"].initial = monday, sunday
        self._add_store_field(viewer, empty_label=_("全部门店"))
        small_widgets(self.fields)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end < start:
                self.add_error("end", _("结束日期不能早于开始日期。"))
            elif (end - start).days >= MAX_RANGE_DAYS:
                self.add_error("end", _("日期范围不能超过一年。"))
        return cleaned

    def range(self) -> tuple[date, date]:
        """The range asked for; this week when it is missing or wrong (the error is shown)."""
        default = self.fields["start"].initial, self.fields["end"].initial
        if self.is_bound and not self.is_valid():
            return default
        return self.value("start") or default[0], self.value("end") or default[1]


class MonthForm(FilterMixin, forms.Form):
    """A month (next month by default, when the birthday list is prepared)."""

    month = forms.DateField(label=_("月份"), required=False, widget=month_widget(), input_formats=["%Y-%m"])

    def __init__(self, *args, viewer: Staff, today: date | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["month"].initial = add_months(today or timezone.localdate(), 1)
        self._add_store_field(viewer, empty_label=_("全部门店"))
        small_widgets(self.fields)

    def chosen_month(self) -> date:
        return self.value("month") or self.fields["month"].initial


class GiftGenerateForm(forms.Form):
    month = forms.DateField(input_formats=["%Y-%m"])
    store = forms.ModelChoiceField(queryset=Store.objects.filter(is_active=True), required=False)


# --- Message templates -------------------------------------------------------------------------


class MessageTemplateForm(ServiceErrorsMixin, forms.Form):
    """A template's kind, name and text; the text may use only the known variables."""

    kind = forms.ChoiceField(label=_("任务类型"), choices=TaskKind.choices)
    name = forms.CharField(label=_("名称"), max_length=40)
    body = forms.CharField(
        label=_("内容"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("可用变量见下表，写成 {称呼} 这样；发送前顾问还可以修改。"),
    )

    def __init__(self, *args, fixed_kind: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if fixed_kind:  # an override keeps the kind of the default it replaces
            self.fields["kind"].disabled = True
        for name, field in self.fields.items():
            field.widget.attrs["class"] = "form-select" if name == "kind" else "form-control"

    def clean_body(self):
        body = self.cleaned_data["body"]
        if errors := template_errors(body):
            raise ValidationError(errors)
        return body

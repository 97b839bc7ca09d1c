"""Forms of the report pages: the duty runs' filter, the targets' period, the month of daily sales,
the commentary of a report and a remark in its thread (issue 12 item 5). They parse and validate
only; reports/services.py and reports/commentary.py save."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Staff, Store
from duties.models import DutyRunStatus
from vipcrm import params

from .commentary import MAX_COMMENT, MAX_TEXT
from .selectors import duties_known


class DutyRunFilterForm(forms.Form):
    duty = forms.ChoiceField(label=_("任务"), required=False, choices=[("", _("全部任务"))])
    status = forms.ChoiceField(label=_("状态"), required=False, choices=[("", _("全部状态")), *DutyRunStatus.choices])

    def __init__(self, *args, viewer: Staff, **kwargs):
        super().__init__(*args, **kwargs)
        # Every duty that has run, named as staff know it: hourly ones would otherwise bury the rest.
        self.fields["duty"].choices += duties_known()
        if viewer.is_hq:
            self.fields["store"] = forms.ModelChoiceField(
                label=_("门店"), required=False, queryset=Store.objects.order_by("code"), empty_label=_("全部门店")
            )
        for field in self.fields.values():
            field.widget.attrs["class"] = "form-select form-select-sm"

    def value(self, name: str):
        # An invalid value (a hand-edited URL) is ignored, like the other filter forms.
        if not self.is_bound or name not in self.fields:
            return None
        self.is_valid()
        return self.cleaned_data.get(name)


def target_period(data, today: date) -> tuple[int, int]:
    """The targets page's ?year= (this year by default) and ?month= (this month in this year, else
    January); a value that is not a year from 2000 to 2100 or a month 1–12 is a 400 (vipcrm.params)."""
    year = params.integer(data, "year", default=today.year, min_value=2000, max_value=2100)
    default_month = today.month if year == today.year else 1
    month = params.integer(data, "month", default=default_month, min_value=1, max_value=12)
    return year, month


def target_allocations(data) -> dict[int, str]:
    """The allocation form's staff_<id> fields as {staff id: typed amount}; an id that is not a
    number (staff_²) is a 400, not a crash."""
    return {
        staff_id: value
        for key, value in data.items()
        if key.startswith("staff_") and (staff_id := params.as_pk(key, key[6:]))
    }


def daily_sales_entries(data, *, start: date, end: date) -> dict[date, str]:
    """The month's typed totals (sales_<YYYY-MM-DD>), days left empty aside. The amounts are
    checked by the service (reports.services.daily_sales_record)."""
    entries = {}
    day = start
    while day <= end:
        raw = (data.get(f"sales_{day.isoformat()}") or "").strip()
        if raw:
            entries[day] = raw
        day += timedelta(days=1)
    return entries


def _area(rows: int, placeholder) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, "placeholder": placeholder})


class CommentaryForm(forms.Form):
    problems = forms.CharField(
        label=_("存在问题"),
        required=False,
        max_length=MAX_TEXT,
        widget=_area(3, _("例如：流失率上升，B 级会员回访不及时")),
    )
    improvements = forms.CharField(
        label=_("改进措施"),
        required=False,
        max_length=MAX_TEXT,
        widget=_area(3, _("例如：每周四复核回访计划，A 级会员由专员亲自跟进")),
    )
    next_actions = forms.CharField(
        label=_("下一步行动"),
        required=False,
        max_length=MAX_TEXT,
        widget=_area(3, _("例如：下月前三名消费客户回访；邀约沉睡会员参加新品私享会")),
    )


class CommentForm(forms.Form):
    text = forms.CharField(
        label=_("留言"),
        max_length=MAX_COMMENT,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": _("请填写留言内容。")},
    )


class AcknowledgeForm(forms.Form):
    comment = forms.CharField(
        label=_("确认意见（可不填）"), required=False, max_length=MAX_COMMENT, widget=forms.Textarea(attrs={"rows": 2})
    )

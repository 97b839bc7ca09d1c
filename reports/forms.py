"""Forms of the report pages: the commentary of a report and a remark in its thread (issue 12
item 5). They validate only; reports/commentary.py saves."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .commentary import MAX_COMMENT, MAX_TEXT


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

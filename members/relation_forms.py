"""The form for a family link or a referral. It validates and finds the other member within the
viewer's scope; `members.relations.relation_add` holds the rules and writes."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Staff

from .forms import ServiceErrorsMixin, date_widget
from .models import Member, RelationKind
from .selectors import member_scope, member_search

PICKER_LIMIT = 10
PICKER_VIA = "relation_picker"


def relation_candidates(*, viewer: Staff, member: Member):
    """The members the viewer may link `member` to: those they may see, not erased, not the member."""
    return member_scope(viewer=viewer).filter(erased_at__isnull=True).exclude(pk=member.pk)


def relation_picks(*, viewer: Staff, member: Member, text: str, cross_site: bool = False) -> list[Member]:
    """The picker's matches for a typed card number, name, last four or full phone (audited, as
    every exact-number search): the first few, within the viewer's scope."""
    if not text.strip():
        return []
    qs = relation_candidates(viewer=viewer, member=member)
    found = member_search(viewer=viewer, qs=qs, text=text, via=PICKER_VIA, cross_site=cross_site)
    return list(found.select_related("home_store").order_by("name", "pk")[:PICKER_LIMIT])


class RelationForm(ServiceErrorsMixin, forms.Form):
    kind = forms.ChoiceField(label=_("关系"), choices=[("", "---------"), *RelationKind.choices])
    find = forms.CharField(
        label=_("查找会员"),
        required=False,
        max_length=50,
        help_text=_("卡号、姓名或手机号后四位；是会员时从结果中选一位。"),
    )
    relative = forms.ModelChoiceField(
        label=_("关联会员"),
        queryset=Member.objects.none(),
        required=False,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("没有找到这位会员。")},
    )
    name = forms.CharField(label=_("非会员亲友姓名"), required=False, max_length=50)
    birthday = forms.DateField(label=_("生日"), required=False, widget=date_widget())
    birthday_lunar = forms.BooleanField(label=_("农历生日"), required=False)
    note = forms.CharField(label=_("备注"), required=False, max_length=200)

    def __init__(self, *args, viewer: Staff, member: Member, **kwargs):
        kwargs.setdefault("prefix", "rel")
        super().__init__(*args, **kwargs)
        self.viewer = viewer
        self.member = member
        self.fields["relative"].queryset = relation_candidates(viewer=viewer, member=member)

    def clean(self):
        cleaned = super().clean()
        find = (cleaned.get("find") or "").strip()
        if cleaned.get("relative") is None and find and "relative" not in self.errors:
            found = relation_picks(viewer=self.viewer, member=self.member, text=find)
            if not found:
                self.add_error("find", _("没有找到这位会员。"))
            elif len(found) > 1:
                self.add_error("find", _("找到多位会员，请从结果中选一位。"))
            else:
                cleaned["relative"] = found[0]
        return cleaned

    def chosen(self) -> Member | None:
        """The member already picked, shown again when the form comes back with an error."""
        return getattr(self, "cleaned_data", {}).get("relative")

    def relation_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "relative": data.get("relative"),
            "name": data.get("name", ""),
            "birthday": data.get("birthday"),
            "birthday_lunar": data.get("birthday_lunar", False),
            "note": data.get("note", ""),
        }

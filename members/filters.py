"""The member list's filters as a django-filter FilterSet: the API's `/api/v1/members/` reads them
here, and they build the same `MemberFilters` that the member list page and its export hand to
`members.selectors.member_list`, so the list, the export and the API find the same members.

A value that is not one of the allowed ones is an error naming the parameter (a 400 in the API),
never an empty list: a typo must not look like "nobody matches".
"""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field

from accounts.models import Staff
from vipcrm import params

from .forms import BIRTHDAY_MONTHS
from .models import Member, Tier
from .selectors import MEMBER_SORTS, MemberFilters, member_list


def _typed_text(value: str) -> None:
    """A search value a person could have typed: no control characters (vipcrm.params)."""
    from django.core.exceptions import ValidationError

    if params.CONTROL.search(value or ""):
        raise ValidationError(_("不能包含控制字符。"), code="control_characters")


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": 12})
class MonthFilter(django_filters.TypedChoiceFilter):
    """A month number, 1 to 12 (the choices say so; this says it to the OpenAPI schema)."""


@extend_schema_field({"type": "string", "maxLength": 50, "pattern": r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"})
class SearchFilter(django_filters.CharFilter):
    """Typed text: the schema says, as vipcrm.params checks, that control characters are refused."""


class MemberFilterSet(django_filters.FilterSet):
    """`member_list`'s filters. Needs the request: the list is the viewer's scope (DOMAIN §11)."""

    q = SearchFilter(
        label=_("搜索"),
        method="no_op",
        max_length=50,
        validators=[_typed_text],
        help_text=_("姓名、卡号、手机尾号或完整手机号（完整号码的查询会记入审计日志）。"),
    )
    tier = django_filters.ChoiceFilter(label=_("等级"), choices=Tier.choices, method="no_op")
    status = django_filters.ChoiceFilter(
        label=_("状态"), choices=[("active", _("活跃")), ("lapsed", _("已流失"))], method="no_op"
    )
    birthday_month = MonthFilter(label=_("生日月份"), choices=BIRTHDAY_MONTHS, coerce=int, method="no_op")
    consultant = django_filters.NumberFilter(label=_("专属顾问"), method="no_op", min_value=1, max_value=2**31 - 1)
    scope = django_filters.ChoiceFilter(
        label=_("范围"), choices=[("mine", _("我的会员")), ("unassigned", _("未分配"))], method="no_op"
    )

    class Meta:
        model = Member
        fields: list[str] = []  # every filter is declared above

    def no_op(self, queryset, name, value):
        # The filters are applied together by member_list (filter_queryset below), not one by one.
        return queryset

    def member_filters(self) -> MemberFilters:
        """The cleaned values as the selectors' `MemberFilters` (call after `is_valid()`)."""
        data = self.form.cleaned_data
        return MemberFilters(
            query=(data.get("q") or "").strip(),
            tier=data.get("tier") or "",
            consultant_id=int(data["consultant"]) if data.get("consultant") else None,
            status=data.get("status") or "",
            birthday_month=data.get("birthday_month") or None,
            scope=data.get("scope") or "",
        )

    def filter_queryset(self, queryset):
        """`member_list` for the request's user (it starts from their scope; `queryset` is not read)."""
        request = self.request
        viewer: Staff = request.user
        cross_site = request.headers.get("Sec-Fetch-Site") == "cross-site"  # see member_search
        found = member_list(viewer=viewer, filters=self.member_filters(), via="api", cross_site=cross_site)
        return found


class MemberPageFilterSet(MemberFilterSet):
    """The member list page's and its export's filters (issue 14): the API's above, read and
    validated the same way into the same `MemberFilters` for the same `member_list`, plus what only
    the page has: "store" as a scope (every member in scope, the store leads' default), HQ's pick
    of one store, and the order. The page ignores a value that is not allowed (a hand-edited URL)
    rather than answer 400."""

    scope = django_filters.ChoiceFilter(
        label=_("范围"),
        choices=[("mine", _("我的会员")), ("store", _("全店会员")), ("unassigned", _("未分配"))],
        method="no_op",
    )
    store = django_filters.NumberFilter(label=_("门店"), method="no_op", min_value=1, max_value=2**31 - 1)
    sort = django_filters.ChoiceFilter(label=_("排序"), choices=[(s, s) for s in MEMBER_SORTS], method="no_op")

    def __init__(self, data=None, *, viewer: Staff, **kwargs):
        super().__init__(data, queryset=Member.objects.none(), **kwargs)
        self.viewer = viewer
        self.form.is_valid()  # the valid values are kept, the others dropped

    def member_filters(self) -> MemberFilters:
        filters = super().member_filters()
        # A consultant opens on their own members, everyone else on all they may see.
        viewer = self.viewer
        allowed = {"store", *(["unassigned"] if viewer.is_store_lead else []), *([] if viewer.is_hq else ["mine"])}
        default = "mine" if viewer.is_consultant else "store"
        scope = filters.scope if filters.scope in allowed else default
        filters.scope = "" if scope == "store" else scope
        return filters

    def chosen(self) -> dict[str, str]:
        """The values asked for and kept, as text (what the export's audit entry records)."""
        return {name: str(value) for name, value in self.form.cleaned_data.items() if value not in (None, "")}


def page_members(*, viewer: Staff, data, via: str = "list", cross_site: bool = False):
    """The members the list page (or its export) shows for `data` (its GET or POST), with the
    order asked for and the filters chosen: (queryset, sort, chosen)."""
    filterset = MemberPageFilterSet(data or {}, viewer=viewer)  # bound even when empty: defaults apply
    members = member_list(viewer=viewer, filters=filterset.member_filters(), via=via, cross_site=cross_site)
    cleaned = filterset.form.cleaned_data
    if viewer.is_hq and cleaned.get("store"):
        members = members.filter(home_store_id=int(cleaned["store"]))
    return members, cleaned.get("sort") or "", filterset.chosen()

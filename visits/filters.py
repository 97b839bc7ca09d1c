"""The API's filters for tasks, visits and invitations as django-filter FilterSets. Each builds the
selectors' own filters (`TaskFilters`, `InvitationFilters`) and hands them to the selector that
the pages use, so the API finds what the pages find, in the viewer's scope (DOMAIN §11).

A value that is not one of the allowed ones is an error naming the parameter (a 400), never an
empty list: a typo must not look like "nothing matches".
"""

from __future__ import annotations

import django_filters
from django import forms
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions

from accounts.models import Staff, Store
from members.selectors import member_get

from .models import FollowUpTask, Invitation, InvitationStatus, TaskKind, TaskStatus, Visit
from .selectors import (
    InvitationFilters,
    TaskFilters,
    can_see_store_tasks,
    invitation_list,
    member_visits,
    task_list,
    visit_scope,
)

MAX_ID = 2**63 - 1  # BigAutoField: a larger id names nothing


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """An object's id: a whole number (NumberFilter alone would take `1.5` for 1)."""

    field_class = forms.IntegerField


class _Together(django_filters.FilterSet):
    """Filters applied together by a selector (`filter_queryset`), not one by one."""

    def no_op(self, queryset, name, value):
        return queryset


class TaskFilterSet(_Together):
    """`task_list`'s filters. Needs the request: the list is the viewer's own or their store's."""

    scope = django_filters.ChoiceFilter(
        label=_("范围"),
        choices=[("mine", _("我的")), ("store", _("全店"))],
        method="no_op",
        help_text=_("mine（默认）：分配给我的任务；store：全店的任务（VIP专员、店长和总部）。"),
    )
    kind = django_filters.ChoiceFilter(label=_("类型"), choices=TaskKind.choices, method="no_op")
    status = django_filters.ChoiceFilter(label=_("状态"), choices=TaskStatus.choices, method="no_op")
    due_from = django_filters.DateFilter(label=_("到期日从"), method="no_op")
    due_to = django_filters.DateFilter(label=_("到期日到"), method="no_op")

    class Meta:
        model = FollowUpTask
        fields: list[str] = []

    def task_filters(self) -> TaskFilters:
        data = self.form.cleaned_data
        return TaskFilters(
            whole_store=data.get("scope") == "store",
            kind=data.get("kind") or "",
            status=data.get("status") or "",
            due_from=data.get("due_from"),
            due_to=data.get("due_to"),
        )

    def filter_queryset(self, queryset):
        viewer: Staff = self.request.user
        filters = self.task_filters()
        if filters.whole_store and not can_see_store_tasks(viewer):
            # Not silently "mine": a program asking for the store must not take its own list for it.
            raise exceptions.PermissionDenied(_("只有VIP专员、店长和总部可以查看全店的任务。"))
        return task_list(viewer=viewer, filters=filters)


class VisitFilterSet(_Together):
    member = IdFilter(
        label=_("会员"),
        method="no_op",
        min_value=1,
        max_value=MAX_ID,
        help_text=_("一位会员的回访记录；其他门店的会员为 404。不填：本店会员最近的回访记录。"),
    )

    class Meta:
        model = Visit
        fields: list[str] = []

    def filter_queryset(self, queryset):
        viewer: Staff = self.request.user
        pk = self.form.cleaned_data.get("member")
        if pk is not None:
            # The member page's list: 404 for a member outside the viewer's scope.
            return member_visits(member=member_get(viewer=viewer, pk=int(pk)))
        return visit_scope(viewer=viewer)


class InvitationFilterSet(_Together):
    """`invitation_list`'s filters (the invitations page's): consultants see their own invitations."""

    view = django_filters.ChoiceFilter(
        label=_("视图"),
        choices=[("upcoming", _("即将到店")), ("past", _("已过去")), ("all", _("全部"))],
        method="no_op",
        help_text=_("upcoming：今天及以后，日期近的在前；past：今天以前，日期近的在前；all（默认）：按日期。"),
    )
    start = django_filters.DateFilter(label=_("从"), method="no_op")
    end = django_filters.DateFilter(label=_("到"), method="no_op")
    status = django_filters.ChoiceFilter(label=_("状态"), choices=InvitationStatus.choices, method="no_op")
    consultant = IdFilter(
        label=_("邀约人"),
        method="no_op",
        min_value=1,
        max_value=MAX_ID,
        help_text=_("邀约人的 id（顾问只看到自己的）。"),
    )
    store = django_filters.ModelChoiceFilter(
        label=_("门店"),
        queryset=Store.objects.all(),
        to_field_name="code",
        method="no_op",
        help_text=_("门店代码（总部）。"),
    )

    class Meta:
        model = Invitation
        fields: list[str] = []

    def invitation_filters(self) -> InvitationFilters:
        data = self.form.cleaned_data
        return InvitationFilters(
            start=data.get("start"),
            end=data.get("end"),
            status=data.get("status") or "",
            invited_by_id=int(data["consultant"]) if data.get("consultant") else None,
            store=data.get("store"),
            view=data.get("view") or "all",
        )

    def filter_queryset(self, queryset):
        return invitation_list(viewer=self.request.user, filters=self.invitation_filters())

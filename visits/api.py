"""REST API for the daily work (issue 13 item 2): follow-up tasks, visits and invitations.

The same selectors, forms and services as the pages: a task is fetched with `task_get` (another
store's is a 404) and worked only by whom `can_work_task` allows (another consultant's task is a
403, as on Today); a contact is checked by the page's `TaskCompleteForm` / `VisitForm` and written
by `task_complete` / `visit_record`; invitations are `invitation_list`'s and move only through
`invitation_advance`. The serializers here describe the bodies (types, choices, lengths taken from
the forms); the rules stay in the forms and services. A client never sets a store, an id, an
assignee or a status except through the actions: those are not fields of any body.

A state the object is no longer in (a task already done, a step the funnel does not allow) is a
409 with the service's message; a bad value is a 400 naming the field.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

from accounts.models import Staff
from members.selectors import member_get
from vipcrm import params
from vipcrm.api.pagination import CursorPage
from vipcrm.api.schema import ERROR_RESPONSES, error_response

from .filters import InvitationFilterSet, TaskFilterSet, VisitFilterSet
from .forms import NOT_REACHED_OUTCOMES, InvitationForm, ReassignForm, SnoozeForm, TaskCompleteForm, VisitForm
from .models import Channel, ClosedBy, FollowUpTask, Invitation, InvitationStatus, TaskReason, Visit, VisitResult
from .selectors import (
    can_advance_invitation,
    can_reassign_task,
    can_work_task,
    invitation_get,
    invitation_next_statuses,
    invitations_with_purchase,
    reasons_closed_by,
    task_get,
    visit_get,
)
from .services import invitation_advance, invitation_create, task_complete, task_reassign, task_snooze, visit_record

# The services' codes for "the object is no longer in a state for this": a 409, not a 400.
CONFLICT_CODES = frozenset({"not_open", "invalid_transition", "no_purchase"})
CONFLICT = {409: error_response("No longer in a state for this: a task already done, a step the funnel refuses.")}


# An unreached contact's results (the page's 未接通… chips), for `attempt`.
NOT_REACHED_RESULTS = [(value, VisitResult(value).label) for value, _label in NOT_REACHED_OUTCOMES]


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = _("对象的状态不允许这样做。")


def service_error(e: DjangoValidationError) -> exceptions.APIException:
    """A service's refusal: 409 for a state conflict (its code says so), else a 400 by field."""
    if not hasattr(e, "error_dict") and getattr(e, "code", None) in CONFLICT_CODES:
        return Conflict(e.messages[0], code=e.code)
    return exceptions.ValidationError(as_serializer_error(e))


def form_errors(form: forms.Form, rename: dict[str, str] | None = None) -> exceptions.ValidationError:
    """A page form's errors, with their codes, as the API's 400 (`rename`: form field → body field)."""
    rename = rename or {}
    errors = {rename.get(name, name): list(found) for name, found in form.errors.as_data().items()}
    return exceptions.ValidationError(as_serializer_error(DjangoValidationError(errors)))


def max_length(form_class: type[forms.Form], name: str) -> int | None:
    """A form field's length limit: the body documents the page's limit, not a copy of it."""
    return form_class.base_fields[name].max_length


def object_pk(value: str) -> int:
    try:
        return params.as_pk("id", value)
    except params.BadParameter:
        raise exceptions.NotFound() from None  # an id past any bigint names nothing


# --- Serializers: what the API shows -------------------------------------------------------------


class TaskReasonSerializer(serializers.ModelSerializer):
    class Meta:
        model = TaskReason
        fields = ["kind", "note", "due_date"]
        read_only_fields = fields


class TaskSerializer(serializers.ModelSerializer):
    """A follow-up task (a card): its reasons, whose it is, when it is due and when it is worked
    (`scheduled_for`, moved by snoozes and unreached attempts; `due_date` never moves)."""

    store = serializers.CharField(source="store.code", read_only=True)
    member_name = serializers.CharField(source="member.name", read_only=True)
    assignee = serializers.CharField(source="assignee.username", default=None, read_only=True, allow_null=True)
    reasons = TaskReasonSerializer(many=True, read_only=True)
    closed_by = serializers.ChoiceField(choices=ClosedBy.choices, allow_blank=True, read_only=True)  # "": open

    class Meta:
        model = FollowUpTask
        fields = [
            "id",
            "store",
            "member",
            "member_name",
            "assignee",
            "kind",
            "reasons",
            "due_date",
            "scheduled_for",
            "status",
            "note",
            "attempts",
            "done_on",
            "closed_by",
            "visit",
        ]
        read_only_fields = fields


class VisitSerializer(serializers.ModelSerializer):
    """A contact with a member: `task` is the task it was logged on (reached), `attempt_of` the
    task an unreached contact counted an attempt for."""

    store = serializers.CharField(source="store.code", read_only=True)
    member_name = serializers.CharField(source="member.name", read_only=True)
    staff = serializers.CharField(source="staff.username", default=None, read_only=True, allow_null=True)
    task = serializers.SerializerMethodField()

    class Meta:
        model = Visit
        fields = [
            "id",
            "store",
            "member",
            "member_name",
            "staff",
            "channel",
            "at",
            "purpose",
            "result",
            "outcome",
            "satisfaction",
            "notes",
            "suggestions",
            "next_follow_up",
            "task",
            "attempt_of",
        ]
        read_only_fields = fields

    def get_task(self, visit: Visit) -> int | None:
        try:
            return visit.task.pk
        except FollowUpTask.DoesNotExist:
            return None


class InvitationSerializer(serializers.ModelSerializer):
    """An invitation; `next_statuses`: the steps the caller may move it to now (`advance`)."""

    store = serializers.CharField(source="store.code", read_only=True)
    member_name = serializers.CharField(source="member.name", read_only=True)
    invited_by = serializers.CharField(source="invited_by.username", default=None, read_only=True, allow_null=True)
    next_statuses = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = [
            "id",
            "store",
            "member",
            "member_name",
            "invited_by",
            "for_date",
            "purpose",
            "status",
            "status_changed_at",
            "next_statuses",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=InvitationStatus.choices)))
    def get_next_statuses(self, invitation: Invitation) -> list[str]:
        viewer = self.context["request"].user
        if not can_advance_invitation(viewer, invitation):
            return []
        has_purchase = invitation.pk in self.context.get("with_purchase", set())
        return [value for value, _label in invitation_next_statuses(invitation, has_purchase=has_purchase)]


class ContactResultSerializer(serializers.Serializer):
    """A contact logged on a task: the task as it is now, the visit, how many reasons it closed."""

    task = TaskSerializer()
    visit = VisitSerializer()
    closed_reasons = serializers.IntegerField(help_text=_("这次联系关闭的原因数（所有卡片）；未联系上为 0。"))


# --- Serializers: what a client sends --------------------------------------------------------------


class TaskCompleteSerializer(serializers.Serializer):
    """The Today page's completion form (TaskCompleteForm): reached or not, by which channel,
    what came of it. Not reached: an attempt, and the task comes back on `retry_on` (tomorrow)."""

    channel = serializers.ChoiceField(choices=Channel.choices)
    result = serializers.ChoiceField(choices=VisitResult.choices, default=VisitResult.REACHED)
    outcome = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=max_length(TaskCompleteForm, "outcome_text"),
        help_text=_("回访结果；联系上时必填。"),
    )
    satisfaction = serializers.IntegerField(min_value=1, max_value=5, required=False, allow_null=True)
    notes = serializers.CharField(required=False, allow_blank=True)
    suggestions = serializers.CharField(
        required=False, allow_blank=True, max_length=max_length(TaskCompleteForm, "suggestions")
    )
    next_follow_up = serializers.DateField(required=False, allow_null=True, help_text=_("下次回访：生成一条回访任务。"))
    retry_on = serializers.DateField(required=False, allow_null=True, help_text=_("未联系上时，改到哪天再联系。"))

    def form_data(self) -> dict:
        data = self.validated_data
        return {
            "channel": data["channel"],
            "result": data["result"],
            "outcome_text": data.get("outcome", ""),
            "satisfaction": data.get("satisfaction"),
            "notes": data.get("notes", ""),
            "suggestions": data.get("suggestions", ""),
            "next_follow_up": data.get("next_follow_up"),
            "retry_on": data.get("retry_on"),
        }


class TaskAttemptSerializer(TaskCompleteSerializer):
    """An unreached contact (未接通, 关机/停机, 拒绝沟通): one more attempt on the task."""

    result = serializers.ChoiceField(choices=NOT_REACHED_RESULTS, default=VisitResult.NO_ANSWER)
    satisfaction = None
    suggestions = None
    next_follow_up = None


class SnoozeSerializer(serializers.Serializer):
    """The Today page's snooze (SnoozeForm): `days` (1 or 3) or a date `until`."""

    days = serializers.ChoiceField(choices=[1, 3], required=False, allow_null=True)
    until = serializers.DateField(required=False, allow_null=True, help_text=_("明天到 90 天之内。"))


class ReassignSerializer(serializers.Serializer):
    assignee = serializers.CharField(max_length=150, help_text=_("本店在职员工的用户名。"))


class VisitCreateSerializer(serializers.Serializer):
    """The member page's visit form (VisitForm): a contact without a task behind it."""

    member = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text=_("会员 id；其他门店的会员为 404。"))
    channel = serializers.ChoiceField(choices=Channel.choices)
    at = serializers.DateTimeField(required=False, allow_null=True, help_text=_("留空为现在。"))
    purpose = serializers.CharField(required=False, allow_blank=True, max_length=max_length(VisitForm, "purpose"))
    result = serializers.ChoiceField(choices=VisitResult.choices, default=VisitResult.REACHED)
    outcome = serializers.CharField(max_length=max_length(VisitForm, "outcome"))
    satisfaction = serializers.IntegerField(min_value=1, max_value=5, required=False, allow_null=True)
    notes = serializers.CharField(required=False, allow_blank=True)
    suggestions = serializers.CharField(
        required=False, allow_blank=True, max_length=max_length(VisitForm, "suggestions")
    )
    next_follow_up = serializers.DateField(required=False, allow_null=True)


class InvitationCreateSerializer(serializers.Serializer):
    member = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text=_("会员 id；其他门店的会员为 404。"))
    for_date = serializers.DateField(help_text=_("邀约到店日期，今天或以后。"))
    purpose = serializers.CharField(max_length=max_length(InvitationForm, "purpose"))


class AdvanceSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=InvitationStatus.choices, help_text=_("新状态：详情的 next_statuses 之一。")
    )


# --- Pagination -----------------------------------------------------------------------------------


class TaskCursorPagination(CursorPage):
    """Earliest due first (the due date never moves), then by id."""

    ordering = ("due_date", "id")


class VisitCursorPagination(CursorPage):
    """Most recent contact first, as on the member page."""

    ordering = ("-at", "-id")


class InvitationCursorPagination(CursorPage):
    """By the date invited for: the most recent first for `view=past`, else the soonest first."""

    ordering = ("for_date", "id")

    def get_ordering(self, request, queryset, view):
        return ("-for_date", "-id") if request.query_params.get("view") == "past" else self.ordering


# --- Tasks ------------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="My follow-up tasks, or the store's", responses={200: TaskSerializer, **ERROR_RESPONSES}
    ),
    retrieve=extend_schema(summary="One follow-up task", responses={200: TaskSerializer, **ERROR_RESPONSES}),
)
class TaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    http_method_names = ["get", "post", "head", "options"]
    serializer_class = TaskSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = TaskFilterSet
    pagination_class = TaskCursorPagination

    def get_queryset(self):
        # Never read: TaskFilterSet starts from the viewer's scope (visits.selectors.task_list).
        return FollowUpTask.objects.none()

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        return queryset.select_related("store", "member", "assignee").prefetch_related("reasons")

    def _task(self) -> FollowUpTask:
        """404 outside the viewer's store (task_get)."""
        return task_get(viewer=self.request.user, pk=object_pk(self.kwargs[self.lookup_field]))

    def get_object(self) -> FollowUpTask:
        """The task if the viewer may work it: another consultant's is a 403, as on Today."""
        task = self._task()
        if not can_work_task(self.request.user, task):
            raise exceptions.PermissionDenied(_("这是其他顾问的任务。"))
        return task

    def _detail(self, task: FollowUpTask) -> dict:
        task = task_get(viewer=self.request.user, pk=task.pk)
        return TaskSerializer(task, context=self.get_serializer_context()).data

    def _contact(self, request, body_class: type[TaskCompleteSerializer]) -> Response:
        task = self.get_object()
        body = body_class(data=request.data)
        body.is_valid(raise_exception=True)
        form = TaskCompleteForm(data=body.form_data(), task_pk=task.pk)
        if not form.is_valid():
            raise form_errors(form, {"outcome_text": "outcome"})
        try:
            visit = task_complete(task=task, by=request.user, **form.complete_kwargs())
        except DjangoValidationError as e:
            raise service_error(e) from e
        result = {
            "task": self._detail(task),
            "visit": VisitSerializer(visit_get(viewer=request.user, pk=visit.pk)).data,
            "closed_reasons": reasons_closed_by(visit=visit) if visit.reached else 0,
        }
        return Response(result)

    @extend_schema(
        summary="Log the contact made for a task (reached: the card closes; not reached: an attempt)",
        request=TaskCompleteSerializer,
        responses={200: ContactResultSerializer, **CONFLICT, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def complete(self, request, pk=None):
        return self._contact(request, TaskCompleteSerializer)

    @extend_schema(
        summary="Log an unreached contact: one more attempt, the task comes back on `retry_on`",
        request=TaskAttemptSerializer,
        responses={200: ContactResultSerializer, **CONFLICT, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def attempt(self, request, pk=None):
        return self._contact(request, TaskAttemptSerializer)

    @extend_schema(
        summary="Snooze a task: its working date moves, its due date stays",
        request=SnoozeSerializer,
        responses={200: TaskSerializer, **CONFLICT, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def snooze(self, request, pk=None):
        task = self.get_object()
        body = SnoozeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        form = SnoozeForm(data={"days": body.validated_data.get("days"), "until": body.validated_data.get("until")})
        if not form.is_valid():
            raise form_errors(form)
        try:
            task = task_snooze(task=task, until=form.cleaned_data["until"], by=request.user)
        except DjangoValidationError as e:
            raise service_error(e) from e
        return Response(self._detail(task))

    @extend_schema(
        summary="Give a task to another of the store's staff (VIP specialist, manager, HQ)",
        description="The task answered is the one carrying the reasons: another id when the task "
        "joined the card that person already had for the member.",
        request=ReassignSerializer,
        responses={200: TaskSerializer, **CONFLICT, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def reassign(self, request, pk=None):
        viewer: Staff = request.user
        task = self._task()
        if not can_reassign_task(viewer):
            raise exceptions.PermissionDenied(_("只有VIP专员、店长和总部可以转派任务。"))
        body = ReassignSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        form = ReassignForm(data={"assignee": body.validated_data["assignee"]}, viewer=viewer, task=task)
        form.fields["assignee"].to_field_name = "username"  # the API names staff as it shows them
        if not form.is_valid():
            raise form_errors(form)
        try:
            carrier = task_reassign(task=task, assignee=form.cleaned_data["assignee"], by=viewer)
        except DjangoValidationError as e:
            raise service_error(e) from e
        return Response(self._detail(carrier))


# --- Visits -----------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="A member's visits (`member`), or the store's members' recent visits",
        responses={200: VisitSerializer, **ERROR_RESPONSES},
    ),
    retrieve=extend_schema(summary="One visit", responses={200: VisitSerializer, **ERROR_RESPONSES}),
    create=extend_schema(
        summary="Record a contact with a member, without a task behind it",
        request=VisitCreateSerializer,
        responses={201: VisitSerializer, **ERROR_RESPONSES},
    ),
)
class VisitViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    http_method_names = ["get", "post", "head", "options"]
    serializer_class = VisitSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = VisitFilterSet
    pagination_class = VisitCursorPagination

    def get_queryset(self):
        return Visit.objects.none()  # never read: VisitFilterSet starts from the viewer's scope

    def get_serializer_class(self):
        return VisitCreateSerializer if self.action == "create" else VisitSerializer

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        return queryset.select_related("store", "member", "staff", "task")

    def get_object(self) -> Visit:
        return visit_get(viewer=self.request.user, pk=object_pk(self.kwargs[self.lookup_field]))

    def create(self, request, *args, **kwargs):
        body = VisitCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        member = member_get(viewer=request.user, pk=fields.pop("member"))
        form = VisitForm(data=fields)
        if not form.is_valid():
            raise form_errors(form)
        try:
            visit = visit_record(member=member, by=request.user, **form.record_kwargs())
        except DjangoValidationError as e:
            raise service_error(e) from e
        visit = visit_get(viewer=request.user, pk=visit.pk)
        return Response(VisitSerializer(visit).data, status=status.HTTP_201_CREATED)


# --- Invitations ------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Invitations (a consultant's own; the store's for the others)",
        responses={200: InvitationSerializer, **ERROR_RESPONSES},
    ),
    retrieve=extend_schema(summary="One invitation", responses={200: InvitationSerializer, **ERROR_RESPONSES}),
    create=extend_schema(
        summary="Invite a member to the store (an `invitation` task reminds the inviter)",
        request=InvitationCreateSerializer,
        responses={201: InvitationSerializer, **ERROR_RESPONSES},
    ),
)
class InvitationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    http_method_names = ["get", "post", "head", "options"]
    serializer_class = InvitationSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = InvitationFilterSet
    pagination_class = InvitationCursorPagination

    def get_queryset(self):
        return Invitation.objects.none()  # never read: InvitationFilterSet starts from the viewer

    def get_serializer_class(self):
        return InvitationCreateSerializer if self.action == "create" else InvitationSerializer

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        return queryset.select_related("store", "member", "invited_by")

    def get_object(self) -> Invitation:
        """404 outside the viewer's store; another consultant's invitation is a 403 (not theirs
        to follow, and not in their list)."""
        invitation = invitation_get(viewer=self.request.user, pk=object_pk(self.kwargs[self.lookup_field]))
        if not can_advance_invitation(self.request.user, invitation):
            raise exceptions.PermissionDenied(_("这是其他顾问的邀约。"))
        return invitation

    def _context(self, invitations: list[Invitation]) -> dict:
        # Whether "bought" may be offered: one query for the whole page (as the invitations page).
        return self.get_serializer_context() | {"with_purchase": invitations_with_purchase(invitations)}

    def _data(self, invitation: Invitation) -> dict:
        return InvitationSerializer(invitation, context=self._context([invitation])).data

    def list(self, request, *args, **kwargs):
        page = list(self.paginate_queryset(self.filter_queryset(self.get_queryset())))
        return self.get_paginated_response(InvitationSerializer(page, many=True, context=self._context(page)).data)

    def retrieve(self, request, *args, **kwargs):
        return Response(self._data(self.get_object()))

    def create(self, request, *args, **kwargs):
        body = InvitationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        member = member_get(viewer=request.user, pk=fields.pop("member"))
        form = InvitationForm(data=fields)
        if not form.is_valid():
            raise form_errors(form)
        try:
            invitation = invitation_create(member=member, by=request.user, **form.cleaned_data)
        except DjangoValidationError as e:
            raise service_error(e) from e
        invitation = invitation_get(viewer=request.user, pk=invitation.pk)
        return Response(self._data(invitation), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Move an invitation along the funnel (one of its `next_statuses`)",
        request=AdvanceSerializer,
        responses={200: InvitationSerializer, **CONFLICT, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def advance(self, request, pk=None):
        invitation = self.get_object()
        body = AdvanceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            invitation_advance(invitation=invitation, status=body.validated_data["status"], by=request.user)
        except DjangoValidationError as e:
            raise service_error(e) from e
        return Response(self._data(invitation_get(viewer=request.user, pk=invitation.pk)))

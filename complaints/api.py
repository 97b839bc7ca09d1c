"""REST API for complaints (issue 13 item 2): the list, one complaint, registration, the workflow's
transitions and the timeline, through the same selectors and services as the pages.

Scoped by `complaint_scope`/`complaint_get` (HQ all; a store's leads their store's; a consultant
those they registered or work on; anything else is a 404). Registered by `complaint_register` (the
customer found by card or full phone there, as for the register page), moved by
`complaint_transition`: a step that does not exist from the complaint's state, or that waits for a
manager's approval, is a 409 with the service's message; a missing field a 400 naming it; a step
the caller may not take a 403. A client never sets the store (HQ names it when registering), the
status (only `transition` moves it) or an id.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import django_filters
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

from accounts.models import Staff, Store
from members.validators import mask_phone
from vipcrm import params
from vipcrm.api.pagination import CursorPage
from vipcrm.api.schema import ERROR_RESPONSES, error_response

from .forms import TransitionForm
from .models import Category, Complaint, ComplaintChannel, ComplaintEvent, Severity, Status
from .selectors import complaint_get, complaint_scope, complaint_timeline
from .services import allowed_transitions, complaint_register, complaint_transition, needs_approval


# --- Serializers ---------------------------------------------------------------------------------
class ComplaintSerializer(serializers.ModelSerializer):
    """A complaint as the lists show it. `member` is the member's id where the caller may open the
    member (their own store's, or HQ); another store's member complaining here shows the card only."""

    store = serializers.CharField(source="store.code", read_only=True)
    status = serializers.ChoiceField(choices=Status.choices, read_only=True)
    channel = serializers.ChoiceField(choices=ComplaintChannel.choices, read_only=True)
    customer_name = serializers.CharField(read_only=True)
    member = serializers.SerializerMethodField()
    card_no = serializers.CharField(source="member.card_no", default=None, read_only=True, allow_null=True)
    responsible_staff = serializers.CharField(
        source="responsible_staff.username", default=None, read_only=True, allow_null=True
    )

    class Meta:
        model = Complaint
        fields = [
            "id",
            "store",
            "status",
            "channel",
            "category",
            "severity",
            "customer_name",
            "member",
            "card_no",
            "received_at",
            "responsible_staff",
            "reopened",
        ]
        read_only_fields = fields

    def get_member(self, complaint: Complaint) -> int | None:
        viewer = self.context["request"].user
        if complaint.member_id is None:
            return None
        visible = viewer.is_hq or complaint.member.home_store_id == viewer.store_id
        return complaint.member_id if visible else None


class ComplaintDetailSerializer(ComplaintSerializer):
    """One complaint as its page shows it, with the steps the caller may take now."""

    walk_in_phone = serializers.SerializerMethodField()
    received_by = serializers.CharField(source="received_by.username", default=None, read_only=True, allow_null=True)
    approved_by = serializers.CharField(source="approved_by.username", default=None, read_only=True, allow_null=True)
    needs_approval = serializers.SerializerMethodField(help_text="The solution waits for a manager's approval.")
    allowed_transitions = serializers.SerializerMethodField(help_text="The states the caller may move it to now.")

    class Meta(ComplaintSerializer.Meta):
        fields = [
            *ComplaintSerializer.Meta.fields,
            "walk_in_phone",
            "description",
            "received_by",
            "responsible_department",
            "rejection_reason",
            "customer_told",
            "solution",
            "compensation_amount",
            "compensation_gift",
            "confirmation_note",
            "approved_by",
            "first_response_at",
            "carried_out_at",
            "closed_at",
            "needs_approval",
            "allowed_transitions",
        ]
        read_only_fields = fields

    def get_walk_in_phone(self, complaint: Complaint) -> str:
        return mask_phone(complaint.walk_in_phone) if complaint.walk_in_phone else ""

    def get_needs_approval(self, complaint: Complaint) -> bool:
        return needs_approval(complaint)

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=Status.choices)))
    def get_allowed_transitions(self, complaint: Complaint) -> list[str]:
        return [str(to) for to in allowed_transitions(complaint, self.context["request"].user)]


class ComplaintEventSerializer(serializers.ModelSerializer):
    """One line of the timeline: a step (from → to), or an SLA escalation (`escalation`, same state)."""

    by = serializers.CharField(source="by.username", default=None, read_only=True, allow_null=True)
    escalation = serializers.SerializerMethodField(help_text="An SLA escalation by the system, not a step.")
    from_status = serializers.ChoiceField(choices=Status.choices, read_only=True, allow_blank=True)
    to_status = serializers.ChoiceField(choices=Status.choices, read_only=True)

    class Meta:
        model = ComplaintEvent
        fields = ["id", "at", "from_status", "to_status", "escalation", "by", "note"]
        read_only_fields = fields

    def get_escalation(self, event: ComplaintEvent) -> bool:
        return event.from_status == event.to_status


class ComplaintRegisterSerializer(serializers.Serializer):
    """What the register page asks: the member by card or full phone (`member_ref`), or a walk-in's
    name; the channel, category, severity and what happened. `store` is HQ's to name (a store code);
    everyone else registers in their own store, whatever the body says."""

    member_ref = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=50,
        help_text=_("会员请填卡号或手机号；非会员留空并填写姓名。"),
    )
    walk_in_name = serializers.CharField(required=False, allow_blank=True, default="", max_length=50)
    walk_in_phone = serializers.CharField(required=False, allow_blank=True, default="", max_length=30)
    channel = serializers.ChoiceField(choices=ComplaintChannel.choices)
    category = serializers.ChoiceField(choices=Category.choices)
    severity = serializers.ChoiceField(choices=Severity.choices, required=False, default=Severity.LOW)
    description = serializers.CharField(max_length=2000)
    store = serializers.CharField(required=False, allow_blank=True, max_length=20, help_text=_("门店编码（仅总部）。"))

    def validate_store(self, value: str) -> Store | None:
        viewer: Staff = self.context["request"].user
        if not viewer.is_hq:
            return None  # a store's staff register in their own store: the field is not theirs
        store = Store.objects.filter(code=value.upper(), is_active=True).first() if value else None
        if value and store is None:
            raise ValidationError(_("没有这家门店。"), code="not_found")
        return store

    def validate(self, data):
        if self.context["request"].user.is_hq and data.get("store") is None:
            raise ValidationError({"store": [exceptions.ErrorDetail(_("请选择门店。"), code="required")]})
        return data


class ComplaintTransitionSerializer(serializers.Serializer):
    """One step: the target state and what that step asks for (the page's form shows the same
    fields per state, `TransitionForm.FIELDS_FOR`); fields the step does not take are ignored."""

    to = serializers.ChoiceField(choices=Status.choices)
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    rejection_reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    customer_told = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    responsible_staff = serializers.CharField(
        required=False, allow_blank=True, max_length=150, help_text=_("责任人：本店员工的用户名。")
    )
    responsible_department = serializers.CharField(required=False, allow_blank=True, max_length=50)
    solution = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    compensation_amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    compensation_gift = serializers.CharField(required=False, allow_blank=True, max_length=100)
    confirmation_note = serializers.CharField(required=False, allow_blank=True, max_length=2000)

    def service_fields(self, complaint: Complaint) -> dict:
        """The fields this step takes, given and not empty (an empty one changes nothing), as the page."""
        data = self.validated_data
        fields = {
            name: data[name]
            for name in TransitionForm.FIELDS_FOR.get(data["to"], [])
            if data.get(name) not in (None, "")
        }
        if "responsible_staff" in fields:
            username = fields["responsible_staff"]
            staff = Staff.objects.filter(store_id=complaint.store_id, is_active=True, username=username).first()
            if staff is None:
                raise ValidationError(
                    {"responsible_staff": [exceptions.ErrorDetail(_("本店没有这位员工。"), code="not_found")]}
                )
            fields["responsible_staff"] = staff
        return fields


# --- Filters -------------------------------------------------------------------------------------


def _in_range(value: date) -> None:
    if not date(1900, 1, 1) <= value <= date(2999, 12, 31):
        raise DjangoValidationError(_("日期超出范围。"), code="out_of_range")


def _start_of(day: date) -> datetime:
    """The store-local midnight that starts `day` (received_at is an aware time)."""
    return timezone.make_aware(datetime.combine(day, time.min))


@extend_schema_field({"type": "string", "maxLength": 20, "pattern": r"^[A-Za-z0-9_-]*$"})
class StoreCodeFilter(django_filters.CharFilter):
    """A store code (HQ narrows to one store; a store's own staff see their store's anyway)."""


class ComplaintFilterSet(django_filters.FilterSet):
    """The list's filters, within the caller's scope: state, store (HQ), received between two days."""

    status = django_filters.ChoiceFilter(label=_("状态"), choices=Status.choices)
    store = StoreCodeFilter(label=_("门店"), method="by_store", max_length=20)
    received_from = django_filters.DateFilter(label=_("从"), method="from_day", validators=[_in_range])
    received_to = django_filters.DateFilter(label=_("到"), method="to_day", validators=[_in_range])

    class Meta:
        model = Complaint
        fields: list[str] = []  # every filter is declared above

    def by_store(self, queryset, name, value):
        return queryset.filter(store__code=value.upper()) if value else queryset

    def from_day(self, queryset, name, value):
        return queryset.filter(received_at__gte=_start_of(value))

    def to_day(self, queryset, name, value):
        return queryset.filter(received_at__lt=_start_of(value + timedelta(days=1)))


# --- The viewset ---------------------------------------------------------------------------------


class ComplaintCursorPagination(CursorPage):
    """Newest registrations first, by id (unique, never changes: a stable cursor)."""


class StateConflict(exceptions.APIException):
    """The step does not fit the complaint's state now (no such step from here, or approval first)."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def _transition_errors(e: DjangoValidationError) -> exceptions.APIException:
    """The service's refusal as the API answers it: a step that does not exist from the current
    state or waits for approval (an error of the whole request only) is a 409; otherwise a 400."""
    if not hasattr(e, "error_dict"):
        return StateConflict(" ".join(e.messages), code="invalid_transition")
    if set(e.error_dict) == {"__all__"}:
        return StateConflict(" ".join(e.messages), code="approval_required")
    return ValidationError(as_serializer_error(e))


CONFLICT = error_response("The step does not fit the complaint's state (no such step now, or approval first).")


@extend_schema_view(
    list=extend_schema(
        summary="Complaints in the caller's scope", responses={200: ComplaintSerializer, **ERROR_RESPONSES}
    ),
    retrieve=extend_schema(summary="One complaint", responses={200: ComplaintDetailSerializer, **ERROR_RESPONSES}),
    create=extend_schema(
        summary="Register a complaint (登记)",
        request=ComplaintRegisterSerializer,
        responses={201: ComplaintDetailSerializer, **ERROR_RESPONSES},
    ),
)
class ComplaintViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    http_method_names = ["get", "post", "head", "options"]
    filter_backends = [DjangoFilterBackend]
    filterset_class = ComplaintFilterSet
    pagination_class = ComplaintCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the view: no user
            return Complaint.objects.none()
        return complaint_scope(viewer=self.request.user).select_related("store", "member", "responsible_staff")

    def get_serializer_class(self):
        if self.action == "list":
            return ComplaintSerializer
        if self.action == "create":
            return ComplaintRegisterSerializer
        if self.action == "transition":
            return ComplaintTransitionSerializer
        if self.action == "timeline":
            return ComplaintEventSerializer
        return ComplaintDetailSerializer

    def get_object(self) -> Complaint:
        try:
            pk = params.as_pk("id", self.kwargs[self.lookup_field])
        except params.BadParameter:
            raise exceptions.NotFound() from None  # an id past any bigint names no complaint
        complaint = complaint_get(viewer=self.request.user, pk=pk)
        self.check_object_permissions(self.request, complaint)
        return complaint

    def _detail(self, complaint: Complaint, code: int = status.HTTP_200_OK) -> Response:
        complaint = complaint_get(viewer=self.request.user, pk=complaint.pk)
        return Response(ComplaintDetailSerializer(complaint, context=self.get_serializer_context()).data, status=code)

    def create(self, request, *args, **kwargs):
        viewer: Staff = request.user
        serializer = ComplaintRegisterSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        store = data.pop("store", None) or viewer.store
        if store is None:
            raise exceptions.PermissionDenied(_("你没有门店，不能登记投诉。"))
        try:
            complaint = complaint_register(store=store, by=viewer, **data)
        except DjangoValidationError as e:
            raise ValidationError(as_serializer_error(e)) from e
        return self._detail(complaint, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Move a complaint one step (受理, 调查, 方案, 审批, 执行, 确认, 回访, 结案, 重开)",
        request=ComplaintTransitionSerializer,
        responses={200: ComplaintDetailSerializer, 409: CONFLICT, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def transition(self, request, pk=None):
        complaint = self.get_object()
        serializer = ComplaintTransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.service_fields(complaint)
        try:
            complaint_transition(
                complaint=complaint,
                to=serializer.validated_data["to"],
                by=request.user,
                note=serializer.validated_data["note"],
                **fields,
            )
        except DjangoPermissionDenied as e:
            raise exceptions.PermissionDenied(str(e) or None) from e
        except DjangoValidationError as e:
            raise _transition_errors(e) from e
        return self._detail(complaint)

    @extend_schema(
        summary="A complaint's timeline (处理记录), oldest first",
        responses={200: ComplaintEventSerializer(many=True), **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def timeline(self, request, pk=None):
        complaint = self.get_object()
        return Response(ComplaintEventSerializer(complaint_timeline(complaint=complaint), many=True).data)

"""REST API for gift plans (issue 13 item 2): a month's birthday and occasion gifts, one plan, and
marking a plan prepared, delivered or declined, through the gift page's selectors and service.

Scoped by `gift_plan_scope` (HQ every store, everyone else their own; another store's plan is a
404). The list is `gift_plan_list` for a month (`?month=YYYY-MM`, next month by default as on the
page) and, for HQ, a store (`?store=CODE`). `mark` is `gift_plan_mark`, open to any staff of the
store as on the page (whoever hands the gift over); a step the plan's state does not allow is a 409
with the service's message. A client never sets the store, the member, the gift or the status but
through `mark`.
"""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

from accounts.models import Store
from vipcrm import params
from vipcrm.api.pagination import CursorPage
from vipcrm.api.schema import ERROR_RESPONSES, error_response

from .forms import add_months
from .models import GiftPlan, GiftStatus
from .selectors import gift_next_statuses, gift_plan_get, gift_plan_list, gift_plan_scope
from .services import gift_plan_mark, month_bounds


# --- Serializers ---------------------------------------------------------------------------------
class GiftPlanSerializer(serializers.ModelSerializer):
    """A plan as the gift page's row shows it, with the statuses it may be marked next."""

    store = serializers.CharField(source="store.code", read_only=True)
    card_no = serializers.CharField(source="member.card_no", read_only=True)
    member_name = serializers.CharField(source="member.name", read_only=True)
    consultant = serializers.CharField(
        source="member.consultant.username", default=None, read_only=True, allow_null=True
    )
    status_by = serializers.CharField(source="status_by.username", default=None, read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=GiftStatus.choices, read_only=True)
    next_statuses = serializers.SerializerMethodField()

    class Meta:
        model = GiftPlan
        fields = [
            "id",
            "store",
            "member",
            "card_no",
            "member_name",
            "consultant",
            "occasion",
            "occasion_date",
            "label",
            "tier",
            "gift",
            "budget",
            "status",
            "status_by",
            "status_at",
            "next_statuses",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=GiftStatus.choices)))
    def get_next_statuses(self, plan: GiftPlan) -> list[str]:
        return [value for value, _label in gift_next_statuses(plan)]


class GiftMarkSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=GiftStatus.choices, help_text=_("已备好、已送达或已婉拒。"))


# --- Filters -------------------------------------------------------------------------------------


def _a_month(value: str) -> None:
    try:
        params.as_month("month", value)
    except params.BadParameter:
        raise DjangoValidationError(_("请输入月份（YYYY-MM）。"), code="invalid") from None


@extend_schema_field({"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}$", "example": "2026-12"})
class MonthFilter(django_filters.CharFilter):
    """YYYY-MM."""


@extend_schema_field({"type": "string", "maxLength": 20, "pattern": r"^[A-Za-z0-9_-]*$"})
class StoreCodeFilter(django_filters.CharFilter):
    """A store code."""


class GiftPlanFilterSet(django_filters.FilterSet):
    """The gift page's month (next month when not given) and, for HQ, its store; applied together
    by `gift_plan_list`."""

    month = MonthFilter(label=_("月份"), method="no_op", max_length=7, validators=[_a_month])
    store = StoreCodeFilter(label=_("门店"), method="no_op", max_length=20)

    class Meta:
        model = GiftPlan
        fields: list[str] = []

    def no_op(self, queryset, name, value):
        return queryset  # applied by gift_plan_list in filter_queryset

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        year_month = params.as_month("month", data.get("month"))
        first = add_months(timezone.localdate(), 1) if year_month is None else None
        year, month = year_month or (first.year, first.month)
        start, end = month_bounds(year, month)
        store = None
        if code := (data.get("store") or "").upper():
            store = Store.objects.filter(code=code).first()
            if store is None:
                return queryset.none()
        return gift_plan_list(viewer=self.request.user, start=start, end=end, store=store)


class GiftPlanCursorPagination(CursorPage):
    """In date order as on the page; a cursor (a busy month of a whole chain is long)."""

    ordering = ("occasion_date", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


# --- The viewset ---------------------------------------------------------------------------------


class StateConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "invalid_transition"


@extend_schema_view(
    list=extend_schema(summary="A month's gift plans", responses={200: GiftPlanSerializer, **ERROR_RESPONSES}),
    retrieve=extend_schema(summary="One gift plan", responses={200: GiftPlanSerializer, **ERROR_RESPONSES}),
)
class GiftPlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    http_method_names = ["get", "post", "head", "options"]
    serializer_class = GiftPlanSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = GiftPlanFilterSet
    pagination_class = GiftPlanCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the view: no user
            return GiftPlan.objects.none()
        return gift_plan_scope(viewer=self.request.user).select_related("member__consultant", "store", "status_by")

    def get_serializer_class(self):
        return GiftMarkSerializer if self.action == "mark" else GiftPlanSerializer

    def get_object(self) -> GiftPlan:
        try:
            pk = params.as_pk("id", self.kwargs[self.lookup_field])
        except params.BadParameter:
            raise exceptions.NotFound() from None  # an id past any bigint names no plan
        plan = gift_plan_get(viewer=self.request.user, pk=pk)
        self.check_object_permissions(self.request, plan)
        return plan

    @extend_schema(
        summary="Mark a gift prepared, delivered or declined",
        request=GiftMarkSerializer,
        responses={
            200: GiftPlanSerializer,
            409: error_response("The plan's state does not allow that status now."),
            **ERROR_RESPONSES,
        },
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def mark(self, request, pk=None):
        plan = self.get_object()
        serializer = GiftMarkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            gift_plan_mark(plan=plan, status=serializer.validated_data["status"], by=request.user)
        except DjangoValidationError as e:
            if hasattr(e, "error_dict"):
                raise exceptions.ValidationError(as_serializer_error(e)) from e
            raise StateConflict(" ".join(e.messages)) from e
        plan = gift_plan_get(viewer=request.user, pk=plan.pk)
        return Response(GiftPlanSerializer(plan, context=self.get_serializer_context()).data)

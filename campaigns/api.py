"""REST API for campaigns (issue 13 item 2): read only, the list, one campaign and its results.

Scoped like the pages by `campaign_scope`/`campaign_get`: HQ every campaign, a store's staff those
that include their store (another is a 404). The list's `status` is the list page's filter
(`campaign_list`: a launched campaign past its last day counts as ended). The results are the
figures of the results page (`campaign_results_for`): invited, confirmed and attended with the
invitation funnel's meanings (visits.selectors), buyers and sales in the attribution window, the
goals, and a line per consultant (a consultant sees the totals and their own line only).
Planning, launching and archiving stay on the pages.
"""

from __future__ import annotations

import django_filters
from django.db.models import Count, Prefetch
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import Store
from vipcrm import params
from vipcrm.api.pagination import CursorPage
from vipcrm.api.schema import ERROR_RESPONSES

from .models import Campaign, CampaignStatus, CampaignType
from .selectors import campaign_get, campaign_list, campaign_phase, campaign_results_for

# --- Serializers ---------------------------------------------------------------------------------
# campaign_phase's keys: a launched campaign is upcoming, running or (past its last day) ended.
PHASES = [
    ("draft", _("草稿")),
    ("upcoming", _("已发布·未开始")),
    ("running", _("进行中")),
    ("ended", _("已结束")),
    ("archived", _("已归档")),
]


class CampaignSerializer(serializers.ModelSerializer):
    """A campaign as the list shows it: its stores by code, where it stands today and the size of
    its frozen audience (0 before the launch)."""

    stores = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    type = serializers.ChoiceField(choices=CampaignType.choices, read_only=True)
    status = serializers.ChoiceField(choices=CampaignStatus.choices, read_only=True)
    phase = serializers.SerializerMethodField(help_text="Where it stands today (`campaign_phase`).")
    audience_size = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "type",
            "status",
            "phase",
            "stores",
            "start_date",
            "end_date",
            "attribution_days",
            "audience_size",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=PHASES))
    def get_phase(self, campaign: Campaign) -> str:
        return campaign_phase(campaign, today=timezone.localdate())[0]

    def get_audience_size(self, campaign: Campaign) -> int:
        return campaign.audience_size


class CampaignDetailSerializer(CampaignSerializer):
    class Meta(CampaignSerializer.Meta):
        fields = [
            *CampaignSerializer.Meta.fields,
            "budget",
            "goal_invitees",
            "goal_attendance",
            "goal_sales",
            "launched_at",
            "archived_at",
        ]
        read_only_fields = fields


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True, **kwargs)


class FiguresSerializer(serializers.Serializer):
    """One line of the results (`campaigns.selectors.Figures`): the audience, the invitation funnel
    (invited = invitations made; confirmed and attended as on the invitations page), the members
    who bought in the window and what they spent, net of returns."""

    label = serializers.CharField(read_only=True, help_text="The consultant; empty for the total.")
    consultant_id = serializers.IntegerField(read_only=True, allow_null=True)
    audience = serializers.IntegerField(read_only=True)
    invited = serializers.IntegerField(read_only=True)
    confirmed = serializers.IntegerField(read_only=True)
    attended = serializers.IntegerField(read_only=True)
    buyers = serializers.IntegerField(read_only=True)
    sales = _money()
    attendance_rate = serializers.FloatField(
        source="attendance_rate.rate", read_only=True, allow_null=True, help_text="attended / invited"
    )
    confirmation_rate = serializers.FloatField(
        source="confirmation_rate.rate", read_only=True, allow_null=True, help_text="confirmed / invited"
    )
    sales_per_invitee = _money(allow_null=True)


class TotalFiguresSerializer(FiguresSerializer):
    cost_per_buyer = _money(allow_null=True, help_text="budget / buyers")


class CountGoalSerializer(serializers.Serializer):
    actual = serializers.IntegerField(source="numerator", read_only=True)
    goal = serializers.IntegerField(source="denominator", read_only=True)
    rate = serializers.FloatField(read_only=True, allow_null=True, help_text="actual / goal; null without a goal")


class MoneyGoalSerializer(serializers.Serializer):
    actual = _money(source="numerator")
    goal = _money(source="denominator")
    rate = serializers.FloatField(read_only=True, allow_null=True, help_text="actual / goal; null without a goal")


class GoalsSerializer(serializers.Serializer):
    invitees = CountGoalSerializer(read_only=True)
    attendance = CountGoalSerializer(read_only=True)
    sales = MoneyGoalSerializer(read_only=True)


class WindowSerializer(serializers.Serializer):
    start = serializers.DateField(read_only=True)
    end = serializers.DateField(read_only=True)


class CampaignResultsSerializer(serializers.Serializer):
    """The results page's figures (`campaign_results_for`)."""

    window = WindowSerializer(read_only=True, help_text="Purchases on these days count (the attribution window).")
    budget = _money()
    total = TotalFiguresSerializer(read_only=True)
    goals = GoalsSerializer(read_only=True)
    by_consultant = FiguresSerializer(many=True, read_only=True)
    own_only = serializers.BooleanField(read_only=True, help_text="A consultant's view: their own line only.")


# --- Filters -------------------------------------------------------------------------------------


class CampaignFilterSet(django_filters.FilterSet):
    """The list page's filter (campaigns.forms.ListFilterForm), applied by `campaign_list`."""

    status = django_filters.ChoiceFilter(
        label=_("状态"),
        choices=[
            ("draft", _("草稿")),
            ("launched", _("已发布（未结束）")),
            ("ended", _("已结束")),
            ("archived", _("已归档")),
        ],
        method="no_op",
    )

    class Meta:
        model = Campaign
        fields: list[str] = []

    def no_op(self, queryset, name, value):
        return queryset  # applied by campaign_list in filter_queryset

    def filter_queryset(self, queryset):
        status = self.form.cleaned_data.get("status") or ""
        return campaign_list(viewer=self.request.user, status=status)


class CampaignCursorPagination(CursorPage):
    """Newest first, as the list page (by start date, then id)."""

    ordering = ("-start_date", "-id")


# --- The viewset ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Campaigns in the caller's scope", responses={200: CampaignSerializer, **ERROR_RESPONSES}
    ),
    retrieve=extend_schema(summary="One campaign", responses={200: CampaignDetailSerializer, **ERROR_RESPONSES}),
)
class CampaignViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    http_method_names = ["get", "head", "options"]
    filter_backends = [DjangoFilterBackend]
    filterset_class = CampaignFilterSet
    pagination_class = CampaignCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the view: no user
            return Campaign.objects.none()
        return campaign_list(viewer=self.request.user)

    def get_serializer_class(self):
        if self.action == "list":
            return CampaignSerializer
        if self.action == "results":
            return CampaignResultsSerializer
        return CampaignDetailSerializer

    def get_object(self) -> Campaign:
        try:
            pk = params.as_pk("id", self.kwargs[self.lookup_field])
        except params.BadParameter:
            raise exceptions.NotFound() from None  # an id past any bigint names no campaign
        campaign = campaign_get(viewer=self.request.user, pk=pk)
        self.check_object_permissions(self.request, campaign)
        return campaign

    def retrieve(self, request, *args, **kwargs):
        campaign = self.get_object()
        campaign = (
            Campaign.objects.annotate(audience_size=Count("audience", distinct=True))
            .prefetch_related(Prefetch("stores", queryset=Store.objects.order_by("code")))
            .get(pk=campaign.pk)
        )
        return Response(CampaignDetailSerializer(campaign, context=self.get_serializer_context()).data)

    @extend_schema(
        summary="A campaign's results (the results page's figures)",
        responses={200: CampaignResultsSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def results(self, request, pk=None):
        campaign = self.get_object()
        seen = campaign_results_for(viewer=request.user, campaign=campaign, with_rows=False)
        return Response(CampaignResultsSerializer({**seen.figures, "own_only": seen.own_only}).data)

"""The reports' API (issue 13 item 2), each the same read as its page, scoped like it:

- GET /api/v1/reports/monthly/?month=YYYY-MM&store=CODE[&until=YYYY-MM-DD]: the same object as
  `manage.py report_kpis --json`. Store reports are for the store's VIP specialist and manager
  (their own store) and HQ (any store, or all without `store`).
- GET /api/v1/reports/weekly/?week=<a day>&store=CODE: the weekly page's report
  (`dashboards.report_page`): the snapshot's frozen figures (else live), the figures now where the
  week was restated, the people, birthdays, feedback and the commentary. Leads of the store, HQ
  (naming the store); another store is a 404, consultants 403.
- GET /api/v1/reports/chain/?period=…: HQ's chain view (`chain.chain_figures`): every open store,
  region and the chain's total with each rate's numerator and denominator, achievement, tier mix
  and complaints, sorted as the page sorts. HQ only (403 for everyone else, as the page).

A bad query value is a 400 in the one error format (vipcrm/api/errors.py), naming the parameter."""

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.exceptions import ErrorDetail, PermissionDenied, ValidationError
from rest_framework.response import Response

from accounts.models import Store
from members.models import Tier
from vipcrm import params
from vipcrm.api.schema import ERROR_RESPONSES
from vipcrm.rates import Rate

from . import chain, commentary, dashboards, selectors
from .kpis import compute_kpis, parse_month
from .metrics import amount_plain
from .models import SnapshotKind
from .periods import KINDS, Period


@extend_schema(
    summary="A store's (or, for HQ, the chain's) monthly KPIs",
    parameters=[
        OpenApiParameter("month", str, required=True, description="YYYY-MM", pattern=r"^[0-9]{4}-[0-9]{2}$"),
        OpenApiParameter("store", str, description="A store code; HQ may leave it out for every store."),
        OpenApiParameter("until", OpenApiTypes.DATE, description="Count up to this day of the month."),
    ],
    responses={
        200: OpenApiResponse(OpenApiTypes.OBJECT, description="The same object as `manage.py report_kpis --json`."),
        **ERROR_RESPONSES,
    },
)
@api_view(["GET"])
def monthly(request):
    viewer = request.user
    if not viewer.is_store_lead:
        raise PermissionDenied("Store reports are for VIP specialists, managers and HQ.")
    until = params.iso_date(request.GET, "until")  # a malformed date is a 400 naming `until`
    try:
        start, end = parse_month(request.GET.get("month", ""), until)
    except ValueError as e:
        raise ValidationError({"month": str(e)}) from e
    code = request.GET.get("store", "").upper()
    if code:
        store = Store.objects.filter(code=code).first()
        if store is None or (not viewer.is_hq and store.pk != viewer.store_id):
            raise Http404  # another store's report does not exist for this caller
        store_ids, label = [store.pk], store.code
    elif viewer.is_hq:
        store_ids, label = None, None
    else:
        store_ids, label = [viewer.store_id], viewer.store.code
    return Response(compute_kpis(start=start, end=end, store_ids=store_ids, store_label=label).as_json())


# --- Shared shapes ---------------------------------------------------------------------------------


@extend_schema_field({"type": "string", "format": "decimal", "nullable": True, "example": "1300.00"})
class NumberText(serializers.Field):
    """A Decimal as the API shows money and targets: a string (`1300.00`, `0.3500`, `12`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)

    def to_representation(self, value) -> str:
        return str(value)


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True, **kwargs)


class ReportRateSerializer(serializers.Serializer):
    """A rate with what it is made of (vipcrm.rates.Rate): numerator / denominator. A denominator
    of 0 gives no rate (null); null counts: a figure an old snapshot did not keep."""

    numerator = serializers.IntegerField(read_only=True, allow_null=True)
    denominator = serializers.IntegerField(read_only=True, allow_null=True)
    rate = serializers.FloatField(read_only=True, allow_null=True, help_text="A fraction with 4 decimals.")
    percent = serializers.FloatField(read_only=True, allow_null=True, help_text="The page's percentage.")


class ReportShareSerializer(serializers.Serializer):
    """The VIP sales share (VIP sales / the store's entered till totals), or why there is none."""

    value = NumberText(help_text="A fraction with 4 decimals; null without entered till totals.")
    numerator = NumberText(help_text="VIP sales of the days with an entered till total.")
    denominator = NumberText(help_text="The entered till totals.")
    note = serializers.CharField(read_only=True, help_text="Days left out, or why there is no share.")


class ReportTierSerializer(serializers.Serializer):
    tier = serializers.CharField(read_only=True)
    label = serializers.CharField(read_only=True)
    count = serializers.IntegerField(read_only=True, allow_null=True, help_text="Members in the tier at the end.")
    share = serializers.FloatField(read_only=True, allow_null=True, help_text="count / members at the end.")


# --- The weekly report -----------------------------------------------------------------------------


class WeeklyMembersSerializer(serializers.Serializer):
    active_at_start = serializers.IntegerField(read_only=True, allow_null=True)
    churn = ReportRateSerializer(read_only=True)
    repurchase = ReportRateSerializer(read_only=True)
    upgrade = ReportRateSerializer(read_only=True, help_text="Upgraded / members at B or C at the start.")
    win_backs = serializers.IntegerField(read_only=True, allow_null=True)
    downgrades = serializers.IntegerField(read_only=True, allow_null=True)
    new_members = serializers.IntegerField(read_only=True, allow_null=True)


class WeeklySalesSerializer(serializers.Serializer):
    old_vip_sales = _money()
    new_vip_sales = _money()
    vip_sales = _money()
    vip_sales_share = ReportShareSerializer(read_only=True, allow_null=True)


class WeeklyFiguresSerializer(serializers.Serializer):
    """The figures the ledger makes (what a restatement recomputes)."""

    members = WeeklyMembersSerializer(read_only=True)
    tier_mix = ReportTierSerializer(many=True, read_only=True)
    old_vip_sales = _money()
    new_vip_sales = _money()


class WeeklyFollowUpsSerializer(serializers.Serializer):
    completion = ReportRateSerializer(read_only=True)
    on_time = ReportRateSerializer(read_only=True)


class WeeklySatisfactionSerializer(serializers.Serializer):
    scored = serializers.IntegerField(read_only=True, allow_null=True)
    mean = serializers.FloatField(read_only=True, allow_null=True)
    satisfied = ReportRateSerializer(read_only=True, help_text="Scored 4 or 5 / scored.")


class ComplaintCategorySerializer(serializers.Serializer):
    category = serializers.CharField(read_only=True)
    label = serializers.CharField(read_only=True)
    received = serializers.IntegerField(read_only=True)
    closed = serializers.IntegerField(read_only=True)


class WeeklyComplaintsSerializer(serializers.Serializer):
    received = serializers.IntegerField(read_only=True)
    closed = serializers.IntegerField(read_only=True)
    mean_hours_to_first_response = serializers.FloatField(read_only=True, allow_null=True)
    mean_hours_to_close = serializers.FloatField(read_only=True, allow_null=True)
    response_within_sla = ReportRateSerializer(read_only=True)
    solution_within_sla = ReportRateSerializer(read_only=True)
    by_category = ComplaintCategorySerializer(many=True, read_only=True)


class CountByKeySerializer(serializers.Serializer):
    key = serializers.CharField(read_only=True)
    label = serializers.CharField(read_only=True)
    count = serializers.IntegerField(read_only=True)


class WeeklyBirthdaySerializer(serializers.Serializer):
    member_id = serializers.IntegerField(read_only=True, allow_null=True, help_text="null: no longer on file.")
    name = serializers.CharField(read_only=True, allow_null=True)
    day = serializers.DateField(read_only=True)
    tier = serializers.CharField(read_only=True)


class WeeklyPersonSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    no_consultant = serializers.BooleanField(read_only=True, help_text="The receipts naming nobody.")
    due = serializers.IntegerField(read_only=True)
    done = serializers.IntegerField(read_only=True)
    on_time = serializers.IntegerField(read_only=True)
    visits = serializers.IntegerField(read_only=True)
    sales = _money(help_text="As frozen (live: now).")
    sales_restated = _money(allow_null=True, help_text="The ledger's figure now, where restated and different.")


class FeedbackRowSerializer(serializers.Serializer):
    member_id = serializers.IntegerField(read_only=True)
    member = serializers.CharField(read_only=True, help_text="The name shortened, as the page shows it.")
    tier = serializers.CharField(read_only=True)
    day = serializers.DateField(read_only=True)
    satisfaction = serializers.IntegerField(read_only=True, allow_null=True)
    text = serializers.CharField(read_only=True)
    staff = serializers.CharField(read_only=True)


class WeeklyFeedbackSerializer(serializers.Serializer):
    suggestions = FeedbackRowSerializer(many=True, read_only=True)
    suggestions_count = serializers.IntegerField(read_only=True)
    low = FeedbackRowSerializer(many=True, read_only=True, help_text="Visits scored 1–2.")
    low_count = serializers.IntegerField(read_only=True)


class RestatedRowSerializer(serializers.Serializer):
    label = serializers.CharField(read_only=True)
    frozen = serializers.CharField(read_only=True, help_text="As the page prints it.")
    now = serializers.CharField(read_only=True)


class WeeklyRestatementSerializer(serializers.Serializer):
    """The period's ledger changed after the snapshot was taken: the figures now, beside the frozen ones."""

    restated_at = serializers.DateTimeField(read_only=True)
    rows = RestatedRowSerializer(many=True, read_only=True, help_text="The figures that differ, as the page lists.")
    figures = WeeklyFiguresSerializer(read_only=True)


class ReportCommentSerializer(serializers.Serializer):
    author = serializers.CharField(source="author_name", read_only=True)
    text = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class ReportCommentarySerializer(serializers.Serializer):
    """点评与上报 of the snapshot (reports.commentary)."""

    problems = serializers.CharField(read_only=True)
    improvements = serializers.CharField(read_only=True)
    next_actions = serializers.CharField(read_only=True)
    written_by = serializers.CharField(read_only=True, allow_null=True)
    submitted = serializers.BooleanField(read_only=True)
    submitted_at = serializers.DateTimeField(read_only=True, allow_null=True)
    submitted_by = serializers.CharField(read_only=True, allow_null=True)
    acknowledged = serializers.BooleanField(read_only=True)
    acknowledged_at = serializers.DateTimeField(read_only=True, allow_null=True)
    acknowledged_by = serializers.CharField(read_only=True, allow_null=True)
    comments = ReportCommentSerializer(many=True, read_only=True)


class WeeklyReportSerializer(serializers.Serializer):
    """The weekly page's report (`reports.dashboards.report_page`): the snapshot's frozen figures
    when the week was taken (else live, up to today while it runs), and where restated the
    figures now beside them; the commentary once frozen."""

    store = serializers.CharField(read_only=True, help_text="The store's code.")
    store_name = serializers.CharField(read_only=True)
    start = serializers.DateField(read_only=True, help_text="The Monday.")
    end = serializers.DateField(read_only=True, help_text="The Sunday.")
    frozen = serializers.BooleanField(read_only=True, help_text="From the week's snapshot.")
    snapshot_id = serializers.IntegerField(read_only=True, allow_null=True)
    taken_at = serializers.DateTimeField(read_only=True, allow_null=True)
    live_until = serializers.DateField(read_only=True, allow_null=True, help_text="Live and not over: up to this day.")
    members = WeeklyMembersSerializer(read_only=True)
    tier_mix = ReportTierSerializer(many=True, read_only=True)
    sales = WeeklySalesSerializer(read_only=True)
    follow_ups = WeeklyFollowUpsSerializer(read_only=True)
    satisfaction = WeeklySatisfactionSerializer(read_only=True)
    complaints = WeeklyComplaintsSerializer(read_only=True)
    visits_by_channel = CountByKeySerializer(many=True, read_only=True)
    invitations = CountByKeySerializer(many=True, read_only=True, help_text="By status, for dates in the week.")
    birthdays_next_week = WeeklyBirthdaySerializer(many=True, read_only=True)
    people = WeeklyPersonSerializer(many=True, read_only=True)
    feedback = WeeklyFeedbackSerializer(read_only=True)
    restatement = WeeklyRestatementSerializer(read_only=True, allow_null=True, help_text="null: not restated.")
    commentary = ReportCommentarySerializer(read_only=True, allow_null=True, help_text="null: none written yet.")


def _rate(rate: Rate | None) -> dict:
    rate = rate or Rate(None, None)
    return {"numerator": rate.numerator, "denominator": rate.denominator, "rate": rate.rate, "percent": rate.percent}


def _ledger_figures(report: dashboards.Report) -> dict:
    """What the page's member and tier tables and sales lines show of a report's figures."""
    active, churn, repurchase, upgrade, win_backs, downgrades, new_members = report.member_rows
    labels = dict(Tier.choices)
    return {
        "members": {
            "active_at_start": active.count,
            "churn": _rate(churn.rate),
            "repurchase": _rate(repurchase.rate),
            "upgrade": _rate(upgrade.rate),
            "win_backs": win_backs.count,
            "downgrades": downgrades.count,
            "new_members": new_members.count,
        },
        "tier_mix": [
            {"tier": tier, "label": str(labels[tier]), "count": row.count, "share": row.share}
            for tier, row in zip(Tier.values, report.tier_rows, strict=True)
        ],
        "old_vip_sales": report.old_vip_sales,
        "new_vip_sales": report.new_vip_sales,
    }


def _by_key(counts: dict, labelled: list[tuple[str, int]]) -> list[dict]:
    """weekly_context's (label, n) pairs with the keys they were made from (same order)."""
    return [{"key": k, "label": str(label), "count": n} for k, (label, n) in zip(counts, labelled, strict=True)]


def _commentary(viewer, snapshot) -> dict | None:
    thread = commentary.thread_for(viewer=viewer, snapshot=snapshot)
    c = thread.commentary
    if c is None and not thread.comments:
        return None

    def name(person) -> str | None:
        return str(person) if person else None

    return {
        "problems": c.problems if c else "",
        "improvements": c.improvements if c else "",
        "next_actions": c.next_actions if c else "",
        "written_by": name(c and c.written_by),
        "submitted": thread.submitted,
        "submitted_at": c and c.submitted_at,
        "submitted_by": name(c and c.submitted_by),
        "acknowledged": thread.acknowledged,
        "acknowledged_at": c and c.acknowledged_at,
        "acknowledged_by": name(c and c.acknowledged_by),
        "comments": thread.comments,
    }


def weekly_report_json(*, viewer, report: dashboards.Report) -> dict:
    """The weekly page's report as the API answers it (WeeklyReportSerializer)."""
    f, w, snapshot = report.figures, report.weekly, report.snapshot
    ledger = _ledger_figures(report)
    complaints = f.get("complaints", {})
    response_sla, solution_sla = report.complaint_rates
    categories = complaints.get("by_category", {})
    satisfaction = report.satisfaction
    feedback = w["feedback"]
    restatement = None
    if snapshot is not None and snapshot.restated_at is not None:
        now = dashboards.Report(report.store, report.kind, report.start, report.end, snapshot.restated_figures)
        restatement = {
            "restated_at": snapshot.restated_at,
            "rows": snapshot.restated_rows,
            "figures": _ledger_figures(now),
        }
    return {
        "store": report.store.code,
        "store_name": report.store.name,
        "start": report.start,
        "end": report.end,
        "frozen": report.frozen,
        "snapshot_id": snapshot.pk if snapshot else None,
        "taken_at": snapshot.taken_at if snapshot else None,
        "live_until": report.live_until,
        "members": ledger["members"],
        "tier_mix": ledger["tier_mix"],
        "sales": {
            "old_vip_sales": report.old_vip_sales,
            "new_vip_sales": report.new_vip_sales,
            "vip_sales": report.vip_sales,
            "vip_sales_share": report.vip_share,
        },
        "follow_ups": {"completion": _rate(report.rate_completion), "on_time": _rate(report.rate_on_time)},
        "satisfaction": {
            "scored": satisfaction["scored"],
            "mean": satisfaction["mean"],
            "satisfied": _rate(satisfaction["satisfied"]),
        },
        "complaints": {
            "received": complaints.get("received", 0),
            "closed": complaints.get("closed", 0),
            "mean_hours_to_first_response": complaints.get("mean_hours_to_first_response"),
            "mean_hours_to_close": complaints.get("mean_hours_to_close"),
            "response_within_sla": _rate(response_sla),
            "solution_within_sla": _rate(solution_sla),
            "by_category": [
                {"category": key, "label": label, **row}
                for key, (label, row) in zip(categories, report.complaint_categories, strict=True)
            ],
        },
        "visits_by_channel": _by_key(f.get("visits_by_channel", {}), w["visits_by_channel"]),
        "invitations": _by_key(f.get("invitations", {}), w["invitations"]),
        "birthdays_next_week": [
            {"member_id": m.pk if m else None, "name": m.name if m else None, "day": day, "tier": tier}
            for m, day, tier in w["birthdays"]
        ],
        "people": [{"no_consultant": False, "visits": 0, **row} for row in w["people"]],
        "feedback": feedback,
        "restatement": restatement,
        "commentary": _commentary(viewer, snapshot) if snapshot is not None else None,
    }


@extend_schema(
    summary="A store's weekly report, as the weekly page shows it",
    parameters=[
        OpenApiParameter("week", OpenApiTypes.DATE, description="Any day of the week (default: last week)."),
        OpenApiParameter("store", str, description="A store code: HQ names one; others may name only their own."),
    ],
    responses={200: WeeklyReportSerializer, **ERROR_RESPONSES},
)
@api_view(["GET"])
def weekly(request):
    """As the weekly page (reports.views.weekly): the store's VIP specialist and manager (their own
    store; another store is a 404) and HQ (the store it names); consultants 403."""
    viewer = request.user
    if not viewer.is_store_lead:
        raise PermissionDenied(_("周报仅供VIP专员、店长和总部查看。"))
    code = params.text(request.GET, "store", max_length=20).upper()
    store = Store.objects.filter(code=code).first() if code else None
    if code and store is None:
        raise Http404
    store = selectors.store_for(viewer, str(store.pk) if store else None)  # another store: 404
    if store is None:
        raise ValidationError({"store": [ErrorDetail(_("总部请指定门店代码。"), code="required")]})
    week, today = request.GET.get("week"), timezone.localdate()
    try:
        context = dashboards.report_page(viewer=viewer, store=store, kind=SnapshotKind.WEEKLY, raw=week, today=today)
    except ValueError as e:
        raise ValidationError({"week": [ErrorDetail(str(e), code="invalid")]}) from None
    return Response(WeeklyReportSerializer(weekly_report_json(viewer=viewer, report=context["report"])).data)


# --- The chain view --------------------------------------------------------------------------------


class ChainTierSerializer(serializers.Serializer):
    tier = serializers.CharField(read_only=True)
    count = serializers.IntegerField(read_only=True)
    share = ReportRateSerializer(read_only=True, help_text="count / members at the end.")


class ChainActualSerializer(serializers.Serializer):
    value = NumberText(help_text="Money, a count, or a rate as a fraction; null: none (see note).")
    numerator = NumberText()
    denominator = NumberText()
    note = serializers.CharField(read_only=True)


class ChainAchievementSerializer(serializers.Serializer):
    """achievement = actual / target (reports.metrics.Achievement)."""

    metric = serializers.CharField(read_only=True)
    label = serializers.CharField(read_only=True)
    target = NumberText(help_text="The period's target as the targets page writes it (a rate: the year's, 0.35).")
    actual = ChainActualSerializer(read_only=True)
    percent = serializers.FloatField(read_only=True, allow_null=True)


class ChainFollowUpsSerializer(serializers.Serializer):
    due = serializers.IntegerField(read_only=True)
    done = serializers.IntegerField(read_only=True)
    on_time = serializers.IntegerField(read_only=True)
    completion = ReportRateSerializer(read_only=True)
    on_time_rate = ReportRateSerializer(read_only=True)


class ChainSatisfactionSerializer(serializers.Serializer):
    scored = serializers.IntegerField(read_only=True)
    mean = serializers.FloatField(read_only=True, allow_null=True)
    satisfied = ReportRateSerializer(read_only=True)


class ChainComplaintsSerializer(serializers.Serializer):
    received = serializers.IntegerField(read_only=True)
    closed = serializers.IntegerField(read_only=True)
    solution_due = serializers.IntegerField(read_only=True, help_text="Received less those rejected.")
    response_within_sla = ReportRateSerializer(read_only=True)
    solution_within_sla = ReportRateSerializer(read_only=True)
    mean_hours_to_first_response = serializers.FloatField(read_only=True, allow_null=True)
    mean_hours_to_close = serializers.FloatField(read_only=True, allow_null=True)


class ChainLineSerializer(serializers.Serializer):
    """A line of the chain view (reports.chain.Line): a store, a region or the chain's total; the
    columns of the page and its CSV, each rate with its numerator and denominator."""

    rank = serializers.IntegerField(read_only=True, help_text="Place by the sort (equal values share it); 0: no value.")
    label = serializers.CharField(read_only=True)
    store = serializers.CharField(read_only=True, allow_null=True, help_text="A store line's code.")
    region = serializers.CharField(read_only=True, allow_null=True, help_text="The region ('' for none).")
    stores = serializers.ListField(child=serializers.CharField(), read_only=True, help_text="The stores' codes.")
    base = serializers.IntegerField(read_only=True, help_text="Active members at the start.")
    churned = serializers.IntegerField(read_only=True)
    churn = ReportRateSerializer(read_only=True)
    repurchased = serializers.IntegerField(read_only=True)
    repurchase = ReportRateSerializer(read_only=True)
    upgrade_base = serializers.IntegerField(read_only=True, help_text="Members at B or C at the start.")
    upgraded = serializers.IntegerField(read_only=True)
    upgrade = ReportRateSerializer(read_only=True)
    win_backs = serializers.IntegerField(read_only=True)
    downgraded = serializers.IntegerField(read_only=True)
    new_members = serializers.IntegerField(read_only=True)
    members_at_end = serializers.IntegerField(read_only=True)
    tier_mix = ChainTierSerializer(many=True, read_only=True)
    old_vip_sales = _money()
    new_vip_sales = _money()
    vip_sales = _money()
    achievement = ChainAchievementSerializer(many=True, read_only=True)
    follow_ups = ChainFollowUpsSerializer(read_only=True)
    satisfaction = ChainSatisfactionSerializer(read_only=True)
    complaints = ChainComplaintsSerializer(read_only=True)


class ChainPeriodSerializer(serializers.Serializer):
    kind = serializers.CharField(read_only=True)
    start = serializers.DateField(read_only=True)
    end = serializers.DateField(read_only=True)
    label = serializers.CharField(read_only=True)


class ChainSerializer(serializers.Serializer):
    """The chain page's figures (`reports.chain.chain_figures`), the same its CSV has."""

    period = ChainPeriodSerializer(read_only=True)
    until = serializers.DateField(read_only=True, help_text="The figures run to this day.")
    live = serializers.BooleanField(read_only=True, help_text="The period is not over: read up to today.")
    sort = serializers.CharField(read_only=True)
    stores = ChainLineSerializer(many=True, read_only=True, help_text="Every open store, sorted.")
    regions = ChainLineSerializer(many=True, read_only=True, help_text="By region, sorted.")
    total = ChainLineSerializer(read_only=True)


def _line_json(line: chain.Line, codes: dict[int, str]) -> dict:
    return {
        "rank": line.rank,
        "label": line.label,
        "store": line.store.code if line.store else None,
        "region": line.store.region.strip() if line.store else line.region,
        "stores": [codes[pk] for pk in line.store_ids],
        "base": line.base,
        "churned": line.churned,
        "churn": _rate(line.churn.rate),
        "repurchased": line.repurchased,
        "repurchase": _rate(line.repurchase.rate),
        "upgrade_base": line.upgrade_base,
        "upgraded": line.upgraded,
        "upgrade": _rate(line.upgrade.rate),
        "win_backs": line.win_backs,
        "downgraded": line.downgraded,
        "new_members": line.new_members,
        "members_at_end": line.members_at_end,
        "tier_mix": [{"tier": t, "count": line.tiers[t], "share": _rate(line.tier_share(t))} for t in Tier.values],
        "old_vip_sales": line.old_vip_sales,
        "new_vip_sales": line.new_vip_sales,
        "vip_sales": line.vip_sales,
        "achievement": [
            {
                "metric": str(a.metric),
                "label": str(a.label),
                "target": None if a.target is None else amount_plain(a.metric, a.target),
                "actual": a.actual,
                "percent": a.percent,
            }
            for a in line.achievements
        ],
        "follow_ups": {
            "due": line.due,
            "done": line.done,
            "on_time": line.on_time,
            "completion": _rate(line.completion),
            "on_time_rate": _rate(line.on_time_cell.rate),
        },
        "satisfaction": {
            "scored": line.scored,
            "mean": line.satisfaction_mean,
            "satisfied": _rate(line.satisfied_cell.rate),
        },
        "complaints": {
            "received": line.received,
            "closed": line.closed,
            "solution_due": line.solution_due,
            "response_within_sla": _rate(line.response_sla.rate),
            "solution_within_sla": _rate(line.solution_sla.rate),
            "mean_hours_to_first_response": line.mean_hours_to_first_response,
            "mean_hours_to_close": line.mean_hours_to_close,
        },
    }


def chain_json(*, figures: chain.Chain, key: str, descending: bool) -> dict:
    """The chain's figures as the API answers them (ChainSerializer), lines sorted as the page sorts."""
    codes = {line.store.pk: line.store.code for line in figures.stores}
    stores = chain.sorted_lines(figures.stores, key, descending)
    stores_json = [_line_json(line, codes) for line in stores]
    regions = [_line_json(line, codes) for line in chain.sorted_lines(figures.regions, key, descending)]
    return {
        "period": {**figures.period.as_json(), "label": figures.period.label},
        "until": figures.until,
        "live": figures.live,
        "sort": ("-" if descending else "") + key,
        "stores": stores_json,
        "regions": regions,
        "total": _line_json(figures.total, codes),
    }


SORT_CHOICES = [prefix + key for key in chain.SORTS for prefix in ("", "-")]


@extend_schema(
    summary="HQ's chain view: every open store (and region) side by side for a period",
    parameters=[
        OpenApiParameter("period", str, enum=KINDS, description="The period's kind (default: this month)."),
        OpenApiParameter("month", str, description="YYYY-MM (month, mid_month).", pattern=r"^[0-9]{4}-[0-9]{2}$"),
        OpenApiParameter("quarter", str, description="YYYY-Qn (quarter).", pattern=r"^[0-9]{4}-Q[1-4]$"),
        OpenApiParameter("year", str, description="YYYY (year).", pattern=r"^[0-9]{4}$"),
        OpenApiParameter("week", OpenApiTypes.DATE, description="Any day of the week (week)."),
        OpenApiParameter("until", OpenApiTypes.DATE, description="The last day (mid_month; default the 15th)."),
        OpenApiParameter("start", OpenApiTypes.DATE, description="The first day (range)."),
        OpenApiParameter("end", OpenApiTypes.DATE, description="The last day (range; at most three years)."),
        OpenApiParameter("sort", str, enum=SORT_CHOICES, description="A column, `-` first for descending."),
    ],
    responses={200: ChainSerializer, **ERROR_RESPONSES},
)
@api_view(["GET"])
def chain_view(request):
    """As the chain page (reports.chain_views.chain_view): HQ only, everyone else 403."""
    if not request.user.is_hq:
        raise PermissionDenied(_("门店对比仅供总部查看。"))
    sort = params.choice(request.GET, "sort", SORT_CHOICES, default=chain.DEFAULT_SORT)
    key, descending = chain.sort_key(sort)
    today = timezone.localdate()
    try:
        period = Period.from_params(request.GET, today=today)
    except (ValueError, OverflowError) as e:  # OverflowError: a week at the very end of the calendar
        message = str(e) if isinstance(e, ValueError) else _("日期超出范围。")
        raise ValidationError({"period": [ErrorDetail(message, code="invalid")]}) from None
    figures = chain.chain_figures(period=period, today=today)
    return Response(ChainSerializer(chain_json(figures=figures, key=key, descending=descending)).data)

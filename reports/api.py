"""GET /api/v1/reports/monthly/?month=YYYY-MM&store=CODE[&until=YYYY-MM-DD]: the same object as
`manage.py report_kpis --json`. Store reports are for the store's VIP specialist and manager
(their own store) and HQ (any store, or all without `store`)."""

from django.contrib.auth.decorators import login_not_required
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from accounts.models import Store
from vipcrm import params
from vipcrm.api.schema import ERROR_RESPONSES

from .kpis import compute_kpis, parse_month


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
@login_not_required  # DRF authenticates (session or basic) and answers 401/403, not a redirect
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

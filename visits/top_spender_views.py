"""The half-month top spenders page (issue 12 item 6) for store leads: who spent most in a
half-month, the members flagged important, and their revisits. The rules are in top_spenders.py."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.models import Store
from members.unassigned import unassigned_store
from vipcrm import params
from vipcrm.permissions import STORE_LEADS, role_required

from .top_spenders import IMPORTANT_TAG, half_month_after, half_month_before, half_month_of, top_n, top_spenders_for


@require_GET
@role_required(*STORE_LEADS)
def top_spenders_page(request: HttpRequest) -> HttpResponse:
    """?half=<any date in it> (default: the half-month in progress); HQ picks ?store=."""
    store = unassigned_store(viewer=request.user, store_id=request.GET.get("store"))
    today = timezone.localdate()
    start, end = half_month_of(min(params.iso_date(request.GET, "half", default=today), today))
    context = {
        "store": store,
        "stores": Store.objects.order_by("code") if request.user.is_hq else [],
        "rows": top_spenders_for(viewer=request.user, store=store, start=start, end=end),
        "start": start,
        "end": end,
        "in_progress": end >= today,
        "previous": half_month_before(start)[0],
        "next": half_month_after(start)[0] if end < today else None,
        "n": top_n(),
        "important_tag": IMPORTANT_TAG,
    }
    return render(request, "visits/top_spenders.html", context)

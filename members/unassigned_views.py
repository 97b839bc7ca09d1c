"""The unassigned members page (issue 11 item 2): the store's members nobody serves, each with a
suggested owner; one click gives a member to the person picked on its row (the suggestion unless
changed), or the checked rows to one person, or every row on the page to its pick.

The VIP specialist and the manager work on their own store, HQ on the store it picks. The rules
live in members/unassigned.py; the owner changes in members.ownership.members_assign."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.models import Store
from vipcrm.permissions import STORE_LEADS, role_required

from .unassigned import (
    as_plan,
    store_consultants,
    suggest_owners,
    unassigned_assign,
    unassigned_members,
    unassigned_store,
)

PER_PAGE = 50


@role_required(*STORE_LEADS)
def unassigned_list(request: HttpRequest) -> HttpResponse:
    store = unassigned_store(viewer=request.user, store_id=request.GET.get("store"))
    page = Paginator(unassigned_members(viewer=request.user, store=store), PER_PAGE).get_page(request.GET.get("page"))
    consultants = store_consultants(store)
    suggestions = suggest_owners(page.object_list, store=store, consultants=consultants)
    rows = [(m, suggestions.get(m.pk)) for m in page.object_list]
    context = {
        "store": store,
        "stores": Store.objects.order_by("code") if request.user.is_hq else [],
        "page": page,
        "rows": rows,
        "consultants": consultants,
    }
    return render(request, "members/unassigned_list.html", context)


@require_POST
@role_required(*STORE_LEADS)
def unassigned_assign_view(request: HttpRequest) -> HttpResponse:
    """The page's buttons: `one` (a row to its pick), `bulk` (the checked rows to one person) or
    `all` (every row of the page to its pick). Back to the same page of the list."""
    store = unassigned_store(viewer=request.user, store_id=request.POST.get("store"))
    plan, problem = _plan(request)
    if problem:
        messages.error(request, problem)
    else:
        try:
            note = request.POST.get("note", "")[:200]
            changed, skipped = unassigned_assign(by=request.user, store=store, plan=plan, note=note)
        except ValidationError as e:
            messages.error(request, " ".join(e.messages))
        else:
            messages.success(request, _("已为 %(n)s 位会员分配专属顾问。") % {"n": changed})
            if skipped:
                messages.warning(request, _("%(n)s 位会员已由他人分配，未改动。") % {"n": skipped})
    query = {"store": store.pk} if request.user.is_hq else {}
    if request.POST.get("page", "").isdigit():
        query["page"] = request.POST["page"]
    return redirect(reverse("members:unassigned") + ("?" + urlencode(query) if query else ""))


def _plan(request: HttpRequest) -> tuple[dict[int, int], str]:
    """{member id: consultant id} the button asks for, or why there is nothing to do."""
    post = request.POST
    if "one" in post:
        ids = [post["one"]]
    elif "bulk" in post:
        ids = post.getlist("member")
        if not ids:
            return {}, _("请先勾选要分配的会员。")
        if not post.get("bulk_consultant"):
            return {}, _("请选择把勾选的会员分配给谁。")
        return as_plan((i, post["bulk_consultant"]) for i in ids), ""
    else:
        ids = post.getlist("row")
    plan = as_plan((i, post[f"pick_{i}"]) for i in ids if post.get(f"pick_{i}"))
    return plan, "" if plan else _("请为会员选择顾问。")

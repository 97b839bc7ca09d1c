"""The "家庭与推荐" section of a member's page: list, add and remove links (htmx, or plain POSTs).

Whoever may edit the member may edit their links (`can_edit_member`); another store's member is a
404 (`member_get`), and the picker only offers members the viewer may see.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Staff

from .models import Member, MemberRelation
from .relation_forms import RelationForm, relation_picks
from .relations import member_relations, relation_add, relation_get, relation_remove
from .selectors import can_edit_member, displayed_phone, member_get


def relations_context(viewer: Staff, member: Member, *, form: RelationForm | None = None) -> dict:
    """What `members/_relations.html` needs (also for the member page's context)."""
    can_edit = can_edit_member(viewer, member)
    return {
        "relations": member_relations(viewer=viewer, member=member),
        "can_edit_relations": can_edit,
        "relation_form": form or (RelationForm(viewer=viewer, member=member) if can_edit else None),
        "relation_form_open": form is not None,
    }


def _editable_member(request: HttpRequest, pk: int) -> Member:
    member = member_get(viewer=request.user, pk=pk)
    if not can_edit_member(request.user, member):
        raise PermissionDenied
    return member


def _section(request: HttpRequest, member: Member, form: RelationForm | None = None) -> HttpResponse:
    """After an htmx add/remove: the section again; after a plain POST: back to the page (or the
    form page with its errors)."""
    if request.htmx:
        context = {"member": member, **relations_context(request.user, member, form=form)}
        return render(request, "members/_relations.html", context)
    if form is not None:
        return render(request, "members/relation_form.html", {"member": member, "form": form})
    return redirect("members:detail", pk=member.pk)


def relation_create(request: HttpRequest, pk: int) -> HttpResponse:
    member = _editable_member(request, pk)
    form = RelationForm(request.POST or None, viewer=request.user, member=member)
    if request.method != "POST":
        return render(request, "members/relation_form.html", {"member": member, "form": form})
    if form.is_valid():
        try:
            relation_add(member=member, by=request.user, **form.relation_kwargs())
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            if not request.htmx:
                messages.success(request, _("已添加家庭关系。"))
            return _section(request, member)
    return _section(request, member, form)


@require_POST
def relation_delete(request: HttpRequest, pk: int, relation_pk: int) -> HttpResponse:
    member = _editable_member(request, pk)
    try:
        relation = relation_get(member=member, pk=relation_pk)
    except MemberRelation.DoesNotExist:
        raise Http404 from None
    relation_remove(relation=relation, by=request.user)
    if not request.htmx:
        messages.success(request, _("已删除家庭关系。"))
    return _section(request, member)


@require_GET
def relation_pick(request: HttpRequest, pk: int) -> HttpResponse:
    """The picker's results (htmx): members the viewer may link, found by card, name or phone."""
    member = _editable_member(request, pk)
    text = (request.GET.get("rel-find") or request.GET.get("q") or "")[:50]
    cross_site = request.headers.get("Sec-Fetch-Site") == "cross-site"  # see member_search
    picks = [
        {"member": m, "phone": displayed_phone(request.user, m), "other_store": m.home_store_id != member.home_store_id}
        for m in relation_picks(viewer=request.user, member=member, text=text, cross_site=cross_site)
    ]
    return render(request, "members/_relation_picks.html", {"member": member, "picks": picks, "text": text})

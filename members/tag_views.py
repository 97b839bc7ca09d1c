"""The chain's member tags: store leads list and add them; managers and HQ rename, merge and
delete them, seeing first how many members (in all stores) the change touches (members.tags)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from vipcrm.permissions import MANAGERS, STORE_LEADS, role_required

from .tag_forms import TagMergeForm, TagNameForm
from .tags import can_edit_tags, tag_create, tag_delete, tag_list, tag_merge_into, tag_rename


def _render_list(request: HttpRequest, form: TagNameForm, status: int = 200) -> HttpResponse:
    context = {"tags": tag_list(), "form": form, "can_edit": can_edit_tags(request.user)}
    return render(request, "members/tag_list.html", context, status=status)


@role_required(*STORE_LEADS)
def tags(request: HttpRequest) -> HttpResponse:
    return _render_list(request, TagNameForm())


@require_POST
@role_required(*STORE_LEADS)
def tag_add(request: HttpRequest) -> HttpResponse:
    form = TagNameForm(request.POST)
    if form.is_valid():
        try:
            tag = tag_create(name=form.cleaned_data["name"], by=request.user)
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(request, _("已添加标签“%(name)s”。") % {"name": tag.name})
            return redirect("members:tags")
    return _render_list(request, form, status=400)


def _tag(pk: int):
    return get_object_or_404(tag_list(), pk=pk)  # with its member count


@role_required(*MANAGERS)
def tag_rename_view(request: HttpRequest, pk: int) -> HttpResponse:
    tag = _tag(pk)
    form = TagNameForm(request.POST or None, initial={"name": tag.name})
    if request.method == "POST" and form.is_valid():
        try:
            old = tag.name
            tag_rename(tag=tag, name=form.cleaned_data["name"], by=request.user)
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(request, _("已将标签“%(old)s”改名为“%(new)s”。") % {"old": old, "new": tag.name})
            return redirect("members:tags")
    return render(request, "members/tag_form.html", {"tag": tag, "form": form, "action": "rename"})


@role_required(*MANAGERS)
def tag_merge_view(request: HttpRequest, pk: int) -> HttpResponse:
    tag = _tag(pk)
    form = TagMergeForm(request.POST or None, tag=tag)
    if request.method == "POST" and form.is_valid():
        target = form.cleaned_data["target"]
        try:
            count = tag_merge_into(tag=tag, target=target, by=request.user)
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(
                request,
                _("已将标签“%(tag)s”合并到“%(target)s”（%(count)s 位会员）。")
                % {"tag": tag.name, "target": target.name, "count": count},
            )
            return redirect("members:tags")
    return render(request, "members/tag_form.html", {"tag": tag, "form": form, "action": "merge"})


@role_required(*MANAGERS)
def tag_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: how many members carry the tag; POST: delete it (it comes off all of them)."""
    tag = _tag(pk)
    if request.method == "POST":
        count = tag_delete(tag=tag, by=request.user)
        messages.success(request, _("已删除标签“%(name)s”（%(count)s 位会员）。") % {"name": tag.name, "count": count})
        return redirect("members:tags")
    return render(request, "members/tag_form.html", {"tag": tag, "action": "delete"})

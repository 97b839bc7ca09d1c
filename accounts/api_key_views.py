"""POS key pages (issue 13 item 3): managers their store's keys, HQ every store's.

A new key is shown once, on the answer to the POST that created it (never stored, never in a
redirect or the session), with a copy button; revoking asks for confirmation on its own page.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache

from vipcrm import params
from vipcrm.permissions import MANAGERS, role_required

from .api_keys import api_key_create, api_key_revoke, api_keys_for
from .models import ApiKey, Store


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("名称"), max_length=60, help_text=gettext_lazy("例如收银台编号：“1 号收银台”。")
    )
    store = forms.ModelChoiceField(label=gettext_lazy("门店"), queryset=Store.objects.none())

    def __init__(self, *args, viewer, **kwargs):
        super().__init__(*args, **kwargs)
        if viewer.is_hq:
            self.fields["store"].queryset = Store.objects.filter(is_active=True).order_by("code")
        else:
            del self.fields["store"]  # a manager's keys are their own store's


def _page(request, *, form, created=None):
    viewer = request.user
    store_id = params.pk(request.GET, "store") if viewer.is_hq else None
    keys = api_keys_for(viewer=viewer, store_id=store_id)
    page = Paginator(keys, 100).get_page(params.integer(request.GET, "page", default=1, min_value=1))
    context = {
        "keys": page,
        "page": page,
        "form": form,
        "created": created,
        "store_id": store_id,
        "stores": Store.objects.order_by("code") if viewer.is_hq else [],
    }
    return render(request, "accounts/api_keys.html", context)


@never_cache  # the page that shows a new key must not be kept by any cache
@role_required(*MANAGERS)
def api_keys(request):
    """The keys, and a form to create one; the answer to that form shows the new key once."""
    viewer = request.user
    form = ApiKeyForm(request.POST or None, viewer=viewer)
    if request.method == "POST" and form.is_valid():
        store = form.cleaned_data["store"] if viewer.is_hq else viewer.store
        created = api_key_create(store=store, name=form.cleaned_data["name"], by=viewer)
        return _page(request, form=ApiKeyForm(viewer=viewer), created=created)
    return _page(request, form=form)


def _key_get(viewer, pk: int) -> ApiKey:
    """The key, or 404 outside the viewer's stores (another store's key is a 404, not a 403)."""
    api_key = api_keys_for(viewer=viewer).filter(pk=pk).first()
    if api_key is None:
        raise Http404
    return api_key


@role_required(*MANAGERS)
def api_key_revoke_view(request, pk: int):
    """GET asks to confirm; POST revokes (the key's next request is a 401)."""
    api_key = _key_get(request.user, pk)
    if request.method == "POST":
        api_key_revoke(api_key=api_key, by=request.user)
        messages.success(request, _("密钥 %(prefix)s 已吊销。") % {"prefix": api_key.prefix})
        return redirect("api_keys")
    return render(request, "accounts/api_key_revoke.html", {"api_key": api_key})

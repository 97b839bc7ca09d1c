"""Pages for the stores' webhooks (issue 13 item 4; duties.webhooks holds the rules and the sending).

A store's manager (HQ for any store) adds a URL with the events it wants, sees its signing secret,
disables or enables it, and reads the delivery log (status, attempts, last answer), resending a
delivery that failed for good. Another store's hook is a 404; other roles get a 403.
"""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.models import Store
from duties.models import DeliveryStatus, WebhookEvent
from duties.webhooks import delivery_resend, webhook_create, webhook_get, webhook_set_active, webhooks_visible
from vipcrm.permissions import MANAGERS, role_required

from .forms import ServiceErrorsMixin

DELIVERIES_PER_PAGE = 50


class WebhookForm(ServiceErrorsMixin, forms.Form):
    store = forms.ModelChoiceField(label=gettext_lazy("门店"), queryset=Store.objects.none())
    url = forms.URLField(
        label=gettext_lazy("接收地址"),
        max_length=500,
        assume_scheme="https",
        help_text=gettext_lazy("必须是 https:// 地址。每次事件都会向该地址发送一个带签名的 POST 请求。"),
    )
    events = forms.MultipleChoiceField(
        label=gettext_lazy("事件"),
        choices=WebhookEvent.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=WebhookEvent.values,
    )

    def __init__(self, *args, viewer, **kwargs):
        super().__init__(*args, **kwargs)
        if viewer.is_hq:
            self.fields["store"].queryset = Store.objects.order_by("code")
        else:
            del self.fields["store"]
        self.helper = FormHelper()
        self.helper.form_tag = False


@role_required(*MANAGERS)
def webhooks(request: HttpRequest) -> HttpResponse:
    hooks = webhooks_visible(viewer=request.user).annotate(
        pending=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.PENDING)),
        failed=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)),
    )
    return render(request, "members/webhooks.html", {"hooks": hooks})


@role_required(*MANAGERS)
def webhook_add(request: HttpRequest) -> HttpResponse:
    form = WebhookForm(request.POST or None, viewer=request.user)
    if request.method == "POST" and form.is_valid():
        store = form.cleaned_data.get("store") or request.user.store
        try:
            hook = webhook_create(
                store=store, url=form.cleaned_data["url"], events=form.cleaned_data["events"], by=request.user
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("已添加 Webhook。请把签名密钥交给接收方，用于校验每次请求。"))
            return redirect("members:webhook", pk=hook.pk)
    return render(request, "members/webhook_form.html", {"form": form})


@role_required(*MANAGERS)
def webhook_detail(request: HttpRequest, pk: int) -> HttpResponse:
    hook = webhook_get(viewer=request.user, pk=pk)
    page = Paginator(hook.deliveries.order_by("-created_at", "-pk"), DELIVERIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "members/webhook_detail.html", {"hook": hook, "page": page})


@require_POST
@role_required(*MANAGERS)
def webhook_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    hook = webhook_get(viewer=request.user, pk=pk)
    active = request.POST.get("active") == "1"
    webhook_set_active(webhook=hook, active=active, by=request.user)
    messages.success(request, _("已启用 Webhook。") if active else _("已停用 Webhook：不再发送新的事件。"))
    return redirect("members:webhook", pk=hook.pk)


@require_POST
@role_required(*MANAGERS)
def webhook_resend(request: HttpRequest, pk: int, delivery_pk: int) -> HttpResponse:
    hook = webhook_get(viewer=request.user, pk=pk)
    delivery = hook.deliveries.filter(pk=delivery_pk).first()
    if delivery is None:
        raise Http404
    try:
        delivery_resend(delivery=delivery, by=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("已重新排队发送。"))
    return redirect("members:webhook", pk=hook.pk)

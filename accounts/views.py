from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse, reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from vipcrm import params
from vipcrm.permissions import MANAGERS, STORE_LEADS, role_required

from .forms import AgreementForm, StaffDeactivateForm, StaffForm, StaffPasswordResetForm
from .models import Notification, Store
from .passwords import can_reset_password, staff_password_changed, staff_password_reset
from .selectors import (
    agreement_current_version,
    agreement_get,
    agreement_unsigned,
    agreements_on_file,
    staff_for_password_reset,
    staff_get,
    staff_list_rows,
)
from .services import (
    SCAN_CONTENT_TYPES,
    agreement_record,
    audit_log,
    can_manage_staff,
    can_record_agreement,
    owned_member_count,
    scan_kind,
    staff_create,
    staff_deactivate,
    staff_reactivate,
    staff_update,
)


def home(request):
    # The day's follow-up list is what store staff open the app for; HQ compares the stores.
    if getattr(request.user, "is_hq", False):
        return redirect("reports:chain")
    return redirect("visits:today")


def notifications(request):
    """My notifications (complaint escalations and the like), newest first."""
    page_number = params.integer(request.GET, "page", default=1, min_value=1)
    page = Paginator(Notification.objects.filter(recipient=request.user), 30).get_page(page_number)
    return render(request, "accounts/notifications.html", {"page": page})


@require_POST
def notifications_read(request):
    Notification.objects.filter(recipient=request.user, read_at__isnull=True).update(read_at=timezone.now())
    return redirect("notifications")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Every staff member changes their own password here (the old one, then the new one twice);
    after a manager's reset it is the only page open to them until they do."""

    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("password_change_done")

    def form_valid(self, form):
        response = super().form_valid(form)
        staff_password_changed(staff=form.user)
        return response


STAFF_STATUSES = ("active", "inactive", "all")


@role_required(*MANAGERS)
def staff_list(request):
    """The staff a manager (their store) or HQ (every store, or one: ?store=) looks after, with
    their role, agreement, members owned and open tasks, and what the viewer may do to each."""
    viewer = request.user
    store_id = params.pk(request.GET, "store") if viewer.is_hq else None
    status = params.choice(request.GET, "status", STAFF_STATUSES, default="active")
    version = agreement_current_version()
    rows = staff_list_rows(viewer=viewer, version=version, store_id=store_id, status=status)
    page = Paginator(rows, 100).get_page(params.integer(request.GET, "page", default=1, min_value=1))
    for person in page:
        person.can_manage = can_manage_staff(viewer=viewer, staff=person)
        person.can_reset = can_reset_password(viewer=viewer, staff=person)
    context = {
        "people": page,
        "page": page,
        "status": status,
        "store_id": store_id,
        "stores": Store.objects.order_by("code") if viewer.is_hq else [],
        "version": version,
        "unsigned_count": agreement_unsigned(viewer=viewer, version=version, store_id=store_id).count(),
    }
    return render(request, "accounts/staff_list.html", context)


@role_required(*MANAGERS)
def staff_create_view(request):
    """A new colleague, with a temporary password shown once (they choose their own at first login)."""
    viewer = request.user
    form = StaffForm(request.POST or None, viewer=viewer)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            staff = staff_create(
                username=data["username"],
                role=data["role"],
                store=form.chosen_store,
                display_name=data["display_name"].strip(),
                email=data["email"],
                by=viewer,
            )
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            password = staff_password_reset(staff=staff, by=viewer)
            context = {"staff": staff, "password": password, "created": True}
            return render(request, "accounts/staff_password_reset_done.html", context)
    return render(request, "accounts/staff_form.html", {"form": form})


@role_required(*MANAGERS)
def staff_edit(request, pk: int):
    viewer = request.user
    staff = staff_get(viewer=viewer, pk=pk)
    if not can_manage_staff(viewer=viewer, staff=staff):
        raise PermissionDenied
    form = StaffForm(request.POST or None, viewer=viewer, staff=staff)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            staff_update(
                staff=staff,
                by=viewer,
                role=data["role"],
                display_name=data["display_name"],
                email=data["email"],
                store=form.chosen_store,
            )
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(request, _("已保存 %(name)s 的资料。") % {"name": staff})
            return redirect("staff_list")
    return render(request, "accounts/staff_form.html", {"form": form, "staff": staff})


def _handover_url(staff) -> str | None:
    try:
        return reverse("members:handover") + f"?from={staff.pk}"
    except NoReverseMatch:  # the hand-over page is not installed
        return None


@role_required(*MANAGERS)
def staff_deactivate_view(request, pk: int):
    """Switch an account off after a confirmation. Someone who still owns members is sent to the
    hand-over page first (members:handover?from=<pk>), with the refusal as a message."""
    viewer = request.user
    staff = staff_get(viewer=viewer, pk=pk)
    if not can_manage_staff(viewer=viewer, staff=staff):
        raise PermissionDenied
    form = StaffDeactivateForm(request.POST if request.method == "POST" else None)  # the note is optional
    if request.method == "POST" and form.is_valid():
        try:
            staff_deactivate(staff=staff, by=viewer, note=form.cleaned_data["note"])
        except ValidationError as e:
            messages.error(request, " ".join(e.messages))
            if e.code == "owns_members" and (url := _handover_url(staff)):
                return redirect(url)
            return redirect("staff_list")
        messages.success(request, _("已停用 %(name)s 的账号。") % {"name": staff})
        return redirect("staff_list")
    context = {"staff": staff, "form": form, "owned": owned_member_count(staff), "handover_url": _handover_url(staff)}
    return render(request, "accounts/staff_deactivate.html", context)


@require_POST
@role_required(*MANAGERS)
def staff_reactivate_view(request, pk: int):
    viewer = request.user
    staff = staff_get(viewer=viewer, pk=pk)
    if not can_manage_staff(viewer=viewer, staff=staff):
        raise PermissionDenied
    staff_reactivate(staff=staff, by=viewer)
    messages.success(request, _("已重新启用 %(name)s 的账号。") % {"name": staff})
    return redirect(reverse("staff_list") + "?status=all")


@role_required(*MANAGERS)
def staff_password_reset_view(request, pk: int):
    """Reset one person's password; a generated one is shown on this answer only (never stored,
    never in a message or a redirect), and the page is not cached (vipcrm.security)."""
    staff = get_object_or_404(staff_for_password_reset(viewer=request.user), pk=pk)
    form = StaffPasswordResetForm(request.POST or None, staff=staff)
    if request.method == "POST" and form.is_valid():
        password = staff_password_reset(staff=staff, by=request.user, password=form.chosen_password)
        shown = None if form.chosen_password else password
        return render(request, "accounts/staff_password_reset_done.html", {"staff": staff, "password": shown})
    return render(request, "accounts/staff_password_reset.html", {"staff": staff, "form": form})


# --- Confidentiality agreements (DOMAIN §11): the VIP specialist files them and chases the rest ---


@role_required(*STORE_LEADS)
def agreements(request):
    """Who has not signed the current version (those with no agreement at all first: they see
    member data masked), and the agreements on file, newest first, with their scans."""
    viewer = request.user
    store_id = params.pk(request.GET, "store") if viewer.is_hq else None
    version = agreement_current_version()
    unsigned = list(agreement_unsigned(viewer=viewer, version=version, store_id=store_id))
    for person in unsigned:
        person.can_record = can_record_agreement(viewer=viewer, staff=person)
    on_file = agreements_on_file(viewer=viewer)
    if store_id is not None:
        on_file = on_file.filter(staff__store_id=store_id)
    page = Paginator(on_file, 50).get_page(params.integer(request.GET, "page", default=1, min_value=1))
    for agreement in page:
        agreement.can_attach = not agreement.scan and can_record_agreement(viewer=viewer, staff=agreement.staff)
    context = {
        "version": version,
        "unsigned": unsigned,
        "page": page,
        "store_id": store_id,
        "stores": Store.objects.order_by("code") if viewer.is_hq else [],
    }
    return render(request, "accounts/agreements.html", context)


@role_required(*STORE_LEADS)
def agreement_record_view(request, pk: int):
    """File one person's signed agreement with its scan (append-only: a new version supersedes)."""
    viewer = request.user
    staff = staff_get(viewer=viewer, pk=pk)
    if not can_record_agreement(viewer=viewer, staff=staff):
        raise PermissionDenied
    # ?version= comes from "attach the scan" on a record already on file.
    version = params.text(request.GET, "version", max_length=20) or agreement_current_version() or "1.0"
    initial = {"version": version, "signed_on": timezone.localdate()}
    form = AgreementForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            agreement_record(
                staff=staff, signed_on=data["signed_on"], version=data["version"], scan=data["scan"], by=viewer
            )
        except ValidationError as e:
            form.add_service_errors(e)
        else:
            messages.success(
                request, _("已登记 %(name)s 的 %(version)s 版保密协议。") % {"name": staff, "version": data["version"]}
            )
            return redirect("agreements")
    context = {"staff": staff, "form": form, "history": agreements_on_file(viewer=viewer, staff=staff)}
    return render(request, "accounts/agreement_form.html", context)


@role_required(*STORE_LEADS)
def agreement_scan(request, pk: int):
    """The scan, to the staff who may see the agreement only: never a public /media/ URL. Sent as
    an attachment with its type read from its content, and nosniff, so no browser renders it as
    a page of this site. Audited."""
    agreement = agreement_get(viewer=request.user, pk=pk)
    if not agreement.scan:
        raise Http404
    handle = agreement.scan.open("rb")
    kind = scan_kind(handle) or "pdf"
    extension = {"jpeg": "jpg"}.get(kind, kind)
    filename = f"agreement-{agreement.staff.username}-v{agreement.version}.{extension}"
    audit_log(actor=request.user, action="agreement.scan.downloaded", obj=agreement, store=agreement.staff.store)
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type=SCAN_CONTENT_TYPES[kind])
    response["X-Content-Type-Options"] = "nosniff"
    return response

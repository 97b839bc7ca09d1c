from django.contrib.auth import views as auth_views
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.views.decorators.http import require_POST

from vipcrm import params
from vipcrm.permissions import MANAGERS, role_required

from .forms import StaffPasswordResetForm
from .models import Notification
from .passwords import staff_password_changed, staff_password_reset
from .selectors import staff_for_password_reset


def home(request):
    # The day's follow-up list is what staff open the app for.
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


@role_required(*MANAGERS)
def staff_list(request):
    """The staff whose password this manager (their store) or HQ (everyone) may reset."""
    return render(request, "accounts/staff_list.html", {"people": staff_for_password_reset(viewer=request.user)})


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

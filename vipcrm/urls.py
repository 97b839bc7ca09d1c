from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from django.views.i18n import set_language

from vipcrm import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("members/", include("members.urls")),
    path("complaints/", include("complaints.urls")),
    path("visits/", include("visits.urls")),
    path("reports/", include("reports.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("api/v1/", include("vipcrm.api_urls")),
    path("healthz", health.healthz, name="healthz"),  # public: see vipcrm/health.py
    # Public: the login page offers the language switch too.
    path("i18n/setlang/", login_not_required(set_language), name="set_language"),
]

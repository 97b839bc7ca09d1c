from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("accounts.urls")),
    path("members/", include("members.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
]

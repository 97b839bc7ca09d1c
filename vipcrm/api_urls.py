"""/api/v1/: session or basic authentication, every endpoint scoped to the caller."""

from django.urls import path

from members import api as members_api
from reports import api as reports_api

app_name = "api"
urlpatterns = [
    path("members/", members_api.members, name="members"),
    path("members/<int:pk>/", members_api.member_detail, name="member"),
    path("purchases/", members_api.purchases, name="purchases"),
    path("reports/monthly/", reports_api.monthly, name="reports_monthly"),
]

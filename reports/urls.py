from django.urls import path

from . import views

app_name = "reports"
urlpatterns = [
    path("duty-runs/", views.duty_runs, name="duty_runs"),
    path("", views.dashboard, name="dashboard"),
    path("stores/", views.hq, name="hq"),
    path("monthly/", views.monthly, name="monthly"),
    path("weekly/", views.weekly, name="weekly"),
    path("members/", views.report_members, name="members"),
    path("targets/", views.targets_page, name="targets"),
    path("targets/annual/", views.target_annual, name="target_annual"),
    path("targets/<int:pk>/weights/", views.target_weights, name="target_weights"),
    path("targets/months/<int:pk>/allocation/", views.target_allocation, name="target_allocation"),
    path("daily-sales/", views.daily_sales, name="daily_sales"),
]

from django.urls import path

from . import chain_views, commentary_views, views

app_name = "reports"
urlpatterns = [
    path("duty-runs/", views.duty_runs, name="duty_runs"),
    path("", views.dashboard, name="dashboard"),
    # HQ's chain view (issue 12 item 4); the former store comparison's address leads there.
    path("chain/", chain_views.chain_view, name="chain"),
    path("chain/members/", chain_views.chain_members, name="chain_members"),
    path("chain/refresh/", chain_views.chain_refresh, name="chain_refresh"),
    path("stores/", chain_views.hq_redirect, name="hq"),
    path("monthly/", views.monthly, name="monthly"),
    path("weekly/", views.weekly, name="weekly"),
    path("members/", views.report_members, name="members"),
    path("targets/", views.targets_page, name="targets"),
    path("targets/annual/", views.target_annual, name="target_annual"),
    path("targets/<int:pk>/weights/", views.target_weights, name="target_weights"),
    path("targets/months/<int:pk>/allocation/", views.target_allocation, name="target_allocation"),
    path("daily-sales/", views.daily_sales, name="daily_sales"),
    # Reports sent up with commentary (issue 12 item 5).
    path("mid-month/", commentary_views.mid_month, name="mid_month"),
    path("submissions/", commentary_views.submissions, name="submissions"),
    path("snapshots/<int:pk>/", commentary_views.snapshot_open, name="snapshot"),
    path("snapshots/<int:pk>/commentary/", commentary_views.commentary, name="commentary"),
    path("snapshots/<int:pk>/commentary/save/", commentary_views.commentary_save, name="commentary_save"),
    path("snapshots/<int:pk>/acknowledge/", commentary_views.commentary_acknowledge, name="commentary_acknowledge"),
    path("snapshots/<int:pk>/comments/", commentary_views.comment_add, name="comment_add"),
    path("snapshots/<int:pk>/export.xlsx", commentary_views.snapshot_export, name="snapshot_export"),
    path("snapshots/<int:pk>/print/", commentary_views.snapshot_print, name="snapshot_print"),
]

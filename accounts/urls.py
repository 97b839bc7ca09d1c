from django.contrib.auth import views as auth_views
from django.urls import path

from . import api_key_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="accounts/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("account/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "account/password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="registration/password_change_done.html"),
        name="password_change_done",
    ),
    path("account/staff/", views.staff_list, name="staff_list"),
    path("account/staff/<int:pk>/password/", views.staff_password_reset_view, name="staff_password_reset"),
    path("account/staff/new/", views.staff_create_view, name="staff_create"),
    path("account/staff/<int:pk>/edit/", views.staff_edit, name="staff_edit"),
    path("account/staff/<int:pk>/deactivate/", views.staff_deactivate_view, name="staff_deactivate"),
    path("account/staff/<int:pk>/reactivate/", views.staff_reactivate_view, name="staff_reactivate"),
    path("account/staff/<int:pk>/agreements/new/", views.agreement_record_view, name="agreement_record"),
    path("account/agreements/", views.agreements, name="agreements"),
    path("account/agreements/<int:pk>/scan/", views.agreement_scan, name="agreement_scan"),
    path("account/api-keys/", api_key_views.api_keys, name="api_keys"),
    path("account/api-keys/<int:pk>/revoke/", api_key_views.api_key_revoke_view, name="api_key_revoke"),
]

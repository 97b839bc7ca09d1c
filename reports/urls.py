from django.urls import path

from . import views

app_name = "reports"
urlpatterns = [
    path("duty-runs/", views.duty_runs, name="duty_runs"),
]

"""Included by members/urls.py as `path("import/", include("members.import_urls"))`, inside its
`members` namespace: members:import (upload), members:import_job (the job's page),
members:import_job_status (its progress partial) and members:import_job_commit (confirm)."""

from django.urls import path

from . import import_views

urlpatterns = [
    path("", import_views.import_upload, name="import"),
    path("jobs/<int:pk>/", import_views.import_job_view, name="import_job"),
    path("jobs/<int:pk>/status/", import_views.import_job_status, name="import_job_status"),
    path("jobs/<int:pk>/commit/", import_views.import_job_commit, name="import_job_commit"),
]

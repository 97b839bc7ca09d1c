"""Included by members/urls.py as `path("import/", include("members.import_urls"))`, inside its
`members` namespace: members:import and members:import_commit."""
from django.urls import path

from . import import_views

urlpatterns = [
    path("", import_views.import_upload, name="import"),
    path("commit/", import_views.import_commit_view, name="import_commit"),
]

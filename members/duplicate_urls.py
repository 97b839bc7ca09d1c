"""Included by members/urls.py as `path("duplicates/", include("members.duplicate_urls"))`, inside
its `members` namespace: members:duplicates (the review list), members:duplicate_dismiss ("not the
same person") and members:merge (the side-by-side merge page)."""

from django.urls import path

from . import duplicate_views

urlpatterns = [
    path("", duplicate_views.duplicate_list, name="duplicates"),
    path("<int:first>/<int:second>/dismiss/", duplicate_views.duplicate_dismiss_view, name="duplicate_dismiss"),
    path("<int:survivor>/<int:merged>/merge/", duplicate_views.member_merge_view, name="merge"),
]

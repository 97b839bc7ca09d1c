"""The API's router: DRF's DefaultRouter, with URL names that read like the rest of the project
(`api:members` for a list, `api:member` for one object, `api:member-dates` for an extra action)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.utils.decorators import method_decorator
from rest_framework import routers

NAMES = {"{basename}-list": "{basename}s", "{basename}-detail": "{basename}"}


@method_decorator(login_not_required, name="dispatch")  # DRF answers 401, not a redirect to the login page
class APIRootView(routers.APIRootView):
    pass


class Router(routers.DefaultRouter):
    APIRootView = APIRootView
    include_format_suffixes = False  # JSON only: no `members.json` twins of every URL
    routes = [route._replace(name=NAMES.get(route.name, route.name)) for route in routers.DefaultRouter.routes]

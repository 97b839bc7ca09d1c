"""The API's router: DRF's DefaultRouter, with URL names that read like the rest of the project
(`api:members` for a list, `api:member` for one object, `api:member-dates` for an extra action)."""

from __future__ import annotations

from rest_framework import routers

NAMES = {"{basename}-list": "{basename}s", "{basename}-detail": "{basename}"}


class Router(routers.DefaultRouter):
    include_format_suffixes = False  # JSON only: no `members.json` twins of every URL
    routes = [route._replace(name=NAMES.get(route.name, route.name)) for route in routers.DefaultRouter.routes]

"""/api/v1/: session or basic authentication, every endpoint scoped to the caller.

Members are a viewset on the router (`api:members`, `api:member`, `api:member-dates`); the schema is
at `schema/` and its interactive docs at `docs/` (Swagger UI from vendored static files)."""

from django.urls import include, path

from members import api as members_api
from members import pos_api
from reports import api as reports_api
from vipcrm.api import docs as api_docs
from vipcrm.api.routers import Router

router = Router()
router.register("members", members_api.MemberViewSet, basename="member")

app_name = "api"
urlpatterns = [
    path("", include(router.urls)),
    path("schema/", api_docs.SchemaView.as_view(), name="schema"),
    path("docs/", api_docs.DocsView.as_view(url_name="api:schema"), name="docs"),
    path("purchases/", members_api.purchases, name="purchases"),
    path("reports/monthly/", reports_api.monthly, name="reports_monthly"),
    # POS keys (issue 13 item 3): a store's till, with `Authorization: Api-Key <key>`.
    path("pos/lookup/", pos_api.lookup, name="pos_lookup"),
    path("pos/purchases/", pos_api.purchases, name="pos_purchases"),
    path("pos/members/", pos_api.members, name="pos_members"),
]

"""/api/v1/: session, Basic or POS-key authentication, every endpoint scoped to the caller; DRF
answers 401/403 itself (vipcrm.security.LoginRequiredMiddleware leaves API views alone).

Resources are viewsets on the router (`api:members`, `api:member`, `api:member-dates`, ...). The
OpenAPI schema is at `schema/` and Swagger UI at `docs/`: open without signing in (they describe the
API and hold no data); Swagger UI comes from drf-spectacular-sidecar's static files, never a CDN,
and its start-up script is a separate URL (the "split" view), so the page runs under the site's
`script-src 'self'` policy without an inline script."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from campaigns import api as campaigns_api
from complaints import api as complaints_api
from members import api as members_api
from members import pos_api, rules_api
from reports import api as reports_api
from vipcrm.api.routers import Router
from visits import api as visits_api
from visits import gift_api

router = Router()
router.register("members", members_api.MemberViewSet, basename="member")
# Purchases and returns (`api:purchases`, `api:purchase`): the receipt push of before is its create.
router.register("purchases", members_api.PurchaseViewSet, basename="purchase")
router.register("tasks", visits_api.TaskViewSet, basename="task")
router.register("visits", visits_api.VisitViewSet, basename="visit")
router.register("invitations", visits_api.InvitationViewSet, basename="invitation")
router.register("complaints", complaints_api.ComplaintViewSet, basename="complaint")
router.register("campaigns", campaigns_api.CampaignViewSet, basename="campaign")
router.register("gift-plans", gift_api.GiftPlanViewSet, basename="gift_plan")
router.register("program", rules_api.ProgramRulesViewSet, basename="program")  # api:program-rules

app_name = "api"
urlpatterns = [
    path("", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("reports/monthly/", reports_api.monthly, name="reports_monthly"),
    path("reports/weekly/", reports_api.weekly, name="reports_weekly"),
    path("reports/chain/", reports_api.chain_view, name="reports_chain"),
    # POS keys (issue 13 item 3): a store's till, with `Authorization: Api-Key <key>`.
    path("pos/lookup/", pos_api.lookup, name="pos_lookup"),
    path("pos/purchases/", pos_api.purchases, name="pos_purchases"),
    path("pos/members/", pos_api.members, name="pos_members"),
]

"""The OpenAPI schema (`/api/v1/schema/`) and Swagger UI (`/api/v1/docs/`), open without signing
in (they describe the API, they hold no data). Swagger UI comes from drf-spectacular-sidecar's
static files, never a CDN, and its start-up script is a separate URL (the "split" view), so the
page runs under the site's `script-src 'self'` policy without an inline script."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView


@method_decorator(login_not_required, name="dispatch")
class SchemaView(SpectacularAPIView):
    pass


@method_decorator(login_not_required, name="dispatch")
class DocsView(SpectacularSwaggerSplitView):
    pass

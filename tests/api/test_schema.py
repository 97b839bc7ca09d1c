"""The OpenAPI schema (drf-spectacular) is complete and the API keeps to it.

`manage.py spectacular --fail-on-warn` must pass (an endpoint the schema cannot describe is a
warning), and schemathesis sends generated requests to the members endpoints through the WSGI app
in this process, as a consultant: no answer may be a server error or stray from the schema. The
full run, as a consultant, a manager and a POS key against a live server, is in .ci/run.
"""

import base64
import io
import json

import pytest
import schemathesis
from django.core.cache import cache
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import MemberFactory
from vipcrm.wsgi import application

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_the_schema_generates_without_a_warning():
    out = io.StringIO()

    call_command("spectacular", "--fail-on-warn", "--validate", stdout=out)

    assert "/api/v1/members/{id}/" in out.getvalue()


def test_the_schema_and_docs_are_served(client):
    schema = client.get(reverse("api:schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = client.get(reverse("api:docs"))
    script = client.get(reverse("api:docs"), {"script": ""})

    assert schema.status_code == 200 and "/api/v1/members/" in schema.json()["paths"]
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "<script>" not in html  # no inline script: the CSP is script-src 'self'
    assert "script-src 'self'" in docs["Content-Security-Policy"]
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def generated_schema() -> dict:
    """The schema as /api/v1/schema/ serves it, made without a request (no database needed)."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(document))


@pytest.fixture
def consultant_auth(staff_a, member_a, member_b):
    MemberFactory.create_batch(3, home_store=member_a.home_store, consultant=staff_a.consultant)
    cache.clear()  # the throttle counts per person in the cache
    # The WSGI handler closes the database connection after each request, as in production; the
    # test's transaction lives on it, so (as Django's test client does) keep it open meanwhile.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    token = base64.b64encode(b"a_consultant:pw").decode()
    yield {"Authorization": f"Basic {token}"}
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


schema = schemathesis.openapi.from_dict(generated_schema())
schema.app = application  # requests go to the WSGI app in this process
# Valid requests only here (each must be answered as the schema says); the live run in .ci/run
# also sends invalid ones.
schema.config.generation.update(modes=[GenerationMode.POSITIVE])


@schema.include(path_regex=r"^/api/v1/members/").parametrize()
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,  # no example database under the project folder
)
def test_the_members_endpoints_keep_to_the_schema(case, consultant_auth):
    case.call_and_validate(headers=consultant_auth, checks=CHECKS)

"""What every API operation shares in the OpenAPI schema (drf-spectacular): the error body of
vipcrm.api.errors and the error statuses, so that schemathesis can check every answer against it."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ApiErrorItemSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text="The parameter or body field at fault; null: the request.")
    code = serializers.CharField(help_text="Stable, for programs (required, invalid_choice, not_found, throttled…).")
    message = serializers.CharField(help_text="For people, in the request's language.")


class ApiErrorSerializer(serializers.Serializer):
    errors = ApiErrorItemSerializer(many=True)
    detail = serializers.CharField(help_text="The first error on one line.")


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(ApiErrorSerializer, description=description)


# Spread into `responses=` of every operation: {200: …, **ERROR_RESPONSES}.
ERROR_RESPONSES = {
    400: error_response("A bad parameter or body: `errors` names each field."),
    401: error_response("Not signed in (Basic or session); `WWW-Authenticate` says how."),
    403: error_response("Signed in, but not allowed."),
    404: error_response("No such object in the caller's scope (another store's is not shown)."),
    429: error_response("Too many requests; `Retry-After` says when to retry."),
}


# --- How a client authenticates, as the schema says it (securitySchemes) ---------------------------


class BasicAuthScheme(OpenApiAuthenticationExtension):
    target_class = "vipcrm.drf.BasicAuthentication"
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic", "description": "A staff member's username and password."}


class PosKeyAuthScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api_keys.ApiKeyAuthentication"
    optional = True  # the POS keys' module (issue 13 item 3) may not be there
    name = "posKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A store's POS key: `Authorization: Api-Key <key>`.",
        }


# A 409 of a receipt push (staff API and POS): vipcrm.api.errors.Conflict.
RECEIPT_CONFLICT_RESPONSE = error_response(
    "`receipt_conflict`: another receipt is on file under this number (the message says which); "
    "`member_erased`: the member is gone, nothing is recorded."
)

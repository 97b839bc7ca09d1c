"""REST API for the program rules (issue 13 item 2, DOMAIN §4): `/api/v1/program/rules/`.

Everyone signed in reads them (the tiers' thresholds, the care cadences, the complaint deadlines
are what staff work to); only HQ changes them, with PUT (every rule) or PATCH (some), through
`members.services.program_rules_update`, the same checks and audit as the admin. Others get a 403.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

from vipcrm.api.schema import ERROR_RESPONSES

from .models import ProgramRules
from .services import PROGRAM_RULE_FIELDS, program_rules_update


class ProgramRulesSerializer(serializers.ModelSerializer):
    """The rules HQ may change (the admin's fields) and when they last changed."""

    class Meta:
        model = ProgramRules
        fields = [*PROGRAM_RULE_FIELDS, "updated_at"]
        read_only_fields = ["updated_at"]
        extra_kwargs = {name: {"required": True} for name in PROGRAM_RULE_FIELDS}  # PUT: every rule


class ProgramRulesViewSet(viewsets.GenericViewSet):
    """The chain's program rules, one object: every signed-in person reads them; HQ changes them."""

    serializer_class = ProgramRulesSerializer
    pagination_class = None
    filter_backends: list = []

    def get_queryset(self):
        return ProgramRules.objects.none()  # not a collection: `rules` loads the one row

    @extend_schema(
        methods=["GET"],
        summary="The program rules (会员计划规则)",
        operation_id="program_rules_retrieve",
        responses={200: ProgramRulesSerializer, **ERROR_RESPONSES},
    )
    @extend_schema(
        methods=["PUT"],
        summary="Change every program rule (HQ)",
        operation_id="program_rules_update",
        request=ProgramRulesSerializer,
        responses={200: ProgramRulesSerializer, **ERROR_RESPONSES},
    )
    @extend_schema(
        methods=["PATCH"],
        summary="Change some program rules (HQ)",
        operation_id="program_rules_partial_update",
        request=ProgramRulesSerializer(partial=True),
        responses={200: ProgramRulesSerializer, **ERROR_RESPONSES},
    )
    @action(detail=False, methods=["get", "put", "patch"], url_path="rules")
    def rules(self, request):
        if request.method == "GET":
            return Response(ProgramRulesSerializer(ProgramRules.load()).data)
        if not request.user.is_hq:
            raise exceptions.PermissionDenied(_("会员计划规则由总部修改。"))
        serializer = ProgramRulesSerializer(ProgramRules.load(), data=request.data, partial=request.method == "PATCH")
        serializer.is_valid(raise_exception=True)
        try:
            rules, _changed = program_rules_update(by=request.user, **serializer.validated_data)
        except DjangoValidationError as e:
            raise exceptions.ValidationError(as_serializer_error(e)) from e
        return Response(ProgramRulesSerializer(rules).data)

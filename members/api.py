"""REST API for members and purchases: the same selectors and services as the pages.

Serializers list their fields; `store`, `tier` and the consultant are never taken from a client
except where a rule allows it (HQ names the store of a purchase).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from accounts.models import Staff, Store
from vipcrm import params

from .models import Member, Purchase, PurchaseSource, Tier
from .selectors import MemberFilters, member_by_phone, member_get, member_list, member_scope
from .services import ERASED_CODE, purchase_record
from .validators import mask_phone


class MemberSerializer(serializers.ModelSerializer):
    phone = serializers.SerializerMethodField()
    store = serializers.CharField(source="home_store.code")
    consultant = serializers.CharField(source="consultant.username", default=None)

    class Meta:
        model = Member
        fields = ["id", "card_no", "name", "gender", "phone", "tier", "tier_locked", "joined_on", "store", "consultant"]

    def get_phone(self, member: Member) -> str:
        # Lists and the API always mask; the full number is revealed on the member page, audited.
        return mask_phone(member.phone)


class PurchaseSerializer(serializers.ModelSerializer):
    store = serializers.CharField(source="store.code")
    card_no = serializers.CharField(source="member.card_no")
    consultant = serializers.CharField(source="consultant.username", default=None)
    original_receipt_no = serializers.CharField(source="original.receipt_no", default=None)

    class Meta:
        model = Purchase
        fields = [
            "id",
            "store",
            "receipt_no",
            "card_no",
            "date",
            "amount",
            "consultant",
            "items",
            "original_receipt_no",
            "source",
        ]


class PurchaseInSerializer(serializers.Serializer):
    store = serializers.CharField(required=False, help_text="Store code; HQ only, others use their own store.")
    receipt_no = serializers.CharField(max_length=40)
    card_no = serializers.CharField(max_length=30, required=False)
    phone = serializers.CharField(max_length=30, required=False)
    date = serializers.DateField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    consultant = serializers.CharField(required=False, allow_blank=True)
    items = serializers.CharField(required=False, allow_blank=True, default="")
    original_receipt_no = serializers.CharField(required=False, allow_blank=True)

    def validate(self, data):
        if not data.get("card_no") and not data.get("phone"):
            raise ValidationError({"card_no": "card_no or phone is required."})
        return data


def _store_for(viewer: Staff, code: str | None) -> Store:
    if viewer.is_hq:
        if not code:
            raise ValidationError({"store": "HQ must name the store."})
        return get_object_or_404(Store, code=code.upper())
    if code and code.upper() != viewer.store.code:
        raise ValidationError({"store": "You can only record purchases for your own store."})
    return viewer.store


@login_not_required  # DRF authenticates (session or basic) and answers 401/403, not a redirect
@api_view(["GET"])
def members(request):
    # A tier that is not A, B or C is a 400 naming `tier` (vipcrm.params), not an empty list.
    tier = params.choice(request.GET, "tier", Tier.values)
    filters = MemberFilters(query=params.text(request.GET, "q", max_length=50), tier=tier)
    paginator = PageNumberPagination()
    cross_site = request.headers.get("Sec-Fetch-Site") == "cross-site"  # see member_search
    found = member_list(viewer=request.user, filters=filters, via="api", cross_site=cross_site)
    page = paginator.paginate_queryset(found, request)
    return paginator.get_paginated_response(MemberSerializer(page, many=True).data)


@login_not_required
@api_view(["GET"])
def member_detail(request, pk: int):
    return Response(MemberSerializer(member_get(viewer=request.user, pk=pk)).data)


@login_not_required
@api_view(["POST"])
def purchases(request):
    """Record a purchase or a return. The same receipt sent again answers 200 with the purchase on
    file; the same receipt number with other content is a 400 naming what is on file."""
    data_in = PurchaseInSerializer(data=request.data)
    data_in.is_valid(raise_exception=True)
    data = data_in.validated_data
    store = _store_for(request.user, data.get("store"))
    scope = member_scope(viewer=request.user).filter(home_store=store)
    if data.get("card_no"):
        member, given = scope.filter(card_no=data["card_no"]).first(), f"card_no {data['card_no']!r}"
    else:
        # An exact full-number lookup: audited like the search (DOMAIN §11).
        member, given = member_by_phone(viewer=request.user, qs=scope, text=data["phone"], via="api_purchase"), "phone"
    if member is None:
        raise ValidationError({"card_no": f"No member of store {store.code} with that {given}."})
    consultant = None
    if data.get("consultant"):
        consultant = Staff.objects.filter(username=data["consultant"], store=store).first()
        if consultant is None:
            raise ValidationError({"consultant": f"No staff {data['consultant']!r} in store {store.code}."})
    original = None
    if data.get("original_receipt_no"):
        original = Purchase.objects.filter(store=store, receipt_no=data["original_receipt_no"], member=member).first()
        if original is None:
            raise ValidationError({"original_receipt_no": "No such receipt for this member in this store."})
    try:
        result = purchase_record(
            member=member,
            store=store,
            receipt_no=data["receipt_no"],
            date=data["date"],
            amount=data["amount"],
            by=request.user,
            consultant=consultant or member.consultant,
            items=data.get("items", ""),
            original=original,
            source=PurchaseSource.POS,
        )
    except DjangoValidationError as e:
        if getattr(e, "code", None) == ERASED_CODE:
            # Not a bad request the POS could fix: the member is gone (DOMAIN §11). 409, with why.
            return Response({"detail": e.messages[0], "code": "member_erased"}, status=status.HTTP_409_CONFLICT)
        raise ValidationError(e.message_dict if hasattr(e, "error_dict") else {"non_field_errors": e.messages}) from e
    purchase = Purchase.objects.select_related("store", "member", "consultant", "original").get(pk=result.purchase.pk)
    return Response(
        PurchaseSerializer(purchase).data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
    )

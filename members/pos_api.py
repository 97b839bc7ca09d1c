"""/api/v1/pos/: what a store's till needs, with the store's POS key (accounts.api_keys).

Look up a member, push receipts and returns, enrol a member. The store is always the key's; a
body's `store`, `tier`, `consultant` or id is not read (the serializers list what is). A lookup
follows the cross-store rules of DOMAIN §13 for every member, the key's own store's too: exact card
or exact full phone, answered with the name, tier and masked phone only, and audited under the key
(actor None, `data.api_key` the key's prefix). Staff sessions are not let in (IsPosKey): people
use the pages and the rest of /api/v1/.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.exceptions import ErrorDetail, NotFound, ValidationError
from rest_framework.response import Response

from accounts.api_keys import ApiKeyAuthentication, IsPosKey, PosKeyThrottle
from accounts.models import ApiKey
from accounts.services import audit_log
from vipcrm import params
from vipcrm.api.errors import Conflict
from vipcrm.api.schema import ERROR_RESPONSES, RECEIPT_CONFLICT_RESPONSE, error_response

from .api import purchase_push
from .cross_store import member_by_card_or_phone
from .models import Gender, Member, Purchase, PurchaseSource
from .services import member_enroll
from .validators import mask_phone, normalize_phone

LOOKUP_ACTION = "member.pos.lookup"
PURCHASE_ACTION = "purchase.pos.pushed"
ENROL_ACTION = "member.pos.enrolled"


def pos_endpoint(methods: list[str], **schema):
    """A POS view: a key only (401 `WWW-Authenticate: Api-Key` without one), throttled per key."""

    def decorator(view):
        view = throttle_classes([PosKeyThrottle])(view)
        view = permission_classes([IsPosKey])(view)
        view = authentication_classes([ApiKeyAuthentication])(view)
        return extend_schema(tags=["pos"], **schema)(api_view(methods)(view))

    return decorator


# --- Serializers: what a till may send and what it gets back -------------------------------------


class PosMemberSerializer(serializers.Serializer):
    """All a till sees of a member, its own store's or another's (DOMAIN §13)."""

    card_no = serializers.CharField()
    name = serializers.CharField()
    tier = serializers.CharField()
    masked_phone = serializers.SerializerMethodField()
    home_store = serializers.CharField(source="home_store.code")

    def get_masked_phone(self, member: Member) -> str:
        return mask_phone(member.phone)


class PosPurchaseInSerializer(serializers.Serializer):
    receipt_no = serializers.CharField(max_length=40)
    card_no = serializers.CharField(max_length=30, required=False)
    phone = serializers.CharField(max_length=30, required=False)
    date = serializers.DateField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    items = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    original_receipt_no = serializers.CharField(max_length=40, required=False, allow_blank=True)

    def validate(self, data):
        if not data.get("card_no") and not data.get("phone") and not data.get("original_receipt_no"):
            raise ValidationError({"card_no": _("请提供卡号或手机号（退货可只提供原小票号）。")})
        return data


class PosPurchaseSerializer(serializers.ModelSerializer):
    store = serializers.CharField(source="store.code")
    card_no = serializers.CharField(source="member.card_no")
    original_receipt_no = serializers.CharField(source="original.receipt_no", default=None)

    class Meta:
        model = Purchase
        fields = ["id", "store", "receipt_no", "card_no", "date", "amount", "items", "original_receipt_no", "source"]


class PosEnrolSerializer(serializers.Serializer):
    card_no = serializers.CharField(max_length=30)
    name = serializers.CharField(max_length=50)
    phone = serializers.CharField(max_length=30)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False, allow_blank=True, default="")
    # Asked at the till, yes or no: never assumed.
    marketing_consent = serializers.BooleanField()


# --- Views ---------------------------------------------------------------------------------------


def _key(request) -> ApiKey:
    return request.auth


@pos_endpoint(
    ["GET"],
    summary="Find a member by exact card number or full phone (POS key)",
    parameters=[OpenApiParameter("q", str, required=True, description="An exact card number or full phone.")],
    responses={200: PosMemberSerializer, **ERROR_RESPONSES},
)
def lookup(request):
    """`?q=` an exact card number or full phone: the member, or 404. Audited, an empty one too."""
    key = _key(request)
    text = params.text(request.GET, "q", max_length=40)
    member, kind, searched = member_by_card_or_phone(text)
    audit_log(
        actor=None,
        action=LOOKUP_ACTION,
        obj=member,
        store=key.store,
        api_key=key.prefix,
        kind=kind,
        searched=searched,
        member=member.pk if member else None,
        home_store=member.home_store.code if member else None,
        own_store=bool(member and member.home_store_id == key.store_id),
    )
    if member is None:
        raise NotFound(_("没有卡号或手机号完全一致的会员。"))
    return Response(PosMemberSerializer(member).data)


def _purchase_member(key: ApiKey, data: dict) -> tuple[Member | None, Purchase | None]:
    original = None
    if data.get("original_receipt_no"):
        original = (
            Purchase.objects.filter(store=key.store, receipt_no=data["original_receipt_no"].strip())
            .select_related("member")
            .first()
        )
        if original is None:
            raise ValidationError({"original_receipt_no": _("本店没有这张原小票。")})
    text = data.get("card_no") or data.get("phone")
    if not text:
        return original.member, original
    member, _kind, _searched = member_by_card_or_phone(text)
    if member is None:
        raise ValidationError({"card_no": _("没有卡号或手机号完全一致的会员。")})
    return member, original


@pos_endpoint(
    ["POST"],
    summary="Push a receipt or a return (POS key)",
    request=PosPurchaseInSerializer,
    responses={
        201: PosPurchaseSerializer,
        200: PosPurchaseSerializer,
        409: RECEIPT_CONFLICT_RESPONSE,
        **ERROR_RESPONSES,
    },
)
def purchases(request):
    """A receipt or a return (naming its original receipt) for the key's store. Idempotent on
    (store, receipt no.): 201 recorded, 200 the same receipt again, 409 another receipt under that
    number (the body says what is on file)."""
    key = _key(request)
    data_in = PosPurchaseInSerializer(data=request.data)
    data_in.is_valid(raise_exception=True)
    data = data_in.validated_data
    member, original = _purchase_member(key, data)
    # The member's own consultant is credited at their own store; at another store's till nobody.
    consultant = member.consultant if member.home_store_id == key.store_id else None
    # One path with the staff API: a return through purchase_return, the errors as 400/409 alike.
    purchase, created = purchase_push(
        data=data,
        member=member,
        store=key.store,
        by=None,
        consultant=consultant,
        original=original,
        source=PurchaseSource.POS,
    )
    audit_log(
        actor=None,
        action=PURCHASE_ACTION,
        obj=purchase,
        store=key.store,
        api_key=key.prefix,
        receipt_no=purchase.receipt_no,
        member=purchase.member_id,
        created=created,
    )
    return Response(
        PosPurchaseSerializer(purchase).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
    )


@pos_endpoint(
    ["POST"],
    summary="Enrol a member at the till (POS key)",
    request=PosEnrolSerializer,
    responses={
        201: PosMemberSerializer,
        409: error_response("`already_enrolled`: enrolled by another till just now."),
        **ERROR_RESPONSES,
    },
)
def members(request):
    """开卡 at the till: card, name, phone and the member's answer on marketing consent. The member
    belongs to the key's store, at tier C, with no consultant until the store assigns one."""
    key = _key(request)
    data_in = PosEnrolSerializer(data=request.data)
    data_in.is_valid(raise_exception=True)
    data = data_in.validated_data
    try:
        phone = normalize_phone(data["phone"])
    except DjangoValidationError as e:
        raise ValidationError({"phone": e.messages}) from e
    if Member.objects.filter(phone=phone).exists():
        # Not the service's message: that one names the member, and a till may learn nothing here.
        raise ValidationError({"phone": [_("该手机号已是会员：请按手机号查找会员。")]})
    try:
        member = member_enroll(
            store=key.store,
            by=None,
            card_no=data["card_no"].strip(),
            name=data["name"].strip(),
            phone=phone,
            gender=data.get("gender", ""),
            marketing_consent=data["marketing_consent"],
            joined_on=timezone.localdate(),
        )
    except DjangoValidationError as e:
        raise ValidationError(e.message_dict if hasattr(e, "error_dict") else {"non_field_errors": e.messages}) from e
    except IntegrityError as e:
        # Two tills enrolling the same card or phone at once: the unique constraints let one in.
        raise Conflict(ErrorDetail(_("该卡号或手机号刚刚已开卡：请按卡号查找会员。"), code="already_enrolled")) from e
    audit_log(
        actor=None,
        action=ENROL_ACTION,
        obj=member,
        store=key.store,
        api_key=key.prefix,
        marketing_consent=member.marketing_consent,
    )
    return Response(PosMemberSerializer(member).data, status=status.HTTP_201_CREATED)

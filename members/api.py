"""REST API for members and purchases: the same selectors and services as the pages.

Serializers list their fields; `store`, `tier`, the id and the consultant are never taken from a
client except where a rule allows it (HQ names the store of a purchase; a new member's consultant is
one of the caller's own store). Members are a viewset on the router in vipcrm/api_urls.py: scoped by
`member_scope`/`member_get` (another store's member is a 404), written by `member_enroll` and
`member_update`, filtered by `members.filters.MemberFilterSet`, listed with a cursor.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

from accounts.models import Staff, Store
from vipcrm import params
from vipcrm.api.schema import ERROR_RESPONSES, error_response

from .filters import MemberFilterSet
from .models import Gender, ImportantDate, ImportantDateKind, Member, Purchase, PurchaseSource
from .selectors import can_edit_member, can_see_full_contact, member_by_phone, member_get, member_scope, store_staff
from .services import ERASED_CODE, important_date_add, member_enroll, member_update, purchase_record
from .validators import mask_phone

# --- Members -------------------------------------------------------------------------------------


class ImportantDateSerializer(serializers.ModelSerializer):
    """结婚纪念日、家人生日: read and added by whoever may edit the member."""

    kind = serializers.ChoiceField(choices=ImportantDateKind.choices)
    lunar = serializers.BooleanField(required=False, default=False)
    label = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)

    class Meta:
        model = ImportantDate
        fields = ["id", "kind", "date", "lunar", "label"]
        read_only_fields = ["id"]


class MemberSerializer(serializers.ModelSerializer):
    """A member as the API shows it: the phone always masked (the full number is revealed on the
    member page, audited), the store and consultant by code and username, tags by name."""

    phone = serializers.SerializerMethodField()
    gender = serializers.ChoiceField(choices=Gender.choices, allow_blank=True, read_only=True)
    store = serializers.CharField(source="home_store.code", read_only=True)
    consultant = serializers.CharField(source="consultant.username", default=None, read_only=True, allow_null=True)
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = Member
        fields = [
            "id",
            "card_no",
            "name",
            "gender",
            "phone",
            "tier",
            "tier_locked",
            "joined_on",
            "store",
            "consultant",
            "marketing_consent",
            "tags",
        ]
        read_only_fields = fields

    def get_phone(self, member: Member) -> str:
        return mask_phone(member.phone)


class MemberDetailSerializer(MemberSerializer):
    important_dates = ImportantDateSerializer(many=True, read_only=True)

    class Meta(MemberSerializer.Meta):
        fields = [*MemberSerializer.Meta.fields, "important_dates"]
        read_only_fields = fields


class MemberWriteSerializer(serializers.Serializer):
    """What a client may write: the profile (members.services.EDITABLE_FIELDS, less the consent
    date the service keeps) and, when enrolling, a consultant of the caller's own store. Anything
    else in the body (`store`, `tier`, `id`, a role…) is ignored: it is not a field here."""

    card_no = serializers.CharField(max_length=30)
    name = serializers.CharField(max_length=50)
    phone = serializers.CharField(max_length=30, help_text=_("手机号；保存时规范化。"))
    gender = serializers.ChoiceField(choices=Gender.choices, required=False, allow_blank=True)
    birthday = serializers.DateField(required=False, allow_null=True)
    birthday_lunar = serializers.BooleanField(required=False)
    address = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    wechat = serializers.CharField(max_length=50, required=False, allow_blank=True)
    marketing_consent = serializers.BooleanField(required=False)
    joined_on = serializers.DateField(required=False, help_text=_("入会日期；开卡时默认为今天。"))
    top_size = serializers.CharField(max_length=10, required=False, allow_blank=True)
    bottom_size = serializers.CharField(max_length=10, required=False, allow_blank=True)
    shoe_size = serializers.CharField(max_length=10, required=False, allow_blank=True)
    style_preferences = serializers.CharField(max_length=200, required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    consultant = serializers.CharField(
        required=False, allow_blank=True, max_length=150, help_text=_("开卡时的专属顾问（本店员工的用户名）。")
    )

    def validate_consultant(self, value: str) -> Staff | None:
        if not value:
            return None
        if self.instance is not None:
            raise ValidationError(_("更换专属顾问请在网页上操作。"), code="read_only")
        viewer = self.context["request"].user
        consultant = store_staff(viewer=viewer).filter(username=value).first()
        if consultant is None:
            raise ValidationError(_("本店没有这位员工。"), code="not_found")
        return consultant


def _service_errors(e: DjangoValidationError) -> ValidationError:
    return ValidationError(as_serializer_error(e))


class MemberCursorPagination(CursorPagination):
    """Newest members first by id: unique and never changes, so a cursor is stable while members
    are added. `page_size` up to 200."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.cursor_query_param:
                # The `next`/`previous` links' opaque value (URL-safe base64); another is a 404.
                parameter["schema"]["pattern"] = r"^[A-Za-z0-9_=+/-]*$"
            elif parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


@extend_schema_view(
    list=extend_schema(summary="Members in the caller's scope", responses={200: MemberSerializer, **ERROR_RESPONSES}),
    retrieve=extend_schema(summary="One member", responses={200: MemberDetailSerializer, **ERROR_RESPONSES}),
    create=extend_schema(
        summary="Enrol a member (开卡) in the caller's store",
        request=MemberWriteSerializer,
        responses={201: MemberDetailSerializer, **ERROR_RESPONSES},
    ),
    partial_update=extend_schema(
        summary="Edit a member's profile",
        request=MemberWriteSerializer,
        responses={200: MemberDetailSerializer, **ERROR_RESPONSES},
    ),
)
@method_decorator(login_not_required, name="dispatch")  # DRF answers 401/403, not a redirect
class MemberViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    http_method_names = ["get", "post", "patch", "head", "options"]
    filter_backends = [DjangoFilterBackend]
    filterset_class = MemberFilterSet
    pagination_class = MemberCursorPagination

    def get_queryset(self):
        # The viewer's scope; the list narrows it through MemberFilterSet (members.selectors.member_list).
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the view: no user
            return Member.objects.none()
        return member_scope(viewer=self.request.user).prefetch_related("tags")

    def get_serializer_class(self):
        if self.action == "list":
            return MemberSerializer
        if self.action in ("create", "partial_update"):
            return MemberWriteSerializer
        return MemberDetailSerializer

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        return queryset.prefetch_related("tags") if self.action == "list" else queryset

    def get_object(self) -> Member:
        try:
            pk = params.as_pk("id", self.kwargs[self.lookup_field])
        except params.BadParameter:
            raise exceptions.NotFound() from None  # an id past any bigint names no member
        member = member_get(viewer=self.request.user, pk=pk)
        self.check_object_permissions(self.request, member)
        return member

    def _detail(self, member: Member, code: int = status.HTTP_200_OK) -> Response:
        member = member_get(viewer=self.request.user, pk=member.pk)
        member = Member.objects.prefetch_related("tags", "important_dates").get(pk=member.pk)
        return Response(MemberDetailSerializer(member, context=self.get_serializer_context()).data, status=code)

    def create(self, request, *args, **kwargs):
        viewer: Staff = request.user
        if viewer.store_id is None:
            raise exceptions.PermissionDenied(_("总部没有门店：请在网页上为会员选择门店后开卡。"))
        serializer = MemberWriteSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        if fields.get("consultant") is None:
            fields.pop("consultant", None)
        fields.setdefault("joined_on", timezone.localdate())  # as the enrol page's form
        try:
            with transaction.atomic():
                member = member_enroll(store=viewer.store, by=viewer, **fields)
        except DjangoValidationError as e:
            raise _service_errors(e) from e
        return self._detail(member, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        if not kwargs.get("partial"):
            raise exceptions.MethodNotAllowed(request.method)
        viewer: Staff = request.user
        member = self.get_object()
        if not can_edit_member(viewer, member):
            raise exceptions.PermissionDenied(_("你不能修改这位会员的资料。"))
        serializer = MemberWriteSerializer(
            member, data=request.data, partial=True, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        fields.pop("consultant", None)
        hidden = sorted(set(fields) & {"phone", "address", "wechat", "email"})
        if hidden and not can_see_full_contact(viewer, member):
            raise ValidationError(
                {name: [exceptions.ErrorDetail(_("你无权修改联系方式。"), code="forbidden")] for name in hidden}
            )
        try:
            with transaction.atomic():
                member_update(member=member, by=viewer, **fields)
        except DjangoValidationError as e:
            raise _service_errors(e) from e
        return self._detail(member)

    @extend_schema(
        methods=["GET"],
        summary="A member's important dates",
        responses={200: ImportantDateSerializer(many=True), **ERROR_RESPONSES},
    )
    @extend_schema(
        methods=["POST"],
        summary="Add an important date",
        request=ImportantDateSerializer,
        responses={201: ImportantDateSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["get", "post"], url_path="dates", pagination_class=None, filter_backends=[])
    def dates(self, request, pk=None):
        member = self.get_object()
        if request.method == "GET":
            return Response(ImportantDateSerializer(member.important_dates.all(), many=True).data)
        if not can_edit_member(request.user, member):
            raise exceptions.PermissionDenied(_("你不能修改这位会员的资料。"))
        serializer = ImportantDateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            important = important_date_add(member=member, by=request.user, **serializer.validated_data)
        except DjangoValidationError as e:
            raise _service_errors(e) from e
        return Response(ImportantDateSerializer(important).data, status=status.HTTP_201_CREATED)


# --- Purchases -----------------------------------------------------------------------------------


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


class MemberErased(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "member_erased"


@extend_schema(
    summary="Record a purchase or a return (POS push)",
    request=PurchaseInSerializer,
    responses={
        201: PurchaseSerializer,
        200: PurchaseSerializer,
        409: error_response("The member was erased: nothing is recorded."),
        **ERROR_RESPONSES,
    },
)
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
            raise MemberErased(e.messages[0]) from e
        raise ValidationError(e.message_dict if hasattr(e, "error_dict") else {"non_field_errors": e.messages}) from e
    purchase = Purchase.objects.select_related("store", "member", "consultant", "original").get(pk=result.purchase.pk)
    return Response(
        PurchaseSerializer(purchase).data, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
    )

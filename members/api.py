"""REST API for members and purchases: the same selectors and services as the pages.

Serializers list their fields; `store`, `tier`, the id and the consultant are never taken from a
client except where a rule allows it (HQ names the store of a purchase; a new member's consultant is
one of the caller's own store). Members are a viewset on the router in vipcrm/api_urls.py: scoped by
`member_scope`/`member_get` (another store's member is a 404), written by `member_enroll` and
`member_update`, filtered by `members.filters.MemberFilterSet`, listed with a cursor; their
important dates and tags (existing tags, by name) are changed by whoever may edit the member, and
`members/lookup/` is the cross-store lookup by exact card or full phone (audited, DOMAIN §13).

Purchases and returns are a viewset too (`api:purchases`): the receipts of the members in scope,
recorded through `purchase_record`, a return through `purchase_return` naming its original receipt.
`purchase_push` is the one path the staff API and the POS (members.pos_api) record a receipt by:
201 new, 200 the same receipt again, 409 another receipt under its number.
"""

from __future__ import annotations

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

from accounts.models import Staff, Store
from vipcrm import params
from vipcrm.api.errors import Conflict
from vipcrm.api.pagination import CursorPage
from vipcrm.api.schema import ERROR_RESPONSES, RECEIPT_CONFLICT_RESPONSE

from .cross_store import cross_store_lookup
from .filters import MemberFilterSet
from .models import Gender, ImportantDate, ImportantDateKind, Member, Purchase, PurchaseSource
from .selectors import can_edit_member, can_see_full_contact, member_by_phone, member_get, member_scope, store_staff
from .services import (
    ERASED_CODE,
    important_date_add,
    important_date_delete,
    member_enroll,
    member_tag_add,
    member_tag_remove,
    member_update,
    purchase_record,
    purchase_return,
)
from .tags import TAG_NAME_MAX
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


class MemberCursorPagination(CursorPage):
    """Newest members first by id: unique and never changes, so a cursor is stable while members
    are added."""


def _tag_names(member: Member) -> dict:
    return {"tags": list(member.tags.order_by("name").values_list("name", flat=True))}


class TagNameSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=TAG_NAME_MAX, help_text=_("已有标签的名称（不区分大小写）。"))


class TagNamesSerializer(serializers.Serializer):
    tags = serializers.ListField(child=serializers.CharField())


class MemberLookupSerializer(serializers.Serializer):
    """What the cross-store page shows of a member (members.cross_store.CrossStoreMember), and
    whether the member is the caller's own store's (then with the id)."""

    own_store = serializers.SerializerMethodField()
    id = serializers.SerializerMethodField()
    card_no = serializers.CharField()
    name = serializers.CharField()
    tier = serializers.CharField()
    masked_phone = serializers.SerializerMethodField()
    home_store = serializers.CharField(source="home_store.name")

    def get_own_store(self, member: Member) -> bool:
        return bool(self.context.get("own"))

    def get_id(self, member: Member) -> int | None:
        return member.pk if self.context.get("own") else None

    def get_masked_phone(self, member: Member) -> str:
        return mask_phone(member.phone)


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
class MemberViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]  # DELETE: a date, a tag only
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

    @extend_schema(
        summary="Delete an important date",
        parameters=[OpenApiParameter("date_pk", int, OpenApiParameter.PATH, description="The date's id.")],
        request=None,
        responses={204: None, **ERROR_RESPONSES},
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"dates/(?P<date_pk>[^/.]+)",
        url_name="date",
        pagination_class=None,
        filter_backends=[],
    )
    def date_delete(self, request, pk=None, date_pk=None):
        member = self._editable()
        try:
            date_id = params.as_pk("date_pk", date_pk)
        except params.BadParameter:
            raise exceptions.NotFound() from None
        important = get_object_or_404(member.important_dates, pk=date_id)
        important_date_delete(important_date=important, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["GET"],
        summary="A member's tags",
        responses={200: TagNamesSerializer, **ERROR_RESPONSES},
    )
    @extend_schema(
        methods=["POST"],
        summary="Put an existing tag on the member (by name)",
        request=TagNameSerializer,
        responses={201: TagNamesSerializer, 200: TagNamesSerializer, **ERROR_RESPONSES},
    )
    @action(detail=True, methods=["get", "post"], url_path="tags", pagination_class=None, filter_backends=[])
    def tags(self, request, pk=None):
        if request.method == "GET":
            return Response(_tag_names(self.get_object()))
        member = self._editable()
        serializer = TagNameSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            added = member_tag_add(member=member, name=serializer.validated_data["name"], by=request.user)
        except DjangoValidationError as e:
            raise _service_errors(e) from e
        return Response(_tag_names(member), status=status.HTTP_201_CREATED if added else status.HTTP_200_OK)

    @extend_schema(
        summary="Take a tag off the member (by name)",
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH, description="The tag's name.")],
        request=None,
        responses={200: TagNamesSerializer, **ERROR_RESPONSES},
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"tags/(?P<name>[^/]+)",
        url_name="tag",
        pagination_class=None,
        filter_backends=[],
    )
    def tag_remove(self, request, pk=None, name=None):
        member = self._editable()
        name = params.check_text("name", name or "", max_length=TAG_NAME_MAX)
        if not member_tag_remove(member=member, name=name, by=request.user):
            raise exceptions.NotFound(_("该会员没有这个标签。"))
        return Response(_tag_names(member))

    @extend_schema(
        summary="Find a member by exact card number or full phone (cross-store service, audited)",
        parameters=[
            OpenApiParameter(
                "q",
                str,
                required=True,
                description="An exact card number or full phone.",
                pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]{0,40}$",
            )
        ],
        responses={200: MemberLookupSerializer, **ERROR_RESPONSES},
    )
    @action(detail=False, methods=["get"], url_path="lookup", pagination_class=None, filter_backends=[])
    def lookup(self, request):
        """As the cross-store page (members.cross_store): store staff only, every lookup audited
        (`member.cross_store.lookup`), an empty one too; another store's member is answered with
        the name, tier, masked phone, home store and card only. A member of the caller's own store
        also carries the id, for the rest of the API."""
        viewer: Staff = request.user
        if viewer.store_id is None:
            raise exceptions.PermissionDenied(_("总部没有门店：请用会员列表搜索。"))
        text = params.text(request.GET, "q", max_length=40)
        found = cross_store_lookup(viewer=viewer, text=text)
        member = found.member or found.own
        if member is None:
            raise exceptions.NotFound(_("没有卡号或手机号完全一致的会员。"))
        return Response(MemberLookupSerializer(member, context={"own": found.own is not None}).data)

    def _editable(self) -> Member:
        member = self.get_object()
        if not can_edit_member(self.request.user, member):
            raise exceptions.PermissionDenied(_("你不能修改这位会员的资料。"))
        return member


# --- Purchases and returns -----------------------------------------------------------------------


def purchase_errors(e: DjangoValidationError) -> exceptions.APIException:
    """`purchase_record`'s refusal as the API answers it (staff API and POS alike): 409 when the
    receipt number is another receipt's (`receipt_conflict`) or the member was erased
    (`member_erased`), else 400 naming the fields (`original` as `original_receipt_no`)."""
    if getattr(e, "code", None) == ERASED_CODE:
        # Not a bad request the client could fix: the member is gone (DOMAIN §11).
        return Conflict(exceptions.ErrorDetail(e.messages[0], code="member_erased"))
    errors = e.message_dict if hasattr(e, "error_dict") else {"non_field_errors": e.messages}
    if "receipt_no" in errors:
        # The only receipt_no error purchase_record raises: this number is another receipt's.
        return Conflict({"receipt_no": [exceptions.ErrorDetail(errors["receipt_no"][0], code="receipt_conflict")]})
    if "original" in errors:
        errors["original_receipt_no"] = errors.pop("original")
    return ValidationError(errors)


def purchase_push(
    *,
    data: dict,
    member: Member,
    store: Store,
    by: Staff | None,
    consultant: Staff | None,
    original: Purchase | None,
    source: str,
) -> tuple[Purchase, bool]:
    """Record a receipt, or a return through `purchase_return` when it names its original: the
    purchase (with what the serializers read) and whether it is new. A negative amount without
    an original is refused: a return names the receipt it returns (issue 13)."""
    common = {
        "store": store,
        "receipt_no": data["receipt_no"],
        "date": data["date"],
        "amount": data["amount"],
        "by": by,
        "consultant": consultant,
        "items": data.get("items", ""),
        "source": source,
    }
    if original is not None and original.member_id != member.pk:
        raise ValidationError({"original_receipt_no": [_("原小票不属于该会员。")]})
    try:
        if original is not None:
            result = purchase_return(original=original, **common)
        else:
            on_file = Purchase.objects.filter(store=store, receipt_no=data["receipt_no"].strip()).exists()
            if data["amount"] < 0 and not on_file:
                raise ValidationError(
                    {"original_receipt_no": [exceptions.ErrorDetail(RETURN_NEEDS_ORIGINAL, code="required")]}
                )
            result = purchase_record(member=member, **common)
    except DjangoValidationError as e:
        raise purchase_errors(e) from e
    purchase = Purchase.objects.select_related("store", "member", "consultant", "original").get(pk=result.purchase.pk)
    return purchase, result.created


RETURN_NEEDS_ORIGINAL = _("退货（负数金额）请填写原小票号 original_receipt_no。")


class PurchaseSerializer(serializers.ModelSerializer):
    """A receipt or a return as the API shows it: a return has a negative amount and names its
    original receipt (`original_receipt_no`)."""

    store = serializers.CharField(source="store.code", read_only=True)
    card_no = serializers.CharField(source="member.card_no", read_only=True)
    member = serializers.IntegerField(source="member_id", read_only=True)
    consultant = serializers.CharField(source="consultant.username", default=None, read_only=True, allow_null=True)
    original_receipt_no = serializers.CharField(
        source="original.receipt_no", default=None, read_only=True, allow_null=True
    )
    is_return = serializers.BooleanField(read_only=True)

    class Meta:
        model = Purchase
        fields = [
            "id",
            "store",
            "receipt_no",
            "member",
            "card_no",
            "date",
            "amount",
            "is_return",
            "consultant",
            "items",
            "original_receipt_no",
            "source",
        ]
        read_only_fields = fields


class PurchaseInSerializer(serializers.Serializer):
    """What a client sends: the receipt, the member by card or full phone (a return may name only
    its original receipt) and, for HQ, the store. `tier`, `source`, `recorded_by` and the like
    are not fields here: they are ignored."""

    store = serializers.CharField(
        required=False, allow_blank=True, max_length=20, help_text=_("门店编码：仅总部填写，其他人为本店。")
    )
    receipt_no = serializers.CharField(max_length=40)
    card_no = serializers.CharField(max_length=30, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    date = serializers.DateField()
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text=_("消费为正数；退货为负数，并填写原小票号。")
    )
    consultant = serializers.CharField(
        required=False, allow_blank=True, max_length=150, help_text=_("导购（该门店员工的用户名）；默认为专属顾问。")
    )
    items = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)
    original_receipt_no = serializers.CharField(
        required=False, allow_blank=True, max_length=40, help_text=_("退货时：所退商品的原小票号（同一门店）。")
    )

    def validate(self, data):
        if not data.get("card_no") and not data.get("phone") and not data.get("original_receipt_no"):
            raise ValidationError({"card_no": _("请提供卡号或手机号（退货可只提供原小票号）。")})
        return data


class PurchaseFilterSet(django_filters.FilterSet):
    """The purchase list's filters: a member, a date range, a receipt number, purchases or returns."""

    member = django_filters.NumberFilter(field_name="member_id", min_value=1, max_value=2**63 - 1)
    date_from = django_filters.DateFilter(field_name="date", lookup_expr="gte", label=_("起始日期"))
    date_to = django_filters.DateFilter(field_name="date", lookup_expr="lte", label=_("截止日期"))
    receipt_no = django_filters.CharFilter(field_name="receipt_no", max_length=40, label=_("小票号"))
    kind = django_filters.ChoiceFilter(
        choices=[("purchase", _("消费")), ("return", _("退货"))], method="filter_kind", label=_("类型")
    )

    class Meta:
        model = Purchase
        fields: list[str] = []

    def filter_kind(self, queryset, name, value):
        return queryset.filter(amount__gt=0) if value == "purchase" else queryset.filter(amount__lt=0)


class PurchaseCursorPagination(MemberCursorPagination):
    ordering = ("-date", "-id")


@extend_schema_view(
    list=extend_schema(
        summary="Purchases and returns of the caller's members",
        responses={200: PurchaseSerializer, **ERROR_RESPONSES},
    ),
    retrieve=extend_schema(summary="One purchase or return", responses={200: PurchaseSerializer, **ERROR_RESPONSES}),
    create=extend_schema(
        summary="Record a purchase, or a return naming its original receipt",
        description=(
            "Idempotent on (store, receipt no.): 201 recorded, 200 the same receipt sent again (the one on "
            "file), 409 `receipt_conflict` when another receipt is on file under that number."
        ),
        request=PurchaseInSerializer,
        responses={201: PurchaseSerializer, 200: PurchaseSerializer, 409: RECEIPT_CONFLICT_RESPONSE, **ERROR_RESPONSES},
    ),
)
class PurchaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The receipts of the members in the caller's scope (DOMAIN §11: whichever till took them; a
    receipt this store took for another store's member belongs to that member's store and is not
    listed). Recorded through `purchase_record` / `purchase_return`, as the member page does."""

    http_method_names = ["get", "post", "head", "options"]
    serializer_class = PurchaseSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = PurchaseFilterSet
    pagination_class = PurchaseCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the view: no user
            return Purchase.objects.none()
        members = member_scope(viewer=self.request.user)
        return Purchase.objects.filter(member__in=members).select_related("store", "member", "consultant", "original")

    def get_object(self) -> Purchase:
        try:
            pk = params.as_pk("id", self.kwargs[self.lookup_field])
        except params.BadParameter:
            raise exceptions.NotFound() from None
        return get_object_or_404(self.get_queryset(), pk=pk)

    def create(self, request, *args, **kwargs):
        data_in = PurchaseInSerializer(data=request.data)
        data_in.is_valid(raise_exception=True)
        data = data_in.validated_data
        store = _store_for(request.user, data.get("store"))
        original = _original(request.user, store, data)
        named = data.get("card_no") or data.get("phone")
        member = _purchase_member(request.user, store, data) if named else original.member
        consultant = member.consultant if member.home_store_id == store.pk else None
        if data.get("consultant"):
            consultant = Staff.objects.filter(username=data["consultant"], store=store, is_active=True).first()
            if consultant is None:
                raise ValidationError({"consultant": [_("该门店没有这位员工。")]})
        purchase, created = purchase_push(
            data=data,
            member=member,
            store=store,
            by=request.user,
            consultant=consultant,
            original=original,
            source=PurchaseSource.POS,
        )
        return Response(
            PurchaseSerializer(purchase).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


def _store_for(viewer: Staff, code: str | None) -> Store:
    """HQ names the store; everyone else records for their own (naming another is an error)."""
    if viewer.is_hq:
        store = Store.objects.filter(code=(code or "").strip().upper()).first() if code else None
        if store is None:
            raise ValidationError({"store": [_("总部请填写门店编码。") if not code else _("没有这个门店。")]})
        return store
    if viewer.store_id is None:
        raise exceptions.PermissionDenied()
    if code and code.strip().upper() != viewer.store.code:
        raise ValidationError({"store": [_("只能为本店登记消费。")]})
    return viewer.store


def _purchase_member(viewer: Staff, store: Store, data: dict) -> Member:
    """The store's member the receipt names, by card or by exact full phone (audited)."""
    scope = member_scope(viewer=viewer).filter(home_store=store)
    if data.get("card_no"):
        member = scope.filter(card_no=data["card_no"].strip()).first()
    else:
        # An exact full-number lookup: audited like the search (DOMAIN §11).
        member = member_by_phone(viewer=viewer, qs=scope, text=data["phone"], via="api_purchase")
    if member is None:
        raise ValidationError({"card_no": [_("门店 %(store)s 没有这位会员。") % {"store": store.code}]})
    return member


def _original(viewer: Staff, store: Store, data: dict) -> Purchase | None:
    """The receipt a return names: the store's, of a member in the caller's scope."""
    receipt_no = (data.get("original_receipt_no") or "").strip()
    if not receipt_no:
        return None
    original = (
        Purchase.objects.filter(store=store, receipt_no=receipt_no, member__in=member_scope(viewer=viewer))
        .select_related("member")
        .first()
    )
    if original is None:
        raise ValidationError({"original_receipt_no": [_("本店没有这张原小票。")]})
    return original

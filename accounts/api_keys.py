"""POS keys (issue 13 item 3): a store's till authenticates with `Authorization: Api-Key <key>`.

A key is `<prefix>.<secret>`: the prefix (12 hex digits, public, unique) finds the row, the secret
is 32 random bytes. The database keeps the prefix and the SHA-256 of the whole key, compared in
constant time; the key itself is shown once, when it is created. Every request reads the row
again (no cache), so a revoked key is refused with a 401 at once.

A key-authenticated request has an anonymous `request.user` and the `ApiKey` as `request.auth`:
every endpoint that wants a signed-in person refuses it (403), and only views that let `IsPosKey`
in (members.pos_api) serve it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions, permissions, throttling

from .models import ApiKey, Staff, Store
from .services import audit_log

KEYWORD = "Api-Key"
PREFIX_BYTES = 6  # 12 hex digits: public, only needs to be unique
SECRET_BYTES = 32
# last_used_at is written at most this often per key: a busy till must not write on every request.
LAST_USED_EVERY = timedelta(minutes=1)
DEFAULT_RATE = "120/min"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    prefix = secrets.token_hex(PREFIX_BYTES)
    return prefix, f"{prefix}.{secrets.token_urlsafe(SECRET_BYTES)}"


# --- Services and selectors ------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedKey:
    api_key: ApiKey
    key: str  # the whole key: shown once, never stored


def can_manage_keys(viewer: Staff, store: Store | None = None) -> bool:
    """Managers their own store's keys, HQ every store's."""
    if viewer.is_hq:
        return True
    return viewer.is_manager and viewer.store_id is not None and (store is None or store.pk == viewer.store_id)


def api_keys_for(*, viewer: Staff, store_id: int | None = None) -> QuerySet[ApiKey]:
    """The keys the viewer manages (HQ: every store's, or one store's), newest first."""
    qs = ApiKey.objects.select_related("store", "created_by", "revoked_by")
    if viewer.is_hq:
        return qs.filter(store_id=store_id) if store_id else qs
    if not viewer.is_manager or viewer.store_id is None:
        return qs.none()
    return qs.filter(store_id=viewer.store_id)


@transaction.atomic
def api_key_create(*, store: Store, name: str, by: Staff) -> CreatedKey:
    """A new key for `store`; the returned `key` is the only copy there will ever be."""
    if not can_manage_keys(by, store):
        raise PermissionError("not this viewer's store")
    for _attempt in range(5):
        prefix, key = _new_key()
        try:
            with transaction.atomic():
                api_key = ApiKey.objects.create(
                    store=store, name=name.strip(), prefix=prefix, hashed_key=hash_key(key), created_by=by
                )
            break
        except IntegrityError:  # a prefix already taken (1 in 2**48): draw again
            continue
    else:
        raise RuntimeError("could not draw a free key prefix")
    audit_log(actor=by, action="api_key.created", obj=api_key, store=store, api_key=prefix, name=api_key.name)
    return CreatedKey(api_key=api_key, key=key)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, by: Staff) -> ApiKey:
    """Revoke the key: its next request is a 401. Revoking twice changes nothing."""
    if not can_manage_keys(by, api_key.store):
        raise PermissionError("not this viewer's store")
    if api_key.revoked_at is None:
        api_key.revoked_at, api_key.revoked_by = timezone.now(), by
        api_key.save(update_fields=["revoked_at", "revoked_by"])
        audit_log(actor=by, action="api_key.revoked", obj=api_key, store=api_key.store, api_key=api_key.prefix)
    return api_key


def api_key_check(key: str) -> ApiKey | None:
    """The live key this is, or None. Read from the database every time: no caching, so a
    revocation takes effect on the very next request."""
    prefix, dot, _secret = key.partition(".")
    if not dot or not prefix or len(prefix) > 16:
        return None
    api_key = ApiKey.objects.select_related("store").filter(prefix=prefix, revoked_at__isnull=True).first()
    if api_key is None or not hmac.compare_digest(api_key.hashed_key, hash_key(key)):
        return None
    if not api_key.store.is_active:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_EVERY:
        # One narrow UPDATE, at most once a minute per key.
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


# --- DRF -----------------------------------------------------------------------------------


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Api-Key <key>`. No such header: not this class's business (None). A header
    with a wrong, unknown or revoked key: 401 with `WWW-Authenticate: Api-Key`."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != KEYWORD.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("密钥格式不正确。"))
        api_key = api_key_check(header[1])
        if api_key is None:
            raise exceptions.AuthenticationFailed(_("密钥无效或已吊销。"))
        return AnonymousUser(), api_key

    def authenticate_header(self, request):
        return KEYWORD


def request_key(request) -> ApiKey | None:
    return request.auth if isinstance(getattr(request, "auth", None), ApiKey) else None


class IsPosKey(permissions.BasePermission):
    """Only a request authenticated by a POS key. Staff (a session, Basic) are refused: the POS
    endpoints serve tills; people use the pages and the rest of /api/v1/."""

    message = _("此接口仅供收银系统密钥使用。")

    def has_permission(self, request, view) -> bool:
        return request_key(request) is not None


class PosKeyThrottle(throttling.SimpleRateThrottle):
    """Requests per key (not per address: a store's tills share one). The rate is
    `REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["pos_key"]`, else 120 a minute."""

    scope = "pos_key"

    def get_rate(self):
        rates = getattr(settings, "REST_FRAMEWORK", {}).get("DEFAULT_THROTTLE_RATES", {})
        return rates.get(self.scope) or DEFAULT_RATE

    def get_cache_key(self, request, view):
        api_key = request_key(request)
        if api_key is None:
            return None  # not a key: not this throttle's business
        return self.cache_format % {"scope": self.scope, "ident": api_key.pk}

"""Cross-store service (DOMAIN §13): serving another store's member at this store's till.

Staff of any store may find a member of another store, but only by the exact card number or the
exact full phone (in any usual spelling), never by a name, a prefix or the last four digits: the
customer standing at the counter tells them one of those. Every lookup is audited, an empty one
too. What they then see is the `CrossStoreMember` view-model (name, tier, masked phone, home
store, card) and nothing of the member's page: the member page stays a 404 for them.

The forms that act on the member identify it by a signed token bound to the viewer
(`cross_store_token`), so a raw id can't be probed from another store.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext_lazy

from accounts.models import Staff
from accounts.services import audit_log

from .models import Member
from .validators import mask_phone, normalize_phone

LOOKUP_ACTION = "member.cross_store.lookup"
SIGNING_SALT = "members.cross_store"
# Long enough to ring a receipt and log a visit for the customer at the counter; short enough that
# a token copied from a page is useless tomorrow.
TOKEN_MAX_AGE = 30 * 60


@dataclass(frozen=True)
class CrossStoreLookup:
    """What a lookup found: `member` another store's member (the one to serve here); `own` a member
    of the viewer's own store (served by the normal pages); both None when nothing matched."""

    member: Member | None = None
    own: Member | None = None
    kind: str = ""  # "card" / "phone" / "" (what the text matched, or could have matched)


def _match(text: str) -> tuple[Q | None, str, str]:
    """The filter for an exact card or an exact full phone, the kind of search, and what the audit
    log records of it (a phone masked as the pages show it)."""
    text = text.strip()[:40]
    if not text:
        return None, "", ""
    try:
        phone = normalize_phone(text)
    except ValidationError:
        phone = ""
    if phone:
        return Q(phone=phone) | Q(card_no__iexact=text), "phone", mask_phone(phone)
    return Q(card_no__iexact=text), "card", text


def member_by_card_or_phone(text: str) -> tuple[Member | None, str, str]:
    """The member (any store, never an erased one) whose card number or full phone is exactly
    `text`, the kind of search and what the audit log records of it (`_match`). Not audited: the
    caller records the search as its page or API does. One query; none for an empty text."""
    query, kind, searched = _match(text)
    if query is None:
        return None, kind, searched
    candidates = list(
        Member.objects.filter(query, erased_at__isnull=True).select_related("home_store", "consultant")[:2]
    )
    # A text that is both someone's card and someone else's phone: the card wins (it is printed on
    # what the customer hands over).
    candidates.sort(key=lambda m: m.card_no.lower() != text.strip().lower())
    return (candidates[0] if candidates else None), kind, searched


def cross_store_lookup(*, viewer: Staff, text: str) -> CrossStoreLookup:
    """Find the member whose card number or full phone is exactly `text`, audited with what was
    searched and whom it found. Erased members are never found. A viewer without a store (HQ)
    serves nobody at a till and finds nothing here; HQ's normal search sees every store."""
    if viewer.store_id is None:
        return CrossStoreLookup(kind=_match(text)[1])
    found, kind, searched = member_by_card_or_phone(text)
    if not kind:
        return CrossStoreLookup()
    own = found is not None and found.home_store_id == viewer.store_id
    audit_log(
        actor=viewer,
        action=LOOKUP_ACTION,
        obj=found,
        store=viewer.store,
        kind=kind,
        searched=searched,
        member=found.pk if found else None,
        home_store=found.home_store.code if found else None,
        own_store=own,
    )
    if found is None:
        return CrossStoreLookup(kind=kind)
    return CrossStoreLookup(own=found, kind=kind) if own else CrossStoreLookup(member=found, kind=kind)


def member_find_elsewhere(*, viewer: Staff, text: str) -> Member | None:
    """Another store's member with exactly this card number or full phone, or None (audited as
    `member.cross_store.lookup`). The viewer's own store's members are not returned: the normal
    search serves them."""
    return cross_store_lookup(viewer=viewer, text=text).member


@dataclass(frozen=True)
class CrossStoreMember:
    """All another store's staff may see of a member (DOMAIN §13), whatever agreement they signed."""

    name: str
    tier: str
    tier_label: str
    masked_phone: str
    home_store_name: str
    card_no: str

    @classmethod
    def of(cls, member: Member) -> CrossStoreMember:
        return cls(
            name=member.name,
            tier=member.tier,
            tier_label=member.get_tier_display(),
            masked_phone=mask_phone(member.phone),
            home_store_name=member.home_store.name,
            card_no=member.card_no,
        )


# --- The token the action forms carry -------------------------------------------------------------


class BadToken(Exception):
    """A token that was forged, altered, issued to someone else or has expired."""


def cross_store_token(*, viewer: Staff, member: Member) -> str:
    """A signed, timestamped token naming the member for this viewer only."""
    return signing.dumps({"m": member.pk, "v": viewer.pk}, salt=SIGNING_SALT)


def member_from_token(*, viewer: Staff, token: str, max_age: int = TOKEN_MAX_AGE) -> Member:
    """The member a token names, checked again now: issued to this viewer, not expired, the member
    still another store's and not erased. Anything else raises BadToken."""
    try:
        data = signing.loads(token, salt=SIGNING_SALT, max_age=max_age)
    except signing.BadSignature as e:  # SignatureExpired is a BadSignature too
        raise BadToken(str(e)) from None
    if not isinstance(data, dict) or data.get("v") != viewer.pk or viewer.store_id is None:
        raise BadToken("not this viewer's")
    member = (
        Member.objects.filter(pk=data.get("m"), erased_at__isnull=True)
        .exclude(home_store_id=viewer.store_id)
        .select_related("home_store", "consultant")
        .first()
    )
    if member is None:
        raise BadToken("no longer another store's member")
    return member


BAD_TOKEN_MESSAGE = gettext_lazy(
    "该会员链接已失效或无效（有效期 30 分钟，且只限查找人本人使用），请重新按卡号或手机号查找。"
)

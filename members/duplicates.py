"""Likely duplicate members (DOMAIN §13 "Duplicates"): the review list and the warning on entry.

Three kinds, each found set-based (a handful of queries whatever the number of members):

- **phone** — the same number in two spellings. Phones are unique and normalised when saved
  through the services, so two *normalised* phones never collide; what does happen is a number
  stored before normalisation existed or written by the admin/an old import (`+8613812345678`,
  `138 1234 5678`, `0086…`) next to the same number in the normal form (`13812345678`). Only the
  few phones not in normal form are read and normalised in Python; their normal forms are then
  looked up in one query. (A WeChat id equal to someone's phone is not a signal: it is as often a
  spouse's account.)
- **name_birthday** — the same name (ignoring spaces and case) and the same date of birth, in SQL.
- **card** — card numbers that are the same once case, spaces, separators and leading zeros are
  ignored (`V0012345` / `v-0012345` / `V12345`), or that differ by one typed character or two
  swapped neighbours *and* belong to people of the same name. One typo alone is not enough:
  cards are issued in sequence, so every card differs by one digit from dozens of others.

Scope: a store's staff see only pairs whose two members are both in their store; HQ sees every
pair, across stores too. Erased members are never paired; pairs dismissed as "not the same person"
(`DuplicateDismissal`) are not listed again.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, QuerySet, Value, Window
from django.db.models.functions import Lower, Replace
from django.utils.translation import gettext as _

from accounts.models import Staff
from accounts.services import audit_log

from .models import DuplicateDismissal, DuplicateKind, Member
from .selectors import member_scope
from .validators import normalize_phone

# Kinds in the order the list shows them: the surest first.
KIND_ORDER = {DuplicateKind.PHONE: 0, DuplicateKind.NAME_BIRTHDAY: 1, DuplicateKind.CARD: 2}
_MAINLAND = r"^1[3-9][0-9]{9}$"
_E164_NOT_MAINLAND = r"^\+([1-7]|8[0-57-9]|9)[0-9]{5,14}$"  # E.164, but not +86 (stored as 11 digits)
_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
_LEADING_ZEROS = re.compile(r"(?<![0-9])0+(?=[0-9])")


def card_key(card_no: str) -> str:
    """A card number as a person means it: upper case, letters and digits only, no leading zeros
    in any run of digits (`v-00 12345` → `V12345`)."""
    return _LEADING_ZEROS.sub("", _NOT_ALNUM.sub("", (card_no or "").upper()))


def name_key(name: str) -> str:
    return "".join((name or "").split()).lower()


def phone_key(phone: str) -> str:
    """The normal form of a stored phone, or "" when it is no valid number at all."""
    try:
        return normalize_phone(phone)
    except ValidationError:
        return ""


def one_typo_apart(a: str, b: str) -> bool:
    """True if `a` and `b` differ by one substituted, inserted or deleted character, or by two
    neighbours swapped (optimal string alignment distance 1)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):  # one inserted character
        return a[i:] == b[i + 1 :]
    if a[i + 1 :] == b[i + 1 :]:  # one substituted character
        return True
    return i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]


def _similar_cards(a: str, b: str) -> bool:
    ka, kb = card_key(a), card_key(b)
    return ka == kb or one_typo_apart(ka, kb)


@dataclass
class DuplicatePair:
    """Two members that may be one person, `first.pk < second.pk`, and why (one or more kinds)."""

    first_id: int
    second_id: int
    kinds: list[str] = field(default_factory=list)
    first: Member | None = None
    second: Member | None = None

    @property
    def kind_labels(self) -> list[str]:
        return [DuplicateKind(k).label for k in self.kinds]


def _candidates(viewer: Staff) -> QuerySet[Member]:
    return member_scope(viewer=viewer).filter(erased_at__isnull=True).order_by()


def _with_name_key(qs: QuerySet[Member]) -> QuerySet[Member]:
    return qs.annotate(name_key=Lower(Replace("name", Value(" "), Value(""))))


def _phone_pairs(qs: QuerySet[Member]) -> Iterable[tuple[int, int]]:
    """Pairs of members whose phones normalise to the same number. Two queries: the phones not in
    normal form, then the members holding their normal forms."""
    odd = qs.exclude(phone__regex=_MAINLAND).exclude(phone__regex=_E164_NOT_MAINLAND)
    by_number: dict[str, set[int]] = defaultdict(set)
    for pk, phone in odd.values_list("pk", "phone"):
        if number := phone_key(phone):
            by_number[number].add(pk)
    if by_number:
        for pk, phone in qs.filter(phone__in=list(by_number)).values_list("pk", "phone"):
            by_number[phone].add(pk)
    for ids in by_number.values():
        yield from _all_pairs(ids)


def _in_groups(qs: QuerySet[Member], *fields: str) -> QuerySet[Member]:
    """The members sharing `fields` with at least one other: a window count over the partition,
    one sort of the scope rather than a probe per member."""
    return qs.annotate(group_size=Window(Count("pk"), partition_by=[F(f) for f in fields])).filter(group_size__gt=1)


def _name_birthday_pairs(qs: QuerySet[Member]) -> Iterable[tuple[int, int]]:
    """Members sharing name and birthday: one query."""
    keyed = _with_name_key(qs.filter(birthday__isnull=False).exclude(name=""))
    groups: dict[tuple[str, date], set[int]] = defaultdict(set)
    for pk, key, birthday in _in_groups(keyed, "name_key", "birthday").values_list("pk", "name_key", "birthday"):
        groups[(key, birthday)].add(pk)
    for ids in groups.values():
        yield from _all_pairs(ids)


def _card_pairs(qs: QuerySet[Member]) -> Iterable[tuple[int, int]]:
    """Cards equal once normalised (any two members: one query over the card numbers), and cards
    one typo apart among members of the same name (one query: members sharing a name)."""
    by_key: dict[str, set[int]] = defaultdict(set)
    for pk, card_no in qs.values_list("pk", "card_no"):
        by_key[card_key(card_no)].add(pk)
    for ids in by_key.values():
        yield from _all_pairs(ids)
    keyed = _with_name_key(qs.exclude(name=""))
    by_name: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for pk, key, card_no in _in_groups(keyed, "name_key").values_list("pk", "name_key", "card_no"):
        by_name[key].append((pk, card_no))
    for rows in by_name.values():
        for i, (pk_a, card_a) in enumerate(rows):
            for pk_b, card_b in rows[i + 1 :]:
                if one_typo_apart(card_key(card_a), card_key(card_b)):
                    yield _ordered(pk_a, pk_b)


def _ordered(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _all_pairs(ids: set[int]) -> Iterable[tuple[int, int]]:
    ordered = sorted(ids)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            yield (a, b)


def _dismissed(pairs: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    firsts = sorted({a for a, _b in pairs})
    found: set[tuple[int, int]] = set()
    for i in range(0, len(firsts), 2000):  # SQLite caps the parameters of one IN (...)
        rows = DuplicateDismissal.objects.filter(first_id__in=firsts[i : i + 2000])
        found.update(rows.values_list("first", "second"))
    return found


def duplicate_pairs(*, viewer: Staff) -> list[DuplicatePair]:
    """Every likely duplicate pair the viewer may see, surest kinds first, without members loaded
    (`duplicate_pairs_load` fetches those of a page). Six queries whatever the number of members."""
    qs = _candidates(viewer)
    pairs: dict[tuple[int, int], DuplicatePair] = {}
    for kind, found in (
        (DuplicateKind.PHONE, _phone_pairs(qs)),
        (DuplicateKind.NAME_BIRTHDAY, _name_birthday_pairs(qs)),
        (DuplicateKind.CARD, _card_pairs(qs)),
    ):
        for a, b in found:
            pair = pairs.setdefault((a, b), DuplicatePair(a, b))
            if kind not in pair.kinds:
                pair.kinds.append(kind)
    dismissed = _dismissed(pairs) if pairs else set()
    listed = [p for key, p in pairs.items() if key not in dismissed]
    return sorted(listed, key=lambda p: (min(KIND_ORDER[k] for k in p.kinds), -p.second_id, -p.first_id))


def duplicate_pairs_load(pairs: list[DuplicatePair]) -> list[DuplicatePair]:
    """Fill in the members of `pairs` (a page of them): one query."""
    ids = {pk for p in pairs for pk in (p.first_id, p.second_id)}
    members = Member.objects.select_related("home_store", "consultant").in_bulk(ids)
    for pair in pairs:
        pair.first, pair.second = members.get(pair.first_id), members.get(pair.second_id)
    return [p for p in pairs if p.first is not None and p.second is not None]


# --- On entry ------------------------------------------------------------------------------------


@dataclass
class Twin:
    """A likely twin of a profile being entered: `member` is set only when the viewer may see it;
    otherwise the warning says that another store has one, and nothing about them."""

    kind: str
    member: Member | None

    @property
    def kind_label(self) -> str:
        return DuplicateKind(self.kind).label


def entry_twins(
    *,
    viewer: Staff,
    name: str,
    birthday: date | None,
    phone: str,
    card_no: str,
    exclude_pk: int | None = None,
) -> list[Twin]:
    """The members a profile being enrolled or edited may duplicate, by kind, across every store
    (so a store user hears that one exists elsewhere) but named only within the viewer's scope.
    Pairs already dismissed with the edited member are left out. Three queries at most."""
    found: dict[int, list[str]] = defaultdict(list)
    live = Member.objects.filter(erased_at__isnull=True).exclude(pk=exclude_pk).order_by()
    number = phone_key(phone)
    if number:
        # A twin stored in another spelling ends with the same four digits (indexed).
        for pk, stored in live.filter(phone_last4=number[-4:]).exclude(phone=number).values_list("pk", "phone"):
            if phone_key(stored) == number:
                found[pk].append(DuplicateKind.PHONE)
    key = name_key(name)
    if key and birthday:
        same = _with_name_key(live).filter(name_key=key, birthday=birthday).values_list("pk", flat=True)
        for pk in same:
            found[pk].append(DuplicateKind.NAME_BIRTHDAY)
    card = card_key(card_no)
    if card:
        near = Q(card_no__iendswith=card[-3:])
        if key:
            near |= Q(name_key=key)
        rows = _with_name_key(live).filter(near).values_list("pk", "name_key", "card_no")
        for pk, other_name, other in rows[:500]:
            other_key = card_key(other)
            if other == card_no:
                continue  # the very card already taken: the service refuses it with its own error
            if other_key == card or (key and other_name == key and one_typo_apart(card, other_key)):
                found[pk].append(DuplicateKind.CARD)
    if not found:
        return []
    if exclude_pk is not None:
        dismissed = DuplicateDismissal.objects.filter(Q(first=exclude_pk) | Q(second=exclude_pk))
        for first, second in dismissed.values_list("first", "second"):
            found.pop(second if first == exclude_pk else first, None)
    visible = member_scope(viewer=viewer).in_bulk(list(found))
    twins = [Twin(kinds[0], visible.get(pk)) for pk, kinds in found.items()]
    # What the viewer may see first; another store's twins once each kind (they are not named).
    seen_hidden: set[str] = set()
    shown = []
    for twin in sorted(twins, key=lambda t: (t.member is None, KIND_ORDER[t.kind])):
        if twin.member is None:
            if twin.kind in seen_hidden:
                continue
            seen_hidden.add(twin.kind)
        shown.append(twin)
    return shown


# --- Dismissing a pair ---------------------------------------------------------------------------


def can_dismiss_duplicates(viewer: Staff) -> bool:
    return viewer.is_manager or viewer.is_hq


@transaction.atomic
def duplicate_dismiss(*, first: Member, second: Member, by: Staff) -> DuplicateDismissal:
    """A manager says the two are different people: the pair is not listed again. Audited."""
    if not can_dismiss_duplicates(by):
        raise PermissionDenied
    if first.pk == second.pk:
        raise ValidationError(_("不能将会员与自己比较。"))
    low, high = (first, second) if first.pk < second.pk else (second, first)
    try:
        with transaction.atomic():
            dismissal = DuplicateDismissal.objects.create(first=low, second=high, by=by)
    except IntegrityError:
        return DuplicateDismissal.objects.get(first=low, second=high)
    audit_log(
        actor=by,
        action="member.duplicate.dismissed",
        obj=low,
        store=low.home_store,
        members=[low.pk, high.pk],
        cards=[low.card_no, high.card_no],
    )
    return dismissal


# What a profile is recognised by: editing anything else never asks about duplicates again.
IDENTITY_FIELDS = ("name", "birthday", "phone", "card_no")


def form_twins(*, viewer: Staff, member: Member | None, cleaned: dict, changed: Iterable[str]) -> list[Twin]:
    """The likely twins of a profile form's clean data (the enrol form, or an edit that changed
    what the profile is recognised by). Fields the form does not hold are the member's own."""
    if member is not None and not set(changed) & set(IDENTITY_FIELDS):
        return []

    def value(name: str):
        if name in cleaned:
            return cleaned[name]
        return getattr(member, name) if member is not None else None

    return entry_twins(
        viewer=viewer,
        name=value("name") or "",
        birthday=value("birthday"),
        phone=value("phone") or "",
        card_no=value("card_no") or "",
        exclude_pk=member.pk if member is not None else None,
    )

"""Writes of member data. Views, API, imports, commands and duties all come through here."""

from __future__ import annotations

import gc
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Case, Q, QuerySet, Sum, When
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Staff, Store
from accounts.services import audit_log
from duties.maintenance import tables_analyze
from vipcrm.bulk import array_param, bulk_set_rows

from .dates import to_lunar
from .models import (
    TIER_RANK,
    ImportantDate,
    ImportantDateKind,
    Member,
    MemberOwnerChange,
    OwnerChangeReason,
    ProgramRules,
    Purchase,
    PurchaseSource,
    Tier,
    TierChange,
    TierChangeReason,
    TierHold,
    TierReview,
)
from .selectors import ids_filter, purchases_sum
from .signals import member_dates_changed, member_enrolled, member_erased, member_tiers_changed, purchase_recorded
from .tiers import TierRules, is_month_end, replay_days, thresholds, tier_for
from .validators import mask_phone, normalize_phone, validate_past_date

DERIVED_REASONS = (TierChangeReason.PURCHASE, TierChangeReason.REVIEW)
INPUT_REASONS = (TierChangeReason.MANUAL, TierChangeReason.IMPORT)
# Members per chunk of a replay: big enough to keep round trips few, small enough to keep a chunk's
# ledger in memory. SQLite caps the parameters of one IN, so its chunks are smaller.
REPLAY_CHUNK = 25000
REPLAY_CHUNK_SQLITE = 5000
# A replay of at most this many members (a purchase, a merge, an edit) locks them before it reads;
# a larger one reads unlocked and locks only the members it changes (see tiers_replay).
REPLAY_LOCK_FIRST = 2000


# --- Members -------------------------------------------------------------------------------


def phone_owner_error(phone: str, *, exclude_pk: int | None = None, viewer: Staff | None = None) -> str | None:
    """The message naming the member who already has `phone`, or None if it is free.

    Another store's member is named by card and store only, so the message leaks no one's name.
    """
    owner = Member.objects.filter(phone=phone).exclude(pk=exclude_pk).select_related("home_store").first()
    if owner is None:
        return None
    if viewer is None or viewer.is_hq or viewer.store_id == owner.home_store_id:
        return _("手机号 %(phone)s 已属于会员 %(name)s（卡号 %(card)s）。") % {
            "phone": phone,
            "name": owner.name,
            "card": owner.card_no,
        }
    return _("手机号 %(phone)s 已属于门店 %(store)s 的会员（卡号 %(card)s）。") % {
        "phone": phone,
        "store": owner.home_store.code,
        "card": owner.card_no,
    }


def _clean_member(member: Member, *, viewer: Staff | None) -> None:
    errors: dict[str, list[str]] = defaultdict(list)
    try:
        member.phone = normalize_phone(member.phone)
    except ValidationError as e:
        errors["phone"].extend(e.messages)
    else:
        taken = phone_owner_error(member.phone, exclude_pk=member.pk, viewer=viewer)
        if taken:
            errors["phone"].append(taken)
    for field, label in (
        ("birthday", _("生日")),
        ("joined_on", _("入会日期")),
        ("marketing_consent_at", _("营销同意日期")),
    ):
        try:
            validate_past_date(getattr(member, field), label=label)
        except ValidationError as e:
            errors[field].extend(e.messages)
    if member.card_no and Member.objects.filter(card_no=member.card_no).exclude(pk=member.pk).exists():
        errors["card_no"].append(_("卡号 %(card)s 已被使用。") % {"card": member.card_no})
    if member.consultant_id and member.consultant.store_id != member.home_store_id:
        errors["consultant"].append(_("顾问必须属于会员的所属门店。"))
    if errors:
        raise ValidationError(dict(errors))


@transaction.atomic
def member_enroll(*, store: Store, by: Staff | None, tier: str = Tier.C, **fields: Any) -> Member:
    """开卡: a new member at C, or at `tier` recorded as a manual change (managers and HQ only)."""
    member = Member(home_store=store, opened_by=by, **fields)
    if member.consultant_id is None and by is not None and by.is_consultant and by.store_id == store.pk:
        member.consultant = by
    if member.marketing_consent and not member.marketing_consent_at:
        member.marketing_consent_at = timezone.localdate()
    _clean_member(member, viewer=by)
    member.tier = Tier.C
    member.save()
    # Where the owner history starts: the store and consultant the card was opened with.
    MemberOwnerChange.objects.create(
        member=member,
        date=member.joined_on,
        store=store,
        consultant=member.consultant,
        reason=OwnerChangeReason.ENROL,
        by=by,
    )
    if tier != Tier.C:
        # Dated today, the day of the decision: dated at a past join, the month-end reviews since
        # then would undo it at once.
        member_set_tier(member=member, tier=tier, by=by, lock=False)
    audit_log(actor=by, action="member.created", obj=member, store=store)
    member_dates_changed.send(sender=Member, member=member)
    member_enrolled.send(sender=Member, member=member)
    return member


EDITABLE_FIELDS = (
    "card_no",
    "name",
    "gender",
    "phone",
    "birthday",
    "birthday_lunar",
    "address",
    "email",
    "wechat",
    "marketing_consent",
    "marketing_consent_at",
    "joined_on",
    "top_size",
    "bottom_size",
    "shoe_size",
    "style_preferences",
    "notes",
)


@transaction.atomic
def member_update(*, member: Member, by: Staff | None, **fields: Any) -> Member:
    """Edit profile fields (never tier, store or consultant: those have their own services)."""
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable here: {sorted(unknown)}")
    before = {name: getattr(member, name) for name in fields}
    for name, value in fields.items():
        setattr(member, name, value)
    if member.marketing_consent and not member.marketing_consent_at:
        member.marketing_consent_at = timezone.localdate()
    if not member.marketing_consent:
        member.marketing_consent_at = None
    _clean_member(member, viewer=by)
    changed = sorted(name for name in fields if getattr(member, name) != before[name])
    if changed:
        member.save()
        audit_log(actor=by, action="member.edited", obj=member, store=member.home_store, fields=changed)
        if "joined_on" in changed:
            tiers_replay(member_ids=[member.pk])
        if {"birthday", "birthday_lunar"} & set(changed):
            member_dates_changed.send(sender=Member, member=member)
    return member


@transaction.atomic
def member_assign_consultant(*, member: Member, consultant: Staff | None, by: Staff, note: str = "") -> Member:
    """One member to one consultant (or none): `members.ownership.members_assign` for one."""
    from .ownership import members_assign

    members_assign(member_ids=[member.pk], consultant=consultant, by=by, note=note)
    member.refresh_from_db(fields=["consultant", "updated_at"])
    return member


@transaction.atomic
def member_erase(*, member: Member, by: Staff) -> Member:
    """A member's erasure request (DOMAIN §11): everything that identifies the person goes (name,
    phone, birthday, contact details, sizes, notes, important dates, tags, consent); the card, the
    store, the purchases and the tier history stay, anonymous, so reports stay right. Not undoable."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.erased_at is not None:
        raise ValidationError(_("该会员已匿名化。"))
    traces = erasure_traces(member)
    member.name = _("已注销会员")
    # Unique and not a number anyone can have, so it never matches a real phone.
    member.phone = f"erased-{member.pk}"
    member.birthday = None
    member.birthday_lunar = False
    member.gender = ""
    for field in ("address", "email", "wechat", "top_size", "bottom_size", "shoe_size", "style_preferences", "notes"):
        setattr(member, field, "")
    member.marketing_consent = False
    member.marketing_consent_at = None
    member.erased_at = timezone.now()
    member.save()
    member.phone_last4 = ""
    Member.objects.filter(pk=member.pk).update(phone_last4="")
    member.important_dates.all().delete()
    member.tags.clear()
    # The ledger stays; what people wrote about the person on it does not.
    scrub_rows(TierChange.objects.filter(member=member), ("note",), traces)
    scrub_rows(Purchase.objects.filter(member=member), ("items",), traces)
    member_erased.send(sender=Member, member=member, by=by, traces=traces)
    audit_log(actor=by, action="member.erased", obj=member, store=member.home_store)
    return member


ERASED_MARK = "[已删除]"


def erasure_traces(member: Member) -> list[re.Pattern]:
    """How the person may appear in free text: their name, their phone (in full, spaced or dashed
    as people write it, and masked as the pages show it) and their card number."""
    patterns = []
    digits = re.sub(r"\D", "", member.phone)
    if len(digits) >= 7:
        if member.phone.startswith("+"):
            digits = digits[-11:]  # the national part is what people write
        patterns.append(re.compile(r"[\s\-]?".join(re.escape(d) for d in digits)))
        patterns.append(re.compile(re.escape(mask_phone(member.phone))))
    for text in (member.name, member.card_no):
        if len(text.strip()) >= 2:  # a one-character "name" would blank every text it occurs in
            patterns.append(re.compile(re.escape(text.strip()), re.IGNORECASE))
    return patterns


def erasure_scrub(text: str, traces: list[re.Pattern]) -> str:
    """`text` with every trace of the person replaced by "[已删除]"."""
    for pattern in traces:
        text = pattern.sub(ERASED_MARK, text)
    return text


def scrub_rows(rows: QuerySet, fields: tuple[str, ...], traces: list[re.Pattern]) -> int:
    """Scrub the free-text `fields` of `rows` (one person's rows only: a handful), saving only the
    rows that change, in one bulk update. Returns how many changed."""
    changed = []
    # "[已删除]" can be longer than a short name it replaces: cut to the column's length.
    limits = [rows.model._meta.get_field(name).max_length for name in fields]
    for row in rows.only("pk", *fields):
        before = [getattr(row, name) for name in fields]
        after = [erasure_scrub(value or "", traces)[:limit] for value, limit in zip(before, limits, strict=True)]
        if after != [value or "" for value in before]:
            for name, value in zip(fields, after, strict=True):
                setattr(row, name, value)
            changed.append(row)
    if changed:
        rows.model.objects.bulk_update(changed, fields, batch_size=500)
    return len(changed)


@transaction.atomic
def member_set_tier(
    *, member: Member, tier: str, by: Staff | None, lock: bool, on: date | None = None, note: str = ""
) -> Member:
    """A manager's tier decision: a manual change (kept by every replay) and the lock flag.

    Locked members are left alone by the engine. Unlocking hands the member back to the engine,
    which replays its ledger at once.
    """
    on = on or timezone.localdate()
    if tier != member.tier:
        member_tiers_changed.send(sender=Member, changes=[(member.pk, member.home_store_id, member.tier, tier, on)])
        TierChange.objects.create(
            member=member,
            date=on,
            from_tier=member.tier,
            to_tier=tier,
            reason=TierChangeReason.MANUAL,
            by=by,
            note=note,
        )
        member.tier = tier
    member.tier_locked = lock
    member.save(update_fields=["tier", "tier_locked", "updated_at"])
    audit_log(actor=by, action="member.tier.set", obj=member, store=member.home_store, tier=tier, locked=lock)
    if not lock:
        tiers_replay(member_ids=[member.pk])
        member.refresh_from_db(fields=["tier"])
    return member


def member_open_complaints_set(*, member_id: int, count: int) -> None:
    """Record how many complaints a member has open (complaints calls this after each change)."""
    Member.objects.filter(pk=member_id).update(open_complaints=count)


# --- Purchases -----------------------------------------------------------------------------


ERASED_CODE = "erased"  # the ValidationError code of a purchase refused for an erased member


@dataclass
class PurchaseResult:
    purchase: Purchase
    created: bool


def _clean_purchase(purchase: Purchase) -> None:
    errors: dict[str, list[str]] = defaultdict(list)
    member = purchase.member
    if purchase.amount is None or purchase.amount == 0:
        errors["amount"].append(_("金额不能为 0；退货请填负数。"))
    try:
        validate_past_date(purchase.date, label=_("消费日期"))
    except ValidationError as e:
        errors["date"].extend(e.messages)
    if purchase.date and purchase.date < member.joined_on:
        errors["date"].append(_("消费日期早于会员入会日期（%(joined)s）。") % {"joined": member.joined_on})
    if purchase.original_id:
        original = purchase.original
        if original.member_id != member.pk:
            errors["original"].append(_("原小票不属于该会员。"))
        elif original.amount <= 0:
            errors["original"].append(_("原小票本身是退货。"))
        elif purchase.amount is not None and purchase.amount > 0:
            errors["amount"].append(_("退货金额须为负数。"))
        elif purchase.amount is not None:
            returned = original.returns.exclude(pk=purchase.pk).aggregate(s=Sum("amount"))["s"] or Decimal(0)
            if original.amount + returned + purchase.amount < 0:
                errors["amount"].append(
                    _("退货总额超过原小票金额（原 %(orig)s，已退 %(ret)s）。")
                    % {"orig": original.amount, "ret": -returned}
                )
    if purchase.consultant_id and purchase.consultant.store_id not in (purchase.store_id, None):
        errors["consultant"].append(_("导购必须属于该门店。"))
    if errors:
        raise ValidationError(dict(errors))


@transaction.atomic
def purchase_record(
    *,
    member: Member,
    store: Store,
    receipt_no: str,
    date: date,
    amount: Decimal,
    by: Staff | None,
    consultant: Staff | None = None,
    items: str = "",
    original: Purchase | None = None,
    source: str = PurchaseSource.STORE,
) -> PurchaseResult:
    """Record a purchase or a return, then let the tier engine react (DOMAIN §5).

    The same receipt sent twice (a POS retrying) returns the purchase already recorded; the
    same receipt number with different content is an error naming what is on file.
    """
    receipt_no = receipt_no.strip()
    existing = Purchase.objects.filter(store=store, receipt_no=receipt_no).first()
    if existing is not None:
        return PurchaseResult(_same_receipt(existing, member=member, date=date, amount=amount), created=False)
    if Member.objects.filter(pk=member.pk, erased_at__isnull=False).exists():
        # Read from the database, not the instance: an erasure may have just happened.
        raise ValidationError(_("该会员已被删除，不能再记录消费。"), code=ERASED_CODE)
    if original is not None:
        # A return: the original is locked first, so two returns of one receipt at once (two
        # tills, a retry) cannot each pass the check below and together return more than was bought.
        original = Purchase.objects.select_for_update().select_related("member").get(pk=original.pk)
    purchase = Purchase(
        member=member,
        store=store,
        receipt_no=receipt_no,
        date=date,
        amount=amount,
        consultant=consultant,
        items=items,
        original=original,
        source=source,
        recorded_by=by,
    )
    _clean_purchase(purchase)
    try:
        with transaction.atomic():
            purchase.save()
    except IntegrityError:
        # The same receipt pushed twice at once: the unique constraint let one in; answer the
        # other with it.
        existing = Purchase.objects.get(store=store, receipt_no=receipt_no)
        return PurchaseResult(_same_receipt(existing, member=member, date=date, amount=amount), created=False)
    tiers_replay(member_ids=[member.pk])
    purchase_recorded.send(sender=Purchase, purchase=purchase)
    return PurchaseResult(purchase, created=True)


def _same_receipt(existing: Purchase, *, member: Member, date: date, amount: Decimal) -> Purchase:
    """The purchase on file if it is the one being sent again; otherwise an error naming it."""
    if existing.member_id == member.pk and existing.date == date and existing.amount == Decimal(amount):
        return existing
    raise ValidationError(
        {
            "receipt_no": _("门店 %(store)s 的小票 %(no)s 已登记（%(date)s，%(amount)s 元）。")
            % {
                "store": existing.store.code,
                "no": existing.receipt_no,
                "date": existing.date,
                "amount": existing.amount,
            }
        }
    )


# --- The tier engine, persisted --------------------------------------------------------------


@dataclass
class ReplayStats:
    members: int = 0
    changed_members: int = 0
    created: int = 0
    deleted: int = 0


def _reviews_through(today: date) -> dict[int, date]:
    """Per store, the last month end whose review counts: today's only once it has run."""
    reviewed_today = set(TierReview.objects.filter(date=today).values_list("store_id", flat=True))
    return defaultdict(lambda: today - timedelta(days=1), dict.fromkeys(reviewed_today, today))


# From this many members changed, a replay refreshes the planner statistics of what it wrote.
REPLAY_ANALYZE_AFTER = 1000


@dataclass
class _Engine:
    """What every member's replay shares, as `replay_days` takes it: day numbers, cents."""

    a_min: int
    b_min: int
    span: int
    today: int  # day number
    reviews_through: dict[int, date]  # per store (see _reviews_through)

    @classmethod
    def of(cls, rules: TierRules, today: date) -> _Engine:
        a_min, b_min = thresholds(rules, CENTS)
        return cls(a_min, b_min, rules.window_days - 1, today.toordinal(), _reviews_through(today))

    def reviews_through_of(self, store_id: int) -> int:
        return min(self.reviews_through[store_id].toordinal(), self.today)


def tiers_replay(
    *, member_ids: Iterable[int] | None = None, store: Store | None = None, today: date | None = None
) -> ReplayStats:
    """Replay the ledger of the given members (or all, or a store's) and write only the differences.

    Set-based: per chunk of members, one query each for members (the whole chain or a store: one
    for all its chunks), purchases, holds and tier changes (dates read as day numbers and amounts
    as cents, so the replay is integer arithmetic), then bulk writes. Locked members are left
    alone. Running it twice writes nothing the second time, so the history it leaves is the same.

    A large run (the whole chain, a store, an import's members) reads and replays without locks,
    then locks, reads again and writes only the members whose history differs: a run with nothing
    to change locks and writes nothing, and a purchase recorded meanwhile (its own replay holds
    the member's lock) is never overwritten with what was read before it. Once a chunk finds many
    of its members changed (a rebuild from scratch), the next chunks lock before they read.
    """
    today = today or timezone.localdate()
    engine = _Engine.of(TierRules.from_program(ProgramRules.load()), today)
    members = Member.objects.filter(tier_locked=False, erased_at__isnull=True)
    if store is not None:
        members = members.filter(home_store=store)
    # The whole chain or a store: its members' rows are read with their ids, once, and each
    # unlocked read takes its chunk of them (a locked one reads its own, locked).
    known: list[tuple] | None = None
    if member_ids is not None:
        candidates = sorted(set(member_ids))
    else:
        known = _member_rows(members.order_by("pk"))
        candidates = [row[0] for row in known]
    stats = ReplayStats()
    # PostgreSQL takes a chunk's ids as one array parameter; SQLite caps the parameters of one IN.
    chunk = REPLAY_CHUNK if connection.vendor == "postgresql" else REPLAY_CHUNK_SQLITE
    lock_first = len(candidates) <= REPLAY_LOCK_FIRST
    # A large replay holds a million purchases as small lists: the cyclic collector would walk
    # them again and again (they hold no cycles), so it waits until the replay is done.
    with _gc_paused(not lock_first):
        for i in range(0, len(candidates), chunk):
            ids = candidates[i : i + chunk]
            if lock_first:
                with transaction.atomic():
                    count, diffs = _replay_diffs(_ledger_of(members, ids, lock=True, engine=engine), engine)
                    stats.members += count
                    _replay_write(diffs, stats, engine)
                continue
            rows = None if known is None else known[i : i + chunk]
            count, diffs = _replay_diffs(_ledger_of(members, ids, lock=False, engine=engine, rows=rows), engine)
            stats.members += count
            changed = [d.member_id for d in diffs]
            if changed:
                with transaction.atomic():
                    _, diffs = _replay_diffs(_ledger_of(members, changed, lock=True, engine=engine), engine)
                    _replay_write(diffs, stats, engine)
            # Many of the chunk changed (a rebuild from scratch): reading them twice costs more than
            # the locks, so the next chunks lock first.
            lock_first = len(changed) * REPLAY_LOCK_FIRST_SHARE > count
    if stats.changed_members >= REPLAY_ANALYZE_AFTER:
        # Many tiers moved: the planner's picture of tiers and tier changes is stale (PostgreSQL),
        # and the next replay, review or dashboard would plan from it. Of the members only the
        # tier column: the replay writes nothing else there, and the whole table (names, phones,
        # the expression indexes) takes ten times as long (1 s against 0.1 s at 100,000 members).
        tables_analyze(("members_member", "members_tierchange"), columns={"members_member": ("tier",)})
    return stats


@contextmanager
def _gc_paused(pause: bool) -> Iterator[None]:
    """Pause Python's cyclic garbage collector (process-wide) for the block, if `pause`."""
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# A large replay locks before it reads once a chunk finds more than 1 in this many members changed.
REPLAY_LOCK_FIRST_SHARE = 4
# Amounts as whole cents (money has two decimal places).
CENTS = 100
_NO_PURCHASES: tuple[list[int], list[int]] = ([], [])


@dataclass
class _Ledger:
    rows: list[tuple]  # (pk, joined_on day number, tier, home store)
    purchases: dict[int, tuple[list[int], list[int]]]  # member → (days ascending, cents of each purchase)
    holds: dict[int, set[int]]  # member → day numbers
    derived: dict[int, list[tuple[int, tuple]]]  # member → [(pk, (day, from, to, reason))]
    inputs: dict[int, list[tuple[tuple, str]]]  # member → [((pk, day, to, reason), stored from_tier)]


def _pg_member_filter(column: str, ids: list[int]) -> tuple[str, list]:
    """SQL restricting `column` to `ids` (sorted): a range when they are dense, else one array, as
    text (no per-id adaptation). A range with more than a few other members in it (an import's
    members) takes the array too: the index scan skips them rather than aggregate their purchases."""
    span = ids[-1] - ids[0] + 1
    array = _pg_in_array(column)
    if span < 2 * len(ids):
        if span * REPLAY_RANGE_ONLY_SHARE <= len(ids) * (REPLAY_RANGE_ONLY_SHARE + 1):
            return f"{column} BETWEEN %s AND %s", [ids[0], ids[-1]]
        return f"{column} BETWEEN %s AND %s AND {array}", [ids[0], ids[-1], array_param(ids)]
    return array, [array_param(ids)]


# A dense chunk is read as a range alone while the range holds at most one other id per this many of its own.
REPLAY_RANGE_ONLY_SHARE = 8


def _pg_in_array(column: str) -> str:
    """SQL: `column` among the ids of one array parameter (`array_param`), passed through a
    one-row subquery, so the planner takes it as a value known only when the statement runs and
    reaches the rows through the index. Given the array itself, it estimates every id against the
    column's statistics first (50-90 ms of planning a statement at 25,000 ids, a dozen statements
    in an import's replay); and an UPDATE joined to a few thousand ids by the key alone read the
    whole members table for them (~150 ms a statement against ~20 ms)."""
    return f"{column} = ANY((SELECT %s::bigint[])::bigint[])"


def _ledger_of(
    members: QuerySet[Member], ids: list[int], *, lock: bool, engine: _Engine, rows: list[tuple] | None = None
) -> _Ledger:
    """The members among `ids` (sorted, of `members`) with their purchases dated through today,
    holds and tier changes; `rows` their rows (see `_member_rows`) when already read, unlocked."""
    if rows is None:
        if connection.vendor == "postgresql":
            # The ids as a range or one array in text, as the ledger's reads (psycopg would adapt a
            # list of 25,000 ints one by one).
            where, params = _pg_member_filter(f"{connection.ops.quote_name(Member._meta.db_table)}.id", ids)
            rows_qs = members.filter(RawSQL(where, params, output_field=BooleanField())).order_by("pk")  # noqa: S611 - ids as ints
        else:
            rows_qs = ids_filter(members, "id", ids).order_by("pk")
        rows = _member_rows(rows_qs.select_for_update() if lock else rows_qs)
    purchases: dict[int, tuple[list[int], list[int]]] = {}
    holds: dict[int, set[int]] = defaultdict(set)
    derived: dict[int, list[tuple[int, tuple]]] = defaultdict(list)
    inputs: dict[int, list[tuple[tuple, str]]] = defaultdict(list)
    if not rows:
        return _Ledger(rows, purchases, holds, derived, inputs)
    if connection.vendor == "postgresql":
        purchase_rows, hold_rows, change_rows = _pg_ledger_rows([row[0] for row in rows], engine)
    else:
        purchase_rows, hold_rows, change_rows = _orm_ledger_rows([row[0] for row in rows], engine)
    # Rows of other members (a range read) are kept too: only `rows`' members are looked up.
    # Days ascending (repeated when a day has several purchases).
    purchases = {member_id: (days, totals) for member_id, days, totals in purchase_rows}
    for member_id, day in hold_rows:
        holds[member_id].add(day)
    for pk, member_id, day, from_tier, to_tier, reason in change_rows:  # by member, date, pk
        if reason in INPUT_REASONS:
            inputs[member_id].append(((pk, day, to_tier, reason), from_tier))
        else:
            derived[member_id].append((pk, (day, from_tier, to_tier, reason)))
    return _Ledger(rows, purchases, holds, derived, inputs)


def _member_rows(members: QuerySet[Member]) -> list[tuple]:
    """(pk, joined_on day number, tier, home store) of each of `members`, as `_Ledger.rows`."""
    return [
        (pk, joined_on.toordinal(), tier, store_id)
        for pk, joined_on, tier, store_id in members.values_list("pk", "joined_on", "tier", "home_store_id")
    ]


# Dates as day numbers (date.toordinal()) and amounts as cents, in SQL.
_PG_DAY = "({} - DATE '0001-01-01' + 1)"


def _pg_ledger_rows(ids: list[int], engine: _Engine) -> tuple[list, list, list]:
    """The purchases (member, [day], [cents]), holds (member, day) and tier changes
    (pk, member, day, from, to, reason) by member, date and pk of `ids`, in plain SQL: ints, not
    dates and Decimals, and no ORDER BY the planner could serve from the (date, reason) index
    while it filters thousands of members per row."""
    where, params = _pg_member_filter("member_id", ids)
    inputs = ", ".join(f"'{reason}'" for reason in INPUT_REASONS)
    with connection.cursor() as cursor:
        # One row per member, its days and cents as two arrays in date order (parsed in C, no
        # Python loop per purchase). Not for a member whose purchases together (returns left out)
        # stay under B: no window of them reaches B, so without an input change it stays at C all
        # along, as with no purchases (half a chain's members: no arrays to send, parse, replay).
        # The order comes from a sorted subquery (the (member, date) index read in its order), not
        # from ARRAY_AGG(… ORDER BY date): that sorts each member's purchases again, twice, and
        # was half the statement's time. PostgreSQL keeps a subquery with ORDER BY as it is (never
        # merged into the outer query) and aggregates its rows in the order they come; nothing
        # joins or sorts them in between.
        cursor.execute(
            f"SELECT member_id, ARRAY_AGG(day), ARRAY_AGG(cents) FROM ("  # noqa: S608
            f"SELECT member_id, {_PG_DAY.format('date')} AS day, (amount * {CENTS})::bigint AS cents "
            f"FROM members_purchase WHERE {where} AND date <= %s ORDER BY member_id, date) AS p "
            f"GROUP BY member_id HAVING SUM(GREATEST(cents, 0)) >= %s OR member_id IN "
            f"(SELECT member_id FROM members_tierchange AS c WHERE {where} AND reason IN ({inputs}))",
            [*params, date.fromordinal(engine.today), engine.b_min, *params],
        )
        purchase_rows = cursor.fetchall()
        cursor.execute(f"SELECT member_id, {_PG_DAY.format('date')} FROM members_tierhold WHERE {where}", params)  # noqa: S608
        hold_rows = cursor.fetchall()
        cursor.execute(
            f"SELECT id, member_id, {_PG_DAY.format('date')}, from_tier, to_tier, reason FROM members_tierchange "  # noqa: S608
            f"WHERE {where} ORDER BY member_id, date, id",
            params,
        )
        change_rows = cursor.fetchall()
    return purchase_rows, hold_rows, change_rows


def _orm_ledger_rows(ids: list[int], engine: _Engine) -> tuple[list, list, list]:
    """`_pg_ledger_rows` through the ORM (SQLite), converted in Python."""
    purchases: dict[int, tuple[list[int], list[int]]] = {}
    for member_id, d, amount in (
        ids_filter(Purchase.objects.all(), "member_id", ids)
        .filter(date__lte=date.fromordinal(engine.today))
        .order_by("member_id", "date")
        .values_list("member_id", "date", "amount")
    ):
        days, totals = purchases.setdefault(member_id, ([], []))
        days.append(d.toordinal())
        totals.append(_cents(amount))
    purchase_rows = [(member_id, days, totals) for member_id, (days, totals) in purchases.items()]
    hold_rows = [
        (member_id, d.toordinal())
        for member_id, d in ids_filter(TierHold.objects.all(), "member_id", ids).values_list("member_id", "date")
    ]
    change_rows = [
        (pk, member_id, d.toordinal(), from_tier, to_tier, reason)
        for pk, member_id, d, from_tier, to_tier, reason in ids_filter(TierChange.objects.all(), "member_id", ids)
        .order_by("member_id", "date", "pk")
        .values_list("pk", "member_id", "date", "from_tier", "to_tier", "reason")
    ]
    return purchase_rows, hold_rows, change_rows


def _cents(amount: Decimal) -> int:
    cents = amount * CENTS
    if cents % 1:
        raise ValueError(f"amount {amount} has more than two decimal places")
    return int(cents)


@dataclass
class _Diff:
    """What a member's replay changes: rows to delete and create, input changes' new `from_tier`,
    and the member's new tier."""

    member_id: int
    to_delete: list[int]
    to_create: list[tuple]  # (day, from, to, reason): rows made only when written
    input_updates: list[tuple[int, str]]  # (pk, from_tier)
    tier_change: tuple | None  # (member id, store id, from, to, day) for member_tiers_changed


def _replay_diffs(ledger: _Ledger, engine: _Engine) -> tuple[int, list[_Diff]]:
    """How many members were replayed, and the diffs of those whose history or tier differs."""
    diffs = []
    a_min, b_min, span, today = engine.a_min, engine.b_min, engine.span, engine.today
    through_of: dict[int, int] = {}
    purchases, holds, derived, inputs = ledger.purchases, ledger.holds, ledger.derived, ledger.inputs
    no_holds: frozenset[int] = frozenset()
    for member_id, joined, current, store_id in ledger.rows:
        reviews_through = through_of.get(store_id)
        if reviews_through is None:
            reviews_through = through_of[store_id] = engine.reviews_through_of(store_id)
        days, totals = purchases.get(member_id, _NO_PURCHASES)
        member_inputs = inputs.get(member_id)
        if not days and not member_inputs:  # at C all along (or under B: see _pg_ledger_rows)
            if current == Tier.C and member_id not in derived:
                continue
            changes = []
        else:
            changes = replay_days(
                joined,
                days,
                totals,
                a_min=a_min,
                b_min=b_min,
                span=span,
                reviews_through=reviews_through,
                holds=holds.get(member_id, no_holds),
                inputs=[c for c, _ in member_inputs] if member_inputs else (),
            )
        # Derived changes are (day, from, to, reason); kept inputs carry their id as a fifth item.
        wanted = [c for c in changes if len(c) == 4] if member_inputs else changes
        have = derived.get(member_id)
        to_delete: list[int] = []
        to_create: list[tuple] = []
        if have is None:
            to_create = wanted  # nothing on file (a rebuild from scratch): nothing to compare
        elif wanted != [key for _, key in have]:
            # Keep the rows that still match (in order), replace the rest.
            remaining = list(wanted)
            for pk, key in have:
                if key in remaining:
                    remaining.remove(key)
                else:
                    to_delete.append(pk)
            to_create = remaining
        input_updates = []
        if member_inputs:
            stored_from = {c[0]: from_tier for c, from_tier in member_inputs}
            input_updates = [(c[4], c[1]) for c in changes if len(c) == 5 and stored_from[c[4]] != c[1]]
        tier = changes[-1][2] if changes else Tier.C
        tier_change = None
        if tier != current:
            tier_change = (member_id, store_id, current, tier, changes[-1][0] if changes else today)
        if to_delete or to_create or input_updates or tier_change:
            diffs.append(_Diff(member_id, to_delete, to_create, input_updates, tier_change))
    return len(ledger.rows), diffs


def _tier_changes_insert(rows: list[tuple]) -> None:
    """Insert derived tier changes, (member, day number, from, to, reason) each: with one COPY on
    PostgreSQL when there are many (a rebuild from scratch writes tens of thousands), its text
    made in one go, else bulk_create."""
    if connection.vendor == "postgresql" and len(rows) > REPLAY_LOCK_FIRST:
        now = timezone.now().isoformat()
        iso: dict[int, str] = {}
        lines = []
        for member_id, day, from_tier, to_tier, reason in rows:
            day_text = iso.get(day)
            if day_text is None:
                day_text = iso[day] = date.fromordinal(day).isoformat()
            lines.append(f"{member_id}\t{day_text}\t{from_tier}\t{to_tier}\t{reason}\t\t{now}\n")
        columns = "member_id, date, from_tier, to_tier, reason, note, created_at"
        with connection.cursor() as cursor:
            table = connection.ops.quote_name(TierChange._meta.db_table)
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write("".join(lines))
        return
    TierChange.objects.bulk_create(
        [
            TierChange(member_id=m, date=date.fromordinal(day), from_tier=f, to_tier=t, reason=r)
            for m, day, f, t, r in rows
        ],
        batch_size=5000,
    )


def _replay_write(diffs: list[_Diff], stats: ReplayStats, engine: _Engine) -> None:
    to_delete = [pk for d in diffs for pk in d.to_delete]
    to_create = [(d.member_id, *row) for d in diffs for row in d.to_create]
    input_updates = [c for d in diffs for c in d.input_updates]
    tier_changes = [d.tier_change for d in diffs if d.tier_change]
    stats.deleted += len(to_delete)
    stats.created += len(to_create)
    stats.changed_members += len(diffs)
    if to_delete:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM members_tierchange WHERE id = ANY(%s::bigint[])", [array_param(to_delete)])
        else:
            for i in range(0, len(to_delete), REPLAY_CHUNK_SQLITE):
                ids_filter(TierChange.objects.all(), "id", to_delete[i : i + REPLAY_CHUNK_SQLITE]).delete()
    _tier_changes_insert(to_create)
    if connection.vendor == "postgresql":
        # One UPDATE … FROM unnest(ids, values) per table, the arrays as text; the rows found
        # through the primary key by the same ids (see _pg_in_array).
        with connection.cursor() as cursor:
            for table, column, pairs in (
                ("members_tierchange", "from_tier", input_updates),
                ("members_member", "tier", [(c[0], c[3]) for c in tier_changes]),
            ):
                if pairs:
                    ids = array_param([pk for pk, _ in pairs])
                    cursor.execute(
                        f"UPDATE {table} AS t SET {column} = v.value "  # noqa: S608 - names from this code
                        "FROM unnest(%s::bigint[], %s::varchar[]) AS v(id, value) "
                        f"WHERE t.id = v.id AND {_pg_in_array('t.id')}",
                        [ids, array_param([value for _, value in pairs]), ids],
                    )
    elif len(input_updates) + len(tier_changes) <= REPLAY_LOCK_FIRST:
        TierChange.objects.bulk_update(
            [TierChange(pk=pk, from_tier=from_tier) for pk, from_tier in input_updates], ["from_tier"], batch_size=2000
        )
        Member.objects.bulk_update([Member(pk=c[0], tier=c[3]) for c in tier_changes], ["tier"], batch_size=2000)
    else:  # many: one UPDATE per tier value and chunk, not a CASE of thousands of rows
        for tier in Tier.values:
            changes = [pk for pk, from_tier in input_updates if from_tier == tier]
            members = [member_id for member_id, _store, _from, to, _on in tier_changes if to == tier]
            for i in range(0, max(len(changes), len(members)), REPLAY_CHUNK_SQLITE):
                if changes[i : i + REPLAY_CHUNK_SQLITE]:
                    ids_filter(TierChange.objects.all(), "id", changes[i : i + REPLAY_CHUNK_SQLITE]).update(
                        from_tier=tier
                    )
                if members[i : i + REPLAY_CHUNK_SQLITE]:
                    ids_filter(Member.objects.all(), "id", members[i : i + REPLAY_CHUNK_SQLITE]).update(tier=tier)
    if tier_changes:
        member_tiers_changed.send(
            sender=Member,
            changes=[(m, store_id, f, t, date.fromordinal(day)) for m, store_id, f, t, day in tier_changes],
        )


@dataclass
class ReviewResult:
    store: Store
    date: date
    downgrades: int
    already_done: bool
    held: int = 0


# The review writes its downgrades this many members a statement (`bulk_set_rows`).
REVIEW_UPDATE_CHUNK = 2000


def tiers_review(*, store: Store, on: date, today: date | None = None) -> ReviewResult:
    """The month-end review (DOMAIN §5): downgrade every unlocked member whose 12-month spend at
    `on` (after that day's purchases) qualifies only for a lower tier. Once per store and date.
    """
    if not is_month_end(on):
        raise ValidationError(_("%(date)s 不是月末：等级评审只在每月最后一天进行。") % {"date": on})
    today = today or timezone.localdate()
    if on > today:
        raise ValidationError(_("不能评审未来的日期 %(date)s。") % {"date": on})
    with transaction.atomic():
        review, created = TierReview.objects.select_for_update().get_or_create(store=store, date=on)
        if not created:
            return ReviewResult(store, on, review.downgrades, already_done=True, held=review.held)
        rules = ProgramRules.load()
        window_start = on - timedelta(days=rules.spend_window_days - 1)
        members = Member.objects.filter(home_store=store, tier_locked=False, erased_at__isnull=True, joined_on__lte=on)
        later = TierChange.objects.filter(member__home_store=store, date__gt=on)
        # Members with history after `on` (a review run late): replay them, which applies this
        # review in its place in their history.
        replay_ids = set(later.order_by().values_list("member_id", flat=True).distinct())
        # An open complaint pauses the review for that member (DOMAIN §8 retention); the hold is
        # recorded so that every later replay pauses it too.
        # One read of the members the review holds or reviews: the 12-month spend is probed only
        # for those reviewed (above C, no open complaint).
        reviewed = ~Q(tier=Tier.C) & Q(open_complaints=0)
        rows = list(
            members.filter(Q(open_complaints__gt=0) | reviewed)
            .annotate(spend=Case(When(reviewed, then=purchases_sum(start=window_start, end=on)), default=None))
            .values_list("pk", "tier", "open_complaints", "spend")
        )
        held = [pk for pk, _tier, complaints, _spent in rows if complaints > 0]
        TierHold.objects.bulk_create(
            [TierHold(member_id=pk, date=on, reason="open complaint") for pk in held], ignore_conflicts=True
        )
        candidates = [
            (pk, tier, spent)
            for pk, tier, complaints, spent in rows
            if complaints == 0 and tier != Tier.C and pk not in replay_ids
        ]
        engine_rules = TierRules.from_program(rules)
        changes, updates = [], []
        for pk, tier, spent in candidates:
            target = tier_for(spent or Decimal(0), engine_rules)
            if TIER_RANK[target] < TIER_RANK[tier]:
                changes.append(
                    TierChange(member_id=pk, date=on, from_tier=tier, to_tier=target, reason=TierChangeReason.REVIEW)
                )
                updates.append((pk, target))
        TierChange.objects.bulk_create(changes, batch_size=2000)
        for i in range(0, len(updates), REVIEW_UPDATE_CHUNK):
            bulk_set_rows(Member, ["tier"], updates[i : i + REVIEW_UPDATE_CHUNK])
        if changes:
            member_tiers_changed.send(
                sender=Member, changes=[(c.member_id, store.pk, c.from_tier, c.to_tier, on) for c in changes]
            )
        downgrades = len(changes)
        if replay_ids:
            before = TierChange.objects.filter(
                member_id__in=replay_ids, date=on, reason=TierChangeReason.REVIEW
            ).count()
            tiers_replay(member_ids=replay_ids, today=today)
            downgrades += (
                TierChange.objects.filter(member_id__in=replay_ids, date=on, reason=TierChangeReason.REVIEW).count()
                - before
            )
        review.downgrades = downgrades
        review.held = len(held)
        review.save(update_fields=["downgrades", "held"])
    return ReviewResult(store, on, downgrades, already_done=False, held=len(held))


# --- Important dates (member pages) ----------------------------------------------------------
# 结婚纪念日、家人生日: added and removed from the member page by whoever may edit the member.


@transaction.atomic
def important_date_add(
    *, member: Member, by: Staff | None, kind: str, date: date | None, lunar: bool = False, label: str = ""
) -> ImportantDate:
    """Record a date worth a greeting. Errors come back as a dict of field → messages."""
    errors: dict[str, list[str]] = defaultdict(list)
    label = (label or "").strip()
    if kind not in ImportantDateKind.values:
        errors["kind"].append(_("请选择日期类型。"))
    elif kind == ImportantDateKind.OTHER and not label:
        errors["label"].append(_("类型为“其他”时请写明是什么日子。"))
    if date is None:
        errors["date"].append(_("请输入日期。"))
    else:
        try:
            validate_past_date(date, label=_("日期"))
        except ValidationError as e:
            errors["date"].extend(e.messages)
        else:
            if lunar and to_lunar(date) is None:
                errors["date"].append(_("%(date)s 超出农历换算范围。") % {"date": date})
            elif member.important_dates.filter(kind=kind, date=date, label=label).exists():
                errors["date"].append(_("该日期已记录。"))
    if errors:
        raise ValidationError(dict(errors))
    important = ImportantDate.objects.create(member=member, kind=kind, date=date, lunar=lunar, label=label)
    audit_log(
        actor=by,
        action="member.date.added",
        obj=member,
        store=member.home_store,
        kind=kind,
        date=date.isoformat(),
        lunar=lunar,
    )
    member_dates_changed.send(sender=Member, member=member)
    return important


@transaction.atomic
def important_date_delete(*, important_date: ImportantDate, by: Staff | None) -> None:
    member = important_date.member
    audit_log(
        actor=by,
        action="member.date.deleted",
        obj=member,
        store=member.home_store,
        kind=important_date.kind,
        date=important_date.date.isoformat(),
        lunar=important_date.lunar,
    )
    important_date.delete()


# --- Returns (退货) naming their original receipt ------------------------------------------------


@transaction.atomic
def purchase_return(
    *,
    original: Purchase,
    store: Store,
    receipt_no: str,
    date: date,
    amount: Decimal,
    by: Staff | None,
    consultant: Staff | None = None,
    items: str = "",
    source: str = PurchaseSource.STORE,
) -> PurchaseResult:
    """A return of goods bought on `original`, for its member: a negative `amount`, refused when the
    returns of that receipt would add up to more than it was. `purchase_record` with the member
    taken from the original (it locks the original). Idempotent on (store, receipt no.)."""
    return purchase_record(
        member=original.member,
        store=store,
        receipt_no=receipt_no,
        date=date,
        amount=amount,
        by=by,
        consultant=consultant,
        items=items,
        original=original,
        source=source,
    )


# --- Tags on a member (the chain's vocabulary is members.tags) -------------------------------------


def _tag_named(name: str):
    from .models import MemberTag

    tag = MemberTag.objects.filter(name__iexact=" ".join((name or "").split())).first()
    if tag is None:
        raise ValidationError({"name": ValidationError(_("没有这个标签：请先在标签管理中添加。"), code="not_found")})
    return tag


@transaction.atomic
def member_tag_add(*, member: Member, name: str, by: Staff | None) -> bool:
    """Put an existing tag (by name, ignoring case) on the member. False when it was there already."""
    tag = _tag_named(name)
    if member.tags.filter(pk=tag.pk).exists():
        return False
    member.tags.add(tag)
    audit_log(actor=by, action="member.tag.added", obj=member, store=member.home_store, tag=tag.name)
    return True


@transaction.atomic
def member_tag_remove(*, member: Member, name: str, by: Staff | None) -> bool:
    """Take a tag (by name, ignoring case) off the member. False when the member did not have it."""
    tag = member.tags.filter(name__iexact=" ".join((name or "").split())).first()
    if tag is None:
        return False
    member.tags.remove(tag)
    audit_log(actor=by, action="member.tag.removed", obj=member, store=member.home_store, tag=tag.name)
    return True


# --- Program rules (DOMAIN §4) -----------------------------------------------------------------
# HQ changes them in the admin and through the API (members.rules_api); both come through here.

# The rules HQ may change, in the admin's order.
PROGRAM_RULE_FIELDS = (
    "tier_a_min",
    "tier_b_min",
    "spend_window_days",
    "upgrade_candidate_ratio",
    "churn_days",
    "win_back_days",
    "care_days_a",
    "care_days_b",
    "care_days_c",
    "post_purchase_days",
    "lead_days",
    "daily_care_capacity",
    "attempts_before_escalation",
    "complaint_response_hours",
    "complaint_solution_hours",
)
# A window, a cadence or a deadline of zero would make every member churned, due or late at once.
PROGRAM_RULES_AT_LEAST_ONE = (
    "spend_window_days",
    "churn_days",
    "care_days_a",
    "care_days_b",
    "care_days_c",
    "complaint_response_hours",
    "complaint_solution_hours",
    "daily_care_capacity",
    "attempts_before_escalation",
)


def program_rules_errors(values: dict[str, Any]) -> dict[str, list[str]]:
    """What is wrong with a complete set of rule values, field → messages (empty: nothing). The
    fields' own checks (a number, its digits, a ratio within 0.01–1.00) are the model's."""
    errors: dict[str, list[str]] = defaultdict(list)
    for name in PROGRAM_RULES_AT_LEAST_ONE:
        if values.get(name) is not None and values[name] < 1:
            errors[name].append(_("不能小于 1。"))
    a_min, b_min = values.get("tier_a_min"), values.get("tier_b_min")
    if b_min is not None and b_min <= 0:
        errors["tier_b_min"].append(_("B 级门槛必须大于 0。"))
    if a_min is not None and b_min is not None and a_min <= b_min:
        errors["tier_a_min"].append(_("A 级门槛必须高于 B 级门槛。"))
    return dict(errors)


@transaction.atomic
def program_rules_update(*, by: Staff | None, **changes: Any) -> tuple[ProgramRules, list[str]]:
    """Change some of the rules (HQ), all or nothing, audited with each value before and after.
    Returns the rules and the names of those that changed. Tier thresholds and the spend window
    change members' tiers only when `manage.py rebuild_tiers` replays the ledger."""
    unknown = set(changes) - set(PROGRAM_RULE_FIELDS)
    if unknown:
        raise ValueError(f"not a program rule: {sorted(unknown)}")
    ProgramRules.load()
    rules = ProgramRules.objects.select_for_update().get(pk=1)
    before = {name: getattr(rules, name) for name in changes}
    for name, value in changes.items():
        setattr(rules, name, value)
    errors = program_rules_errors({name: getattr(rules, name) for name in PROGRAM_RULE_FIELDS})
    try:
        rules.full_clean(validate_constraints=False)
    except ValidationError as e:
        for name, messages in e.message_dict.items():
            errors.setdefault(name, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    changed = [name for name in changes if getattr(rules, name) != before[name]]
    if changed:
        rules.save(update_fields=[*changed, "updated_at"])
        audit_log(
            actor=by,
            action="program_rules.changed",
            obj=rules,
            changes={name: [str(before[name]), str(getattr(rules, name))] for name in changed},
        )
    return rules, changed

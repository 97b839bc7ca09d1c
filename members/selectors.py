"""Reads of member data, always through what the viewer may see (DOMAIN §11)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    Lookup,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Staff
from accounts.services import audit_log
from vipcrm.bulk import array_param

from .dates import lunar_label, next_occurrence
from .models import (
    ImportantDate,
    Member,
    MemberMerge,
    MemberOwnerChange,
    OwnerChangeReason,
    ProgramRules,
    Purchase,
    TierChange,
)
from .tiers import ZERO, TierRules, missing_to_next_tier, month_end
from .validators import mask_phone, mask_text, normalize_phone


def member_scope(*, viewer: Staff) -> QuerySet[Member]:
    """Every member the viewer may see: HQ all, everyone else their own store's."""
    qs = Member.objects.all()
    if viewer.is_hq:
        return qs
    if viewer.store_id is None:
        return qs.none()
    return qs.filter(home_store_id=viewer.store_id)


def member_get(*, viewer: Staff, pk: int) -> Member:
    """The member, or 404 if it does not exist or is outside the viewer's scope."""
    try:
        return member_scope(viewer=viewer).select_related("home_store", "consultant", "opened_by").get(pk=pk)
    except (Member.DoesNotExist, ValueError):
        raise Http404 from None


def can_edit_member(viewer: Staff, member: Member) -> bool:
    """Consultants edit their own members; VIP specialists, managers and HQ any in scope. Nobody
    edits an erased member: there is no one left to describe."""
    if member.erased_at is not None:
        return False
    if viewer.is_hq:
        return True
    if member.home_store_id != viewer.store_id:
        return False
    return viewer.is_store_lead or member.consultant_id == viewer.pk


def can_see_full_contact(viewer: Staff, member: Member) -> bool:
    """Full phone and address: a signed agreement, and for consultants only their own members."""
    if member.erased_at is not None or not viewer.has_signed_agreement:
        return False
    if viewer.is_hq or viewer.is_store_lead:
        return viewer.is_hq or member.home_store_id == viewer.store_id
    return member.consultant_id == viewer.pk and member.home_store_id == viewer.store_id


def displayed_phone(viewer: Staff, member: Member) -> str:
    """What a list shows: always masked; the full number is revealed on request and audited."""
    return mask_phone(member.phone)


def displayed_address(viewer: Staff, member: Member) -> str:
    return member.address if can_see_full_contact(viewer, member) else mask_text(member.address, 6)


def active_q(*, on: date, churn_days: int) -> Q:
    """DOMAIN §6 active(m, D) as a filter: joined ≤ D and (joined or a positive purchase) within
    the churn window ending on D."""
    start = on - timedelta(days=churn_days - 1)
    recent_purchase = Purchase.objects.filter(member_id=OuterRef("pk"), amount__gt=0, date__gte=start, date__lte=on)
    return Q(joined_on__lte=on) & (Q(joined_on__gte=start) | Exists(recent_purchase))


def lunar_birthday_ids_in_month(
    qs: QuerySet[Member], *, month: int, on: date | None = None, year: int | None = None
) -> list[int]:
    """Members celebrating a lunar birthday whose occurrence falls in `month` of `year`, or, given
    the day `on` instead, in the coming `month` (DOMAIN §7: a "birthday month" means the month of
    the next occurrence): this year's if `month` has not passed by `on`, else next year's; so in
    December 2026 "January" is January 2027, never the January gone by.

    Lunar birthdays move against the solar calendar, so they are computed here; only the
    lunar-flagged members' (id, birthday) pairs are read, in one query.
    """
    if year is None:
        on = on or timezone.localdate()
        year = on.year if month >= on.month else on.year + 1
    start = date(year, month, 1)
    ids = []
    for pk, birthday in qs.filter(birthday_lunar=True, birthday__isnull=False).values_list("pk", "birthday"):
        occurrence = next_occurrence(birthday, lunar=True, on_or_after=start)
        if occurrence.year == year and occurrence.month == month:
            ids.append(pk)
    return ids


# --- Searching by phone (DOMAIN §11) ------------------------------------------------------------
# One rule for every search box, the API and the admin, whoever searches: a phone is found by its
# last four digits or by the exact full number, never by a prefix or a run of digits, so a masked
# 189****0920 cannot be narrowed down digit by digit. An exact-number search is audited.

PHONE_SEARCH_ACTION = "member.phone_search"
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")


@dataclass(frozen=True)
class SearchTerms:
    """What a typed search text may match: `q` is what the shared filter uses, `phone` the exact
    full number it names (normalised), if any."""

    q: Q
    phone: str = ""


def search_terms(text: str) -> SearchTerms:
    """The filter for a typed search: four digits are a phone's last four (or a card number); a
    valid full number matches that number exactly (or a card number spelt the same); any other run
    of digits matches only a card number spelt exactly so; anything else is a name or card."""
    text = text.strip()
    compact = _PHONE_SEPARATORS.sub("", text).replace("＋", "+")
    if compact.isdigit() and len(compact) == 4:
        return SearchTerms(Q(phone_last4=compact) | Q(card_no=compact))
    if compact.lstrip("+").isdigit():
        try:
            phone = normalize_phone(compact)
        except ValidationError:
            phone = ""
        if phone:
            return SearchTerms(Q(phone=phone) | Q(card_no__iexact=compact), phone=phone)
        return SearchTerms(Q(card_no__iexact=compact))
    return SearchTerms(Q(name__icontains=text) | Q(card_no__iexact=text))


def member_search(
    *, viewer: Staff | None, qs: QuerySet[Member], text: str, via: str, cross_site: bool = False
) -> QuerySet[Member]:
    """`qs` narrowed by a typed search. The one read that writes: an exact full-number search is
    written to the audit log with who searched and which members it found (an empty find too: a
    run of guesses is what the log is for).

    `cross_site`: the request came from a link on another site (Sec-Fetch-Site). A search is a GET,
    so such a link could otherwise write an exact-number entry in the victim's name: it finds
    nothing and writes nothing instead."""
    terms = search_terms(text)
    if terms.phone and cross_site:
        return qs.none()
    # A card merged into another profile (members.merging) still finds the person it became.
    merged_card = MemberMerge.objects.filter(survivor=OuterRef("pk"), merged_card_no__iexact=text.strip())
    found = qs.filter(terms.q | Q(Exists(merged_card)))
    if terms.phone:
        phone_search_audit(viewer, terms.phone, found.values_list("pk", flat=True), via)
    return found


def member_by_phone(*, viewer: Staff | None, qs: QuerySet[Member], text: str, via: str) -> Member | None:
    """The member of `qs` with exactly this full number (in any usual spelling), or None; an
    exact-number lookup, so audited like the search. Not a number at all: None, nothing written."""
    try:
        phone = normalize_phone(text)
    except ValidationError:
        return None
    member = qs.filter(phone=phone).first()
    phone_search_audit(viewer, phone, [member.pk] if member else [], via)
    return member


def phone_search_audit(viewer: Staff | None, phone: str, member_ids, via: str) -> None:
    """Record that `viewer` looked up this full number and which members it named (DOMAIN §11)."""
    audit_log(
        actor=viewer,
        action=PHONE_SEARCH_ACTION,
        store=getattr(viewer, "store", None),
        phone=mask_phone(phone),
        members=sorted(member_ids),
        via=via,
    )


@dataclass
class MemberFilters:
    query: str = ""
    tier: str = ""
    consultant_id: int | None = None
    status: str = ""  # "active" / "lapsed" / ""
    birthday_month: int | None = None
    # "mine": the viewer's own members; "unassigned": members without a consultant (store leads
    # only, who hand them out); "": every member in scope.
    scope: str = ""


def member_list(
    *,
    viewer: Staff,
    filters: MemberFilters | None = None,
    today: date | None = None,
    via: str = "list",
    cross_site: bool = False,
) -> QuerySet[Member]:
    """The member list: scoped, searched and filtered, with what the rows show joined in."""
    filters = filters or MemberFilters()
    # Erased members hold no one's data any more; their page stays reachable for the ledger.
    qs = member_scope(viewer=viewer).filter(erased_at__isnull=True).select_related("home_store", "consultant")
    # Before the search, so that an audited phone search records only the members it showed.
    if filters.scope == "mine":
        qs = qs.filter(consultant_id=viewer.pk)
    elif filters.scope == "unassigned" and viewer.is_store_lead:
        qs = qs.filter(consultant__isnull=True)
    if filters.query.strip():
        qs = member_search(viewer=viewer, qs=qs, text=filters.query, via=via, cross_site=cross_site)
    if filters.tier:
        qs = qs.filter(tier=filters.tier)
    if filters.consultant_id:
        qs = qs.filter(consultant_id=filters.consultant_id)
    if filters.status in ("active", "lapsed"):
        today = today or timezone.localdate()
        active = active_q(on=today, churn_days=ProgramRules.load().churn_days)
        qs = qs.filter(active) if filters.status == "active" else qs.exclude(active)
    if filters.birthday_month:
        lunar_ids = lunar_birthday_ids_in_month(qs, on=today or timezone.localdate(), month=filters.birthday_month)
        qs = qs.filter(Q(birthday__month=filters.birthday_month, birthday_lunar=False) | Q(pk__in=lunar_ids))
    return qs


def member_spend(*, member: Member, on: date | None = None, rules: ProgramRules | None = None) -> Decimal:
    """12-month spend (DOMAIN §5) ending on `on` (today by default)."""
    rules = rules or ProgramRules.load()
    on = on or timezone.localdate()
    start = on - timedelta(days=rules.spend_window_days - 1)
    total = member.purchases.filter(date__gte=start, date__lte=on).aggregate(s=Sum("amount"))["s"]
    return total or ZERO


@dataclass
class TierProgress:
    spend: Decimal
    next_tier: str | None
    missing: Decimal


def member_tier_progress(*, member: Member, today: date | None = None) -> TierProgress:
    rules = ProgramRules.load()
    current = member_spend(member=member, on=today, rules=rules)
    nxt, missing = missing_to_next_tier(current, member.tier, TierRules.from_program(rules))
    return TierProgress(spend=current, next_tier=nxt, missing=missing)


def member_purchases(*, member: Member) -> QuerySet[Purchase]:
    return member.purchases.select_related("store", "consultant", "original").order_by("-date", "-id")


def member_tier_history(*, member: Member) -> QuerySet[TierChange]:
    return member.tier_changes.select_related("by").order_by("-date", "-id")


def store_staff(*, viewer: Staff, store_id: int | None = None) -> QuerySet[Staff]:
    """Active staff the viewer may assign members to: their store's, or any store's for HQ."""
    qs = Staff.objects.filter(is_active=True).exclude(role="hq")
    if viewer.is_hq:
        return qs.filter(store_id=store_id) if store_id else qs
    return qs.filter(store_id=viewer.store_id)


# --- Member pages (staff web UI) -------------------------------------------------------------
# Reads added for the member pages: list rows, contact details as the viewer may see them,
# birthdays and important dates with their next occurrence, purchases a return may point at.


def member_list_rows(qs: QuerySet[Member]) -> QuerySet[Member]:
    """Add what a list row shows beyond the member itself, in the same query: `last_purchase_on`.

    A correlated MAX over the member's purchases rather than a GROUP BY over the whole list, so
    the database computes it only for the page of rows it returns.
    """
    last = (
        Purchase.objects.filter(member_id=OuterRef("pk"), amount__gt=0)
        .order_by()
        .values("member_id")
        .annotate(last=Max("date"))
        .values("last")
    )
    return qs.annotate(last_purchase_on=Subquery(last))


# The staff list's sort orders (default: newest members first, the model's ordering).
MEMBER_SORTS = {
    "last_contact": (F("last_contact_at").asc(nulls_first=True), "-pk"),  # longest without contact first
    "spend": (F("spend_12m").desc(), "-pk"),
    "tier": ("tier", F("spend_12m").desc(), "-pk"),  # A first, then by value
}


def spend_12m(*, on: date, window_days: int, member: str = "pk") -> Coalesce:
    """A member's 12-month spend (DOMAIN §5) as an expression on a queryset whose `member` field
    is the member's id (a Member queryset by default): a correlated SUM, so only the rows returned
    are summed unless the query sorts or filters by it."""
    total = (
        Purchase.objects.filter(member_id=OuterRef(member), date__gt=on - timedelta(days=window_days), date__lte=on)
        .order_by()
        .values("member_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(total), Value(ZERO), output_field=DecimalField(max_digits=12, decimal_places=2))


def member_list_page_rows(qs: QuerySet[Member], *, sort: str = "", today: date | None = None) -> QuerySet[Member]:
    """`member_list_rows` and what the staff list shows and sorts by: the last reached contact
    (`last_contact_at`) and the 12-month spend (`spend_12m`), in the same query."""
    from visits.selectors import last_contact_at  # visits builds on members, not the reverse

    today = today or timezone.localdate()
    window = ProgramRules.load().spend_window_days
    qs = member_list_rows(qs).annotate(
        last_contact_at=last_contact_at(), spend_12m=spend_12m(on=today, window_days=window)
    )
    return qs.order_by(*MEMBER_SORTS[sort]) if sort in MEMBER_SORTS else qs


@dataclass
class MemberContact:
    """Contact details as the viewer may see them: masked unless `can_see_full_contact`."""

    phone: str
    address: str
    email: str
    wechat: str
    full: bool


def member_contact(*, viewer: Staff, member: Member) -> MemberContact:
    """The phone is always masked here; its full number is revealed on request and audited. An
    erased member has no contact details at all."""
    if member.erased_at is not None:
        return MemberContact(phone="", address="", email="", wechat="", full=False)
    full = can_see_full_contact(viewer, member)
    return MemberContact(
        phone=displayed_phone(viewer, member),
        address=displayed_address(viewer, member),
        email=member.email if full else mask_text(member.email, 2),
        wechat=member.wechat if full else mask_text(member.wechat, 2),
        full=full,
    )


@dataclass
class Occasion:
    """A birthday or important date with its next yearly occurrence."""

    label: str
    note: str
    original: date
    lunar: bool
    lunar_label: str
    next_on: date
    days_until: int
    important_date: ImportantDate | None = None  # None for the member's own birthday


def member_occasions(*, member: Member, today: date | None = None) -> list[Occasion]:
    """The birthday first, then the important dates in order of their next occurrence."""
    today = today or timezone.localdate()

    def occasion(label: str, note: str, original: date, lunar: bool, important: ImportantDate | None) -> Occasion:
        nxt = next_occurrence(original, lunar=lunar, on_or_after=today)
        return Occasion(
            label=label,
            note=note,
            original=original,
            lunar=lunar,
            lunar_label=lunar_label(original) if lunar else "",
            next_on=nxt,
            days_until=(nxt - today).days,
            important_date=important,
        )

    found = []
    if member.birthday:
        found.append(occasion(_("生日"), "", member.birthday, member.birthday_lunar, None))
    dates = [occasion(d.get_kind_display(), d.label, d.date, d.lunar, d) for d in member.important_dates.all()]
    return found + sorted(dates, key=lambda o: (o.next_on, o.important_date.pk))


def member_returnable_purchases(*, member: Member) -> QuerySet[Purchase]:
    """The member's purchases (not returns) a return may point at, newest first."""
    return member.purchases.filter(amount__gt=0).order_by("-date", "-id")


# --- Ledger reads for the KPIs (reports.kpis) --------------------------------------------------
# Store attribution (DOMAIN §6, §13): a member's figures for a period [S, E] (churn, repurchase,
# tiers, upgrades, win-backs, new members) belong to their home store on E; sales belong to the
# store whose till took the receipt (`Purchase.store`), whoever's member it is.


def transferred_after(on: date) -> dict[int, int]:
    """{member: home store on `on`} for the members transferred after `on`: the store they left by
    their earliest transfer dated after it. Transfers are few, so this is one small query."""
    rows = (
        MemberOwnerChange.objects.filter(reason=OwnerChangeReason.TRANSFER, date__gt=on)
        .exclude(previous_store__isnull=True)
        .order_by("member_id", "date", "pk")
        .values_list("member_id", "previous_store_id")
    )
    found: dict[int, int] = {}
    for member_id, store_id in rows:
        found.setdefault(member_id, store_id)
    return found


def home_store_on(on: date) -> Coalesce:
    """A member's home store on `on` (DOMAIN §13) as an expression on a Member queryset: the store
    left by their earliest transfer dated after `on`, else the home store now. A correlated probe
    of the owner history's (member, date) index, so no query of its own."""
    left = (
        MemberOwnerChange.objects.filter(
            member_id=OuterRef("pk"), reason=OwnerChangeReason.TRANSFER, date__gt=on, previous_store__isnull=False
        )
        .order_by("date", "pk")
        .values("previous_store_id")[:1]
    )
    return Coalesce(Subquery(left), F("home_store_id"), output_field=BigIntegerField())


def members_home_on(*, store_ids: list[int], on: date) -> QuerySet[Member]:
    """The members whose home store on `on` is one of `store_ids` (a member transferred after `on`
    still belongs to the store they left), as a queryset to filter or to use as a subquery. The
    home store on `on` is probed only for the stores' members now and those who left them after
    `on` (few), so a store's cost does not grow with the chain."""
    # Set-based (issue 14): the stores' members now who were not transferred after `on`, and the
    # members whose earliest transfer after `on` left one of the stores; no probe per member.
    after = MemberOwnerChange.objects.filter(
        reason=OwnerChangeReason.TRANSFER, date__gt=on, previous_store__isnull=False
    )
    earlier = after.filter(member_id=OuterRef("member_id")).filter(
        Q(date__lt=OuterRef("date")) | Q(date=OuterRef("date"), pk__lt=OuterRef("pk"))
    )
    left = after.filter(previous_store_id__in=store_ids).exclude(Exists(earlier)).values("member_id")
    stayed = Q(home_store_id__in=store_ids) & ~Q(pk__in=after.values("member_id"))
    if connection.vendor == "postgresql":
        # `id = ANY(ARRAY(…))`: the few members who left are an index condition, so the OR is a
        # bitmap of the home-store index and the primary key, not a scan of every member.
        return Member.objects.filter(stayed | Q(_InArray(F("pk"), Subquery(left))))
    return Member.objects.filter(stayed | Q(pk__in=left))


def member_home_store_on(*, member: Member, on: date) -> int:
    """The id of the member's home store on `on` (DOMAIN §13)."""
    first = (
        member.owner_history.filter(reason=OwnerChangeReason.TRANSFER, date__gt=on, previous_store__isnull=False)
        .order_by("date", "pk")
        .values_list("previous_store_id", flat=True)
        .first()
    )
    return first or member.home_store_id


@dataclass
class KpiMemberRow:
    pk: int
    joined_on: date
    last_before: date | None  # last purchase with amount > 0 dated ≤ the day before the period
    last_by_end: date | None  # … dated ≤ the period's end
    bought_in_period: bool  # a purchase with amount > 0 dated in the period
    sales_in_period: Decimal  # the member's own spending (any till), net of returns, in the period


@dataclass
class KpiLedger:
    rows: list[KpiMemberRow]
    # The stores' VIP sales in the period (their tills, whoever's member bought), net of returns.
    old_vip_sales: Decimal = ZERO
    new_vip_sales: Decimal = ZERO


def kpi_ledger(*, store_ids: list[int] | None, start: date, end: date, since: date | None = None) -> KpiLedger:
    """Every member joined by `end` whose home store on `end` is one of the stores (all if None),
    with what the KPIs need from their purchases at any till; and the stores' old/new VIP sales
    from the receipts their tills took. Two queries whatever the number of members: the members,
    and one grouped purchase read covering the members' receipts and the stores' tills' receipts at
    once. For stores, both go through indexes (home store; the purchases' member and store/date,
    the members' ids as one array), so a store's cost does not grow with the chain."""
    in_period = Q(date__gte=start)
    at_till = in_period
    if store_ids is not None:
        rows = list(
            members_home_on(store_ids=store_ids, on=end)
            .filter(joined_on__lte=end)
            .values_list("pk", "joined_on")
            .order_by()  # not the member list's order: a sort the figures do not need
        )
        at_till = in_period & Q(store_id__in=store_ids)
        # The tills' receipts of other stores' members need those members' join dates: joined.
        purchases = Purchase.objects.filter(member__joined_on__lte=end, date__lte=end).filter(
            ids_q("member_id", [pk for pk, _joined in rows]) | at_till
        )
        group = ("member_id", "member__joined_on")
    else:
        rows = list(Member.objects.filter(joined_on__lte=end).values_list("pk", "joined_on").order_by())
        # Every member's receipts: grouped without a join (members joined after `end` are left
        # out below), which lets PostgreSQL aggregate a plain scan of the purchases.
        purchases = Purchase.objects.filter(date__lte=end)
        group = ("member_id",)
    if since is not None and store_ids is None:
        # Every member's receipts from `since` on only (issue 14: compute_kpis passes the first
        # day of the churn window before the period: an older purchase cannot make a member active
        # on any day it asks about). Not for stores: there, a date range next to the members' id
        # array sends PostgreSQL's plan from an index read to minutes.
        purchases = purchases.filter(date__gte=min(since, start))
    joined = dict(rows)
    before = start - timedelta(days=1)
    positive = Q(amount__gt=0)
    figures = {
        row["member_id"]: row
        for row in purchases.values(*group)
        .annotate(
            last_before=Max("date", filter=positive & Q(date__lte=before)),
            last_by_end=Max("date", filter=positive),
            bought=Count("pk", filter=positive & in_period),
            sales=Sum("amount", filter=in_period),
            till=Sum("amount", filter=at_till),
        )
        .order_by()
    }
    ledger = KpiLedger(rows=[])
    for f in figures.values():
        joined_on = f["member__joined_on"] if store_ids is not None else joined.get(f["member_id"])
        if joined_on is None:
            continue
        if joined_on >= start:
            ledger.new_vip_sales += f["till"] or ZERO
        else:
            ledger.old_vip_sales += f["till"] or ZERO
    for pk, joined_on in rows:
        f = figures.get(pk, {})
        ledger.rows.append(
            KpiMemberRow(
                pk=pk,
                joined_on=joined_on,
                last_before=f.get("last_before"),
                last_by_end=f.get("last_by_end"),
                bought_in_period=bool(f.get("bought")),
                sales_in_period=f.get("sales") or ZERO,
            )
        )
    return ledger


def kpi_member_rows(*, store_ids: list[int] | None, start: date, end: date) -> list[KpiMemberRow]:
    """The members of `kpi_ledger` with their purchase figures."""
    return kpi_ledger(store_ids=store_ids, start=start, end=end).rows


def tier_changes_through(*, store_ids: list[int] | None, through: date) -> list[tuple[int, date, str, str, str]]:
    """(member, date, from, to, reason) of every tier change dated ≤ `through` of the members whose
    home store on `through` is one of the stores (all if None), in order."""
    changes = TierChange.objects.filter(date__lte=through)
    if store_ids is not None:
        changes = changes.filter(member_id__in=members_home_on(store_ids=store_ids, on=through).values("pk"))
    return list(
        changes.order_by("member_id", "date", "pk").values_list("member_id", "date", "from_tier", "to_tier", "reason")
    )


# --- Upgrade candidates and downgrade risks (the month-end duty) ---------------------------------


@dataclass
class TierPush:
    member_id: int
    consultant_id: int | None
    tier: str  # the tier now
    target: str  # the tier to reach (candidates) or to keep (risks)
    missing: Decimal  # 12-month spend still needed


class _AnyOf(Lookup):
    """`column = ANY(%s)` with the ids as one array parameter (PostgreSQL), sent as array text."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", [*params, array_param([int(pk) for pk in self.rhs])]


class _InArray(Lookup):
    """`column = ANY(ARRAY(subquery))` (PostgreSQL): the subquery runs once and its ids can be an
    index condition, where `IN (subquery)` inside an OR forces a scan."""

    lookup_name = "in_array"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = compiler.compile(self.rhs)  # a Subquery: "(SELECT …)"
        return f"{lhs} = ANY(ARRAY{rhs})", [*lhs_params, *rhs_params]


def ids_q(column: str, ids: list[int]) -> Q:
    """`column` is one of `ids`, as a Q to combine: one array parameter on PostgreSQL, IN elsewhere."""
    if connection.vendor == "postgresql":
        return Q(_AnyOf(F(column), ids))
    return Q(**{f"{column}__in": ids})


def ids_filter(qs: QuerySet, column: str, ids: list[int]) -> QuerySet:
    """`qs` restricted to rows whose `column` is one of `ids`: one array parameter on PostgreSQL
    (no 25,000-parameter IN list to build and parse), IN on SQLite (chunks are small there)."""
    if connection.vendor == "postgresql":
        return qs.filter(_AnyOf(F(column), ids))
    return qs.filter(**{f"{column}__in": ids})


def rows_per_id(qs: QuerySet, column: str, ids: list[int], *, chunk: int = 5_000) -> list[tuple]:
    """The rows of `qs` (a `values_list`) whose `column` is each of `ids`. On PostgreSQL one
    statement: the ids as one array, `qs` run for each in a LATERAL subquery (OFFSET 0 keeps it
    one: the planner cannot flatten it into a join), so a store's 2,000 members are 2,000 probes
    of `qs`'s indexes, never a scan or hash of the chain's table, whatever the statistics say
    (issue 14: 5,000 ids of one store lie on nearly every page of the chain's member table).
    Elsewhere `qs` with IN, `chunk` ids at a time."""
    if connection.vendor != "postgresql":
        return [row for i in range(0, len(ids), chunk) for row in qs.filter(**{f"{column}__in": ids[i : i + chunk]})]
    sql, params = qs.filter(**{column: RawSQL('"each"."id"', ())}).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "found".* FROM unnest(%s::bigint[]) AS "each"(id) CROSS JOIN LATERAL ({sql} OFFSET 0) AS "found"',  # noqa: S608 - ORM SQL, values are parameters
            [array_param([int(pk) for pk in ids]), *params],
        )
        return cursor.fetchall()


def purchases_sum(*, start: date, end: date) -> Subquery:
    """The sum of a member's purchase amounts (returns negative) dated in [start, end], None if
    none, as an expression on a Member queryset: a correlated probe of the purchases' (member,
    date) index per member, so a store's read costs its own members' purchases, never the chain's."""
    total = (
        Purchase.objects.filter(member_id=OuterRef("pk"), date__gte=start, date__lte=end)
        .order_by()
        .values("member_id")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Subquery(total, output_field=DecimalField(max_digits=12, decimal_places=2))


def upgrade_candidates(*, store_id: int, on: date) -> list[TierPush]:
    """Members whose 12-month spend at `on` is at least `upgrade_candidate_ratio` of the next
    tier's minimum but below it (DOMAIN §4): "¥X to tier A". One query."""
    rules = ProgramRules.load()
    start = on - timedelta(days=rules.spend_window_days - 1)
    rows = (
        Member.objects.filter(home_store_id=store_id, tier__in=["B", "C"], tier_locked=False, erased_at__isnull=True)
        .annotate(spend=purchases_sum(start=start, end=on))
        .values_list("pk", "consultant_id", "tier", "spend")
    )
    found = []
    for pk, consultant_id, tier, spent in rows:
        target = "A" if tier == "B" else "B"
        minimum = rules.min_spend(target)
        spent = spent or ZERO
        if minimum * rules.upgrade_candidate_ratio <= spent < minimum:
            found.append(TierPush(pk, consultant_id, tier, target, minimum - spent))
    return found


def downgrade_risks(*, store_id: int, on: date) -> list[TierPush]:
    """Members at A or B whose spend still in the window at the next month's end (purchases dated
    after that end − window) is below their tier's minimum: without more purchases the next review
    downgrades them. One query."""
    rules = ProgramRules.load()
    next_end = month_end(month_end(on) + timedelta(days=1))
    kept_from = next_end - timedelta(days=rules.spend_window_days - 1)
    rows = (
        Member.objects.filter(home_store_id=store_id, tier__in=["A", "B"], tier_locked=False, erased_at__isnull=True)
        .annotate(kept=purchases_sum(start=kept_from, end=on))
        .values_list("pk", "consultant_id", "tier", "kept")
    )
    found = []
    for pk, consultant_id, tier, spent in rows:
        minimum = rules.min_spend(tier)
        spent = spent or ZERO
        if spent < minimum:
            found.append(TierPush(pk, consultant_id, tier, tier, minimum - spent))
    return found


def sales_by_consultant(*, store_id: int, start: date, end: date) -> dict[int | None, Decimal]:
    """Net sales (returns negative) credited to each consultant on the store's receipts (its till,
    whoever's member bought) in the period; receipts naming nobody under None, so that the values
    add up to the store's VIP sales: one query."""
    rows = (
        Purchase.objects.filter(store_id=store_id, date__gte=start, date__lte=end, member__joined_on__lte=end)
        .values_list("consultant_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    return dict(rows)


# --- Targets and dashboards (reports.selectors, reports.dashboards) -------------------------------
# Grouped reads for achievement against targets: one query each whatever the number of members or
# purchases. They follow DOMAIN §6 attribution, the same as reports.kpis: sales by the store whose
# till took the receipt ("old" = the member joined before the period, "new" = joined in it), new
# members by their home store on the period's last day.


def vip_sales_by_store(*, store_ids: list[int] | None, start: date, end: date) -> dict[int, tuple[Decimal, Decimal]]:
    """(old-VIP sales, new-VIP sales) in [start, end] per store whose till took the receipt, net
    of returns, whoever's member bought."""
    purchases = Purchase.objects.filter(date__gte=start, date__lte=end, member__joined_on__lte=end)
    if store_ids is not None:
        purchases = purchases.filter(store_id__in=store_ids)
    rows = (
        purchases.values_list("store_id")
        .annotate(
            old=Sum("amount", filter=Q(member__joined_on__lt=start)),
            new=Sum("amount", filter=Q(member__joined_on__gte=start)),
        )
        .order_by()
    )
    return {store_id: (old or ZERO, new or ZERO) for store_id, old, new in rows}


def new_members_by_store(*, store_ids: list[int] | None, start: date, end: date) -> dict[int, int]:
    """Members joined in [start, end] per home store on `end` (新开卡数)."""
    members = Member.objects.filter(joined_on__gte=start, joined_on__lte=end)
    members = members.annotate(home_on=home_store_on(end))
    if store_ids is not None:
        members = members.filter(home_on__in=store_ids)
    return dict(members.values_list("home_on").annotate(n=Count("pk")).order_by())


def sales_by_consultant_split(
    *, store_id: int, start: date, end: date
) -> dict[int | None, tuple[Decimal, Decimal]]:
    """(old-VIP, new-VIP) sales credited to each consultant on the store's receipts in the period
    (None: receipts naming nobody): the personal side of `sales_by_consultant`, split as DOMAIN §6
    splits the store's, so the values add up to the store's old and new VIP sales.

    Read from the store's own receipts, each looking its member up by primary key (old: joined
    before `start`, new: joined in the period, none: joined after `end`, dropped): a join made
    PostgreSQL hash the chain's whole member table for one store's month (issue 14)."""
    kind = Subquery(
        Member.objects.filter(pk=OuterRef("member_id"), joined_on__lte=end)
        .order_by()
        .annotate(kind=Case(When(joined_on__lt=start, then=Value(_OLD)), default=Value(_NEW)))
        .values("kind")[:1]
    )
    rows = (
        Purchase.objects.filter(store_id=store_id, date__gte=start, date__lte=end)
        .annotate(kind=kind)
        .values_list("consultant_id", "kind")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    found: dict[int | None, dict[int, Decimal]] = {}
    for staff_id, kind, total in rows:
        if kind is not None:
            found.setdefault(staff_id, {})[kind] = total
    return {staff_id: (totals.get(_OLD) or ZERO, totals.get(_NEW) or ZERO) for staff_id, totals in found.items()}


_OLD, _NEW = 1, 2  # `sales_by_consultant_split`'s kinds of receipt


def new_members_by_opener(*, store_id: int, start: date, end: date) -> dict[int, int]:
    """Members of the store (home store on `end`) joined in the period, per member of staff who
    opened the card (None: nobody recorded), so that the values add up to the store's new members."""
    rows = (
        members_home_on(store_ids=[store_id], on=end)
        .filter(joined_on__gte=start, joined_on__lte=end)
        .values_list("opened_by_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return dict(rows)


def members_by_consultant(*, store_id: int) -> dict[int, int]:
    """How many of the store's members each consultant serves now (None: members without one)."""
    rows = (
        Member.objects.filter(home_store_id=store_id, erased_at__isnull=True)
        .values_list("consultant_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return dict(rows)


def member_tier_counts(*, store_id: int, consultant_id: int | None = None) -> dict[str, int]:
    """The store's members (a consultant's only, if given) per current tier: one query."""
    members = Member.objects.filter(home_store_id=store_id, erased_at__isnull=True)
    if consultant_id is not None:
        members = members.filter(consultant_id=consultant_id)
    return dict(members.values_list("tier").annotate(n=Count("pk")).order_by())


def member_ids_of_consultant(*, store_id: int, consultant_id: int) -> set[int]:
    """The ids of the members a consultant serves, to narrow a report's lists to their own."""
    return set(Member.objects.filter(home_store_id=store_id, consultant_id=consultant_id).values_list("pk", flat=True))


def vip_sales_by_store_and_day(
    *, store_ids: list[int] | None, start: date, end: date
) -> dict[tuple[int, date], Decimal]:
    """VIP sales (old and new members together, net of returns) per store whose till took the
    receipt and day: to set against the days whose store totals were entered when some are
    missing. One query."""
    purchases = Purchase.objects.filter(date__gte=start, date__lte=end, member__joined_on__lte=end)
    if store_ids is not None:
        purchases = purchases.filter(store_id__in=store_ids)
    rows = purchases.values_list("store_id", "date").annotate(total=Sum("amount")).order_by()
    return {(store_id, day): total for store_id, day, total in rows}


# --- The member list a page at a time (issue 14) ------------------------------------------------
# At chain size the list must not count or sort every member for each page: the total is exact
# up to LIST_COUNT_CAP (a bounded count), "more than" beyond; the default order (newest first)
# picks the page's ids from an index and only then reads what the 50 rows show.

LIST_COUNT_CAP = 10_000
# From this row on (or on a capped list) the page's ids are picked before its rows are read.
DEEP_PAGE = 500


@dataclass
class MemberPage:
    """One page of the list, with what the pager needs (the names of Django's `Page`)."""

    object_list: list[Member]
    number: int
    per_page: int
    count: int  # exact unless `capped`: then LIST_COUNT_CAP, and there are more
    capped: bool
    has_next: bool

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)

    @property
    def num_pages(self) -> int | None:
        return None if self.capped else max(1, -(-self.count // self.per_page))

    @property
    def paginator(self) -> MemberPage:  # `page.paginator.count` as with Django's Page
        return self

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.has_previous() or self.has_next

    def previous_page_number(self) -> int:
        return self.number - 1

    def next_page_number(self) -> int:
        return self.number + 1


def member_list_page(
    qs: QuerySet[Member], *, sort: str = "", page: int | str | None = 1, per_page: int = 50, today: date | None = None
) -> MemberPage:
    """Page `page` of `member_list(...)` with `member_list_page_rows`'s columns: the bounded count
    and the page (its ids, then its rows, on a large list or a deep page) whatever the number of members."""
    count = qs.order_by().values("pk")[: LIST_COUNT_CAP + 1].count()
    capped = count > LIST_COUNT_CAP
    count = min(count, LIST_COUNT_CAP)
    try:
        number = min(max(1, int(str(page or 1))), 1_000_000)  # a database offset has its limits
    except ValueError:  # a hand-edited page number ("x", "²"): the first page
        number = 1
    if not capped:
        number = min(number, max(1, -(-count // per_page)))
    start = (number - 1) * per_page
    if sort in MEMBER_SORTS or not (capped or start >= DEEP_PAGE):
        # Sorted by what the rows compute (computed for every member), or a short list near its
        # start: one query.
        rows = list(member_list_page_rows(qs, sort=sort, today=today)[start : start + per_page + 1])
    else:  # the page's ids from the index first: the skipped rows are not computed

        ids = list(qs.order_by("-joined_on", "-id").values_list("pk", flat=True)[start : start + per_page + 1])
        found = member_list_page_rows(qs.filter(pk__in=ids[:per_page]), today=today).in_bulk(ids[:per_page])
        rows = [found[pk] for pk in ids[:per_page] if pk in found] + ids[per_page:]
    return MemberPage(rows[:per_page], number, per_page, count, capped, len(rows) > per_page)


def home_stores_on(on: date) -> QuerySet:
    """(member, home store on `on`) of every member joined by `on` (DOMAIN §13), as one query
    without a probe per member (issue 14): the home store now of those not transferred after `on`,
    and the store left by the earliest transfer after `on` of the few who were."""
    after = MemberOwnerChange.objects.filter(
        reason=OwnerChangeReason.TRANSFER, date__gt=on, previous_store__isnull=False
    )
    earlier = after.filter(member_id=OuterRef("member_id")).filter(
        Q(date__lt=OuterRef("date")) | Q(date=OuterRef("date"), pk__lt=OuterRef("pk"))
    )
    stayed = (
        Member.objects.filter(joined_on__lte=on)
        .exclude(pk__in=after.values("member_id"))
        .values_list("pk", "home_store_id")
        .order_by()
    )
    moved = (
        after.filter(member__joined_on__lte=on)
        .exclude(Exists(earlier))
        .values_list("member_id", "previous_store_id")
        .order_by()
    )
    return stayed.union(moved, all=True)

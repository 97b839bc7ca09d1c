"""HQ's chain view (issue 12 item 4): every open store side by side for any period, with every
DOMAIN §6 figure, its numerator and denominator, the achievement against targets, the tier mix and
the complaints; the same by region (`Store.region`), and a chain total.

One read for all stores, then grouped in Python:
- the member figures (churn, repurchase, upgrade, win-backs, downgrades, new members, tier mix):
  one `compute_kpis` over all the stores, its member sets split by each member's home store at the
  period's end (one query). Member figures are disjoint between stores, so a store's split equals
  its own `compute_kpis`, and a region's or the chain's is the sum of its stores';
- old / new VIP sales: `vip_sales_split`, by till, month by month (DOMAIN §6: a quarter is the sum
  of its months): one query per month of the period;
- follow-ups grouped by store (one query); entered store totals (one query, plus one for the VIP
  sales by day when a store left days out); targets (one query);
- satisfaction grouped by store (one query);
- complaints grouped by store (`complaint_figures(by="store")`: one query, plus the program
  rules it loads).
So the number of queries grows with the months of the period, never with the stores or members.

Rates are weighted (`vipcrm.rates.Rate`: numerators and denominators add up), never averaged.
A live period (not over yet) is read up to today.

The page serves these figures from Django's cache with the time they were worked out, refreshed in
the background (issue 14): see "The figures cache" below. The drill-downs and the API read live.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Store
from complaints.selectors import ComplaintFigures, complaint_figures
from members.models import Tier
from members.selectors import home_stores_on, vip_sales_by_store_and_day
from vipcrm.rates import Rate
from visits.selectors import follow_up_figures_by, satisfaction_figures_by_store

from .dashboards import FIGURE_LABELS
from .kpis import compute_kpis, vip_sales_split
from .metrics import METRICS, Achievement, Actual, vip_sales_share
from .models import RATE_METRICS, MonthlyTarget, TargetMetric
from .periods import Kind, Period, month_end
from .selectors import store_sales_entered
from .services import DRILL_DOWN

logger = logging.getLogger(__name__)
ZERO = Decimal("0.00")
TIER_FIGURES = tuple(f"tier_{t}" for t in Tier.values)
DRILL_FIGURES = (*DRILL_DOWN, *TIER_FIGURES)
# Member figures counted per home store: (the attribute here, the Kpis set behind it).
MEMBER_SETS = (
    ("base", "base"),
    ("churned", "churned"),
    ("repurchased", "repurchased"),
    ("win_backs", "win_backs"),
    ("upgrade_base", "upgrade_base"),
    ("upgraded", "upgraded"),
    ("downgraded", "downgraded"),
    ("new_members", "new_members"),
)
NO_REGION = gettext_lazy("未分区")


@dataclass
class Cell:
    """A rate in the table with the drill-down figures of its numerator and denominator."""

    key: str
    rate: Rate
    figure: str = ""  # the members behind the numerator ("" when not members)
    of_figure: str = ""  # … behind the denominator

    @property
    def percent(self) -> float | None:
        return self.rate.percent

    @property
    def figure_label(self) -> str:
        return str(FIGURE_LABELS.get(self.figure, ""))

    @property
    def title(self) -> str:
        """The formula with its numbers (the rate's key names the formula: vipcrm.rates)."""
        return self.rate.title


@dataclass
class Line:
    """One line of the chain view: a store, a region or the chain. Everything is kept as counts
    and sums, so that lines combine into a region's or the chain's by adding."""

    key: str
    label: str
    store: Store | None = None
    region: str | None = None  # the region's name ("" for stores without one) on region lines
    store_ids: list[int] = field(default_factory=list)
    base: int = 0
    churned: int = 0
    repurchased: int = 0
    win_backs: int = 0
    upgrade_base: int = 0
    upgraded: int = 0
    downgraded: int = 0
    new_members: int = 0
    tiers: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Tier.values, 0))
    old_vip_sales: Decimal = ZERO
    new_vip_sales: Decimal = ZERO
    # VIP sales share: over the stores (and days) with entered till totals only.
    share_vip: Decimal = ZERO
    share_till: Decimal = ZERO
    share_notes: list[str] = field(default_factory=list)
    due: int = 0
    done: int = 0
    on_time: int = 0
    scored: int = 0
    score_sum: float = 0.0
    satisfied: int = 0
    received: int = 0
    closed: int = 0
    responded_in_sla: int = 0
    solved_in_sla: int = 0
    # Complaints the solution SLA applies to: received less those rejected (issue 12 item 2).
    solution_due: int = 0
    response_hours: float = 0.0
    responded: int = 0
    close_hours: float = 0.0
    # Targets: amounts that add up, summed; rate targets as (target, weight) pairs, weighted by
    # the rate's denominator when totalled (never added: issue 12 item 2).
    amount_targets: dict[str, Decimal] = field(default_factory=dict)
    rate_targets: dict[str, list[tuple[Decimal, Decimal]]] = field(default_factory=dict)
    rank: int = 0

    # --- Combining -------------------------------------------------------------------------------

    @classmethod
    def combine(cls, key: str, label: str, lines: list[Line], *, region: str | None = None) -> Line:
        total = cls(key=key, label=label, region=region)
        for line in lines:
            total.store_ids += line.store_ids
            for name in (
                *(attr for attr, _kpi in MEMBER_SETS),
                "old_vip_sales",
                "new_vip_sales",
                "share_vip",
                "share_till",
                "due",
                "done",
                "on_time",
                "scored",
                "score_sum",
                "satisfied",
                "received",
                "closed",
                "responded_in_sla",
                "solved_in_sla",
                "solution_due",
                "response_hours",
                "responded",
                "close_hours",
            ):
                setattr(total, name, getattr(total, name) + getattr(line, name))
            for tier, n in line.tiers.items():
                total.tiers[tier] += n
            total.share_notes += line.share_notes
            for metric, amount in line.amount_targets.items():
                total.amount_targets[metric] = total.amount_targets.get(metric, ZERO) + amount
            for metric, pairs in line.rate_targets.items():
                total.rate_targets.setdefault(metric, []).extend(pairs)
        return total

    @property
    def scope_query(self) -> str:
        """The drill-down's scope for this line: ?store=, ?region= or (the chain) nothing."""
        if self.store is not None:
            return urlencode({"store": self.store.pk})
        if self.region is not None:
            return urlencode({"region": self.region})
        return ""

    # --- Member figures --------------------------------------------------------------------------

    @property
    def churn(self) -> Cell:
        return Cell("churn", Rate(self.churned, self.base, "churn_rate"), "churned", "base")

    @property
    def repurchase(self) -> Cell:
        return Cell("repurchase", Rate(self.repurchased, self.base, "repurchase_rate"), "repurchased", "base")

    @property
    def upgrade(self) -> Cell:
        return Cell("upgrade", Rate(self.upgraded, self.upgrade_base, "upgrade_rate"), "upgraded", "upgrade_base")

    @property
    def members_at_end(self) -> int:
        return sum(self.tiers.values())

    @property
    def tier_cells(self) -> list[Cell]:
        return [Cell("tier", Rate(self.tiers[t], self.members_at_end, "tier_share"), f"tier_{t}") for t in Tier.values]

    def tier_share(self, tier: str) -> Rate:
        return Rate(self.tiers[tier], self.members_at_end)

    # --- Follow-ups, satisfaction, complaints ----------------------------------------------------

    @property
    def completion(self) -> Rate:
        return Rate(self.done, self.due)

    @property
    def on_time_cell(self) -> Cell:
        return Cell("on_time", Rate(self.on_time, self.due, "follow_up_on_time"))

    @property
    def satisfaction_mean(self) -> float | None:
        return round(self.score_sum / self.scored, 2) if self.scored else None

    @property
    def satisfied_cell(self) -> Cell:
        return Cell("satisfied", Rate(self.satisfied, self.scored, "satisfied"))

    @property
    def response_sla(self) -> Cell:
        return Cell("response_sla", Rate(self.responded_in_sla, self.received, "response_within_sla"))

    @property
    def solution_sla(self) -> Cell:
        return Cell("solution_sla", Rate(self.solved_in_sla, self.solution_due, "solution_within_sla"))

    @property
    def mean_hours_to_first_response(self) -> float | None:
        return round(self.response_hours / self.responded, 1) if self.responded else None

    @property
    def mean_hours_to_close(self) -> float | None:
        return round(self.close_hours / self.closed, 1) if self.closed else None

    # --- Sales and achievement -------------------------------------------------------------------

    @property
    def vip_sales(self) -> Decimal:
        return self.old_vip_sales + self.new_vip_sales

    def target(self, metric: str) -> Decimal | None:
        if metric not in RATE_METRICS:
            return self.amount_targets.get(metric)
        pairs = self.rate_targets.get(metric)
        if not pairs:
            return None
        weight = sum((w for _t, w in pairs), ZERO)
        if weight:
            return (sum((t * w for t, w in pairs), ZERO) / weight).quantize(Decimal("0.0001"))
        return (sum((t for t, _w in pairs), ZERO) / len(pairs)).quantize(Decimal("0.0001"))

    def actual(self, metric: str) -> Actual:
        if metric == TargetMetric.OLD_VIP_SALES:
            return Actual(self.old_vip_sales)
        if metric == TargetMetric.NEW_VIP_SALES:
            return Actual(self.new_vip_sales)
        if metric == TargetMetric.NEW_MEMBERS:
            return Actual(Decimal(self.new_members))
        if metric == TargetMetric.VIP_SALES_SHARE:
            if not self.share_till:
                return Actual(None, note=_("未录入门店销售总额"))
            share = (self.share_vip / self.share_till).quantize(Decimal("0.0001"))
            return Actual(share, self.share_vip, self.share_till, note="；".join(self.share_notes))
        completion = self.completion
        return Actual(completion.decimal, completion.numerator, completion.denominator)

    @property
    def achievements(self) -> list[Achievement]:
        return [Achievement(metric, self.target(metric), self.actual(metric)) for metric in METRICS]

    def achievement(self, metric: str) -> Achievement:
        return Achievement(metric, self.target(metric), self.actual(metric))


# --- Sorting -------------------------------------------------------------------------------------


def _pct(metric: str) -> Callable[[Line], float | None]:
    return lambda line: line.achievement(metric).percent


def _actual(metric: str) -> Callable[[Line], float | None]:
    def value(line: Line) -> float | None:
        v = line.actual(metric).value
        return None if v is None else float(v)

    return value


# Every sortable column: ?sort=<key> (ascending) or ?sort=-<key> (descending).
SORTS: dict[str, Callable[[Line], object]] = {
    "name": lambda line: line.label,
    "base": lambda line: line.base,
    "churn": lambda line: line.churn.rate.value,
    "repurchase": lambda line: line.repurchase.rate.value,
    "upgrade": lambda line: line.upgrade.rate.value,
    "win_backs": lambda line: line.win_backs,
    "downgrades": lambda line: line.downgraded,
    **{f"tier_{t}": (lambda line, t=t: line.tier_share(t).value) for t in Tier.values},
    **{metric: _actual(metric) for metric in METRICS},
    **{f"{metric}_pct": _pct(metric) for metric in METRICS},
    "on_time": lambda line: line.on_time_cell.rate.value,
    "satisfaction": lambda line: line.satisfaction_mean,
    "satisfied": lambda line: line.satisfied_cell.rate.value,
    "complaints": lambda line: line.received,
    "closed": lambda line: line.closed,
    "response_sla": lambda line: line.response_sla.rate.value,
    "solution_sla": lambda line: line.solution_sla.rate.value,
}
DEFAULT_SORT = "name"


def sort_key(raw: str | None) -> tuple[str, bool]:
    """?sort= as (column, descending); an unknown column is the default (a hand-edited URL
    shows the table, not an error)."""
    raw = (raw or "").strip()
    descending = raw.startswith("-")
    key = raw.removeprefix("-")
    if key not in SORTS:
        return DEFAULT_SORT, False
    return key, descending


def sorted_lines(lines: list[Line], key: str, descending: bool) -> list[Line]:
    """The lines by a column, lines without a value (no rate, no target) last either way; each
    line's rank is its place (equal values share a rank)."""
    value = SORTS[key]
    with_value = [line for line in lines if value(line) is not None]
    without = sorted((line for line in lines if value(line) is None), key=lambda line: line.label)
    with_value.sort(key=lambda line: line.label)
    with_value.sort(key=value, reverse=descending)
    ordered = with_value + without
    previous, rank = object(), 0
    for place, line in enumerate(ordered, 1):
        current = value(line)
        if current != previous:
            rank, previous = place, current
        line.rank = rank if current is not None else 0
    return ordered


# --- The read ------------------------------------------------------------------------------------


@dataclass
class Chain:
    period: Period
    until: date  # the figures run to this day (the period's end, or today while it runs)
    stores: list[Line]
    regions: list[Line]
    total: Line

    @property
    def live(self) -> bool:
        return self.until < self.period.end


def _member_homes(*, store_ids: list[int], on: date) -> dict[int, int]:
    """{member: home store on `on`} for the members of the stores joined by then: one query."""
    wanted = set(store_ids)
    return {pk: store_id for pk, store_id in home_stores_on(on) if store_id in wanted}


def _month_share(period: Period, month: Period) -> Decimal:
    """How much of a month's target a period asks for: all of it, except for a custom range,
    which asks for the share of the month's days it covers."""
    if period.kind != Kind.RANGE or month.kind == Kind.MONTH:
        return Decimal(1)
    days_in_month = month_end(month.start).day
    return Decimal(month.days) / Decimal(days_in_month)


def _targets(lines: dict[int, Line], period: Period) -> None:
    """Each store's targets for the period: the months' amounts summed (a custom range: pro rata
    to its days), and for rates the year's rate. One query."""
    months = period.months()
    shares = {(m.start.year, m.start.month): _month_share(period, m) for m in months}
    wanted = Q()
    for year, month in shares:
        wanted |= Q(annual__year=year, month=month)
    rows = MonthlyTarget.objects.filter(wanted, annual__store_id__in=list(lines)).values_list(
        "annual__store_id", "annual__metric", "annual__year", "month", "annual__amount", "amount"
    )
    rates: dict[tuple[int, str], Decimal] = {}
    for store_id, metric, year, month, annual_amount, amount in rows:
        line = lines[store_id]
        if metric in RATE_METRICS:
            # A period spanning two years aims at the later year's rate.
            rates[(store_id, metric)] = annual_amount
        else:
            line.amount_targets[metric] = line.amount_targets.get(metric, ZERO) + amount * shares[(year, month)]
    for (store_id, metric), target in rates.items():
        line = lines[store_id]
        # The weight when totalled: the rate's denominator (tasks due, till sales).
        weight = Decimal(line.due) if metric == TargetMetric.FOLLOW_UP_COMPLETION else line.share_till
        line.rate_targets[metric] = [(target, weight)]


def open_stores() -> list[Store]:
    """The stores the chain view shows: the open ones, by code (one query)."""
    return list(Store.objects.filter(is_active=True).order_by("code"))


def chain_figures(*, period: Period, today: date, stores: list[Store] | None = None) -> Chain:
    """Every open store's figures for the period (up to today while it runs), by store and by
    region, with the chain's total. See the module's docstring for the queries. `stores`: the
    open stores when the caller has read them already."""
    until = min(period.end, today)
    stores = open_stores() if stores is None else stores
    lines = {s.pk: Line(key=str(s.pk), label=f"{s.code} {s.name}", store=s, store_ids=[s.pk]) for s in stores}
    ids = list(lines)
    if ids:
        _member_figures(lines, start=period.start, until=until)
        _sales_figures(lines, start=period.start, until=until)
        _service_figures(lines, start=period.start, until=until)
        _targets(lines, period)
    by_region: dict[str, list[Line]] = {}
    for store in stores:
        by_region.setdefault(store.region.strip(), []).append(lines[store.pk])
    regions = [
        Line.combine(f"region:{name}", name or str(NO_REGION), members, region=name)
        for name, members in sorted(by_region.items(), key=lambda item: (not item[0], item[0]))
    ]
    total = Line.combine("total", _("全部门店"), list(lines.values()))
    return Chain(period=period, until=until, stores=list(lines.values()), regions=regions, total=total)


def _member_figures(lines: dict[int, Line], *, start: date, until: date) -> None:
    """One `compute_kpis` over all the stores, its member sets split by home store."""
    # Over every member (store_ids=None: one grouped scan of the period's purchases, not an index
    # read per member): split by home store below, members of stores not shown drop out, so each
    # store's figures are its own compute_kpis's.
    kpis = compute_kpis(start=start, end=until, store_ids=None)
    homes = _member_homes(store_ids=list(lines), on=until)
    # Counted by home store in C (map + Counter): 100k members' sets in a few ms, not a Python loop.
    for attr, kpi_set in MEMBER_SETS:
        for store_id, n in Counter(map(homes.get, getattr(kpis, kpi_set))).items():
            line = lines.get(store_id)
            if line is not None:
                setattr(line, attr, getattr(line, attr) + n)
    for tier, member_ids in kpis.tier_mix.items():
        for store_id, n in Counter(map(homes.get, member_ids)).items():
            line = lines.get(store_id)
            if line is not None:
                line.tiers[tier] += n


def _sales_figures(lines: dict[int, Line], *, start: date, until: date) -> None:
    """Old / new VIP sales by till, summed month by month; the VIP sales share over the entered
    till totals (the VIP sales of the entered days only, when some are missing)."""
    ids = list(lines)
    for store_id, (old, new) in vip_sales_split(store_ids=ids, start=start, end=until).items():
        if store_id in lines:
            lines[store_id].old_vip_sales, lines[store_id].new_vip_sales = old, new
    entered = store_sales_entered(store_ids=ids, start=start, end=until)
    days = (until - start).days + 1
    by_day: dict[int, dict[date, Decimal]] = {}
    if any(0 < len(entered.get(pk, {})) < days for pk in ids):
        for (store_id, day), amount in vip_sales_by_store_and_day(store_ids=ids, start=start, end=until).items():
            by_day.setdefault(store_id, {})[day] = amount
    for store_id, line in lines.items():
        share = vip_sales_share(
            vip_sales=line.vip_sales, entered=entered.get(store_id), days=days, vip_by_day=by_day.get(store_id, {})
        )
        if share.value is not None:
            line.share_vip, line.share_till = share.numerator, share.denominator
            if share.note:
                line.share_notes.append(f"{line.store.code} {share.note}")


def _service_figures(lines: dict[int, Line], *, start: date, until: date) -> None:
    """Follow-ups, satisfaction and complaints: one grouped query each."""
    tasks = follow_up_figures_by(by="store", store_ids=list(lines), start=start, end=until)
    scores = satisfaction_figures_by_store(store_ids=list(lines), start=start, end=until)
    _total, by_store = complaint_figures(store_ids=list(lines), start=start, end=until, by="store")
    complaints = {int(figures.key): figures for figures in by_store}
    for store_id, line in lines.items():
        t = tasks.get(store_id, {})
        line.due, line.done, line.on_time = t.get("due", 0), t.get("done", 0), t.get("on_time", 0)
        s = scores.get(store_id, {})
        line.scored, line.satisfied = s.get("scored") or 0, s.get("satisfied") or 0
        line.score_sum = float(s.get("mean") or 0) * line.scored
        c = complaints.get(store_id) or ComplaintFigures(str(store_id), "")
        line.received, line.closed = c.received, c.closed
        line.responded_in_sla, line.solved_in_sla = c.responded_in_sla, c.solved_in_sla
        line.solution_due = c.solution_due
        line.response_hours, line.responded = sum(c.response_hours), len(c.response_hours)
        line.close_hours = sum(c.close_hours)


# --- The figures cache ---------------------------------------------------------------------------
#
# The chain's figures take a second or more at 100k members (one compute_kpis over the chain), too
# slow for HQ's landing page. Like a BI dashboard's, they are kept in Django's cache (shared by the
# web workers and Celery) with the time they were worked out, and the page says "as of" when:
# - younger than VIPCRM_CHAIN_FRESH_SECONDS: served as they are;
# - older: served, and one refresh is queued (reports.tasks.chain_refresh; a lock in the cache keeps
#   eight HQ users from queueing eight);
# - none kept: worked out in the request and kept (a running period on a new day: yesterday's
#   served, today's worked out in the background);
# HQ's 刷新 button works them out again at once (a store opened or closed shows from then, or from
# the next refresh).
# The key names the period, the day the figures run to (a running period's entry is a new one each
# day), the language (a few labels are translated when worked out) and the database.

CACHE_VERSION = 1  # raise when Chain or Line change shape: older entries are then never read
CACHE_TIMEOUT = 7 * 24 * 60 * 60  # how long an entry is kept at all (served stale, refreshed)
LOCK_TIMEOUT = 15 * 60  # a refresh that died leaves its lock for this long at most
TABLE_SECONDS = 15 * 60  # the page's rendered table, kept with the figures it shows (chain_views)


@dataclass
class CachedChain:
    """The chain's figures with the moment they were worked out (`computed_at`, aware)."""

    chain: Chain
    computed_at: datetime
    key: str = ""  # the cache's key for them
    version: str = ""  # this computation's own (a refresh in the same second is a new one)
    stale: bool = False  # older than VIPCRM_CHAIN_FRESH_SECONDS
    refreshing: bool = False  # a refresh is queued or running


def fresh_seconds() -> int:
    return int(getattr(settings, "VIPCRM_CHAIN_FRESH_SECONDS", 600))


def cache_key(*, period: Period, until: date, language: str | None = None) -> str:
    database = hashlib.sha1(str(connection.settings_dict["NAME"]).encode(), usedforsecurity=False).hexdigest()[:8]
    language = language or translation.get_language() or settings.LANGUAGE_CODE
    return (
        f"vipcrm:chain:{CACHE_VERSION}:{database}:{language}:"
        f"{period.kind}:{period.start.isoformat()}:{period.end.isoformat()}:{until.isoformat()}"
    )


def _lock_key(key: str) -> str:
    return f"{key}:refreshing"


def chain_figures_compute(*, period: Period, today: date, stores: list[Store] | None = None) -> CachedChain:
    """Work the figures out now and keep them (the refresh button, the Celery refresh, a miss)."""
    stores = open_stores() if stores is None else stores
    computed_at = timezone.now()
    figures = chain_figures(period=period, today=today, stores=stores)
    version = uuid.uuid4().hex
    entry = {"chain": figures, "computed_at": computed_at, "version": version}
    key = cache_key(period=period, until=figures.until)
    cache.set(key, entry, CACHE_TIMEOUT)
    return CachedChain(figures, computed_at, key, version)


def _cached_entry(key: str) -> dict | None:
    try:
        entry = cache.get(key)
    except Exception:  # an entry that no longer unpickles (code changed): a miss
        logger.warning("chain figures cache entry %s unreadable", key, exc_info=True)
        return None
    return entry if isinstance(entry, dict) and isinstance(entry.get("chain"), Chain) else None


def chain_figures_cached(*, period: Period, today: date) -> CachedChain:
    """The figures the chain view shows: kept ones, refreshed in the background when older than
    VIPCRM_CHAIN_FRESH_SECONDS; worked out now when none are kept (a running period's first view
    of a day: yesterday's, refreshed in the background). No query when kept."""
    until = min(period.end, today)
    key = cache_key(period=period, until=until)
    entry = _cached_entry(key)
    if entry is None and period.start < until == today:
        # A running period on a new day: yesterday's figures (they say up to when) while today's
        # are worked out in the background, rather than the first view of the day waiting.
        yesterdays = cache_key(period=period, until=today - timedelta(days=1))
        entry = _cached_entry(yesterdays)
        if entry is not None:
            cached = CachedChain(entry["chain"], entry["computed_at"], yesterdays, entry.get("version", ""), stale=True)
            cached.refreshing = _queue_refresh(key, period=period, today=today)
            return cached
    if entry is None:
        return chain_figures_compute(period=period, today=today)
    cached = CachedChain(entry["chain"], entry["computed_at"], key, entry.get("version", ""))
    if (timezone.now() - cached.computed_at).total_seconds() >= fresh_seconds():
        cached.stale = True
        cached.refreshing = _queue_refresh(key, period=period, today=today)
    return cached


def _queue_refresh(key: str, *, period: Period, today: date) -> bool:
    """Queue one refresh of the entry unless one is queued or running (the lock, taken with
    cache.add, is released by the task when done, or expires). True when one is under way."""
    from .tasks import chain_refresh

    lock = _lock_key(key)
    if not cache.add(lock, timezone.now().isoformat(), LOCK_TIMEOUT):
        return True
    try:
        chain_refresh.delay(
            period.kind,
            period.start.isoformat(),
            period.end.isoformat(),
            today.isoformat(),
            translation.get_language() or settings.LANGUAGE_CODE,
        )
    except Exception:  # the broker is down: the kept figures are served, the next view tries again
        logger.warning("chain figures refresh not queued", exc_info=True)
        cache.delete(lock)
        return False
    return True


def chain_refresh_run(*, period: Period, today: date, language: str) -> None:
    """The Celery refresh (reports.tasks.chain_refresh): work the entry out again, then let go
    of the lock."""
    with translation.override(language):
        key = cache_key(period=period, until=min(period.end, today))
        try:
            chain_figures_compute(period=period, today=today)
        finally:
            cache.delete(_lock_key(key))


# --- The drill-down ------------------------------------------------------------------------------


@dataclass
class ChainScope:
    """Whose members a drill-down lists: a store, a region, or the whole chain."""

    name: str
    store_ids: list[int]
    query: dict[str, str]


def chain_scope(*, store_id: int | None, region: str | None) -> ChainScope | None:
    """The open stores named by ?store= or ?region= (neither: the chain); None when the store or
    the region is not an open one."""
    stores = Store.objects.filter(is_active=True).order_by("code")
    if store_id is not None:
        store = stores.filter(pk=store_id).first()
        return None if store is None else ChainScope(f"{store.code} {store.name}", [store.pk], {"store": str(store.pk)})
    if region is not None:
        ids = [s.pk for s in stores if s.region.strip() == region.strip()]
        if not ids:
            return None
        return ChainScope(region.strip() or str(NO_REGION), ids, {"region": region.strip()})
    return ChainScope(_("全部门店"), [s.pk for s in stores], {})


def members_behind(*, figure: str, scope: ChainScope, period: Period, today: date) -> set[int]:
    """The members a figure of the chain view counts: the same `compute_kpis` over the scope's
    stores (member figures belong to the member's home store, so the stores' lists add up)."""
    if figure not in DRILL_FIGURES:
        raise ValueError(figure)
    if not scope.store_ids:
        return set()
    kpis = compute_kpis(start=period.start, end=min(period.end, today), store_ids=scope.store_ids)
    return set(kpis.members_behind(figure))

"""A chain-sized data set for the benchmark (issue 14): `manage.py seed_bench`.

Everything is generated in Python from one seeded random source (so the same arguments give the same
rows on the same day) and loaded with COPY in one transaction; sequences are set after the explicit
ids and the database vacuumed (frozen) and ANALYZEd. PostgreSQL only.

Shape, per store (the same at every size, so a store's pages compare across sizes): a manager, a VIP
specialist and eight consultants; members joined over three years with birthdays (a quarter lunar),
important dates, tags and the owner history of their enrolment; purchases over `months` months with
a skewed spend (lognormal activity and basket size), 5% of them returned; tiers by the tier engine's
own replay (members.tiers.replay) through yesterday's month-end reviews, which are recorded as done;
a contact log (reached and unreached) by tier, closed follow-up tasks for the recent contacts and open
cards on the lists; complaints (the recent ones open); chain campaigns with their audiences and
invitations, and one draft campaign for the preview.
"""

# ruff: noqa: S608 - table names come from the models, never from input
from __future__ import annotations

import io
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from members.management.commands.seed_demo import FEMALE_NAMES, MALE_NAMES, MOBILE_PREFIXES, SURNAMES

DEFAULT_PASSWORD = "vipcrm-bench"  # noqa: S105 - bench data only; seed_bench refuses production settings
STAFF_PER_STORE = 10  # manager, VIP specialist, 8 consultants
CONSULTANTS_PER_STORE = STAFF_PER_STORE - 2
JOIN_SPAN_DAYS = 3 * 365
RETURN_SHARE = 0.05
LAPSED_SHARE = 0.15
TOUCHED = {"A": 0.85, "B": 0.6, "C": 0.3}  # share of members their consultant keeps in touch with
CARE_DAYS = {"A": 30, "B": 60, "C": 90}
OPEN_CARD_SHARE = 0.06
COMPLAINTS_PER_MEMBER_YEAR = 0.006

# Names and mobile prefixes are the demo's (seed_demo).
ITEMS = (
    "羊绒大衣",
    "羊毛大衣",
    "真丝衬衫",
    "针织开衫",
    "阔腿裤",
    "半身裙",
    "连衣裙",
    "西装外套",
    "羊绒围巾",
    "皮质手袋",
    "高跟鞋",
    "风衣",
    "T恤",
    "牛仔裤",
    "丝巾",
    "羽绒服",
)
STYLES = ("简约通勤", "法式优雅", "轻奢", "休闲", "小香风", "极简", "新中式", "度假风", "复古", "知性")
TAGS = ("婚礼季", "偏好真丝", "商务客户", "新品首发", "改衣常客", "团购")
REGIONS = ("华东", "华北", "华南", "西南", "华中")
REACHED = (
    "已联系，客户满意",
    "已联系，近期会来店看新品",
    "已联系，对上次购买很满意",
    "已联系，约周末到店",
    "已联系，暂时没有需要",
    "已联系，已推送新品图片",
)
UNREACHED = (("no_answer", "电话无人接听"), ("switched_off", "关机"), ("declined", "客户在忙，拒绝沟通"))
CHANNELS = ("phone", "phone", "wechat", "wechat", "sms", "in_store")
COMPLAINT_TEXT = {
    "product_quality": "衣服洗后起球",
    "alteration": "改衣时间超过约定",
    "service_attitude": "导购态度冷淡",
    "price_promotion": "促销价格与标签不符",
    "environment": "试衣间排队太久",
    "other": "会员积分未到账",
}
OPEN_COMPLAINT_STATES = ("registered", "accepted", "investigating", "solution_proposed")
INVITATION_FUNNEL = (
    ("invited", 0.25),
    ("confirmed", 0.15),
    ("arrived", 0.15),
    ("bought", 0.2),
    ("declined", 0.15),
    ("no_show", 0.1),
)
CAMPAIGN_TYPES = ("new_season", "private_viewing", "holiday", "store_event", "birthday_month", "win_back")


def refuse_unless_postgresql(connection) -> str | None:
    if connection.vendor != "postgresql":
        return (
            f"seed_bench needs PostgreSQL (the database is {connection.vendor}): it loads with COPY. "
            "Set DATABASE_URL=postgres://…/<name> (e.g. vipcrm_bench)."
        )
    return None


# -- COPY -------------------------------------------------------------------------------------------


def _text(value) -> str:
    if value is None:
        return r"\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        return value
    if isinstance(value, dict | list):
        return _text(json.dumps(value, ensure_ascii=False))
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


class Loader:
    """COPY rows into a model's table through the connection's psycopg cursor."""

    def __init__(self, connection, out=None):
        self.connection = connection
        self.counts: Counter = Counter()
        self.out = out

    def copy(self, model_or_table, columns: list[str], rows) -> int:
        table = model_or_table if isinstance(model_or_table, str) else model_or_table._meta.db_table
        if not isinstance(model_or_table, str):
            by_name = {f.name: f.column for f in model_or_table._meta.concrete_fields}
            columns = [by_name.get(c, c) for c in columns]
        n = 0
        started = time.monotonic()
        with self.connection.cursor() as cursor:
            raw = cursor.cursor
            sql = f'COPY "{table}" ({", ".join(columns)}) FROM STDIN'
            with raw.copy(sql) as copy:
                buffer = io.StringIO()
                for row in rows:
                    buffer.write("\t".join(map(_text, row)))
                    buffer.write("\n")
                    n += 1
                    if n % 20000 == 0:
                        copy.write(buffer.getvalue())
                        buffer = io.StringIO()
                copy.write(buffer.getvalue())
        self.counts[table] += n
        if self.out:
            self.out(f"  {table:<32} {n:>9,} rows  {time.monotonic() - started:6.1f} s")
        return n

    def finish(self, tables: list[str]) -> None:
        with self.connection.cursor() as cursor:
            for table in tables:
                cursor.execute(
                    "SELECT setval(pg_get_serial_sequence(%s, 'id'), "
                    f'COALESCE((SELECT MAX(id) FROM "{table}"), 0) + 1, false)',
                    [table],
                )


# -- the plan ---------------------------------------------------------------------------------------


@dataclass
class Person:
    id: int
    username: str
    role: str
    store_index: int | None
    display_name: str


@dataclass
class Plan:
    today: date
    stores: list[tuple[int, str, str]] = field(default_factory=list)  # (id, code, name)
    staff: list[Person] = field(default_factory=list)
    consultants: dict[int, list[int]] = field(default_factory=dict)  # store index -> staff ids
    managers: dict[int, int] = field(default_factory=dict)
    specialists: dict[int, int] = field(default_factory=dict)


def price(value: float) -> int:
    """A till amount: at least 99, ending like shop prices do (…80, …99, …00)."""
    v = int(value)
    return max(99, v // 100 * 100 + (80, 99, 0)[v % 3])


class BenchSeed:
    def __init__(
        self, *, stores: int, members: int, purchases: int, months: int, seed: int, today: date, tz, out=print
    ):
        self.n_stores, self.n_members, self.n_purchases, self.months = stores, members, purchases, months
        self.seed, self.today, self.tz, self.out = seed, today, tz, out
        self.rng = random.Random(seed)
        self.now = datetime.now(tz).replace(microsecond=0)
        self.history_start = today - timedelta(days=round(months * 30.44) - 1)
        self._offsets: dict[date, str] = {}
        self.stats: dict[str, object] = {}

    # time helpers: aware timestamps as text, the zone's offset cached per date
    def at(self, day: date, minutes: int) -> str:
        offset = self._offsets.get(day)
        if offset is None:
            aware = datetime(day.year, day.month, day.day, 12, tzinfo=self.tz)
            raw = aware.strftime("%z")
            offset = self._offsets[day] = f"{raw[:3]}:{raw[3:]}"
        return f"{day.isoformat()} {minutes // 60:02d}:{minutes % 60:02d}:00{offset}"

    def run(self, connection) -> dict:
        from django.contrib.auth.hashers import make_password

        from members.models import ProgramRules
        from members.tiers import TierRules

        started = time.monotonic()
        self.rules = TierRules.from_program(ProgramRules.load())
        self.password = make_password(_password())
        loader = Loader(connection, out=self.out)
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
        self.people(loader)
        self.members(loader)
        self.ledger(loader)
        self.tiers(loader)
        self.contacts(loader)
        self.complaints(loader)
        self.campaigns(loader)
        loader.finish(list(self.tables_with_ids))
        self.stats["rows"] = dict(loader.counts)
        self.stats["seconds_load"] = round(time.monotonic() - started, 1)
        return self.stats

    tables_with_ids: set[str] = set()

    def _track(self, model) -> None:
        type(self).tables_with_ids.add(model._meta.db_table)

    # -- stores and staff ---------------------------------------------------------------------------

    def people(self, loader: Loader) -> None:
        from accounts.models import ConfidentialityAgreement, Staff, Store

        rng = self.rng
        plan = self.plan = Plan(today=self.today)
        store_rows, staff_rows, agreements = [], [], []
        staff_id = 1
        for i in range(self.n_stores):
            code = f"S{i + 1:02d}"
            plan.stores.append((i + 1, code, f"门店{i + 1:02d}"))
            store_rows.append(
                (i + 1, code, f"门店{i + 1:02d}", REGIONS[i % len(REGIONS)], f"中山路{i + 1}号", True, "500")
            )
            roles = [("manager", "manager"), ("vip", "vip_specialist")] + [
                (f"c{j}", "consultant") for j in range(1, CONSULTANTS_PER_STORE + 1)
            ]
            for suffix, role in roles:
                name = rng.choice(SURNAMES) + rng.choice(FEMALE_NAMES)
                plan.staff.append(Person(staff_id, f"{code.lower()}_{suffix}", role, i, name))
                if role == "consultant":
                    plan.consultants.setdefault(i, []).append(staff_id)
                elif role == "manager":
                    plan.managers[i] = staff_id
                else:
                    plan.specialists[i] = staff_id
                staff_id += 1
        plan.staff.append(Person(staff_id, "hq", "hq", None, "总部运营"))
        joined = self.at(self.today - timedelta(days=JOIN_SPAN_DAYS + 30), 9 * 60)
        for p in plan.staff:
            store_id = plan.stores[p.store_index][0] if p.store_index is not None else None
            staff_rows.append(
                (
                    p.id,
                    self.password,
                    None,
                    False,
                    p.username,
                    "",
                    "",
                    f"{p.username}@example.com",
                    False,
                    True,
                    joined,
                    p.role,
                    store_id,
                    p.display_name,
                    False,
                )
            )
            agreements.append((p.id, p.id, self.today - timedelta(days=400), "1.0", "", None, self.now))
        self._track(Store)
        self._track(Staff)
        self._track(ConfidentialityAgreement)
        loader.copy(Store, ["id", "code", "name", "region", "address", "is_active", "compensation_limit"], store_rows)
        loader.copy(
            Staff,
            [
                "id",
                "password",
                "last_login",
                "is_superuser",
                "username",
                "first_name",
                "last_name",
                "email",
                "is_staff",
                "is_active",
                "date_joined",
                "role",
                "store",
                "display_name",
                "must_change_password",
            ],
            staff_rows,
        )
        loader.copy(
            ConfidentialityAgreement,
            ["id", "staff", "signed_on", "version", "scan", "recorded_by", "created_at"],
            agreements,
        )

    # -- members --------------------------------------------------------------------------------------

    def members(self, loader: Loader) -> None:
        from members.models import ImportantDate, Member, MemberOwnerChange, MemberTag

        rng, today, plan = self.rng, self.today, self.plan
        n, rows, owners, dates = self.n_members, [], [], []
        self.m_store = [0] * n  # store index
        self.m_consultant: list[int | None] = [None] * n
        self.m_joined: list[date] = [today] * n
        self.m_consent = [False] * n
        self.m_until: list[date] = [today] * n  # last day they buy (lapsed members stop earlier)
        self.m_activity = [0.0] * n
        self.m_level = [1.0] * n
        self.m_birth_month: list[int | None] = [None] * n
        now = self.now
        for i in range(n):
            s = i % self.n_stores
            store_id, code, _name = plan.stores[s]
            female = rng.random() < 0.78
            name = rng.choice(SURNAMES) + rng.choice(FEMALE_NAMES if female else MALE_NAMES)
            # Unique by construction: the prefix and a scrambled number from i (7919 is prime to 10^8).
            phone = (
                MOBILE_PREFIXES[i % len(MOBILE_PREFIXES)]
                + f"{((i // len(MOBILE_PREFIXES)) * 7919 + self.seed) % 10**8:08d}"
            )
            birthday = None
            if rng.random() < 0.95:
                birthday = today - timedelta(days=int(rng.triangular(22, 68, 38) * 365.25))
                self.m_birth_month[i] = birthday.month
            lunar = birthday is not None and rng.random() < 0.25
            joined = today - timedelta(days=int(JOIN_SPAN_DAYS * rng.random() ** 0.8))
            consultants = plan.consultants[s]
            # A few consultants hold more of the book than others.
            consultant = (
                consultants[
                    min(int(rng.paretovariate(1.6)) - 1, len(consultants) - 1)
                    if rng.random() < 0.5
                    else rng.randrange(len(consultants))
                ]
                if rng.random() < 0.9
                else None
            )
            consent = rng.random() < 0.85
            self.m_store[i], self.m_consultant[i], self.m_joined[i], self.m_consent[i] = s, consultant, joined, consent
            if joined < today - timedelta(days=300) and rng.random() < LAPSED_SHARE:
                self.m_until[i] = today - timedelta(days=rng.randint(181, 540))
            self.m_activity[i] = rng.lognormvariate(0, 1.0)
            self.m_level[i] = rng.lognormvariate(0, 0.5)
            rows.append(
                (
                    i + 1,
                    f"V{i + 1:08d}",
                    name,
                    "F" if female else "M",
                    phone,
                    phone[-4:],
                    birthday,
                    lunar,
                    f"上海市{rng.choice(('静安区', '徐汇区', '长宁区', '浦东新区'))}{rng.randint(1, 999)}号"
                    if rng.random() < 0.4
                    else "",
                    "",
                    f"wxid_{rng.randrange(36**8):08x}" if rng.random() < 0.5 else "",
                    consent,
                    joined if consent else None,
                    store_id,
                    consultant,
                    consultant or plan.specialists[s],
                    joined,
                    "C",
                    False,
                    0,
                    rng.choice(("S", "M", "L")),
                    rng.choice(("26", "27", "28")),
                    "",
                    rng.choice(STYLES),
                    "",
                    None,
                    now,
                    now,
                )
            )
            owners.append((i + 1, i + 1, joined, store_id, consultant, None, None, "enrol", "", None, now))
            if birthday is not None and rng.random() < 0.35:
                age = (today - birthday).days // 365
                if age >= 27 and rng.random() < 0.7:
                    married = birthday + timedelta(days=365 * 24 + rng.randrange(365 * max(1, min(age - 25, 15))))
                    dates.append((i + 1, "wedding_anniversary", min(married, today), False, "结婚纪念日"))
                    spouse = birthday + timedelta(days=rng.randrange(-1500, 1500))
                    dates.append((i + 1, "spouse_birthday", min(spouse, today), rng.random() < 0.2, "先生生日"))
                if age >= 32 and rng.random() < 0.5:
                    child = birthday + timedelta(days=365 * 26 + rng.randrange(365 * 6))
                    dates.append((i + 1, "child_birthday", min(child, today), False, "女儿生日"))
                if rng.random() < 0.3:
                    parent = birthday - timedelta(days=rng.randrange(22 * 365, 32 * 365))
                    dates.append((i + 1, "parent_birthday", parent, rng.random() < 0.6, "母亲生日"))
        # The row order above is the field order below (Member minus tags, id first).
        self._track(Member)
        self._track(MemberOwnerChange)
        self._track(ImportantDate)
        self._track(MemberTag)
        loader.copy(
            Member,
            [
                "id",
                "card_no",
                "name",
                "gender",
                "phone",
                "phone_last4",
                "birthday",
                "birthday_lunar",
                "address",
                "email",
                "wechat",
                "marketing_consent",
                "marketing_consent_at",
                "home_store",
                "consultant",
                "opened_by",
                "joined_on",
                "tier",
                "tier_locked",
                "open_complaints",
                "top_size",
                "bottom_size",
                "shoe_size",
                "style_preferences",
                "notes",
                "erased_at",
                "created_at",
                "updated_at",
            ],
            rows,
        )
        loader.copy(
            MemberOwnerChange,
            [
                "id",
                "member",
                "date",
                "store",
                "consultant",
                "previous_store",
                "previous_consultant",
                "reason",
                "note",
                "by",
                "created_at",
            ],
            owners,
        )
        loader.copy(
            ImportantDate,
            ["id", "member", "kind", "date", "lunar", "label"],
            ((k + 1, *row) for k, row in enumerate(dates)),
        )
        loader.copy(MemberTag, ["id", "name"], ((k + 1, t) for k, t in enumerate(TAGS)))
        tagged = ((m + 1, rng.randrange(len(TAGS)) + 1) for m in range(n) if rng.random() < 0.1)
        loader.copy(Member.tags.through._meta.db_table, ["member_id", "membertag_id"], tagged)

    # -- purchases --------------------------------------------------------------------------------------

    def ledger(self, loader: Loader) -> None:
        from members.models import Purchase

        rng, today, plan = self.rng, self.today, self.plan
        n = self.n_members
        windows = []
        cum, total = [], 0.0
        for i in range(n):
            start = max(self.m_joined[i], self.history_start)
            end = self.m_until[i]
            days = (end - start).days + 1
            windows.append((start, max(days, 0)))
            total += self.m_activity[i] * max(days, 0)
            cum.append(total)
        n_sales = round(self.n_purchases / (1 + RETURN_SHARE))
        buyers = Counter(rng.choices(range(n), cum_weights=cum, k=n_sales))
        # Most cards are opened with a first purchase: a member joined within the history buys on the day.
        self.purchases: list[list[tuple[date, Decimal]]] = [[] for _ in range(n)]
        self.last_sale: list[tuple[int, date] | None] = [None] * n
        rows = []
        pid = 0
        stores = plan.stores
        evening = {}

        def recorded(day: date) -> str:
            # A till records a receipt on its day (19:00), never after now.
            text = evening.get(day)
            if text is None:
                text = evening[day] = self.at(day, 19 * 60) if day < today else self.now.isoformat()
            return text

        for i in range(n):
            k = buyers.get(i, 0)
            if not k:
                continue
            start, days = windows[i]
            s = self.m_store[i]
            level = self.m_level[i]
            offsets = sorted(rng.randrange(days) for _ in range(k))
            if self.m_joined[i] >= self.history_start:
                offsets[0] = 0
            own = self.purchases[i]
            for off in offsets:
                day = start + timedelta(days=off)
                at_store = s if rng.random() < 0.95 else rng.randrange(self.n_stores)
                store_id, code, _ = stores[at_store]
                consultant = (
                    self.m_consultant[i]
                    if at_store == s and rng.random() < 0.8
                    else rng.choice(plan.consultants[at_store])
                )
                amount = price(rng.lognormvariate(7.15, 0.75) * level)
                pid += 1
                items = "、".join(rng.sample(ITEMS, 1 + amount // 5000 if amount < 15000 else 3))
                rows.append(
                    (
                        pid,
                        store_id,
                        f"{code}{day:%y%m%d}{pid:07d}",
                        i + 1,
                        consultant,
                        day,
                        f"{amount}.00",
                        None,
                        items,
                        "store",
                        None,
                        recorded(day),
                    )
                )
                own.append((day, Decimal(amount)))
                self.last_sale[i] = (pid, day)
                if rng.random() < RETURN_SHARE and day < today:
                    back = min(day + timedelta(days=rng.randint(1, 14)), today)
                    returned = min(amount, max(99, int(amount * rng.choice((1.0, 1.0, 0.5, 0.3)))))
                    pid += 1
                    rows.append(
                        (
                            pid,
                            store_id,
                            f"{code}{back:%y%m%d}{pid:07d}",
                            i + 1,
                            consultant,
                            back,
                            f"-{returned}.00",
                            pid - 1,
                            f"退货：{items}",
                            "store",
                            None,
                            recorded(back),
                        )
                    )
                    own.append((back, Decimal(-returned)))
        self._track(Purchase)
        loader.copy(
            Purchase,
            [
                "id",
                "store",
                "receipt_no",
                "member",
                "consultant",
                "date",
                "amount",
                "original",
                "items",
                "source",
                "recorded_by",
                "created_at",
            ],
            rows,
        )
        self.stats["purchases"] = pid

    # -- tiers ------------------------------------------------------------------------------------------

    def tiers(self, loader: Loader) -> None:
        """The engine's own replay per member, reviews through yesterday (as `tiers_replay` leaves a
        ledger before today's month-end duty); every past month end recorded as reviewed."""
        from members.models import TierChange, TierReview
        from members.tiers import final_tier, month_ends, replay

        today = self.today
        yesterday = today - timedelta(days=1)
        rows, self.m_tier = [], ["C"] * self.n_members
        downgrades: Counter = Counter()
        cid = 0
        for i in range(self.n_members):
            changes = replay(
                joined_on=self.m_joined[i],
                purchases=self.purchases[i],
                rules=self.rules,
                through=today,
                reviews_through=yesterday,
            )
            for c in changes:
                cid += 1
                rows.append((cid, i + 1, c.date, c.from_tier, c.to_tier, c.reason, None, "", self.now))
                if c.reason == "review":
                    downgrades[(self.m_store[i], c.date)] += 1
            self.m_tier[i] = final_tier(changes)
        self._track(TierChange)
        self._track(TierReview)
        loader.copy(
            TierChange, ["id", "member", "date", "from_tier", "to_tier", "reason", "by", "note", "created_at"], rows
        )
        ends = list(month_ends(min(self.m_joined), yesterday))
        reviews = (
            (k + 1, self.plan.stores[s][0], e, downgrades[(s, e)], 0, self.now)
            for k, (s, e) in enumerate((s, e) for s in range(self.n_stores) for e in ends)
        )
        loader.copy(TierReview, ["id", "store", "date", "downgrades", "held", "ran_at"], reviews)
        with loader.connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {_table('members.Member')} m SET tier = t.tier FROM (SELECT unnest(%s::int[]) AS id, "
                "unnest(%s::text[]) AS tier) t WHERE m.id = t.id",
                [[i + 1 for i in range(self.n_members) if self.m_tier[i] != "C"], [t for t in self.m_tier if t != "C"]],
            )
        mix = Counter(self.m_tier)
        self.stats["tiers"] = {t: mix.get(t, 0) for t in "ABC"}

    # -- visits and follow-up tasks ---------------------------------------------------------------------

    def contacts(self, loader: Loader) -> None:
        from visits.models import FollowUpTask, TaskReason, Visit

        rng, today, plan = self.rng, self.today, self.plan
        visits, tasks, reasons = [], [], []
        vid = tid = 0
        recent = today - timedelta(days=90)
        used: set[tuple[int, str, str]] = set()

        def task(
            member,
            store_id,
            assignee,
            kind,
            due,
            sched,
            status,
            origin,
            note="",
            attempts=0,
            visit=None,
            done_on=None,
            closed_by="",
            created=None,
        ):
            nonlocal tid
            if (member, kind, origin) in used:
                return
            used.add((member, kind, origin))
            tid += 1
            created = created or self.now
            tasks.append(
                (
                    tid,
                    store_id,
                    member,
                    assignee,
                    kind,
                    kind != "birthday_prep",
                    due,
                    sched,
                    status,
                    origin,
                    note,
                    attempts,
                    visit,
                    done_on,
                    closed_by,
                    visit,
                    created,
                    created,
                )
            )
            reasons.append((tid, tid, member, kind, origin, note, due, created))

        for i in range(self.n_members):
            consultant = self.m_consultant[i]
            if consultant is None:
                continue
            tier = self.m_tier[i]
            s = self.m_store[i]
            store_id = plan.stores[s][0]
            cadence = CARE_DAYS[tier]
            if rng.random() < TOUCHED[tier]:
                day = today - timedelta(days=1 + rng.randrange(int(cadence * 1.2)))
                while day >= max(self.m_joined[i], today - timedelta(days=365)):
                    minutes = 600 + rng.randrange(480)
                    vid += 1
                    if rng.random() < 0.82:
                        visits.append(
                            (
                                vid,
                                i + 1,
                                store_id,
                                consultant,
                                rng.choice(CHANNELS),
                                self.at(day, minutes),
                                "日常关怀",
                                "reached",
                                rng.choice(REACHED),
                                rng.choice((None, 3, 4, 5, 5)),
                                "",
                                "",
                                None,
                                None,
                                self.at(day, minutes),
                            )
                        )
                        if day >= recent:
                            due = day - timedelta(days=rng.randrange(4))
                            task(
                                i + 1,
                                store_id,
                                consultant,
                                "care",
                                due,
                                due,
                                "done",
                                f"care:{due}",
                                visit=vid,
                                done_on=day,
                                closed_by="contact",
                                created=self.at(due, 6 * 60),
                            )
                    else:
                        result, outcome = rng.choice(UNREACHED)
                        visits.append(
                            (
                                vid,
                                i + 1,
                                store_id,
                                consultant,
                                "phone",
                                self.at(day, minutes),
                                "日常关怀",
                                result,
                                outcome,
                                None,
                                "",
                                "",
                                None,
                                None,
                                self.at(day, minutes),
                            )
                        )
                    day -= timedelta(days=int(cadence * rng.uniform(0.8, 1.5)))
            if rng.random() < OPEN_CARD_SHARE:
                last = self.last_sale[i]
                due = today - timedelta(days=rng.randrange(14))
                sched = (
                    due
                    if rng.random() < 0.85
                    else min(today + timedelta(days=rng.randint(1, 3)), due + timedelta(days=rng.randint(1, 7)))
                )
                attempts = 0 if sched == due else rng.randint(1, 2)
                if last is not None and last[1] <= today - timedelta(days=3) and last[1] >= today - timedelta(days=20):
                    task(
                        i + 1,
                        store_id,
                        consultant,
                        "post_purchase",
                        max(last[1] + timedelta(days=2), due),
                        sched,
                        "open",
                        f"purchase:{last[0]}",
                        attempts=attempts,
                    )
                elif rng.random() < 0.85:
                    task(i + 1, store_id, consultant, "care", due, sched, "open", f"care:{due}", attempts=attempts)
                else:
                    task(
                        i + 1,
                        store_id,
                        consultant,
                        "manual",
                        due,
                        sched,
                        "open",
                        f"manual:{due}",
                        note="顾客约好回电",
                        attempts=attempts,
                    )
        self._track(Visit)
        self._track(FollowUpTask)
        self._track(TaskReason)
        loader.copy(
            Visit,
            [
                "id",
                "member",
                "store",
                "staff",
                "channel",
                "at",
                "purpose",
                "result",
                "outcome",
                "satisfaction",
                "notes",
                "suggestions",
                "next_follow_up",
                "attempt_of",
                "created_at",
            ],
            visits,
        )
        loader.copy(
            FollowUpTask,
            [
                "id",
                "store",
                "member",
                "assignee",
                "kind",
                "is_contact",
                "due_date",
                "scheduled_for",
                "status",
                "origin",
                "note",
                "attempts",
                "visit",
                "done_on",
                "closed_by",
                "closed_by_visit",
                "created_at",
                "updated_at",
            ],
            tasks,
        )
        loader.copy(TaskReason, ["id", "task", "member", "kind", "origin", "note", "due_date", "created_at"], reasons)
        self.stats["visits"], self.stats["tasks"] = vid, tid

    # -- complaints -----------------------------------------------------------------------------------

    def complaints(self, loader: Loader) -> None:
        from complaints.models import Complaint, ComplaintEvent
        from members.tiers import month_end

        rng, today, plan = self.rng, self.today, self.plan
        # Open complaints only since the last reviewed month end: no past review was held for them.
        last_reviewed = month_end(today) if month_end(today) < today else today.replace(day=1) - timedelta(days=1)
        open_from = last_reviewed + timedelta(days=1)
        span = (today - self.history_start).days
        count = round(self.n_members * COMPLAINTS_PER_MEMBER_YEAR * span / 365)
        rows, events, open_by_member = [], [], Counter()
        eid = 0
        for cid in range(1, count + 1):
            i = rng.randrange(self.n_members)
            s = self.m_store[i]
            store_id = plan.stores[s][0]
            day = self.history_start + timedelta(days=rng.randrange(span + 1))
            received = datetime.fromisoformat(self.at(day, 600 + rng.randrange(480)))
            received = min(received, self.now - timedelta(hours=1))
            category = rng.choice(list(COMPLAINT_TEXT))
            is_open = day >= open_from and rng.random() < 0.6
            status = rng.choice(OPEN_COMPLAINT_STATES) if is_open else rng.choice(("closed",) * 9 + ("rejected",))
            responded = received + timedelta(hours=rng.uniform(0.5, 30))
            responded = None if status == "registered" or responded > self.now else responded
            closed = received + timedelta(hours=rng.uniform(24, 120)) if status in ("closed", "rejected") else None
            if closed is not None and closed > self.now:
                closed = self.now
            manager = plan.managers[s]
            by = rng.choice(plan.consultants[s])
            rows.append(
                (
                    cid,
                    store_id,
                    i + 1,
                    "",
                    "",
                    rng.choice(("in_store", "phone", "wechat", "online")),
                    category,
                    rng.choice(("low", "low", "medium", "high")),
                    COMPLAINT_TEXT[category],
                    by,
                    received,
                    status,
                    manager if status != "registered" else None,
                    "门店",
                    "不属于质量问题" if status == "rejected" else "",
                    "",
                    "更换新品" if status == "closed" else "",
                    None,
                    "",
                    "",
                    None,
                    responded,
                    closed,
                    closed,
                    None,
                    None,
                    0,
                    received,
                    closed or responded or received,
                )
            )
            eid += 1
            events.append((eid, cid, "", "registered", by, received, "", {}))
            if status != "registered":
                eid += 1
                events.append(
                    (
                        eid,
                        cid,
                        "registered",
                        "rejected" if status == "rejected" else "accepted",
                        manager,
                        responded or received,
                        "",
                        {},
                    )
                )
            if status == "closed":
                eid += 1
                events.append((eid, cid, "accepted", "closed", manager, closed, "顾客满意", {}))
            if is_open:
                open_by_member[i + 1] += 1
        self._track(Complaint)
        self._track(ComplaintEvent)
        loader.copy(
            Complaint,
            [
                "id",
                "store",
                "member",
                "walk_in_name",
                "walk_in_phone",
                "channel",
                "category",
                "severity",
                "description",
                "received_by",
                "received_at",
                "status",
                "responsible_staff",
                "responsible_department",
                "rejection_reason",
                "customer_told",
                "solution",
                "compensation_amount",
                "compensation_gift",
                "confirmation_note",
                "approved_by",
                "first_response_at",
                "carried_out_at",
                "closed_at",
                "response_escalated_at",
                "solution_escalated_at",
                "reopened",
                "created_at",
                "updated_at",
            ],
            rows,
        )
        loader.copy(ComplaintEvent, ["id", "complaint", "from_status", "to_status", "by", "at", "note", "data"], events)
        if open_by_member:
            with loader.connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {_table('members.Member')} m SET open_complaints = t.n "
                    "FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::int[]) AS n) t WHERE m.id = t.id",
                    [list(open_by_member), list(open_by_member.values())],
                )
        self.stats["complaints"] = count
        self.stats["open_complaints"] = sum(open_by_member.values())

    # -- campaigns ------------------------------------------------------------------------------------

    def campaigns(self, loader: Loader) -> None:
        from campaigns.models import Campaign, CampaignMember
        from visits.models import Invitation

        rng, today, plan = self.rng, self.today, self.plan
        hq = plan.staff[-1].id
        campaigns, links, audience, invitations = [], [], [], []
        amid = iid = 0
        targets = [i for i in range(self.n_members) if self.m_consent[i] and self.m_tier[i] in ("A", "B")]
        statuses = []
        start = self.history_start + timedelta(days=30)
        k = 0
        while start + timedelta(days=10) < today:
            k += 1
            end = start + timedelta(days=rng.randint(5, 14))
            status = "archived" if end < today - timedelta(days=60) else "ended" if end < today else "launched"
            statuses.append(status)
            segment = {
                "tiers": ["A", "B"],
                "last_purchase_from": None,
                "last_purchase_to": None,
                "spend_min": None,
                "spend_max": None,
                "birthday_month": None,
                "consultant_id": None,
                "tag_ids": [],
            }
            launched = self.at(start - timedelta(days=7), 10 * 60)
            campaigns.append(
                (
                    k,
                    f"{start:%Y}年{start.month}月{('新品季', '私享会', '节日活动')[k % 3]}",
                    CAMPAIGN_TYPES[k % len(CAMPAIGN_TYPES)],
                    start,
                    end,
                    7,
                    "50000.00",
                    0,
                    0,
                    "0.00",
                    segment,
                    status,
                    hq,
                    launched,
                    "",
                    "",
                    "",
                    {},
                    launched if status == "archived" else None,
                    hq if status == "archived" else None,
                    launched,
                    launched,
                )
            )
            links.extend((k, sid) for sid, _code, _name in plan.stores)
            for i in rng.sample(targets, min(len(targets), max(1, len(targets) // 4))):
                if self.m_joined[i] > start:
                    continue
                s = self.m_store[i]
                consultant = self.m_consultant[i] or plan.specialists[s]
                iid += 1
                roll, acc, state = rng.random(), 0.0, "invited"
                for name, share in INVITATION_FUNNEL:
                    acc += share
                    if roll < acc:
                        state = name
                        break
                if status == "launched" and state in ("arrived", "bought", "no_show"):
                    state = "confirmed"
                invitations.append(
                    (
                        iid,
                        i + 1,
                        plan.stores[s][0],
                        consultant,
                        start + timedelta(days=rng.randrange((end - start).days + 1)),
                        "活动邀约",
                        state,
                        launched,
                        launched,
                    )
                )
                amid += 1
                audience.append((amid, k, i + 1, plan.stores[s][0], consultant, self.m_tier[i], iid, launched))
            start = end + timedelta(days=rng.randint(35, 60))
        # The draft HQ is about to launch: the campaign preview's subject.
        k += 1
        segment = {
            "tiers": ["A", "B"],
            "last_purchase_from": (today - timedelta(days=180)).isoformat(),
            "last_purchase_to": None,
            "spend_min": "5000",
            "spend_max": None,
            "birthday_month": None,
            "consultant_id": None,
            "tag_ids": [],
        }
        campaigns.append(
            (
                k,
                "全渠道新品私享会（草稿）",
                "private_viewing",
                today + timedelta(days=14),
                today + timedelta(days=21),
                7,
                "80000.00",
                0,
                0,
                "0.00",
                segment,
                "draft",
                hq,
                None,
                "",
                "",
                "",
                {},
                None,
                None,
                self.now,
                self.now,
            )
        )
        links.extend((k, sid) for sid, _code, _name in plan.stores)
        self.stats["draft_campaign_id"] = k
        self._track(Campaign)
        self._track(CampaignMember)
        self._track(Invitation)
        loader.copy(
            Campaign,
            [
                "id",
                "name",
                "type",
                "start_date",
                "end_date",
                "attribution_days",
                "budget",
                "goal_invitees",
                "goal_attendance",
                "goal_sales",
                "segment",
                "status",
                "created_by",
                "launched_at",
                "findings",
                "problems",
                "solutions",
                "summary_figures",
                "archived_at",
                "archived_by",
                "created_at",
                "updated_at",
            ],
            campaigns,
        )
        loader.copy(Campaign.stores.through._meta.db_table, ["campaign_id", "store_id"], links)
        loader.copy(
            Invitation,
            ["id", "member", "store", "invited_by", "for_date", "purpose", "status", "status_changed_at", "created_at"],
            invitations,
        )
        loader.copy(
            CampaignMember,
            ["id", "campaign", "member", "store", "consultant", "tier", "invitation", "added_at"],
            audience,
        )
        self.stats["campaigns"] = k


def _table(label: str) -> str:
    from django.apps import apps

    return apps.get_model(label)._meta.db_table


def _password() -> str:
    import os

    return os.environ.get("VIPCRM_BENCH_PASSWORD") or DEFAULT_PASSWORD


def analyze(connection) -> None:
    """VACUUM (FREEZE, ANALYZE) the freshly loaded database: a chain that has run for two years has
    its old rows hinted, frozen and marked all-visible (index-only scans read no heap), and the
    planner knows its tables. Without it the first reads of every COPYed row set hint bits (writing
    the pages) and the figures depend on when autovacuum happened to pass. VACUUM cannot run inside a
    transaction: called in one (a test's), the tables are only ANALYZEd."""
    in_transaction = connection.in_atomic_block or not connection.get_autocommit()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE" if in_transaction else "VACUUM (FREEZE, ANALYZE)")

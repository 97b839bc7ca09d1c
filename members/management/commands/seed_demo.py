"""Demo data for a fresh installation: two stores, their staff, ~600 members and 18 months of sales.

Deterministic (a fixed seed) and relative to today, so every developer sees the same shop on the
same day. Written in bulk and replayed through the tier engine once, so it takes seconds.
"""
from __future__ import annotations

import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import Role, Staff, Store
from accounts.services import agreement_record, staff_create, store_create
from members.models import (
    Gender,
    ImportantDate,
    ImportantDateKind,
    Member,
    Purchase,
    PurchaseSource,
    Tier,
    TierChange,
    TierChangeReason,
    TierReview,
)
from members.services import member_set_tier, tiers_replay
from members.tiers import month_ends

SEED = 20240601
DEFAULT_PASSWORD = "vipcrm-demo"  # noqa: S105 - printed for everyone: it guards demo data only
HISTORY_DAYS = 548  # 18 months of purchases, ending today
JOIN_SPAN_DAYS = 3 * 365  # members joined over the past three years

STORES = (
    ("SH01", "上海静安店", "华东", "上海市静安区南京西路1601号", "上海市"),
    ("BJ01", "北京国贸店", "华北", "北京市朝阳区建国门外大街1号", "北京市"),
)
DISTRICTS = {
    "上海市": ("静安区", "徐汇区", "长宁区", "黄浦区", "浦东新区", "普陀区", "闵行区"),
    "北京市": ("朝阳区", "东城区", "西城区", "海淀区", "丰台区", "通州区"),
}
ROADS = ("南京西路", "淮海中路", "延安西路", "愚园路", "复兴中路", "建国路", "光华路", "东三环中路", "金融街", "望京街")
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
FEMALE_NAMES = (
    "丽", "婷", "静", "敏", "燕", "芳", "娜", "雪", "慧", "琳", "倩", "颖", "洁", "璐", "蕾", "欣怡", "梓涵",
    "诗涵", "雨桐", "佳怡", "思雨", "晓雯", "婉清", "若曦", "梦琪", "雅琴", "美玲", "秀英", "玉兰", "淑珍",
    "海燕", "红梅", "丹丹", "晓燕", "丽华", "文静", "嘉欣", "子怡", "雅婷", "佩玲", "慧敏", "思琪", "可欣",
)
MALE_NAMES = (
    "伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "斌", "浩然", "子轩", "宇航", "俊杰", "志强", "建华",
    "国栋", "明辉", "文博", "晨阳", "嘉诚", "立新", "振宇",
)
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156", "157",
    "158", "159", "166", "177", "180", "181", "182", "183", "185", "186", "187", "188", "189", "198", "199",
)
STYLES = (
    "简约通勤", "法式优雅", "轻奢", "休闲", "小香风", "极简", "新中式", "运动休闲", "度假风", "复古", "知性", "甜美",
)
NOTES = (
    "喜欢新品首发通知", "偏好周末下午到店", "对羊绒制品过敏", "只接受微信联系", "常为家人选购",
    "注重面料，偏好真丝与羊绒", "工作日午休时间方便电话", "需要改衣服务时提前预约",
)
ITEMS = (
    ("羊绒大衣", 6980), ("羊毛大衣", 4580), ("真丝衬衫", 1880), ("针织开衫", 1280), ("阔腿裤", 980),
    ("半身裙", 1180), ("连衣裙", 2380), ("西装外套", 3280), ("羊绒围巾", 1580), ("皮质手袋", 5680),
    ("高跟鞋", 1980), ("风衣", 3980), ("T恤", 480), ("牛仔裤", 880), ("丝巾", 780), ("羽绒服", 3680),
)
WOMEN_TOPS, MEN_TOPS = ("XS", "S", "M", "M", "L", "XL"), ("M", "L", "L", "XL", "XXL")
WOMEN_BOTTOMS, MEN_BOTTOMS = ("25", "26", "27", "27", "28", "29", "30"), ("30", "31", "32", "33", "34", "36")
WOMEN_SHOES, MEN_SHOES = ("35", "36", "36", "37", "37", "38", "39"), ("39", "40", "41", "42", "43", "44")
STAFF_NAMES = {
    "SH01": ("沈静怡", "陆佳琪", "顾晓雯", "钱梦婷", "周思雨", "吴雅琴"),
    "BJ01": ("张立新", "刘雅婷", "王佩玲", "赵可欣", "孙文静", "李嘉欣"),
}

# Share of members, and the 12-month spend each kind of customer brings (CNY; B at 10,000 and A at
# 50,000 by default). "former" spent at B level a year and more ago and has since nearly stopped, so
# the ledger holds upgrades followed by month-end downgrades; "lapsed" has bought nothing in the
# churn window.
SEGMENTS = (("A", 0.075), ("B", 0.33), ("former", 0.05), ("lapsed", 0.11), ("C", 0.435))


def demo_password() -> str:
    return os.environ.get("VIPCRM_DEMO_PASSWORD") or DEFAULT_PASSWORD


def card_no(store_code: str, n: int) -> str:
    return f"{store_code}{n:06d}"


@dataclass
class PlannedPurchase:
    store_code: str
    receipt_no: str
    date: date
    amount: Decimal
    items: str
    consultant: str | None  # username
    original_receipt: str | None = None


@dataclass
class PlannedMember:
    fields: dict
    consultant: str | None
    purchases: list[PlannedPurchase] = field(default_factory=list)
    important_dates: list[dict] = field(default_factory=list)


class DemoPlan:
    """Everything seed_demo writes, generated in memory first from one seeded random source."""

    def __init__(self, *, today: date, seed: int = SEED):
        self.today = today
        self.rng = random.Random(seed)
        self.receipt_seq: Counter = Counter()
        self.phones: set[str] = set()

    # -- people ---------------------------------------------------------------------------------

    def phone(self) -> str:
        while True:
            number = self.rng.choice(MOBILE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"
            if number not in self.phones:
                self.phones.add(number)
                return number

    def name(self, gender: str) -> str:
        given = self.rng.choice(FEMALE_NAMES if gender == Gender.FEMALE else MALE_NAMES)
        return self.rng.choice(SURNAMES) + given

    def birthday(self) -> date | None:
        if self.rng.random() < 0.05:
            return None
        age_days = int(self.rng.triangular(22, 65, 36) * 365.25)
        return self.today - timedelta(days=age_days)

    def past_date(self, start: date, end: date) -> date:
        return start + timedelta(days=self.rng.randrange(max((end - start).days, 0) + 1))

    def important_dates(self, gender: str, birthday: date | None) -> list[dict]:
        if birthday is None or self.rng.random() > 0.35:
            return []
        age = (self.today - birthday).days // 365
        found = []
        if age >= 27 and self.rng.random() < 0.7:
            married = self.past_date(birthday + timedelta(days=365 * 23), self.today - timedelta(days=200))
            found.append({"kind": ImportantDateKind.WEDDING_ANNIVERSARY, "date": married, "lunar": False,
                          "label": "结婚纪念日"})
            spouse = birthday + timedelta(days=self.rng.randrange(-5 * 365, 5 * 365))
            found.append({"kind": ImportantDateKind.SPOUSE_BIRTHDAY, "date": min(spouse, self.today),
                          "lunar": self.rng.random() < 0.2,
                          "label": "先生生日" if gender == Gender.FEMALE else "太太生日"})
        if age >= 32 and self.rng.random() < 0.5:
            latest = min(birthday + timedelta(days=365 * 40), self.today)
            child = self.past_date(birthday + timedelta(days=365 * 25), latest)
            found.append({"kind": ImportantDateKind.CHILD_BIRTHDAY, "date": child, "lunar": False,
                          "label": self.rng.choice(("女儿生日", "儿子生日"))})
        if self.rng.random() < 0.3:
            parent = birthday - timedelta(days=self.rng.randrange(22 * 365, 32 * 365))
            # Parents' generation mostly keeps the lunar birthday.
            found.append({"kind": ImportantDateKind.PARENT_BIRTHDAY, "date": parent, "lunar": self.rng.random() < 0.6,
                          "label": self.rng.choice(("母亲生日", "父亲生日"))})
        return found

    # -- sales ----------------------------------------------------------------------------------

    def receipt_no(self, store_code: str, on: date) -> str:
        self.receipt_seq[(store_code, on)] += 1
        return f"{store_code}{on:%y%m%d}{self.receipt_seq[(store_code, on)]:03d}"

    def basket(self, amount: int) -> str:
        picked = self.rng.sample(ITEMS, k=min(len(ITEMS), 1 + amount // 4000 + self.rng.randrange(2)))
        return "、".join(name for name, _ in picked[:4])

    @staticmethod
    def price(value: float) -> int:
        """A till amount: at least 199, ending like shop prices do (…80, …99, …00)."""
        return max(199, int(value // 100) * 100 + (80 if int(value) % 3 == 0 else 99 if int(value) % 3 == 1 else 0))

    def spread(self, *, total: float, count: int, start: date, end: date) -> list[tuple[date, int]]:
        if start > end or count <= 0 or total <= 0:
            return []
        weights = [self.rng.expovariate(1.0) for _ in range(count)]
        scale = total / sum(weights)
        return sorted((self.past_date(start, end), self.price(w * scale)) for w in weights)

    def sales(self, segment: str, joined_on: date) -> list[tuple[date, int]]:
        """(date, amount) of one member's purchases, by the kind of customer they are."""
        today, rng = self.today, self.rng
        history_start = today - timedelta(days=HISTORY_DAYS - 1)
        recent_start = max(joined_on, today - timedelta(days=364))
        older = (max(joined_on, history_start), today - timedelta(days=365))
        if segment == "A":
            yearly, per_year = rng.uniform(60_000, 140_000), rng.randint(10, 22)
        elif segment == "B":
            yearly, per_year = rng.uniform(13_000, 42_000), rng.randint(4, 10)
        elif segment == "former":
            burst = self.spread(total=rng.uniform(14_000, 30_000), count=rng.randint(3, 6),
                                start=older[0], end=min(older[1], older[0] + timedelta(days=120)))
            trickle = self.spread(total=rng.uniform(0, 3_000), count=rng.randint(0, 2), start=recent_start, end=today)
            return burst + trickle
        elif segment == "lapsed":
            quiet = today - timedelta(days=rng.randint(200, 420))
            return self.spread(total=rng.uniform(800, 7_000), count=rng.randint(1, 4),
                               start=max(joined_on, history_start), end=quiet)
        else:
            yearly, per_year = rng.uniform(600, 8_500), rng.randint(1, 4)
        span = (today - recent_start).days + 1
        found = self.spread(total=yearly * min(span, 365) / 365 if span > 120 else yearly,
                            count=max(1, round(per_year * span / 365)), start=recent_start, end=today)
        if older[0] <= older[1]:
            older_days = (older[1] - older[0]).days + 1
            found += self.spread(total=yearly * rng.uniform(0.4, 0.9) * older_days / 365,
                                 count=max(1, round(per_year * older_days / 365)), start=older[0], end=older[1])
        return found

    def segment(self, joined_on: date) -> str:
        roll, acc = self.rng.random(), 0.0
        name = SEGMENTS[-1][0]
        for candidate, share in SEGMENTS:
            acc += share
            if roll < acc:
                name = candidate
                break
        if name == "former" and joined_on > self.today - timedelta(days=400):
            return "C"
        if name == "lapsed" and joined_on > self.today - timedelta(days=220):
            return "C"
        return name

    # -- members --------------------------------------------------------------------------------

    def member(
        self, store_code: str, n: int, consultants: list[str], other_store: tuple[str, list[str]] | None
    ) -> PlannedMember:
        rng, today = self.rng, self.today
        gender = Gender.FEMALE if rng.random() < 0.78 else Gender.MALE
        birthday = self.birthday()
        joined_on = today - timedelta(days=rng.randrange(JOIN_SPAN_DAYS))
        consultant = rng.choice(consultants) if rng.random() < 0.9 else None
        consent = rng.random() < 0.85
        city = STORES[0][4] if store_code == "SH01" else STORES[1][4]
        female = gender == Gender.FEMALE
        fields = {
            "card_no": card_no(store_code, n),
            "name": self.name(gender),
            "gender": gender,
            "phone": self.phone(),
            "birthday": birthday,
            # About a quarter celebrate the lunar birthday (农历生日).
            "birthday_lunar": birthday is not None and rng.random() < 0.28,
            "address": (f"{city}{rng.choice(DISTRICTS[city])}{rng.choice(ROADS)}{rng.randint(1, 999)}号"
                        f"{rng.randint(1, 30)}0{rng.randint(1, 4)}室") if rng.random() < 0.45 else "",
            "wechat": f"wxid_{rng.randrange(36**8):08x}" if rng.random() < 0.5 else "",
            "marketing_consent": consent,
            "marketing_consent_at": joined_on if consent else None,
            "joined_on": joined_on,
            "top_size": rng.choice(WOMEN_TOPS if female else MEN_TOPS),
            "bottom_size": rng.choice(WOMEN_BOTTOMS if female else MEN_BOTTOMS),
            "shoe_size": rng.choice(WOMEN_SHOES if female else MEN_SHOES) if rng.random() < 0.7 else "",
            "style_preferences": "、".join(rng.sample(STYLES, k=rng.randint(1, 2))),
            "notes": rng.choice(NOTES) if rng.random() < 0.12 else "",
        }
        planned = PlannedMember(fields=fields, consultant=consultant)
        planned.important_dates = self.important_dates(gender, birthday)
        segment = self.segment(joined_on)
        sales = self.sales(segment, joined_on)
        if sales and rng.random() < 0.6 and joined_on >= today - timedelta(days=HISTORY_DAYS - 1):
            # Most cards are opened with a first purchase.
            sales[0] = (joined_on, sales[0][1])
        for on, amount in sorted(sales):
            at_store, sold_by = store_code, consultant if rng.random() < 0.85 else rng.choice(consultants)
            if other_store is not None and rng.random() < 0.03:
                # Now and then a member shops at the other store.
                at_store, sold_by = other_store[0], rng.choice(other_store[1])
            purchase = PlannedPurchase(at_store, self.receipt_no(at_store, on), on, Decimal(amount),
                                       self.basket(amount), sold_by)
            planned.purchases.append(purchase)
            if rng.random() < 0.05 and on + timedelta(days=1) <= today:
                back = min(on + timedelta(days=rng.randint(1, 14)), today)
                share = rng.choice((1.0, 1.0, 0.5, 0.3))
                returned = min(amount, max(100, int(amount * share)))
                planned.purchases.append(PlannedPurchase(
                    at_store, self.receipt_no(at_store, back), back, Decimal(-returned),
                    f"退货：{purchase.items}", sold_by, original_receipt=purchase.receipt_no,
                ))
        return planned


class Command(BaseCommand):
    help = (
        "Seed demo data: stores SH01 and BJ01, their staff (password from VIPCRM_DEMO_PASSWORD, default "
        f"{DEFAULT_PASSWORD!r}), ~600 members with 18 months of purchases. Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--per-store", type=int, default=300, help="members per store (default 300)")

    def handle(self, *args, per_store: int, **options):
        if not 1 <= per_store <= 100_000:
            raise CommandError("--per-store must be between 1 and 100000.")
        started = time.monotonic()
        today = timezone.localdate()
        password_hash = make_password(demo_password())  # hashed once: the hasher is slow on purpose
        with transaction.atomic():
            stores, staff = self.ensure_stores_and_staff(today, password_hash)
        cards = [card_no(code, 1) for code, *_ in STORES]
        if Member.objects.filter(card_no__in=cards).exists():
            self.stdout.write("Demo members already present: nothing to add.")
        else:
            plan = DemoPlan(today=today)
            self.write_members(plan, stores, staff, per_store, today)
        self.stdout.write(self.summary(stores, time.monotonic() - started))

    # -- stores and staff -------------------------------------------------------------------------

    def ensure_stores_and_staff(self, today: date, password_hash: str) -> tuple[dict[str, Store], dict[str, Staff]]:
        stores: dict[str, Store] = {}
        staff: dict[str, Staff] = {}
        created_staff = []
        for code, name, region, address, _city in STORES:
            store, created = store_create(code=code, name=name, region=region, address=address)
            stores[code] = store
            self.stdout.write(f"{'Created' if created else 'Kept'} store {store.code} {store.name}.")
            names = STAFF_NAMES[code]
            people = [(f"{code.lower()}_manager", Role.MANAGER, names[0]),
                      (f"{code.lower()}_vip", Role.VIP_SPECIALIST, names[1])]
            people += [(f"{code.lower()}_c{i}", Role.CONSULTANT, names[1 + i]) for i in range(1, 5)]
            for username, role, display_name in people:
                staff[username], created = self.ensure_staff(username, role, store, display_name, password_hash)
                if created:
                    created_staff.append(staff[username])
        staff["hq"], created = self.ensure_staff("hq", Role.HQ, None, "总部运营", password_hash)
        if created:
            created_staff.append(staff["hq"])
        for person in created_staff:
            recorder = staff.get(f"{person.store.code.lower()}_manager") if person.store else None
            agreement_record(staff=person, signed_on=today - timedelta(days=400), by=recorder)
        self.stdout.write(f"Staff: {len(created_staff)} created, {len(staff) - len(created_staff)} kept.")
        return stores, staff

    @staticmethod
    def ensure_staff(username, role, store, display_name, password_hash) -> tuple[Staff, bool]:
        existing = Staff.objects.filter(username=username).first()
        if existing is not None:
            return existing, False
        person = staff_create(username=username, role=role, store=store, display_name=display_name,
                              email=f"{username}@example.com")
        person.password = password_hash
        person.save(update_fields=["password"])
        return person, True

    # -- members and their ledger -----------------------------------------------------------------

    def write_members(self, plan: DemoPlan, stores, staff, per_store: int, today: date) -> None:
        consultants = {code: [f"{code.lower()}_c{i}" for i in range(1, 5)] for code, *_ in STORES}
        planned: list[tuple[str, PlannedMember]] = []
        for code, *_ in STORES:
            other = next((c, consultants[c]) for c, *_ in STORES if c != code)
            planned += [(code, plan.member(code, n, consultants[code], other)) for n in range(1, per_store + 1)]
        # Two members born on 29 February, whose birthday falls on the 28th in other years.
        for (_code, member), born in zip(planned[:: per_store], (date(1988, 2, 29), date(1992, 2, 29)), strict=False):
            member.fields.update(birthday=born, birthday_lunar=False)

        # A phone the database already has (real data beside the demo) gets another number.
        phones = [m.fields["phone"] for _, m in planned]
        taken = set(Member.objects.filter(phone__in=phones).values_list("phone", flat=True))
        for _, member in planned:
            if member.fields["phone"] in taken:
                member.fields["phone"] = plan.phone()

        with transaction.atomic():
            Member.objects.bulk_create(
                [
                    Member(
                        home_store=stores[code],
                        consultant=staff.get(m.consultant) if m.consultant else None,
                        opened_by=staff.get(m.consultant) or staff[f"{code.lower()}_vip"],
                        phone_last4=m.fields["phone"][-4:],
                        **m.fields,
                    )
                    for code, m in planned
                ],
                batch_size=1000,
            )
            cards = [m.fields["card_no"] for _, m in planned]
            ids = dict(Member.objects.filter(card_no__in=cards).values_list("card_no", "pk"))
            ImportantDate.objects.bulk_create(
                [ImportantDate(member_id=ids[m.fields["card_no"]], **d) for _, m in planned for d in m.important_dates],
                batch_size=1000,
            )
            # Sales first, then returns, which point at the sale they return.
            store_ids = {code: s.pk for code, s in stores.items()}
            sales = [(m, p) for _, m in planned for p in m.purchases if p.original_receipt is None]
            returns = [(m, p) for _, m in planned for p in m.purchases if p.original_receipt is not None]
            self.create_purchases(sales, ids, store_ids, staff, originals={})
            originals = {
                (store_id, receipt): pk
                for store_id, receipt, pk in Purchase.objects.filter(
                    store_id__in=store_ids.values(), receipt_no__in=[p.original_receipt for _, p in returns]
                ).values_list("store_id", "receipt_no", "pk")
            }
            self.create_purchases(returns, ids, store_ids, staff, originals=originals)

            stats = tiers_replay(member_ids=list(ids.values()), today=today)
            self.record_past_reviews(stores.values(), today)
            self.lock_one_member_per_store(stores, staff, today)
        self.stdout.write(
            f"Members: {len(planned)} created; purchases: {len(sales)} and {len(returns)} returns; "
            f"tier changes: {stats.created}."
        )

    @staticmethod
    def create_purchases(rows, ids, store_ids, staff, *, originals) -> None:
        Purchase.objects.bulk_create(
            [
                Purchase(
                    member_id=ids[m.fields["card_no"]],
                    store_id=store_ids[p.store_code],
                    receipt_no=p.receipt_no,
                    date=p.date,
                    amount=p.amount,
                    items=p.items,
                    consultant=staff.get(p.consultant) if p.consultant else None,
                    original_id=originals.get((store_ids[p.store_code], p.original_receipt)),
                    source=PurchaseSource.STORE,
                )
                for m, p in rows
            ],
            batch_size=1000,
        )

    @staticmethod
    def record_past_reviews(stores, today: date) -> None:
        """The replay applied every month-end review up to yesterday: record them as done, so the
        monthly duty's catch-up does not review those months again."""
        ends = list(month_ends(today - timedelta(days=JOIN_SPAN_DAYS), today - timedelta(days=1)))
        downgrades = Counter(
            {
                (row["member__home_store"], row["date"]): row["n"]
                for row in TierChange.objects.filter(reason=TierChangeReason.REVIEW, date__in=ends)
                .values("member__home_store", "date").annotate(n=Count("pk"))
            }
        )
        TierReview.objects.bulk_create(
            [TierReview(store=s, date=e, downgrades=downgrades[(s.pk, e)]) for s in stores for e in ends],
            ignore_conflicts=True,
        )

    @staticmethod
    def lock_one_member_per_store(stores, staff, today: date) -> None:
        """A manager's decision in each store: a long-standing B customer kept at A, locked."""
        for code, store in stores.items():
            candidates = Member.objects.filter(home_store=store, tier=Tier.B, card_no__startswith=code)
            member = candidates.order_by("card_no").first()
            if member is not None:
                member_set_tier(member=member, tier=Tier.A, by=staff[f"{code.lower()}_manager"], lock=True,
                                on=today, note="店长特批：长期合作客户")

    # -- report -------------------------------------------------------------------------------------

    def summary(self, stores: dict[str, Store], seconds: float) -> str:
        lines = []
        for store in stores.values():
            members = Member.objects.filter(home_store=store)
            mix = dict(members.values_list("tier").annotate(n=Count("pk")).order_by())
            total = sum(mix.values()) or 1
            shares = ", ".join(
                f"{t} {mix.get(t, 0)} ({100 * mix.get(t, 0) / total:.0f}%)" for t in (Tier.A, Tier.B, Tier.C)
            )
            lines.append(f"  {store.code} {store.name}: {sum(mix.values())} members — {shares}")
        usernames = ", ".join(f"{code.lower()}_manager, {code.lower()}_vip, {code.lower()}_c1..c4" for code in stores)
        lines.append(f"  Demo logins: hq, {usernames}; password: {demo_password()}")
        lines.append(f"  Done in {seconds:.1f} s.")
        return "\n".join(lines)

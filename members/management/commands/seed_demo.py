"""Demo data for a fresh installation: two stores, their staff, ~600 members and 18 months of sales,
and a store that has been living with the app (issue 9 item 11): ten days of daily duties run
through the real services (so the capacity spreads the first day's care list), the lists worked
day by day with reached and unreached contacts, last month-end's duty, next month's gift plans and
12 months of monthly report snapshots so the dashboards' trends show.

Deterministic (a fixed seed) and relative to today, so every developer sees the same shop on the
same day. The ledger is written in bulk and replayed through the tier engine once; the history goes
through the services. A few seconds on SQLite.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from io import StringIO

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import Role, Staff, Store
from accounts.services import agreement_record, staff_create, store_create
from duties.maintenance import tables_analyze
from duties.runs import duty_run
from members.models import (
    Gender,
    ImportantDate,
    ImportantDateKind,
    Member,
    ProgramRules,
    Purchase,
    PurchaseSource,
    Tier,
    TierChange,
    TierChangeReason,
    TierReview,
)
from members.services import member_set_tier, tiers_replay
from members.tiers import month_end, month_ends
from visits.models import Channel, FollowUpTask, GiftPlan, GiftStatus, TaskStatus, Visit, VisitResult
from visits.services import DAILY_DUTY, daily_work, gift_plan_mark, gift_plans_for_month, visit_record

SEED = 20240601
DEFAULT_PASSWORD = "vipcrm-demo"  # noqa: S105 - printed for everyone: it guards demo data only
HISTORY_DAYS = 548  # 18 months of purchases, ending today
JOIN_SPAN_DAYS = 3 * 365  # members joined over the past three years
# The app went live this many days ago: the daily duty ran every day since and staff worked the
# lists; today's list is generated but not worked yet.
LIVE_DAYS = 10
# Before going live the store kept a contact log, brought in with the data: a reached contact in
# the PRE_LIVE_WEEKS before go-live for a share of the members by tier, so the first day's care
# list is what a store that kept in touch would have, not every member at once.
PRE_LIVE_WEEKS = 8
PRE_LIVE_CONTACTED = {Tier.A: 0.8, Tier.B: 0.5, Tier.C: 0.2}
SNAPSHOT_MONTHS = 12  # monthly report snapshots backfilled, so the dashboards' trends show
# How staff work their list on a past day: the share of the day's cards they get to, and of those
# the share where the member answers.
WORKED_SHARE, REACHED_SHARE = 0.7, 0.8
REACHED_OUTCOMES = (
    "已联系，客户满意",
    "已联系，近期会来店看新品",
    "已联系，对上次购买很满意",
    "已联系，约周末到店",
    "已联系，暂时没有需要",
    "已联系，已推送新品图片",
    "已联系，询问改衣进度",
)
UNREACHED = (
    (VisitResult.NO_ANSWER, "电话无人接听"),
    (VisitResult.SWITCHED_OFF, "关机"),
    (VisitResult.DECLINED, "客户在忙，拒绝沟通"),
)
CONTACT_CHANNELS = (Channel.PHONE, Channel.PHONE, Channel.WECHAT, Channel.WECHAT, Channel.SMS, Channel.IN_STORE)

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
    "丽",
    "婷",
    "静",
    "敏",
    "燕",
    "芳",
    "娜",
    "雪",
    "慧",
    "琳",
    "倩",
    "颖",
    "洁",
    "璐",
    "蕾",
    "欣怡",
    "梓涵",
    "诗涵",
    "雨桐",
    "佳怡",
    "思雨",
    "晓雯",
    "婉清",
    "若曦",
    "梦琪",
    "雅琴",
    "美玲",
    "秀英",
    "玉兰",
    "淑珍",
    "海燕",
    "红梅",
    "丹丹",
    "晓燕",
    "丽华",
    "文静",
    "嘉欣",
    "子怡",
    "雅婷",
    "佩玲",
    "慧敏",
    "思琪",
    "可欣",
)
MALE_NAMES = (
    "伟",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "杰",
    "涛",
    "斌",
    "浩然",
    "子轩",
    "宇航",
    "俊杰",
    "志强",
    "建华",
    "国栋",
    "明辉",
    "文博",
    "晨阳",
    "嘉诚",
    "立新",
    "振宇",
)
MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "198",
    "199",
)
STYLES = (
    "简约通勤",
    "法式优雅",
    "轻奢",
    "休闲",
    "小香风",
    "极简",
    "新中式",
    "运动休闲",
    "度假风",
    "复古",
    "知性",
    "甜美",
)
NOTES = (
    "喜欢新品首发通知",
    "偏好周末下午到店",
    "对羊绒制品过敏",
    "只接受微信联系",
    "常为家人选购",
    "注重面料，偏好真丝与羊绒",
    "工作日午休时间方便电话",
    "需要改衣服务时提前预约",
)
ITEMS = (
    ("羊绒大衣", 6980),
    ("羊毛大衣", 4580),
    ("真丝衬衫", 1880),
    ("针织开衫", 1280),
    ("阔腿裤", 980),
    ("半身裙", 1180),
    ("连衣裙", 2380),
    ("西装外套", 3280),
    ("羊绒围巾", 1580),
    ("皮质手袋", 5680),
    ("高跟鞋", 1980),
    ("风衣", 3980),
    ("T恤", 480),
    ("牛仔裤", 880),
    ("丝巾", 780),
    ("羽绒服", 3680),
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
            found.append(
                {"kind": ImportantDateKind.WEDDING_ANNIVERSARY, "date": married, "lunar": False, "label": "结婚纪念日"}
            )
            spouse = birthday + timedelta(days=self.rng.randrange(-5 * 365, 5 * 365))
            found.append(
                {
                    "kind": ImportantDateKind.SPOUSE_BIRTHDAY,
                    "date": min(spouse, self.today),
                    "lunar": self.rng.random() < 0.2,
                    "label": "先生生日" if gender == Gender.FEMALE else "太太生日",
                }
            )
        if age >= 32 and self.rng.random() < 0.5:
            latest = min(birthday + timedelta(days=365 * 40), self.today)
            child = self.past_date(birthday + timedelta(days=365 * 25), latest)
            found.append(
                {
                    "kind": ImportantDateKind.CHILD_BIRTHDAY,
                    "date": child,
                    "lunar": False,
                    "label": self.rng.choice(("女儿生日", "儿子生日")),
                }
            )
        if self.rng.random() < 0.3:
            parent = birthday - timedelta(days=self.rng.randrange(22 * 365, 32 * 365))
            # Parents' generation mostly keeps the lunar birthday.
            found.append(
                {
                    "kind": ImportantDateKind.PARENT_BIRTHDAY,
                    "date": parent,
                    "lunar": self.rng.random() < 0.6,
                    "label": self.rng.choice(("母亲生日", "父亲生日")),
                }
            )
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
            burst = self.spread(
                total=rng.uniform(14_000, 30_000),
                count=rng.randint(3, 6),
                start=older[0],
                end=min(older[1], older[0] + timedelta(days=120)),
            )
            trickle = self.spread(total=rng.uniform(0, 3_000), count=rng.randint(0, 2), start=recent_start, end=today)
            return burst + trickle
        elif segment == "lapsed":
            quiet = today - timedelta(days=rng.randint(200, 420))
            return self.spread(
                total=rng.uniform(800, 7_000), count=rng.randint(1, 4), start=max(joined_on, history_start), end=quiet
            )
        else:
            yearly, per_year = rng.uniform(600, 8_500), rng.randint(1, 4)
        span = (today - recent_start).days + 1
        found = self.spread(
            total=yearly * min(span, 365) / 365 if span > 120 else yearly,
            count=max(1, round(per_year * span / 365)),
            start=recent_start,
            end=today,
        )
        if older[0] <= older[1]:
            older_days = (older[1] - older[0]).days + 1
            found += self.spread(
                total=yearly * rng.uniform(0.4, 0.9) * older_days / 365,
                count=max(1, round(per_year * older_days / 365)),
                start=older[0],
                end=older[1],
            )
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
            "address": (
                f"{city}{rng.choice(DISTRICTS[city])}{rng.choice(ROADS)}{rng.randint(1, 999)}号"
                f"{rng.randint(1, 30)}0{rng.randint(1, 4)}室"
            )
            if rng.random() < 0.45
            else "",
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
            purchase = PlannedPurchase(
                at_store, self.receipt_no(at_store, on), on, Decimal(amount), self.basket(amount), sold_by
            )
            planned.purchases.append(purchase)
            if rng.random() < 0.05 and on + timedelta(days=1) <= today:
                back = min(on + timedelta(days=rng.randint(1, 14)), today)
                share = rng.choice((1.0, 1.0, 0.5, 0.3))
                returned = min(amount, max(100, int(amount * share)))
                planned.purchases.append(
                    PlannedPurchase(
                        at_store,
                        self.receipt_no(at_store, back),
                        back,
                        Decimal(-returned),
                        f"退货：{purchase.items}",
                        sold_by,
                        original_receipt=purchase.receipt_no,
                    )
                )
        return planned


class Command(BaseCommand):
    help = (
        "Seed demo data: stores SH01 and BJ01, their staff (password from VIPCRM_DEMO_PASSWORD, default "
        f"{DEFAULT_PASSWORD!r}), ~600 members with 18 months of purchases. Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--per-store", type=int, default=300, help="members per store (default 300)")

    def handle(self, *args, per_store: int, **options):
        # Demo accounts (HQ included) with a published password must never reach live data.
        if getattr(settings, "VIPCRM_PRODUCTION", False):
            raise CommandError(
                "seed_demo refuses to run under the production settings: it creates staff accounts, "
                "HQ included, with a public demo password."
            )
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
            self.live(stores, today, random.Random(SEED + 1))
        tables_analyze()  # fresh planner statistics for the first duties (PostgreSQL; issue 14)
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
            people = [
                (f"{code.lower()}_manager", Role.MANAGER, names[0]),
                (f"{code.lower()}_vip", Role.VIP_SPECIALIST, names[1]),
            ]
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
        person = staff_create(
            username=username, role=role, store=store, display_name=display_name, email=f"{username}@example.com"
        )
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
        for (_code, member), born in zip(planned[::per_store], (date(1988, 2, 29), date(1992, 2, 29)), strict=False):
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
            self.recorded_on_their_day(ids.values(), today)

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
    def recorded_on_their_day(member_ids, today: date) -> None:
        """A till records a receipt the day it is rung up: without this every receipt would look
        recorded today, and today's duty would follow up a month of them at once."""
        now = timezone.now()
        purchases = Purchase.objects.filter(member_id__in=list(member_ids))
        for day in purchases.dates("date", "day"):
            evening = timezone.make_aware(datetime.combine(day, dt_time(19, 0)))
            purchases.filter(date=day).update(created_at=min(evening, now))

    @staticmethod
    def record_past_reviews(stores, today: date) -> None:
        """The replay applied every month-end review up to yesterday: record them as done, so the
        monthly duty's catch-up does not review those months again."""
        ends = list(month_ends(today - timedelta(days=JOIN_SPAN_DAYS), today - timedelta(days=1)))
        downgrades = Counter(
            {
                (row["member__home_store"], row["date"]): row["n"]
                for row in TierChange.objects.filter(reason=TierChangeReason.REVIEW, date__in=ends)
                .values("member__home_store", "date")
                .annotate(n=Count("pk"))
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
                member_set_tier(
                    member=member,
                    tier=Tier.A,
                    by=staff[f"{code.lower()}_manager"],
                    lock=True,
                    on=today,
                    note="店长特批：长期合作客户",
                )

    # -- a store that has been living with the app ------------------------------------------------

    def live(self, stores: dict[str, Store], today: date, rng: random.Random) -> None:
        """The history a store has after some weeks with the app, made by the real services."""
        started = time.monotonic()
        # Twenty-odd duty runs would each log a line: the summary below says what they did.
        duty_log = logging.getLogger("duties.runs")
        level = duty_log.level
        duty_log.setLevel(logging.WARNING)
        try:
            with transaction.atomic():
                snapshots, logged, visits, attempts, prepared, gifts = self.live_history(stores, today, rng)
        finally:
            duty_log.setLevel(level)
        following = month_end(today) + timedelta(days=1)
        open_today = FollowUpTask.objects.filter(
            store__in=stores.values(), status=TaskStatus.OPEN, scheduled_for__lte=today
        ).count()
        self.stdout.write(
            f"History: {logged} contacts from before going live; {LIVE_DAYS} days of daily duties since, "
            f"with {visits} reached contacts and {attempts} unreached attempts logged on the lists; "
            f"{prepared} gifts prepared; {open_today} open tasks on today's lists; {gifts} gift plans for "
            f"{following:%Y-%m}; {snapshots} monthly snapshots ({time.monotonic() - started:.1f} s)."
        )

    def live_history(self, stores: dict[str, Store], today: date, rng: random.Random) -> tuple[int, ...]:
        """Snapshots, the contact log before going live, the lists run and worked day by day, the
        gifts prepared, next month's gift plans; returns their counts."""
        snapshots = self.backfill_snapshots(stores.values(), today)
        logged = self.contact_log_before_going_live(stores.values(), today, rng)
        visits, attempts = self.run_and_work_the_lists(stores.values(), today, rng)
        prepared = self.gifts_prepared_this_morning(stores.values(), today, rng)
        following = month_end(today) + timedelta(days=1)
        gifts = sum(
            gift_plans_for_month(store=store, year=following.year, month=following.month) for store in stores.values()
        )
        return snapshots, logged, visits, attempts, prepared, gifts

    @staticmethod
    def backfill_snapshots(stores, today: date) -> int:
        """The monthly snapshots of the last SNAPSHOT_MONTHS complete months before today, by
        `run_duties --backfill` (reports' command: members imports nothing from reports), which an
        import runs too; it keeps a period's first snapshot, so this is idempotent."""
        out = StringIO()
        yesterday = today - timedelta(days=1)
        for store in stores:
            call_command("run_duties", "--backfill", "--store", store.code, "--date", yesterday.isoformat(), stdout=out)
        return sum(int(n) for n in re.findall(r": (\d+) monthly snapshots", out.getvalue()))

    @staticmethod
    def contact_log_before_going_live(stores, today: date, rng: random.Random) -> int:
        """The contacts the store logged before it went live, written in bulk like an import: one
        for a share of the members by tier, by their consultant, dated in the weeks before."""
        live_on = today - timedelta(days=LIVE_DAYS)
        members = (
            Member.objects.filter(home_store__in=stores, consultant__isnull=False, joined_on__lt=live_on)
            .order_by("pk")
            .values_list("pk", "home_store_id", "consultant_id", "tier")
        )
        visits = []
        for member_id, store_id, consultant_id, tier in members:
            if rng.random() >= PRE_LIVE_CONTACTED.get(tier, 0):
                continue
            day = live_on - timedelta(days=rng.randint(1, PRE_LIVE_WEEKS * 7))
            at = timezone.make_aware(datetime.combine(day, dt_time(10, 0)) + timedelta(minutes=rng.randrange(480)))
            visits.append(
                Visit(
                    member_id=member_id,
                    store_id=store_id,
                    staff_id=consultant_id,
                    channel=rng.choice(CONTACT_CHANNELS),
                    at=at,
                    purpose="日常关怀",
                    result=VisitResult.REACHED,
                    outcome=rng.choice(REACHED_OUTCOMES),
                    satisfaction=rng.choice((None, 4, 5)),
                )
            )
        Visit.objects.bulk_create(visits, batch_size=1000)
        return len(visits)

    def run_and_work_the_lists(self, stores, today: date, rng: random.Random) -> tuple[int, int]:
        """Each day of the last LIVE_DAYS: the daily duty (and the month-end duty on a month's last
        day), then the staff work that day's list: most cards get a contact, most contacts reach
        the member, the others are attempts that bring the card back another day. Today's list is
        generated and left for the user."""
        reached = unreached = 0
        first = today - timedelta(days=LIVE_DAYS)
        for offset in range(LIVE_DAYS + 1):
            day = first + timedelta(days=offset)
            for store in stores:
                duty_run(duty=DAILY_DUTY, store=store, on=day, work=daily_work)
                if day == month_end(day) and day < today:
                    # The month-end duty (reports'), as beat runs it: through the command.
                    call_command(
                        "run_duties", "monthly", "--store", store.code, "--date", day.isoformat(), stdout=StringIO()
                    )
                if day == today:
                    continue
                r, u = self.work_the_list(store, day, rng)
                reached, unreached = reached + r, unreached + u
        return reached, unreached

    @staticmethod
    def gifts_prepared_this_morning(stores, today: date, rng: random.Random) -> int:
        """The VIP specialist prepares most gifts whose preparation day has passed (marking one
        closes its preparation task): done this morning, so their completion date is today."""
        lead = ProgramRules.load().lead_days
        prepared = 0
        for store in stores:
            specialist = Staff.objects.filter(store=store, role=Role.VIP_SPECIALIST, is_active=True).first()
            plans = GiftPlan.objects.filter(
                store=store, status=GiftStatus.PLANNED, occasion_date__lt=today + timedelta(days=lead)
            ).order_by("occasion_date", "pk")
            for plan in plans:
                if specialist is not None and rng.random() < WORKED_SHARE:
                    gift_plan_mark(plan=plan, status=GiftStatus.PREPARED, by=specialist)
                    prepared += 1
        return prepared

    @staticmethod
    def work_the_list(store: Store, day: date, rng: random.Random) -> tuple[int, int]:
        tasks = list(
            FollowUpTask.objects.filter(
                store=store, status=TaskStatus.OPEN, is_contact=True, scheduled_for__lte=day, assignee__isnull=False
            )
            .select_related("member", "assignee")
            .order_by("due_date", "pk")
        )
        reached = unreached = 0
        for task in tasks:
            if rng.random() > WORKED_SHARE:
                continue
            at = timezone.make_aware(datetime.combine(day, dt_time(10, 0)) + timedelta(minutes=rng.randrange(480)))
            task.refresh_from_db(fields=["status"])
            if task.status != TaskStatus.OPEN:  # closed meanwhile by another contact with the member
                continue
            if rng.random() < REACHED_SHARE:
                visit_record(
                    member=task.member,
                    by=task.assignee,
                    channel=rng.choice(CONTACT_CHANNELS),
                    outcome=rng.choice(REACHED_OUTCOMES),
                    result=VisitResult.REACHED,
                    satisfaction=rng.choice((None, 3, 4, 4, 5, 5)),
                    at=at,
                    task=task,
                )
                reached += 1
            else:
                result, outcome = rng.choice(UNREACHED)
                visit_record(
                    member=task.member,
                    by=task.assignee,
                    channel=Channel.PHONE,
                    outcome=outcome,
                    result=result,
                    at=at,
                    task=task,
                )
                unreached += 1
        return reached, unreached

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

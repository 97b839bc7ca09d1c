"""Import benchmark: 25,000 members and 70,000 purchases, parse+validate and commit timed.

    .venv/bin/python bench/bench_import.py                       # a throwaway SQLite file
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/importbench .venv/bin/python bench/bench_import.py

The database is set up by bench.common: a temporary SQLite file, or a PostgreSQL database whose
name must end in "bench" (it is dropped and created again). Figures are printed, not asserted.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import django_setup  # noqa: E402

# Query logging (DEBUG) would time Django's bookkeeping, not the import.
os.environ.setdefault("DJANGO_DEBUG", "0")

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "丽娜静敏芳婷雪琳颖洁玲燕红霞萍晶倩莉慧佳"


def make_staff():
    from django.utils import timezone

    from accounts.models import Role
    from accounts.services import agreement_record, staff_create, store_create

    stores, consultants = [], {}
    for i in range(1, 5):
        store, _ = store_create(code=f"B{i:02d}", name=f"测试门店{i}")
        stores.append(store)
        consultants[store.code] = [
            staff_create(username=f"b{i}_c{j}", role=Role.CONSULTANT, store=store).username for j in range(5)
        ]
    hq = staff_create(username="bench_hq", role=Role.HQ, store=None)
    # A member import checks phone numbers against the file: only staff with a signed
    # confidentiality agreement may run one (DOMAIN §11).
    agreement_record(staff=hq, signed_on=timezone.localdate(), by=hq)
    return stores, consultants, hq


def member_csv(n: int, stores, consultants, today: date, rng: random.Random) -> tuple[bytes, list[tuple]]:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["card_no", "name", "phone", "gender", "birthday", "birthday_lunar", "joined_on", "store",
                "consultant", "tier", "marketing_consent"])
    members = []
    for i in range(n):
        store = rng.choice(stores).code
        joined = today - timedelta(days=rng.randint(30, 3 * 365))
        birthday = date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28))
        tier = rng.choices(["", "C", "B", "A"], weights=[80, 7, 10, 3])[0]
        card = f"V{i:07d}"
        w.writerow([
            card, rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN), f"139{i:08d}",
            rng.choice(["F", "女", "M", ""]), f"{birthday:%Y/%m/%d}" if rng.random() < 0.8 else "",
            rng.choice(["是", "否", ""]), joined.isoformat(), store,
            rng.choice(consultants[store]) if rng.random() < 0.7 else "", tier, rng.choice(["1", "0"]),
        ])
        members.append((card, store, joined))
    return out.getvalue().encode("utf-8"), members


def purchase_csv(n: int, members, consultants, today: date, rng: random.Random) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["receipt_no", "card_no", "store", "date", "amount", "consultant", "items"])
    stores = sorted(consultants)
    for i in range(n):
        card, home, joined = rng.choice(members)
        store = home if rng.random() < 0.9 else rng.choice(stores)
        when = joined + timedelta(days=rng.randint(0, (today - joined).days))
        amount = rng.randint(200, 8000) if rng.random() < 0.98 else -rng.randint(100, 500)
        w.writerow([
            f"R{i:08d}", card, store, f"{when:%Y/%m/%d}", f"{amount:,}.00",
            rng.choice(consultants[store]) if rng.random() < 0.8 else "", "上衣 x1",
        ])
    return out.getvalue().encode("utf-8")


def member_xlsx(data: bytes) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    for row in csv.reader(io.StringIO(data.decode("utf-8"))):
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=25_000)
    parser.add_argument("--purchases", type=int, default=70_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-xlsx", action="store_true", help="skip the XLSX parse timing")
    args = parser.parse_args()

    label = django_setup()
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone

    from members.imports import MEMBERS, PURCHASES, import_commit, import_preview
    from members.models import Member, Purchase, TierChange

    try:
        print(f"Imports on {label} (cpus: {os.cpu_count()})")
        rng = random.Random(args.seed)
        today = timezone.localdate()
        stores, consultants, hq = make_staff()
        members_data, members = member_csv(args.members, stores, consultants, today, rng)
        purchases_data = purchase_csv(args.purchases, members, consultants, today, rng)
        print(f"files: members {len(members_data) / 1e6:.1f} MB, purchases {len(purchases_data) / 1e6:.1f} MB")

        def step(what, n, fn, **kwargs):
            result, seconds = timed(fn, **kwargs)
            assert result.is_valid, result.error_lines()[:10]
            print(f"  {what:<38} {n:>7} rows {seconds:7.2f} s {n / seconds:>9,.0f} rows/s   {result.summary()}",
                  flush=True)
            return result

        step("members: parse + validate", args.members, import_preview, kind=MEMBERS, data=members_data, viewer=hq)
        step("members: commit (validates again)", args.members, import_commit, kind=MEMBERS, data=members_data,
             by=hq)
        print(f"    -> {Member.objects.count()} members, {TierChange.objects.count()} tier changes")
        step("members: same file again", args.members, import_commit, kind=MEMBERS, data=members_data, by=hq)
        if not args.no_xlsx:
            xlsx, seconds = timed(member_xlsx, members_data)
            print(f"  (XLSX written in {seconds:.1f} s, {len(xlsx) / 1e6:.1f} MB)")
            step("members XLSX: parse + validate", args.members, import_preview, kind=MEMBERS, data=xlsx, viewer=hq)
        step("purchases: parse + validate", args.purchases, import_preview, kind=PURCHASES, data=purchases_data,
             viewer=hq)
        step("purchases: commit + tier replay", args.purchases, import_commit, kind=PURCHASES,
             data=purchases_data, by=hq)
        tiers = dict(Member.objects.order_by("tier").values("tier").annotate(n=Count("pk")).values_list("tier", "n"))
        print(f"    -> {Purchase.objects.count()} purchases, {TierChange.objects.count()} tier changes, tiers {tiers}")
        step("purchases: same file again", args.purchases, import_commit, kind=PURCHASES, data=purchases_data,
             by=hq)
    finally:
        connection.close()


if __name__ == "__main__":
    main()

"""Tier engine figures on a chain-sized ledger: 25,000 members, 70,000 purchases (5% returns).

.venv/bin/python bench/bench_tiers.py            # SQLite
DATABASE_URL=postgres://postgres@127.0.0.1:5432/tiersbench .venv/bin/python bench/bench_tiers.py
"""

import random
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import django_setup, timed  # noqa: E402

MEMBERS = 25_000
PURCHASES = 70_000


def main() -> None:
    label = django_setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accounts.models import Store
    from members.models import Member, Purchase
    from members.services import purchase_record, tiers_replay, tiers_review
    from members.tiers import month_end

    print(f"Tier engine, {MEMBERS:,} members, {PURCHASES:,} purchases, on {label}")
    rng = random.Random(42)
    today = timezone.localdate()
    stores = [Store.objects.create(code=f"B{i}", name=f"Bench {i}") for i in range(2)]
    with timed("generate ledger (bulk_create)", MEMBERS + PURCHASES):
        members = Member.objects.bulk_create(
            [
                Member(
                    card_no=f"B{i:07d}",
                    name=f"会员{i}",
                    phone=f"13{i:09d}",
                    phone_last4=f"{i:09d}"[-4:],
                    home_store=stores[i % 2],
                    joined_on=today - timedelta(days=rng.randint(400, 1100)),
                )
                for i in range(MEMBERS)
            ],
            batch_size=2000,
        )
        rows = []
        for n in range(PURCHASES):
            m = members[rng.randrange(MEMBERS)]
            day = m.joined_on + timedelta(days=rng.randint(0, (today - m.joined_on).days))
            amount = Decimal(rng.choice([600, 1800, 3500, 8000, 16000, 42000]))
            if n % 20 == 0:
                amount = -amount / 4
            rows.append(Purchase(member=m, store=m.home_store, receipt_no=f"P{n:08d}", date=day, amount=amount))
        Purchase.objects.bulk_create(rows, batch_size=2000)

    # As on a month's last day before the 23:30 duty: history replayed, today's review not yet run.
    last_review = month_end(today) if month_end(today) == today else today.replace(day=1) - timedelta(days=1)
    with CaptureQueriesContext(connection) as queries, timed("rebuild_tiers, from scratch", MEMBERS, "members"):
        stats = tiers_replay(today=last_review)
    print(f"    {stats.created:,} tier changes written, {len(queries.captured_queries)} queries")
    for store in stores:
        with (
            CaptureQueriesContext(connection) as queries,
            timed(f"review_tiers {last_review}, store {store.code}", MEMBERS // 2, "members"),
        ):
            result = tiers_review(store=store, on=last_review, today=last_review)
        print(f"    {result.downgrades} downgrades, {len(queries.captured_queries)} queries")
    with CaptureQueriesContext(connection) as queries, timed("rebuild_tiers through today", MEMBERS, "members"):
        stats = tiers_replay()
    print(f"    {stats.created} written, {stats.deleted} removed, {len(queries.captured_queries)} queries")
    with (
        CaptureQueriesContext(connection) as queries,
        timed("rebuild_tiers again (writes nothing)", MEMBERS, "members"),
    ):
        again = tiers_replay()
    print(f"    {again.created} written, {again.deleted} removed, {len(queries.captured_queries)} queries")

    sample = rng.sample(members, 200)
    with (
        CaptureQueriesContext(connection) as queries,
        timed("purchase_record x200 (with tier replay)", 200, "purchases"),
    ):
        for i, m in enumerate(sample):
            purchase_record(
                member=m, store=m.home_store, receipt_no=f"X{i}", date=today, amount=Decimal("999"), by=None
            )
    print(f"    {len(queries.captured_queries) / 200:.1f} queries per purchase")


if __name__ == "__main__":
    main()

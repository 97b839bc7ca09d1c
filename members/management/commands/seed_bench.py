"""manage.py seed_bench --stores 20 --members 100000 --purchases 1000000 [--seed 1] [--months 24]

A chain-sized, deterministic data set for the benchmark (issue 14; bench/seed.py says what is in it),
loaded with COPY into an empty PostgreSQL database, then vacuumed (frozen) and ANALYZEd.
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Store
from members.models import Member


class Command(BaseCommand):
    help = (
        "Fill an empty PostgreSQL database with a chain for the benchmark: stores with ten staff each, members "
        "with birthdays (some lunar) and important dates, purchases over --months months with skewed spend and 5%% "
        "returns, tiers by the tier engine, visits, follow-up tasks, complaints and campaigns. Deterministic for "
        "a --seed on a given day. Loaded with COPY; a few minutes for 100,000 members and 1,000,000 purchases."
    )

    def add_arguments(self, parser):
        parser.add_argument("--stores", type=int, default=20)
        parser.add_argument("--members", type=int, default=100_000)
        parser.add_argument("--purchases", type=int, default=1_000_000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--months", type=int, default=24, help="months of purchase history (default 24)")

    def handle(self, *args, stores, members, purchases, seed, months, **options):
        from bench.seed import BenchSeed, analyze, refuse_unless_postgresql

        problem = refuse_unless_postgresql(connection)
        if problem:
            raise CommandError(problem)
        if getattr(settings, "VIPCRM_PRODUCTION", False):
            raise CommandError("seed_bench refuses to run under the production settings: it creates staff accounts.")
        if not (1 <= stores <= 99 and stores <= members <= 10_000_000 and 0 <= purchases <= 50_000_000):
            raise CommandError("Need 1-99 stores, at least one member per store, and a sane number of purchases.")
        if not 1 <= months <= 60:
            raise CommandError("--months must be between 1 and 60.")
        if Store.objects.exists() or Member.objects.exists():
            raise CommandError("seed_bench fills an empty database: this one has stores or members already.")
        started = time.monotonic()
        seeder = BenchSeed(
            stores=stores,
            members=members,
            purchases=purchases,
            months=months,
            seed=seed,
            today=timezone.localdate(),
            tz=timezone.get_current_timezone(),
            out=self.stdout.write,
        )
        with transaction.atomic():
            stats = seeder.run(connection)
        analyze_started = time.monotonic()
        analyze(connection)
        stats["seconds_analyze"] = round(time.monotonic() - analyze_started, 1)
        stats["seconds"] = round(time.monotonic() - started, 1)
        self.stdout.write(
            f"Seeded {stores} stores, {members:,} members (tiers {stats['tiers']}), {stats['purchases']:,} purchases, "
            f"{stats['visits']:,} visits, {stats['tasks']:,} tasks, {stats['complaints']:,} complaints "
            f"({stats['open_complaints']} open), {stats['campaigns']} campaigns in {stats['seconds']} s "
            f"(VACUUM/ANALYZE {stats['seconds_analyze']} s). Staff password: VIPCRM_BENCH_PASSWORD or 'vipcrm-bench'."
        )

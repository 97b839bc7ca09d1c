import time

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Store
from members.services import tiers_replay


class Command(BaseCommand):
    help = (
        "Replay the whole purchase ledger from scratch and rewrite every member's purchase and review tier "
        "changes (DOMAIN §5), through today. Manual and import changes are kept as inputs; locked members "
        "are left alone. Use it after importing old data, back-dated purchases or a change of the tier "
        "rules. Running it twice gives the same history; the second run writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--store", help="only members of this store (code)")

    def handle(self, *args, **options):
        store = None
        if options["store"]:
            store = Store.objects.filter(code=options["store"].upper()).first()
            if store is None:
                raise CommandError(f"No store with code {options['store']!r}.")
        started = time.perf_counter()
        stats = tiers_replay(store=store)  # refreshes the planner statistics after a large change
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"Replayed {stats.members} members in {seconds:.2f}s: {stats.changed_members} changed, "
            f"{stats.created} tier changes written, {stats.deleted} removed."
        )

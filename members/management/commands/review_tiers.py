import time
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Store
from members.services import tiers_review
from members.tiers import month_end


class Command(BaseCommand):
    help = (
        "Month-end tier review (DOMAIN §5): downgrade members whose 12-month spend at DATE qualifies only "
        "for a lower tier. DATE must be a month's last day (default: the last month end up to today). "
        "Runs once per store and date; running it again does nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", type=date.fromisoformat, help="YYYY-MM-DD, a month's last day")
        parser.add_argument("--store", help="store code (default: every active store)")

    def handle(self, *args, **options):
        today = timezone.localdate()
        on = options["date"]
        if on is None:
            on = month_end(today)
            if on > today:
                on = today.replace(day=1) - timedelta(days=1)
        stores = Store.objects.filter(is_active=True)
        if options["store"]:
            stores = Store.objects.filter(code=options["store"].upper())
            if not stores:
                raise CommandError(f"No store with code {options['store']!r}.")
        for store in stores:
            started = time.perf_counter()
            try:
                result = tiers_review(store=store, on=on, today=today)
            except ValidationError as e:
                raise CommandError(" ".join(e.messages)) from e
            seconds = time.perf_counter() - started
            if result.already_done:
                self.stdout.write(
                    f"{store.code} {on}: already reviewed ({result.downgrades} downgrades); nothing done."
                )
            else:
                self.stdout.write(f"{store.code} {on}: {result.downgrades} downgrades in {seconds:.2f}s.")

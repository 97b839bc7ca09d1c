"""Run a duty by hand for any date (backfill), for one store or all: the same code beat runs."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Store
from reports.duties import duty_catch_up, duty_run


def _load_duties() -> dict:
    # Each app registers its duties here as it gains them (daily now; weekly and monthly later).
    from complaints.tasks import SLA_DUTY, sla_work
    from visits.services import DAILY_DUTY, daily_work

    return {"daily": (DAILY_DUTY, daily_work), "complaint_sla": (SLA_DUTY, sla_work)}


class Command(BaseCommand):
    help = (
        "Run a scheduled duty for a date, e.g. `run_duties daily --date 2026-11-24 [--store SH01]`. "
        "Each duty runs once per store and date; running it again does nothing. Missed days before "
        "the date are caught up first unless --no-catch-up."
    )

    def add_arguments(self, parser):
        parser.add_argument("duty", choices=["daily", "complaint_sla"])
        parser.add_argument("--date", type=date.fromisoformat, help="YYYY-MM-DD (default: today)")
        parser.add_argument("--store", help="store code (default: every active store)")
        parser.add_argument("--no-catch-up", action="store_true", help="run only --date, not missed days before it")

    def handle(self, *args, **options):
        duty, work = _load_duties()[options["duty"]]
        on = options["date"] or timezone.localdate()
        if on > timezone.localdate():
            raise CommandError(f"{on} is in the future: duties run for today or earlier.")
        stores = Store.objects.filter(is_active=True)
        if options["store"]:
            stores = Store.objects.filter(code=options["store"].upper())
            if not stores:
                raise CommandError(f"No store with code {options['store']!r}.")
        for store in stores:
            if duty == "complaint_sla":
                # Hourly and about now: checks breaches as of this moment, whatever --date says.
                from complaints.tasks import sla_duty_for

                self.stdout.write(f"{duty} {store.code}: {sla_duty_for(store)}")
                continue
            if options["no_catch_up"]:
                runs = [duty_run(duty=duty, store=store, on=on, work=work)]
            else:
                runs = duty_catch_up(duty=duty, store=store, through=on, work=work)
            if not runs:
                self.stdout.write(f"{duty} {store.code} {on}: already run; nothing to do.")
            for run in runs:
                total = sum(v for v in run.counts.values() if isinstance(v, int))
                self.stdout.write(f"{duty} {store.code} {run.date}: {run.status}, {total} created {run.counts}")

"""Run a duty by hand for any date (backfill), for one store or all: the same code beat runs."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Store
from reports.duties import duty_catch_up, duty_run


def _load_duties() -> dict:
    # Imported when run: the duties live in the apps they serve.
    from complaints.tasks import SLA_DUTY, sla_work
    from reports.services import MID_MONTH_DUTY, MONTHLY_DUTY, WEEKLY_DUTY, WORK
    from visits.services import DAILY_DUTY, daily_work

    return {
        "daily": (DAILY_DUTY, daily_work),
        "complaint_sla": (SLA_DUTY, sla_work),
        "weekly": (WEEKLY_DUTY, WORK[WEEKLY_DUTY]),
        "mid_month": (MID_MONTH_DUTY, WORK[MID_MONTH_DUTY]),
        "monthly": (MONTHLY_DUTY, WORK[MONTHLY_DUTY]),
    }


class Command(BaseCommand):
    help = (
        "Run a scheduled duty for a date (backfill), e.g. `run_duties daily --date 2026-11-24 [--store SH01]`. "
        "Duties: daily (follow-up tasks), complaint_sla (this hour), weekly (Mondays: the previous week's "
        "report), mid_month (the 15th), monthly (a month's last day: tier review, snapshot, gift plans, "
        "upgrade pushes). Each runs once per store and date; running it again does nothing. Missed dates "
        "before --date are caught up first unless --no-catch-up."
    )

    def add_arguments(self, parser):
        parser.add_argument("duty", choices=["daily", "complaint_sla", "weekly", "mid_month", "monthly"])
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
            if duty in ("weekly", "mid_month", "monthly"):
                from reports.services import due_dates
                from reports.tasks import periodic_catch_up

                if on not in due_dates(duty, through=on, back_days=0) and options["no_catch_up"]:
                    raise CommandError(
                        f"{duty} is not due on {on} (weekly: Mondays; mid_month: the 15th; "
                        "monthly: a month's last day)."
                    )
                if options["no_catch_up"]:
                    runs = [duty_run(duty=duty, store=store, on=on, work=work)]
                else:
                    runs = periodic_catch_up(duty=duty, store=store, through=on)
            elif options["no_catch_up"]:
                runs = [duty_run(duty=duty, store=store, on=on, work=work)]
            else:
                runs = duty_catch_up(duty=duty, store=store, through=on, work=work)
            if not runs:
                self.stdout.write(f"{duty} {store.code} {on}: already run; nothing to do.")
            for run in runs:
                self.stdout.write(f"{duty} {store.code} {run.date}: {run.status} {run.counts}")

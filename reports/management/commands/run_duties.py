"""Run a duty by hand for any date (backfill), for one store or all: the same code beat runs."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Store
from duties.runs import duty_catch_up, duty_run, is_due

PERIODIC = ("weekly", "mid_month", "monthly")


def _load_duties() -> dict:
    # Imported when run: the duties live in the apps they serve.
    from complaints.tasks import SLA_DUTY, sla_work
    from reports.services import MID_MONTH_DUTY, MONTHLY_DUTY, RESTATE_DUTY, WEEKLY_DUTY, WORK, restatements_work
    from visits.services import DAILY_DUTY, daily_work
    from visits.top_spenders import TOP_SPENDERS_DUTY, top_spenders_work

    return {
        "daily": (DAILY_DUTY, daily_work),
        "complaint_sla": (SLA_DUTY, sla_work),
        "weekly": (WEEKLY_DUTY, WORK[WEEKLY_DUTY]),
        "mid_month": (MID_MONTH_DUTY, WORK[MID_MONTH_DUTY]),
        "monthly": (MONTHLY_DUTY, WORK[MONTHLY_DUTY]),
        "restatements": (RESTATE_DUTY, restatements_work),
        "top_spenders": (TOP_SPENDERS_DUTY, top_spenders_work),
    }


class Command(BaseCommand):
    help = (
        "Run a scheduled duty for a date (backfill), e.g. `run_duties daily --date 2026-11-24 [--store SH01]`. "
        "Duties: daily (follow-up tasks), complaint_sla (this hour), weekly (Mondays: the previous week's "
        "report), mid_month (the 15th), monthly (a month's last day: tier review, snapshot, gift plans, "
        "upgrade pushes), restatements (frozen snapshots whose ledger changed since), top_spenders (the 1st and the "
        "16th: the past half-month's top spenders and important members, a revisit each). Each runs once per "
        "store and date; running it again does nothing. Missed dates before --date are caught up first, "
        "oldest first, unless --no-catch-up. `run_duties --backfill` takes the monthly snapshots of the "
        "past 12 months the stores have data in (so the trends show after seeding or an import) and "
        "restates frozen ones whose ledger changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("duty", nargs="?", choices=[*_load_duties()])
        parser.add_argument("--date", type=date.fromisoformat, help="YYYY-MM-DD (default: today)")
        parser.add_argument("--store", help="store code (default: every active store)")
        parser.add_argument("--no-catch-up", action="store_true", help="run only --date, not missed days before it")
        parser.add_argument(
            "--backfill", action="store_true", help="monthly snapshots of the past 12 months (trends); no duty runs"
        )

    def handle(self, *args, **options):
        if bool(options["duty"]) == bool(options["backfill"]):
            raise CommandError("Name a duty, or give --backfill (not both).")
        on = options["date"] or timezone.localdate()
        if on > timezone.localdate():
            raise CommandError(f"{on} is in the future: duties run for today or earlier.")
        stores = Store.objects.filter(is_active=True)
        if options["store"]:
            stores = Store.objects.filter(code=options["store"].upper())
            if not stores:
                raise CommandError(f"No store with code {options['store']!r}.")
        if options["backfill"]:
            from reports.tasks import backfill

            for store in stores:
                taken = backfill(store=store, through=on)
                self.stdout.write(f"backfill {store.code} through {on}: {taken} monthly snapshots taken.")
            return
        duty, work = _load_duties()[options["duty"]]
        for store in stores:
            if duty == "complaint_sla":
                # Hourly and about now: checks breaches as of this moment, whatever --date says.
                from complaints.tasks import sla_duty_for

                self.stdout.write(f"{duty} {store.code}: {sla_duty_for(store)}")
                continue
            if duty in PERIODIC or (duty == "restatements" and not options["no_catch_up"]):
                from reports.services import SCHEDULES
                from reports.tasks import periodic_catch_up

                if options["no_catch_up"]:
                    if not is_due(SCHEDULES[duty], on):
                        raise CommandError(
                            f"{duty} is not due on {on} (weekly: Mondays; mid_month: the 15th; "
                            "monthly: a month's last day)."
                        )
                    runs = [duty_run(duty=duty, store=store, on=on, work=work)]
                else:
                    runs = periodic_catch_up(duty=duty, store=store, through=on)
            elif duty == "top_spenders":
                from visits.top_spenders import is_due as top_spenders_due

                if not top_spenders_due(on):
                    raise CommandError(f"top_spenders is not due on {on} (the 1st and the 16th).")
                runs = [duty_run(duty=duty, store=store, on=on, work=work)]
            elif options["no_catch_up"]:
                runs = [duty_run(duty=duty, store=store, on=on, work=work)]
            else:
                runs = duty_catch_up(duty=duty, store=store, through=on, work=work)
            if not runs:
                self.stdout.write(f"{duty} {store.code} {on}: already run; nothing to do.")
            for run in runs:
                self.stdout.write(f"{run.duty} {store.code} {run.date}: {run.status} {run.counts}")

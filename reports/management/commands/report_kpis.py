import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Store
from reports.kpis import compute_kpis, parse_month


def month_period(month: str, until: date | None) -> tuple[date, date]:
    try:
        return parse_month(month, until)
    except ValueError as e:
        raise CommandError(str(e)) from e


class Command(BaseCommand):
    help = (
        "The DOMAIN §6 KPIs for a month (or month-to-date with --until) for one store or all: churn, "
        "repurchase and upgrade rates with numerator and denominator, win-backs, downgrades, new members, "
        "tier mix, old/new VIP sales, follow-up completion, satisfaction, complaints."
    )

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("--until", type=date.fromisoformat, help="YYYY-MM-DD: month-to-date")
        parser.add_argument("--store", help="store code (default: all stores)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        start, end = month_period(options["month"], options["until"])
        store_ids, label = None, None
        if options["store"]:
            store = Store.objects.filter(code=options["store"].upper()).first()
            if store is None:
                raise CommandError(f"No store with code {options['store']!r}.")
            store_ids, label = [store.pk], store.code
        data = compute_kpis(start=start, end=end, store_ids=store_ids, store_label=label).as_json()
        if options["json"]:
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
            return
        self.stdout.write(f"{label or 'all stores'} {start} – {end}")
        for key, value in data.items():
            if key in ("period", "store"):
                continue
            if isinstance(value, dict) and "rate" in value:
                value = f"{value['rate']} ({value['numerator']}/{value['denominator']})"
            self.stdout.write(f"  {key:<22} {value}")

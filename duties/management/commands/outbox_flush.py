"""Send the outbox's due emails now: what beat's sweep does every two minutes, for a machine
without a worker or right after the mail server is fixed."""

from django.core.management.base import BaseCommand
from django.db.models import Count

from duties.models import OutboxEmail
from duties.services import emails_flush


class Command(BaseCommand):
    help = (
        "Send every outbox email that is due (queued over a minute, failed and past its backoff, or "
        "stuck in sending past the timeout), then print how many emails are in each status."
    )

    def handle(self, *args, **options):
        counts = emails_flush()
        self.stdout.write(" ".join(f"{key}={value}" for key, value in counts.items()))
        statuses = OutboxEmail.objects.order_by("status").values("status").annotate(n=Count("pk"))
        self.stdout.write(" ".join(f"{row['status']}={row['n']}" for row in statuses) or "outbox empty")

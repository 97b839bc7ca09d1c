from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DutiesConfig(AppConfig):
    """Plumbing the scheduled duties share (DOMAIN §10): the record of their runs and the running,
    once per store and date, with the catch-up of missed dates (runs.py: the work is passed in),
    and the email outbox. It depends on no domain app (visits, reports, complaints, campaigns,
    members use it, never the other way; tests/test_app_boundaries.py checks)."""

    name = "duties"
    verbose_name = _("定时任务")

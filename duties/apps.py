from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DutiesConfig(AppConfig):
    """Plumbing the scheduled duties share (DOMAIN §10): for now the email outbox. It depends on no
    domain app (visits, reports, complaints, campaigns, members use it, never the other way)."""

    name = "duties"
    verbose_name = _("定时任务")

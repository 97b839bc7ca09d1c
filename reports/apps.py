from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("报表")

    def ready(self) -> None:
        from members.signals import purchases_imported

        from .receivers import on_purchases_imported

        purchases_imported.connect(on_purchases_imported, dispatch_uid="reports.imported_purchases")

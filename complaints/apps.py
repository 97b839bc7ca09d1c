from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplaintsConfig(AppConfig):
    name = "complaints"
    verbose_name = _("投诉")

    def ready(self) -> None:
        from visits.signals import task_completed

        from .services import on_task_completed

        task_completed.connect(on_task_completed, dispatch_uid="complaints.revisit_done")

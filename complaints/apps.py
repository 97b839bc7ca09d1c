from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class ComplaintsConfig(AppConfig):
    name = "complaints"
    verbose_name = pgettext_lazy("plural", "投诉")

    def ready(self) -> None:
        from visits.signals import task_completed

        from .services import on_task_completed

        task_completed.connect(on_task_completed, dispatch_uid="complaints.revisit_done")

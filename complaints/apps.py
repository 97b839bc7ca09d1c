from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class ComplaintsConfig(AppConfig):
    name = "complaints"
    verbose_name = pgettext_lazy("plural", "投诉")

    def ready(self) -> None:
        from visits.signals import task_completed

        from .services import on_task_completed

        task_completed.connect(on_task_completed, dispatch_uid="complaints.revisit_done")

        from members.signals import member_erased

        from .services import on_member_erased

        member_erased.connect(on_member_erased, dispatch_uid="complaints.member_erased")

        from members.signals import members_merging

        from .merge_hooks import on_members_merging

        members_merging.connect(on_members_merging, dispatch_uid="complaints.members_merging")

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VisitsConfig(AppConfig):
    name = "visits"
    verbose_name = _("回访与关怀")

    def ready(self) -> None:
        from members.signals import purchase_recorded

        from .services import on_purchase_recorded

        purchase_recorded.connect(on_purchase_recorded, dispatch_uid="visits.post_purchase_task")

        from .invitation_hooks import on_purchase_mark_invitation_bought

        purchase_recorded.connect(on_purchase_mark_invitation_bought, dispatch_uid="visits.invitation_bought")

from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = pgettext_lazy("plural", "活动")

    def ready(self) -> None:
        from members.signals import members_merging

        from .merge_hooks import on_members_merging

        members_merging.connect(on_members_merging, dispatch_uid="campaigns.members_merging")

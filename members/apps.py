from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = pgettext_lazy("plural", "会员")

    def ready(self) -> None:
        from .relations import on_member_erased as relations_on_member_erased
        from .signals import member_erased

        # Connected before the other apps' receivers (members comes first): it adds the relatives'
        # names to what they scrub.
        member_erased.connect(relations_on_member_erased, dispatch_uid="members.relations_erased")

        from .merging import on_member_erased as merging_on_member_erased

        member_erased.connect(merging_on_member_erased, dispatch_uid="members.merges_erased")

        # Webhooks (issue 13): enrolments and tier changes queue the stores' deliveries.
        from .signals import member_enrolled, member_tiers_changed
        from .webhook_hooks import on_member_enrolled, on_member_tiers_changed

        member_enrolled.connect(on_member_enrolled, dispatch_uid="members.webhooks_enrolled")
        member_tiers_changed.connect(on_member_tiers_changed, dispatch_uid="members.webhooks_tiers")

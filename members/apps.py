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

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VisitsConfig(AppConfig):
    name = "visits"
    verbose_name = _("回访与关怀")

    def ready(self) -> None:
        from members.signals import member_dates_changed, purchase_recorded, purchases_imported

        from .services import on_member_dates_changed, on_purchase_recorded, on_purchases_imported

        purchase_recorded.connect(on_purchase_recorded, dispatch_uid="visits.post_purchase_task")
        purchases_imported.connect(on_purchases_imported, dispatch_uid="visits.imported_purchases")
        member_dates_changed.connect(on_member_dates_changed, dispatch_uid="visits.preparations")

        from .invitation_hooks import on_purchase_mark_invitation_bought

        purchase_recorded.connect(on_purchase_mark_invitation_bought, dispatch_uid="visits.invitation_bought")

        from members.signals import member_erased

        from .services import on_member_erased

        member_erased.connect(on_member_erased, dispatch_uid="visits.member_erased")

        from accounts.signals import staff_deactivated
        from members.signals import members_reassigned

        from .ownership_hooks import on_members_reassigned, on_staff_deactivated

        members_reassigned.connect(on_members_reassigned, dispatch_uid="visits.members_reassigned")
        staff_deactivated.connect(on_staff_deactivated, dispatch_uid="visits.staff_deactivated")

        from members.signals import members_merging

        from .merge_hooks import on_members_merging

        members_merging.connect(on_members_merging, dispatch_uid="visits.members_merging")

        from members.signals import member_transferred

        from .transfer_hooks import on_member_transferred

        member_transferred.connect(on_member_transferred, dispatch_uid="visits.member_transferred")

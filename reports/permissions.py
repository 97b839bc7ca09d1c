"""Who may write what in reports (DOMAIN §11). Targets and daily sales: the store's manager, HQ any
store's; everyone else reads. A report's commentary (issue 12 item 5): the store's VIP specialist
and manager write and submit it, its manager or HQ acknowledges, its leads and HQ comment. The
services check these; the pages ask them to show or hide a form."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from accounts.models import Role, Staff, Store

from .models import ReportSnapshot


def can_set_targets(viewer: Staff, store: Store) -> bool:
    """DOMAIN §11: the store's manager sets its targets; HQ any store's."""
    return viewer.is_hq or (viewer.is_manager and viewer.store_id == store.pk)


def can_record_sales(viewer: Staff, store: Store) -> bool:
    """The store's manager enters its daily totals; HQ any store's."""
    return can_set_targets(viewer, store)


def require(allowed: bool) -> None:
    """Refuse a write the viewer may not make (a 403 in a page, the API's error format there)."""
    if not allowed:
        raise PermissionDenied(_("只有本店店长或总部可以修改。"))


# --- A report's commentary ----------------------------------------------------------------------


def _own_store(viewer: Staff, snapshot: ReportSnapshot) -> bool:
    return viewer.is_active and viewer.store_id is not None and viewer.store_id == snapshot.store_id


def can_write(viewer: Staff, snapshot: ReportSnapshot) -> bool:
    """The store's VIP specialist and manager write and submit the commentary (HQ reads it)."""
    return viewer.role in (Role.VIP_SPECIALIST, Role.MANAGER) and _own_store(viewer, snapshot)


def can_acknowledge(viewer: Staff, snapshot: ReportSnapshot) -> bool:
    """The store's manager, or HQ (who may act for any store's manager)."""
    return viewer.is_hq or (viewer.is_manager and _own_store(viewer, snapshot))


def can_comment(viewer: Staff, snapshot: ReportSnapshot) -> bool:
    return viewer.is_hq or (viewer.is_store_lead and _own_store(viewer, snapshot))

"""What reports does when other apps' signals fire (connected in ReportsConfig.ready)."""

from __future__ import annotations

from django.db import connection, transaction

CHUNK = 500  # SQLite caps the parameters of one `IN (...)`


def on_purchases_imported(sender, purchases: list, **kwargs) -> None:
    """An import wrote purchases (perhaps back-dated): once it commits, take the past months'
    snapshots and restate the frozen ones whose ledger it changed, for the tills' stores and the
    members' home stores (a Celery task: an import of a year's receipts may touch dozens of
    periods). The home stores are one query: the member ids go as one array on PostgreSQL."""
    from members.models import Member
    from members.selectors import ids_filter

    from .tasks import after_import

    store_ids = {p.store_id for p in purchases}
    member_ids = sorted({p.member_id for p in purchases if p.member_id})
    chunk = max(len(member_ids), 1) if connection.vendor == "postgresql" else CHUNK
    for i in range(0, len(member_ids), chunk):
        homes = ids_filter(Member.objects.all(), "id", member_ids[i : i + chunk])
        store_ids |= set(homes.order_by().values_list("home_store_id", flat=True).distinct())
    ids = sorted(store_ids - {None})
    if ids:
        transaction.on_commit(lambda: after_import.delay(ids), robust=True)

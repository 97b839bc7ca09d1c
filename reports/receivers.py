"""What reports does when other apps' signals fire (connected in ReportsConfig.ready)."""

from __future__ import annotations

from django.db import transaction

CHUNK = 500  # SQLite caps the parameters of one `IN (...)`


def on_purchases_imported(sender, purchases: list, **kwargs) -> None:
    """An import wrote purchases (perhaps back-dated): once it commits, take the past months'
    snapshots and restate the frozen ones whose ledger it changed, for the tills' stores and the
    members' home stores (a Celery task: an import of a year's receipts may touch dozens of
    periods)."""
    from members.models import Member

    from .tasks import after_import

    store_ids = {p.store_id for p in purchases}
    member_ids = sorted({p.member_id for p in purchases if p.member_id})
    for i in range(0, len(member_ids), CHUNK):
        chunk = member_ids[i : i + CHUNK]
        store_ids |= set(Member.objects.filter(pk__in=chunk).values_list("home_store_id", flat=True))
    ids = sorted(store_ids - {None})
    if ids:
        transaction.on_commit(lambda: after_import.delay(ids), robust=True)

"""The hourly complaint SLA duty: thin tasks that take ids and call the service."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from accounts.models import Store
from duties.runs import duty_run

from .services import sla_check

SLA_DUTY = "complaint_sla"


def sla_work(store: Store, on) -> dict:
    return sla_check(store=store)


def sla_duty_for(store: Store) -> dict:
    """Run the check for this hour once (a second call in the same hour does nothing)."""
    now = timezone.localtime()
    run = duty_run(duty=SLA_DUTY, store=store, on=now.date(), slot=f"{now.hour:02d}", work=sla_work)
    return run.counts


@shared_task(name="complaints.sla_check_all_stores", ignore_result=True)
def sla_check_all_stores() -> list[int]:
    store_ids = list(Store.objects.filter(is_active=True).values_list("pk", flat=True))
    for store_id in store_ids:
        sla_check_store.delay(store_id)
    return store_ids


@shared_task(
    name="complaints.sla_check_store", ignore_result=True, autoretry_for=(Exception,), max_retries=3, retry_backoff=30
)
def sla_check_store(store_id: int) -> dict:
    return sla_duty_for(Store.objects.get(pk=store_id))

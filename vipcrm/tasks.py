import logging

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task(name="vipcrm.tasks.heartbeat", ignore_result=True)
def heartbeat() -> str:
    """Logs that beat and a worker are alive; `make run` shows it every minute."""
    now = timezone.now().isoformat()
    logger.info("heartbeat: worker alive at %s", now)
    cache.set("vipcrm:heartbeat", now, None)
    return now

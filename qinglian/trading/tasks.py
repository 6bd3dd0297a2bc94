"""Trading jobs (Huey): the daily detection of the warnings (credit, overdue, contract,
shipment and warehouse)."""

from __future__ import annotations

import logging
from typing import Any

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from qinglian.core.actors import SYSTEM_ACTOR

from .services.warnings import warnings_refresh

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(hour="1", minute="30"), retries=2, retry_delay=600)
def trading_warnings_daily() -> dict[str, Any]:
    """Every night at 01:30 (before supervision's run at 02:30, which reads the warnings):
    detect every company's warnings as of today. Warnings are keyed by fingerprint, so a
    retried run updates rather than duplicates."""
    result = warnings_refresh(actor=SYSTEM_ACTOR)
    logger.info("trading warnings: %s", result.as_dict())
    return result.as_dict()

"""Trading jobs (Huey): the daily detection of the warnings (credit, overdue, contract,
shipment and warehouse), and the refresh after postings of what they changed."""

from __future__ import annotations

import logging
from typing import Any

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from qinglian.core.actors import SYSTEM_ACTOR

from .services.warnings import warnings_refresh, warnings_refresh_for

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(hour="1", minute="30"), retries=2, retry_delay=600)
def trading_warnings_daily() -> dict[str, Any]:
    """Every night at 01:30 (before supervision's run at 02:30, which reads the warnings):
    detect every company's warnings as of today. Warnings are keyed by fingerprint, so a
    retried run updates rather than duplicates."""
    result = warnings_refresh(actor=SYSTEM_ACTOR)
    logger.info("trading warnings: %s", result.as_dict())
    return result.as_dict()


@db_task(retries=2, retry_delay=60)
def trading_warnings_refresh_task(
    contract_ids: list[int], partner_ids: list[int], stocktake_ids: list[int]
) -> dict[str, Any]:
    """After a transaction of postings committed (`services.warnings.
    warnings_refresh_after_commit` queues it, one per transaction): the warnings of the
    contracts, partners and stocktakes they changed, as of today. A failure is logged and
    retried; the daily job catches up on anything still missed."""
    result = warnings_refresh_for(
        contract_ids=contract_ids,
        partner_ids=partner_ids,
        stocktake_ids=stocktake_ids,
        actor=SYSTEM_ACTOR,
    )
    return result.as_dict()

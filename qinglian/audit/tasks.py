"""Scheduled audit jobs (Huey)."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from .services import audit_anchor_export

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(hour="0", minute="10"), retries=3, retry_delay=300)
def daily_audit_anchor() -> str:
    """Every night: write the chains' head hashes outside the database."""
    path = audit_anchor_export()
    logger.info("audit anchor written to %s", path)
    return str(path)

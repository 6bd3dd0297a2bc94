"""Scheduled approval jobs (Huey): the deadline check, and the e-mail copy of notices."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from qinglian.core import clock

from .services import notification_emails_send, task_escalate_overdue, task_remind_overdue

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(minute="*/30"), retries=3, retry_delay=60)
def approval_deadlines_check() -> dict[str, int]:
    """Every 30 minutes: remind whoever let a task pass its time limit (once), and tell their
    superior when it is more than a day past (once). A run that finds nothing new does nothing;
    a retried run picks up where the failed one stopped (one transaction per task)."""
    now = clock.now()
    result = {
        "reminded": task_remind_overdue(now=now),
        "escalated": task_escalate_overdue(now=now),
    }
    if result["reminded"] or result["escalated"]:
        logger.info("approval deadlines: %(reminded)d reminded, %(escalated)d escalated", result)
    return result


@db_periodic_task(crontab(minute="*"), retries=2, retry_delay=20)
@lock_task("approvals-notification-emails")  # a slow run is never overlapped by the next
def notification_emails_job() -> int:
    """Every minute: the e-mail copy of the notices written since the last run."""
    return notification_emails_send()

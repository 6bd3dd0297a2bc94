"""Supervision jobs (Huey): the nightly run of every enabled rule, the hourly escalation of
overdue cases, and the e-mail copies of what a case asks of people."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.org.models import User

from .enums import RunTrigger
from .services import case_escalate_overdue, run_rules

logger = logging.getLogger(__name__)


@db_periodic_task(crontab(hour="2", minute="30"), retries=2, retry_delay=600)
def supervision_scheduled_run() -> dict[str, int]:
    """Every night at 02:30: run every enabled rule over the group's data. Findings are keyed
    by a stable fingerprint, so a retried run records "seen again", never twins."""
    run = run_rules(actor=SYSTEM_ACTOR, trigger=RunTrigger.SCHEDULE)
    logger.info(
        "supervision run %s: %s new, %s seen again", run.pk, run.new_count, run.seen_again_count
    )
    return {"run": run.pk, "new": run.new_count, "seen_again": run.seen_again_count}


@db_periodic_task(crontab(minute="5"), retries=3, retry_delay=60)
def supervision_cases_escalate() -> int:
    """Every hour: escalate cases past their rectification deadline (once, then weekly)."""
    escalated = case_escalate_overdue(now=clock.now())
    if escalated:
        logger.info("supervision: %d overdue cases escalated", escalated)
    return escalated


@db_task(retries=3, retry_delay=60)
def supervision_mail_send(user_ids: list[int], subject: str, body: str) -> int:
    """The e-mail copy of a case step, queued once its change committed."""
    emails = list(
        User.objects.filter(pk__in=user_ids, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
    )
    if emails:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, emails)
    return len(emails)

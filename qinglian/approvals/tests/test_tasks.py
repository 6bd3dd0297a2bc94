"""The deadline job: reminders past a task's time limit, escalation a day later, each once."""

import copy
import datetime
from typing import Any

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from qinglian.approvals import selectors, services
from qinglian.approvals.enums import ActionKind, TaskStatus
from qinglian.approvals.models import ApprovalAction, ApprovalTask, Notification
from qinglian.approvals.tasks import approval_deadlines_check, notification_emails_job
from qinglian.approvals.tests.conftest import PAYMENT_DEFINITION
from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.org.enums import RoleCode
from qinglian.org.factories import make_user
from qinglian.org.models import User

START = timezone.make_aware(datetime.datetime(2026, 3, 2, 9, 0))  # a Monday morning


class FrozenClock:
    def __init__(self, moment):
        self.moment = moment

    def __call__(self):
        return self.moment

    def at(self, **delta):
        self.moment = START + datetime.timedelta(**delta)
        return self.moment


@pytest.fixture
def frozen(monkeypatch):
    frozen = FrozenClock(START)
    monkeypatch.setattr(clock, "now", frozen)
    return frozen


@pytest.fixture
def limited(flow):
    """The payment flow with time limits: 48 h for the cost audit, 24 h for the others."""
    definition: dict[str, Any] = copy.deepcopy(PAYMENT_DEFINITION)
    for node, hours in zip(definition["route"], (48, 24, 24), strict=True):
        node["time_limit_hours"] = hours
    services.template_save(
        actor=SYSTEM_ACTOR, code="payment", name="工程款支付", definition=definition
    )
    return flow


def submit(flow, amount="50000.00"):
    return services.request_submit(
        actor=flow.requester, template_code="payment", form_data=flow.data(amount)
    )


def run():
    """The job's function itself, at the frozen time (Huey keeps no result of a periodic
    task, so its counts come from the function)."""
    return approval_deadlines_check.call_local()


def notices(kind):
    return sorted(Notification.objects.filter(kind=kind).values_list("user__username", flat=True))


def actions(request, kind):
    return list(
        ApprovalAction.objects.filter(request=request, kind=kind)
        .order_by("id")
        .values_list("actor_id", "data__assignee")
    )


def audited(verb):
    return AuditEvent.objects.filter(action=f"approvals.request.{verb}").count()


def test_pending_tasks_get_their_due_time_from_the_node(limited, frozen):
    request = submit(limited)
    due = set(
        ApprovalTask.objects.filter(request=request, status=TaskStatus.PENDING).values_list(
            "due_at", flat=True
        )
    )
    assert due == {START + datetime.timedelta(hours=48)}


def test_nothing_happens_before_the_time_limit(limited, frozen):
    submit(limited)
    frozen.at(hours=47, minutes=59)
    assert run() == {"reminded": 0, "escalated": 0}
    assert Notification.objects.filter(kind__in=["reminder", "escalation"]).count() == 0
    assert ApprovalAction.objects.filter(kind=ActionKind.REMINDED).count() == 0


def test_a_task_past_its_time_limit_is_reminded_once(limited, frozen):
    request = submit(limited)
    now = frozen.at(hours=49)
    assert run() == {"reminded": 2, "escalated": 0}
    cost = ApprovalTask.objects.filter(request=request, step__node_key="cost")
    assert {(task.assignee, task.reminded_at, task.escalated_at) for task in cost} == {
        (limited.cost_1, now, None),
        (limited.cost_2, now, None),
    }
    assert notices("reminder") == sorted([limited.cost_1.username, limited.cost_2.username])
    assert actions(request, ActionKind.REMINDED) == [
        (None, limited.cost_1.pk),
        (None, limited.cost_2.pk),
    ]
    assert audited("reminded") == 2
    event = AuditEvent.objects.filter(action="approvals.request.reminded").first()
    assert event is not None and event.actor_name == "system"

    frozen.at(hours=50)
    assert run() == {"reminded": 0, "escalated": 0}
    assert len(notices("reminder")) == 2
    assert len(actions(request, ActionKind.REMINDED)) == 2
    assert audited("reminded") == 2


def test_a_decided_task_is_never_reminded(limited, frozen):
    request = submit(limited)
    frozen.at(hours=10)
    [task] = ApprovalTask.objects.filter(request=request, assignee=limited.cost_1)
    services.task_approve(actor=limited.cost_1, task_id=task.pk)
    # the leader's task opened at 10 h with 24 h to go; the other cost auditor's is cancelled
    frozen.at(hours=33)
    assert run() == {"reminded": 0, "escalated": 0}
    frozen.at(hours=35)
    assert run() == {"reminded": 1, "escalated": 0}
    assert notices("reminder") == [limited.leader.username]


def test_a_day_past_the_limit_the_superior_is_told_once(limited, frozen, org):
    # a third cost auditor who works in a department: their superior is its head; the two
    # without a department answer to the company's general manager
    member = make_user(
        company=org.company_a,
        department=org.department_a,
        roles=(RoleCode.COST_AUDITOR,),
        name="造价三",
    )
    request = submit(limited)
    frozen.at(hours=48 + 23)
    assert run() == {"reminded": 3, "escalated": 0}
    now = frozen.at(hours=48 + 25)
    assert run() == {"reminded": 0, "escalated": 3}
    assert notices("escalation") == sorted(
        [limited.manager.username, limited.manager.username, limited.head.username]
    )
    to_head = Notification.objects.get(kind="escalation", user=limited.head)
    assert member.name in to_head.message
    assert to_head.request == request
    escalated = ApprovalTask.objects.filter(request=request, escalated_at=now)
    assert {task.assignee for task in escalated} == {limited.cost_1, limited.cost_2, member}
    notified = {
        action.data["assignee"]: action.data["notified"]
        for action in ApprovalAction.objects.filter(request=request, kind=ActionKind.ESCALATED)
    }
    assert notified == {
        limited.cost_1.pk: [limited.manager.pk],
        limited.cost_2.pk: [limited.manager.pk],
        member.pk: [limited.head.pk],
    }
    assert audited("escalated") == 3
    # whoever is told about a late task can open the request
    assert selectors.can_see_request(limited.manager, request)
    assert selectors.can_see_request(limited.head, request)

    frozen.at(hours=48 + 60)
    assert run() == {"reminded": 0, "escalated": 0}
    assert len(notices("escalation")) == 3
    assert audited("escalated") == 3


def test_a_job_that_missed_a_day_reminds_and_escalates_in_one_run(limited, frozen):
    request = submit(limited)
    frozen.at(days=5)
    assert run() == {"reminded": 2, "escalated": 2}
    kinds = list(
        request.actions.filter(task__assignee=limited.cost_1)
        .order_by("id")
        .values_list("kind", flat=True)
    )
    assert kinds == [ActionKind.REMINDED, ActionKind.ESCALATED]


def test_a_late_general_manager_is_reported_to_the_group(limited, frozen, org):
    group_manager = make_user(
        company=org.group, roles=(RoleCode.GENERAL_MANAGER,), name="集团总经理"
    )
    request = submit(limited, amount="1500000.00")
    for hours, approver in ((1, limited.cost_1), (2, limited.leader)):
        frozen.at(hours=hours)
        [task] = ApprovalTask.objects.filter(
            request=request, assignee=approver, status=TaskStatus.PENDING
        )
        services.task_approve(actor=approver, task_id=task.pk)
    frozen.at(hours=2 + 24 + 25)
    assert run() == {"reminded": 1, "escalated": 1}
    assert notices("reminder") == [limited.manager.username]
    assert notices("escalation") == [group_manager.username]


def test_a_closed_request_is_left_alone(limited, frozen):
    request = submit(limited)
    frozen.at(hours=1)
    services.request_withdraw(actor=limited.requester, request_id=request.pk)
    frozen.at(days=5)
    assert run() == {"reminded": 0, "escalated": 0}
    assert audited("reminded") == audited("escalated") == 0


def test_huey_runs_the_job_every_thirty_minutes(limited, frozen):
    task = approval_deadlines_check.s()
    assert [
        task.validate_datetime(datetime.datetime(2026, 3, 2, 9, minute))
        for minute in (0, 15, 30, 45)
    ] == [True, False, True, False]
    assert task.retries == 3
    submit(limited)
    frozen.at(hours=49)
    approval_deadlines_check()  # enqueued; immediate mode (test settings) runs it right here
    assert len(notices("reminder")) == 2


# ---------------------------------------------------------------- the e-mail copy of notices


class BrokenMailServer(BaseEmailBackend):
    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")


def test_every_notice_is_mailed_once_to_its_recipient_alone(flow, mailoutbox):
    User.objects.filter(pk__in=[flow.cost_1.pk, flow.requester.pk]).update(
        email=Concat(F("username"), Value("@example.com"))
    )
    request = submit(flow)
    [task] = ApprovalTask.objects.filter(request=request, assignee=flow.cost_1)
    services.task_approve(actor=flow.cost_1, task_id=task.pk)
    assert mailoutbox == []  # nothing is mailed while the request runs
    notified = list(Notification.objects.order_by("id").values_list("user_id", flat=True))
    assert flow.cost_1.pk in notified and flow.leader.pk in notified  # the leader: no address

    assert notification_emails_job.call_local() == 1
    [message] = mailoutbox
    assert message.to == [f"{flow.cost_1.username}@example.com"]
    notice = Notification.objects.get(user=flow.cost_1)
    assert message.subject == f"[清廉] {notice.message}"
    assert message.body.endswith(f"{request.serial} {request.title}")
    assert not Notification.objects.filter(emailed_at__isnull=True).exists()
    assert notification_emails_job.call_local() == 0  # a second run sends nothing again
    assert len(mailoutbox) == 1


def test_a_failing_mail_server_leaves_the_notices_for_the_next_run(flow, settings, mailoutbox):
    User.objects.filter(pk=flow.cost_1.pk).update(email="cost@example.com")
    submit(flow)
    settings.EMAIL_BACKEND = f"{__name__}.BrokenMailServer"
    with pytest.raises(ConnectionRefusedError):
        services.notification_emails_send()
    assert Notification.objects.filter(emailed_at__isnull=True).count() == 2
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert services.notification_emails_send() == 1
    assert [message.to for message in mailoutbox] == [["cost@example.com"]]


def test_huey_mails_every_minute():
    task = notification_emails_job.s()
    assert task.validate_datetime(datetime.datetime(2026, 3, 2, 9, 1))

"""`manage.py demo_load`, loaded once for this module and shared by its tests: it builds the
group (a login per role), the approval requests in every state, the trading history, and runs
the supervision rules once with findings of every rule; a second load changes nothing."""

from collections import Counter
from dataclasses import dataclass
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction

from qinglian.approvals.enums import ActionKind, RequestStatus, StepStatus
from qinglian.approvals.models import (
    ApprovalAction,
    ApprovalRequest,
    ApprovalTask,
    Notification,
    TemplateVersion,
)
from qinglian.approvals.tests.test_demo import cc, demo_request, pending, steps, trail
from qinglian.audit.models import AuditEvent
from qinglian.audit.services import audit_chain_verify
from qinglian.org.enums import RoleCode
from qinglian.org.models import Company, Project, RoleAssignment, User
from qinglian.org.scopes import data_scope
from qinglian.supervision import registry
from qinglian.supervision.enums import RunStatus
from qinglian.supervision.models import Finding, Run


def _counts() -> dict[str, int]:
    models = (
        Company,
        User,
        RoleAssignment,
        ApprovalRequest,
        ApprovalAction,
        ApprovalTask,
        TemplateVersion,
        AuditEvent,
        Run,
        Finding,
    )
    return {model.__name__: model.objects.count() for model in models}


@dataclass
class Loaded:
    out: str
    err: str
    counts: dict[str, int]
    again_out: str
    again_counts: dict[str, int]


@pytest.fixture(scope="module")
def loaded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        out, err = StringIO(), StringIO()
        call_command("demo_load", stdout=out, stderr=err)
        counts = _counts()
        again = StringIO()
        call_command("demo_load", stdout=again, stderr=StringIO())
        if connection.features.can_defer_constraint_checks:
            # Check the load's deferred foreign keys once, here: left pending, PostgreSQL
            # checks them all again at the end of every test (its savepoint's rollback undoes
            # the check).
            connection.check_constraints()
        yield Loaded(out.getvalue(), err.getvalue(), counts, again.getvalue(), _counts())
        transaction.set_rollback(True)


@pytest.fixture
def demo(loaded, db):
    return loaded


def test_a_second_load_changes_nothing(demo):
    assert demo.again_counts == demo.counts
    assert "0 demo approval requests created" in demo.again_out
    assert "Supervision: rules already run, no new run." in demo.again_out
    assert audit_chain_verify().is_intact


def test_the_group_with_a_login_per_role(demo):
    assert Company.objects.count() == 5
    assert 38 <= User.objects.count() <= 45
    assert Project.objects.count() == 2
    held = set(RoleAssignment.objects.values_list("role__code", flat=True))
    assert held == set(RoleCode.values)
    assert "Qinglian2026" in demo.out
    for role in RoleCode:
        assert str(role.label) in demo.out


def test_the_inspector_is_group_wide_and_handlers_see_their_company(demo):
    assert data_scope(User.objects.get(username="chenjianguo")).is_group_wide
    handler = User.objects.get(username="liuyang")
    assert data_scope(handler).read_company_ids == {handler.company_id}
    assert handler.check_password("Qinglian2026")


def test_findings_of_every_rule_from_one_run(demo):
    run = Run.objects.get()
    assert (run.status, run.error, demo.err) == (RunStatus.FINISHED, "", "")
    found = Counter(Finding.objects.filter(first_run=run).values_list("rule_code", flat=True))
    rules = {rule.code: rule.number for rule in registry.all_rules()}
    assert len(rules) == 16
    missing = sorted(number for code, number in rules.items() if not found[code])
    assert missing == []
    assert f"Supervision rules run once: {run.new_count} findings." in demo.out
    assert run.new_count == sum(found.values())


def test_approval_requests_in_every_state(demo):
    assert "6 demo approval requests created" in demo.out

    waiting = demo_request("demo-payment-waiting")
    assert waiting.status == RequestStatus.IN_PROGRESS
    assert waiting.template.code == "engineering_payment"
    assert pending(waiting) == {"zhenghong", "wugang"}
    assert steps(waiting)[2] == ("总经理", StepStatus.WAITING)

    paid = demo_request("demo-payment-approved")
    assert paid.status == RequestStatus.APPROVED
    assert trail(paid) == [
        (ActionKind.SUBMITTED, "sunpeng"),
        (ActionKind.APPROVED, "wugang"),
        (ActionKind.APPROVED, "heping"),
    ]
    assert cc(paid) == {("zhuting", "end")}

    signed = demo_request("demo-contract-approved")
    assert signed.status == RequestStatus.APPROVED
    assert [who for _, who in trail(signed)] == [
        "lintao",
        "dongming",
        "pengli",
        "caomin",
        "yuanchao",
        "dengqiang",
    ]

    sealed = demo_request("demo-seal-rejected")
    assert sealed.status == RequestStatus.REJECTED
    assert trail(sealed)[-1] == (ActionKind.REJECTED, "dujuan")

    returned = demo_request("demo-expense-returned")
    assert returned.status == RequestStatus.RETURNED
    assert trail(returned)[-1] == (ActionKind.RETURNED, "hujing")
    assert Notification.objects.filter(
        user__username="liuyang", request=returned, kind="returned"
    ).exists()

    leave_request = demo_request("demo-leave-waiting")
    assert pending(leave_request) == {"fanwei"}

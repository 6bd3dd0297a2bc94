"""Concurrent master-data writes on PostgreSQL, with real threads and row locks: two purchasers
applying for the same supplier at once make one application; a sanction racing the approval
of an admission never leaves the supplier admitted over a blacklisting."""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.db import connection

from qinglian.approvals import services as approval_services
from qinglian.approvals.enums import TaskStatus
from qinglian.approvals.models import ApprovalTask
from qinglian.core.errors import ApplicationError
from qinglian.org.enums import RoleCode
from qinglian.org.factories import make_user
from qinglian.trading.enums import AdmissionStatus, ApprovalDocumentStatus, QualificationKind
from qinglian.trading.factories import make_partner
from qinglian.trading.models import Qualification, SupplierAdmission
from qinglian.trading.services import master as services

ROUNDS = 4

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgresql_only(transactional_db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite takes one database-wide write lock, so there are no "
            "row locks to race for (run with DATABASE_URL=postgres://...)"
        )


def _race(calls: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
    start = threading.Barrier(len(calls))
    outcomes: list[tuple[str, Any]] = [("not run", None)] * len(calls)
    errors: list[BaseException] = []

    def runner(index: int, call: Callable[[], Any]) -> None:
        try:
            start.wait(timeout=10)
            try:
                outcomes[index] = ("ok", call())
            except ApplicationError as refused:
                outcomes[index] = ("refused", refused.code)
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=runner, args=(i, call), daemon=True) for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return outcomes


def test_one_application_per_supplier(postgresql_only, org, trading):
    second = make_user(company=org.company_a, roles=(RoleCode.PURCHASER,), name="甲采购二")
    for _round in range(ROUNDS):
        partner = make_partner(company=org.group, admission_status="not_admitted")
        outcomes = _race(
            [
                partial(services.supplier_admission_create, actor=actor, partner_id=partner.pk)
                for actor in (trading.purchaser_a, second)
            ]
        )
        assert sorted(kind for kind, _value in outcomes) == ["ok", "refused"]
        assert SupplierAdmission.objects.filter(partner=partner).count() == 1


def test_blacklisting_races_the_final_approval(postgresql_only, org, trading, master_flows):
    for _round in range(ROUNDS):
        partner = make_partner(company=org.group, admission_status="not_admitted")
        Qualification.objects.create(
            partner=partner, kind=QualificationKind.BUSINESS_LICENCE, name="营业执照"
        )
        admission = services.supplier_admission_create(
            actor=trading.purchaser_a, partner_id=partner.pk
        )
        services.supplier_admission_submit(actor=trading.purchaser_a, admission_id=admission.pk)
        admission.refresh_from_db()
        request = admission.approval_request
        # Approve up to the last step, then race its approval against a blacklisting.
        while True:
            tasks = list(ApprovalTask.objects.filter(request=request, status=TaskStatus.PENDING))
            if tasks[0].assignee_id == master_flows.leader_a.pk:
                break
            for task in tasks:
                approval_services.task_approve(actor=task.assignee, task_id=task.pk)
        [last] = tasks
        _race(
            [
                partial(
                    approval_services.task_approve, actor=master_flows.leader_a, task_id=last.pk
                ),
                partial(
                    services.partner_blacklist,
                    actor=trading.manager_a,
                    partner_id=partner.pk,
                    reason="失信",
                ),
            ]
        )
        partner.refresh_from_db()
        admission.refresh_from_db()
        assert admission.status == ApprovalDocumentStatus.APPROVED
        assert partner.admission_status == AdmissionStatus.BLACKLISTED

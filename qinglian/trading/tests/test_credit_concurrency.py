"""Credit checks under real concurrency on PostgreSQL (threads, each on its own connection, real
row locks): goods issues and sales contracts racing against a tight credit limit never take
the exposure over it without an approved exception — the check and the change happen under
the customer's exposure row lock, so there is no check-then-act race; one exception serves one
document; the row always ends equal to its sources.

The data is committed (transactional tests), so every thread sees it."""

import datetime
import threading
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import connection

from qinglian.approvals import services as approval_services
from qinglian.approvals.enums import TaskStatus
from qinglian.approvals.models import ApprovalTask
from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.core.errors import ValidationFailed
from qinglian.org.enums import RoleCode
from qinglian.org.factories import make_user
from qinglian.trading.enums import ContractKind, ContractStatus, PaymentTerm
from qinglian.trading.models import (
    Contract,
    CreditException,
    CreditExceptionStatus,
    CreditExposure,
    Partner,
)
from qinglian.trading.selectors import credit as selectors
from qinglian.trading.services import contracts as contract_services
from qinglian.trading.services import credit as services

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
TODAY = clock.today()


@pytest.fixture
def postgresql_only(transactional_db: None) -> None:
    """Real row locks; the tests using it carry the `postgres` marker."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite takes one database-wide write lock, so there are no "
            "row locks to race for (run with DATABASE_URL=postgres://...)"
        )


@pytest.fixture
def flows(postgresql_only, money_flows):
    from qinglian.approvals.services import template_save

    for flow in services.APPROVAL_FLOWS:
        template_save(actor=SYSTEM_ACTOR, **flow)
    return money_flows


def race(calls: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
    """Run the calls at the same instant, one thread each: ("ok", result) or ("refused",
    code) per call, in the calls' order; anything else fails the test."""
    start = threading.Barrier(len(calls))
    outcomes: list[tuple[str, Any]] = [("not run", None)] * len(calls)
    errors: list[BaseException] = []

    def runner(index: int, call: Callable[[], Any]) -> Callable[[], None]:
        def work() -> None:
            try:
                start.wait(timeout=10)
                try:
                    outcomes[index] = ("ok", call())
                except ValidationFailed as refused:
                    outcomes[index] = ("refused", refused.code)
            except BaseException as error:  # reported by the test, not lost in the thread
                errors.append(error)
            finally:
                connection.close()

        return work

    threads = [threading.Thread(target=runner(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return outcomes


def set_limit(partner: Partner, limit: str) -> None:
    Partner.objects.filter(pk=partner.pk).update(credit_limit=D(limit))
    partner.refresh_from_db()


def exposure(partner: Partner) -> D:
    return selectors.credit_standing(partner=partner).exposure


def assert_row_matches_sources(partner: Partner) -> None:
    row = CreditExposure.objects.get(partner=partner)
    assert selectors.exposure_components(partner_id=partner.pk) == selectors.Components(
        row.receivable, row.uninvoiced, row.open_orders
    )


def group_policy(org: Any, *, open_orders: bool) -> None:
    manager = make_user(company=org.group, roles=(RoleCode.GENERAL_MANAGER,), username="gm_race")
    services.credit_policy_save(
        actor=manager,
        company_id=org.group.pk,
        include_receivables=True,
        include_uninvoiced=True,
        include_open_orders=open_orders,
        overdue_block_enabled=True,
        overdue_block_days=30,
        overdue_block_amount="0",
    )


def test_concurrent_goods_issues_never_take_the_exposure_over_the_limit(flows, org, stock):
    t = stock.trading
    group_policy(org, open_orders=False)  # every issue adds its value
    stock.receive("100")
    set_limit(t.customer, "50000.00")  # room for exactly 10 t at 5,000.00
    for round_number in range(2):
        outcomes = race([lambda: stock.issue("1") for _ in range(14)])
        taken = [o for o in outcomes if o[0] == "ok"]
        refused = [o for o in outcomes if o[0] == "refused"]
        assert refused == [("refused", services.CREDIT_LIMIT_CODE)] * len(refused)
        assert exposure(t.customer) <= D("50000.00")
        assert len(taken) == (10 if round_number == 0 else 0)
        assert_row_matches_sources(t.customer)
    assert exposure(t.customer) == D("50000.00")


def pending_sales_contract(org: Any, customer: Partner, steel: Any, company: Any) -> ApprovalTask:
    """A 10,000.00 sales contract of `company` for the customer, approved up to its last step
    (finance); returns that last task."""
    from qinglian.org.factories import make_company

    company = company or make_company(parent=org.group)
    salesperson = make_user(company=company, roles=(RoleCode.SALESPERSON,))
    legal = make_user(company=company, roles=(RoleCode.LEGAL_REVIEWER,))
    if company.pk != org.company_b.pk:  # B has its finance already
        make_user(company=company, roles=(RoleCode.FINANCE,))
    contract = contract_services.contract_create(
        actor=salesperson,
        company_id=company.pk,
        kind=ContractKind.SALES,
        partner_id=customer.pk,
        payment_term=PaymentTerm.CREDIT,
        credit_days=30,
        signed_on=TODAY,
        delivery_start=TODAY,
        delivery_end=TODAY + datetime.timedelta(days=30),
        end_on=TODAY + datetime.timedelta(days=60),
        lines=[{"commodity_id": steel.pk, "quantity": "2", "unit_price": "5000.00"}],
    )
    contract_services.contract_submit(actor=salesperson, contract_id=contract.pk)
    contract.refresh_from_db()
    first = ApprovalTask.objects.get(
        request_id=contract.approval_request_id, status=TaskStatus.PENDING
    )
    assert first.assignee_id == legal.pk
    approval_services.task_approve(actor=legal, task_id=first.pk)
    return ApprovalTask.objects.get(
        request_id=contract.approval_request_id, status=TaskStatus.PENDING
    )


def test_sales_contracts_and_goods_issues_racing_across_companies(flows, org, stock):
    """Company A over-issues its fully delivered contract (each 1 t adds 5,000.00) while five
    other companies' sales contracts of 10,000.00 take effect, all for the group's customer;
    the headroom is 25,000.00. The companies share no lock but the customer's exposure row
    (each writes its own audit chain), so without that lock the checks would overlap."""
    t = stock.trading
    stock.receive("900")
    stock.receive("500", commodity=t.coal)
    stock.issue("800")
    stock.issue("400", commodity=t.coal)
    assert exposure(t.customer) == D("4440000.00")
    set_limit(t.customer, "4465000.00")
    tasks = [pending_sales_contract(org, t.customer, t.steel, org.company_b)] + [
        pending_sales_contract(org, t.customer, t.steel, None) for _ in range(4)
    ]

    def approve(task: ApprovalTask) -> Callable[[], Any]:
        return lambda: approval_services.task_approve(actor=task.assignee, task_id=task.pk)

    calls: list[Callable[[], Any]] = [approve(task) for task in tasks]
    calls += [lambda: stock.issue("1") for _ in range(3)]
    outcomes = race(calls)
    refused = [o for o in outcomes if o[0] == "refused"]
    assert refused == [("refused", services.CREDIT_LIMIT_CODE)] * len(refused)
    effective = (
        Contract.objects.exclude(company=org.company_a)
        .filter(kind=ContractKind.SALES, status=ContractStatus.EFFECTIVE)
        .count()
    )
    issues_taken = sum(1 for o in outcomes[len(tasks) :] if o[0] == "ok")
    added = effective * D("10000.00") + issues_taken * D("5000.00")
    assert added <= D("25000.00")
    assert added >= D("20000.00")  # refusals only when the next one would not fit
    assert exposure(t.customer) == D("4440000.00") + added <= D("4465000.00")
    assert_row_matches_sources(t.customer)


def test_one_exception_serves_one_of_many_concurrent_issues(flows, org, stock):
    t = stock.trading
    group_policy(org, open_orders=False)
    stock.receive("100")
    set_limit(t.customer, "5000.00")
    stock.issue("1")  # at the limit
    granted = services.credit_exception_request(
        actor=t.salesperson_a,
        partner_id=t.customer.pk,
        amount="5000.00",
        reason="急单",
        valid_until=TODAY,
    )
    for _ in range(3):
        for task in ApprovalTask.objects.filter(
            request_id=granted.approval_request_id, status=TaskStatus.PENDING
        ):
            approval_services.task_approve(actor=task.assignee, task_id=task.pk)
    granted.refresh_from_db()
    assert granted.status == CreditExceptionStatus.APPROVED
    outcomes = race([lambda: stock.issue("1") for _ in range(6)])
    taken = [value for kind, value in outcomes if kind == "ok"]
    assert len(taken) == 1
    granted.refresh_from_db()
    assert (granted.status, granted.used_document_id) == (
        CreditExceptionStatus.USED,
        taken[0].pk,
    )
    assert CreditException.objects.filter(status=CreditExceptionStatus.USED).count() == 1
    assert exposure(t.customer) == D("10000.00")  # the limit plus exactly the exception
    assert_row_matches_sources(t.customer)

"""The warnings follow the postings: a posting service registers what it changed, and once its
transaction commits one Huey task (immediate in the tests) refreshes exactly that — the credit
warning opens right after the goods issue that pushed the customer over, the delivery warning
resolves with the receipt that completes the contract, without the daily job. A transaction
that rolls back queues nothing; several postings in one transaction queue one task; a refresh
or a queue that fails never fails the posting."""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal as D
from typing import Any

import pytest
from django.db import transaction
from huey.contrib.djhuey import HUEY
from huey.signals import SIGNAL_ENQUEUED

from qinglian.approvals import services as approval_services
from qinglian.approvals.enums import RequestStatus, TaskStatus
from qinglian.approvals.models import ApprovalRequest, ApprovalTask
from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.org.enums import RoleCode
from qinglian.org.factories import make_user
from qinglian.trading import tasks
from qinglian.trading.enums import PartnerAccount, PostingStatus, QualificationKind
from qinglian.trading.models import Contract, CreditExceptionStatus, Partner, StockDocument
from qinglian.trading.models.warnings import TradingWarning, WarningCode, WarningState
from qinglian.trading.services import contracts as contract_services
from qinglian.trading.services import credit as credit_services
from qinglian.trading.services import master as master_services
from qinglian.trading.services import money as money_services
from qinglian.trading.services import stock as stock_services
from qinglian.trading.services.warnings import warnings_refresh, warnings_refresh_after_commit

pytestmark = pytest.mark.django_db


def today() -> datetime.date:
    return clock.today()


def days(n: int) -> datetime.date:
    return today() + datetime.timedelta(days=n)


@pytest.fixture
def stock(stock):
    """The stock world with its contracts in force from a year ago to a year ahead, so only
    what a test changes is near a threshold."""
    Contract.objects.update(
        signed_on=days(-365), effective_on=days(-365), end_on=days(365), delivery_end=days(365)
    )
    return stock


@pytest.fixture
def queued():
    """The refresh tasks queued meanwhile: (contract ids, partner ids, stocktake ids) each."""
    seen: list[tuple[list[int], list[int], list[int]]] = []

    def record(signal: str, task: Any, *args: Any) -> None:
        if task.name.endswith("trading_warnings_refresh_task"):
            seen.append(tuple(task.args))

    HUEY.signal(SIGNAL_ENQUEUED)(record)
    yield seen
    HUEY.disconnect_signal(record, SIGNAL_ENQUEUED)


def warnings_of(code: str, **filters: Any) -> list[tuple[str, str]]:
    return sorted(
        TradingWarning.objects.filter(code=code, **filters).values_list("fingerprint", "state")
    )


# ---------------------------------------------------------------- credit, right after the issue


@pytest.fixture
def credit_flows(money_flows):
    for flow in credit_services.APPROVAL_FLOWS:
        approval_services.template_save(actor=SYSTEM_ACTOR, **flow)
    return money_flows


def _approve_all(document: Any) -> None:
    document.refresh_from_db()
    request = ApprovalRequest.objects.get(pk=document.approval_request_id)
    for _round in range(10):
        request.refresh_from_db()
        if request.status != RequestStatus.IN_PROGRESS:
            break
        for task in ApprovalTask.objects.filter(request=request, status=TaskStatus.PENDING):
            approval_services.task_approve(actor=task.assignee, task_id=task.pk)
    document.refresh_from_db()


def _policy_without_open_orders(org: Any) -> None:
    """Goods issues then grow the exposure (uninvoiced) instead of using up the open order."""
    group_manager = make_user(
        company=org.group, roles=(RoleCode.GENERAL_MANAGER,), username="gm_group", name="集团总"
    )
    credit_services.credit_policy_save(
        actor=group_manager,
        company_id=org.group.pk,
        include_receivables=True,
        include_uninvoiced=True,
        include_open_orders=False,
        overdue_block_enabled=False,
        overdue_block_days=30,
        overdue_block_amount="0",
    )


def test_an_issue_over_the_limit_through_an_exception_opens_the_credit_warning_on_commit(
    stock, org, credit_flows, queued, django_capture_on_commit_callbacks
):
    t = stock.trading
    _policy_without_open_orders(org)
    stock.receive("100")
    Partner.objects.filter(pk=t.customer.pk).update(credit_limit=D("50000.00"))
    with django_capture_on_commit_callbacks(execute=True):
        stock.issue("10")  # exposure 50,000.00: at the limit, not over it
    assert warnings_of(WarningCode.CREDIT_OVER_LIMIT) == []
    granted = credit_services.credit_exception_request(
        actor=t.salesperson_a,
        partner_id=t.customer.pk,
        amount="5000.00",
        valid_until=days(7),
        reason="季度末集中提货",
    )
    _approve_all(granted)
    assert granted.status == CreditExceptionStatus.APPROVED
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        issued = stock.issue("1")  # 5,000.00 more: 55,000.00, through the exception
        # the posting did not wait for the detection: nothing yet inside its transaction
        assert warnings_of(WarningCode.CREDIT_OVER_LIMIT) == []
    fingerprint = f"credit_over_limit:p{t.customer.pk}"
    assert warnings_of(WarningCode.CREDIT_OVER_LIMIT) == [(fingerprint, WarningState.OPEN)]
    warning = TradingWarning.objects.get(fingerprint=fingerprint)
    assert (warning.company_id, warning.measured_value, warning.threshold_value) == (
        org.company_a.pk,
        D("55000.00"),
        D("50000.00"),
    )
    assert len(queued) == 1
    contract_ids, _partners, stocktake_ids = queued[0]
    assert issued.contract_id in contract_ids and stocktake_ids == []
    granted.refresh_from_db()
    assert granted.status == CreditExceptionStatus.USED


# ---------------------------------------------------------------- the receipt completing a contract


def test_the_receipt_that_completes_a_late_contract_resolves_its_delivery_warning(
    stock, org, queued, django_capture_on_commit_callbacks
):
    t = stock.trading
    Contract.objects.filter(pk=stock.purchase.pk).update(delivery_end=days(-1))
    with django_capture_on_commit_callbacks(execute=True):
        stock.receive("500")  # half the steel, none of the coal: late and short
    fingerprint = f"delivery_overdue:c{stock.purchase.pk}"
    assert warnings_of(WarningCode.DELIVERY_OVERDUE) == [(fingerprint, WarningState.OPEN)]
    with django_capture_on_commit_callbacks(execute=True):
        stock.receive(
            "0",
            lines=[
                {"commodity_id": t.steel.pk, "quantity": D("450")},  # 950: 1,000 − 5 %
                {"commodity_id": t.coal.pk, "quantity": D("475")},  # 500 − 5 %
            ],
        )
        assert warnings_of(WarningCode.DELIVERY_OVERDUE) == [(fingerprint, WarningState.OPEN)]
    warning = TradingWarning.objects.get(fingerprint=fingerprint)
    assert (warning.state, warning.is_auto_resolved, warning.is_present) == (
        WarningState.RESOLVED,
        True,
        False,
    )
    assert len(queued) == 2


def test_a_receipt_just_short_of_the_minimum_keeps_the_delivery_warning(
    stock, org, django_capture_on_commit_callbacks
):
    t = stock.trading
    Contract.objects.filter(pk=stock.purchase.pk).update(delivery_end=days(-1))
    with django_capture_on_commit_callbacks(execute=True):
        stock.receive(
            "0",
            lines=[
                {"commodity_id": t.steel.pk, "quantity": D("949.999")},  # 1 kg short of 950
                {"commodity_id": t.coal.pk, "quantity": D("475")},
            ],
        )
    fingerprint = f"delivery_overdue:c{stock.purchase.pk}"
    assert warnings_of(WarningCode.DELIVERY_OVERDUE) == [(fingerprint, WarningState.OPEN)]


# ---------------------------------------------------------------- one task per transaction


def test_a_posting_rolled_back_queues_nothing(stock, queued, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        stock.receive("10")
        raise RuntimeError("the request failed after the posting")
    assert (callbacks, queued) == ([], [])
    assert not StockDocument.objects.exists()
    assert not TradingWarning.objects.exists()


def test_several_postings_in_one_transaction_queue_one_task(
    stock, queued, django_capture_on_commit_callbacks
):
    t = stock.trading
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        stock.receive("10")
        stock.issue("5")
        with pytest.raises(RuntimeError), transaction.atomic():  # a savepoint rolled back
            stock.receive("20")
            raise RuntimeError
        stock.receive("30", commodity=t.coal)
        assert queued == []  # nothing before the commit
    assert queued == [([stock.purchase.pk, stock.sales.pk], [], [])]
    assert StockDocument.objects.count() == 3


def test_nothing_to_refresh_queues_nothing(queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        warnings_refresh_after_commit(contract_ids=[None], partner_ids=[], stocktake_ids=())
    assert (callbacks, queued) == ([], [])


# ---------------------------------------------------------------- failures never fail the posting


def test_a_refresh_that_fails_does_not_fail_the_posting(
    stock, queued, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("detection broke")

    monkeypatch.setattr(tasks, "warnings_refresh_for", broken)
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        document = stock.receive("10")
    document.refresh_from_db()
    assert document.status == PostingStatus.POSTED
    assert len(queued) == 1
    assert "detection broke" in caplog.text


def test_a_queue_that_fails_does_not_fail_the_posting(
    stock, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    def unreachable(*args: Any) -> None:
        raise ConnectionError("the queue's store is down")

    monkeypatch.setattr(tasks, "trading_warnings_refresh_task", unreachable)
    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        document = stock.receive("10")
    assert StockDocument.objects.get(pk=document.pk).status == PostingStatus.POSTED
    assert "could not be queued" in caplog.text
    assert "the queue's store is down" in caplog.text


# ---------------------------------------------------------------- what each area hands over


def test_money_postings_refresh_their_contract_and_partner(
    stock, org, queued, django_capture_on_commit_callbacks
):
    t = stock.trading
    with django_capture_on_commit_callbacks(execute=True):
        money_services.opening_balance_post(
            actor=t.finance_a,
            company_id=org.company_a.pk,
            partner_id=t.customer.pk,
            account=PartnerAccount.RECEIVABLE,
            amount="1000.00",
            posting_date=days(-120),
            due_date=days(-5),
            contract_id=stock.sales.pk,
        )
    assert queued == [([stock.sales.pk], [t.customer.pk], [])]
    fingerprint = f"receivable_overdue:p{t.customer.pk}"
    assert warnings_of(WarningCode.RECEIVABLE_OVERDUE) == [(fingerprint, WarningState.OPEN)]
    receipt = money_services.payment_create(
        actor=t.finance_a, contract_id=stock.sales.pk, amount="1000.00", paid_on=today()
    )
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        money_services.receipt_post(actor=t.finance_a, payment_id=receipt.pk)
    assert queued == [([stock.sales.pk], [t.customer.pk], [])]
    assert warnings_of(WarningCode.RECEIVABLE_OVERDUE) == [(fingerprint, WarningState.RESOLVED)]


def test_a_qualification_expired_warns_on_every_company_dealing_with_the_supplier(
    stock, org, queued, django_capture_on_commit_callbacks
):
    t = stock.trading
    with django_capture_on_commit_callbacks(execute=True):
        master_services.qualification_add(
            actor=t.purchaser_a,
            partner_id=t.supplier.pk,
            kind=QualificationKind.BUSINESS_LICENCE,
            issued_on=days(-400),
            expires_on=days(-1),
        )
    assert queued == [([], [t.supplier.pk], [])]
    assert sorted(
        TradingWarning.objects.filter(
            code=WarningCode.COUNTERPARTY_QUALIFICATION_EXPIRED
        ).values_list("company_id", "contract_id")
    ) == sorted([(org.company_a.pk, stock.purchase.pk), (org.company_b.pk, stock.purchase_b.pk)])


def test_a_stocktake_is_refreshed_when_saved_and_when_cancelled(
    stock, queued, django_capture_on_commit_callbacks
):
    t = stock.trading
    for flow in stock_services.APPROVAL_FLOWS:
        approval_services.template_save(actor=SYSTEM_ACTOR, **flow)
    stock.receive("1000")
    with django_capture_on_commit_callbacks(execute=True):
        count = stock_services.stocktake_create(
            actor=t.keeper_a,
            warehouse_id=t.warehouse_a.pk,
            counted_on=today(),
            lines=[{"commodity_id": t.steel.pk, "counted_quantity": "990", "reason": "损耗"}],
        )
    fingerprint = f"stock_variance:s{count.pk}:m{t.steel.pk}"
    assert warnings_of(WarningCode.STOCK_VARIANCE) == [(fingerprint, WarningState.OPEN)]
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        stock_services.stocktake_cancel(actor=t.keeper_a, stocktake_id=count.pk)
    assert queued == [([], [], [count.pk])]
    assert warnings_of(WarningCode.STOCK_VARIANCE) == [(fingerprint, WarningState.RESOLVED)]


def test_a_contract_is_refreshed_when_goods_move_on_it_and_when_it_is_terminated(
    stock, queued, django_capture_on_commit_callbacks
):
    t = stock.trading
    Contract.objects.filter(pk=stock.sales.pk).update(end_on=days(10))
    with django_capture_on_commit_callbacks(execute=True):
        stock.receive("10")  # on the purchase contract: the sales contract is not looked at
    assert warnings_of(WarningCode.CONTRACT_EXPIRING) == []
    with django_capture_on_commit_callbacks(execute=True):
        stock.issue("5")
    fingerprint = f"contract_expiring:c{stock.sales.pk}"
    assert warnings_of(WarningCode.CONTRACT_EXPIRING) == [(fingerprint, WarningState.OPEN)]
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        contract_services.contract_terminate(
            actor=t.salesperson_a, contract_id=stock.sales.pk, reason="客户停产"
        )
    assert queued == [([stock.sales.pk], [], [])]
    assert warnings_of(WarningCode.CONTRACT_EXPIRING) == [(fingerprint, WarningState.RESOLVED)]


def test_changing_the_exposure_formula_refreshes_the_customers_it_applies_to(
    stock, org, queued, django_capture_on_commit_callbacks
):
    t = stock.trading
    # the sales contract's open order, 4,440,000.00, is the whole exposure: over 4,000,000
    Partner.objects.filter(pk=t.customer.pk).update(credit_limit=D("4000000.00"))
    warnings_refresh(company=org.company_a)
    fingerprint = f"credit_over_limit:p{t.customer.pk}"
    assert warnings_of(WarningCode.CREDIT_OVER_LIMIT) == [(fingerprint, WarningState.OPEN)]
    with django_capture_on_commit_callbacks(execute=True):
        _policy_without_open_orders(org)  # nothing issued yet: no exposure left
    assert queued == [([], [t.customer.pk], [])]
    assert warnings_of(WarningCode.CREDIT_OVER_LIMIT) == [(fingerprint, WarningState.RESOLVED)]


# ---------------------------------------------------------------- a real commit


@pytest.mark.django_db(transaction=True)
def test_after_a_real_commit_the_warning_is_there_and_one_task_ran(stock, org, queued):
    t = stock.trading
    Contract.objects.filter(pk=stock.purchase.pk).update(delivery_end=days(-1))
    Partner.objects.filter(pk=t.customer.pk).update(credit_limit=D("4439999.99"))
    queued.clear()
    with transaction.atomic():
        stock.receive("10")
        stock.receive("5", commodity=t.coal)
    assert queued == [([stock.purchase.pk], [], [])]
    assert warnings_of(WarningCode.DELIVERY_OVERDUE) == [
        (f"delivery_overdue:c{stock.purchase.pk}", WarningState.OPEN)
    ]
    # the refresh looked at the purchase contract and its supplier only
    assert warnings_of(WarningCode.CREDIT_OVER_LIMIT) == []
    # outside a transaction (autocommit) the task is queued at once
    warnings_refresh_after_commit(contract_ids=[stock.sales.pk, None], partner_ids=[0])
    assert queued[1:] == [([stock.sales.pk], [], [])]
    assert warnings_of(WarningCode.CREDIT_OVER_LIMIT) == [
        (f"credit_over_limit:p{t.customer.pk}", WarningState.OPEN)
    ]

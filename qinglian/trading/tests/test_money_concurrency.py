"""Concurrent money postings on PostgreSQL, with real threads and real row locks: postings
against one partner never lose or double a ledger entry, the same document posts once, and
two payments submitted at once cannot together exceed what the contract allows.

The data is committed (transactional tests), so every thread — each on its own connection —
sees it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum

from qinglian.audit.services import audit_chain_verify
from qinglian.core import clock
from qinglian.core.errors import ApplicationError
from qinglian.trading.enums import (
    ApprovedPostingStatus,
    ContractKind,
    PartnerAccount,
    PaymentTerm,
    PostingStatus,
    TradingErrorCode,
)
from qinglian.trading.factories import make_contract
from qinglian.trading.models import Invoice, PartnerBalance, PartnerLedgerEntry, Payment
from qinglian.trading.services import money as services

ROUNDS = 3
TODAY = clock.today()
D = Decimal

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgresql_only(transactional_db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite takes one database-wide write lock, so there are no "
            "row locks to race for (run with DATABASE_URL=postgres://...)"
        )


def _race(calls: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
    """Run the calls at the same instant, one thread each: ("ok", result) or ("refused",
    code) per call, in the calls' order."""
    start = threading.Barrier(len(calls))
    outcomes: list[tuple[str, Any]] = [("not run", None)] * len(calls)
    errors: list[BaseException] = []

    def runner(index: int, call: Callable[[], Any]) -> Callable[[], None]:
        def work() -> None:
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

        return work

    threads = [threading.Thread(target=runner(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread never finished"
    assert errors == []
    return outcomes


def _call(service: Callable[..., Any], actor: Any, **kwargs: Any) -> Callable[[], Any]:
    return lambda: service(actor=actor, **kwargs)


def _contract(trading, org, *, kind=ContractKind.PURCHASE, **extra):
    partner = trading.supplier if kind == ContractKind.PURCHASE else trading.customer
    owner = trading.purchaser_a if kind == ContractKind.PURCHASE else trading.salesperson_a
    return make_contract(
        company=org.company_a,
        partner=partner,
        owner=owner,
        kind=kind,
        lines=[(trading.steel, "1000", "4000")],
        **extra,
    )


def _assert_ledger_matches_balance(org, partner):
    balance = PartnerBalance.objects.get(company=org.company_a, partner=partner)
    for account, stored in (
        (PartnerAccount.RECEIVABLE, balance.receivable),
        (PartnerAccount.PAYABLE, balance.payable),
    ):
        total = PartnerLedgerEntry.objects.filter(
            company=org.company_a, partner=partner, account=account
        ).aggregate(total=Sum("amount"))["total"] or D("0")
        assert stored == total


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_concurrent_postings_against_one_partner_lose_and_double_nothing(
    postgresql_only, trading, org, money_flows, round_number
):
    """Invoices on two contracts and receipts, all for one customer, posted at once — the
    first of them also creates the partner's balance row."""
    first, second = (_contract(trading, org, kind=ContractKind.SALES) for _ in range(2))
    invoices = [
        services.invoice_create(
            actor=trading.finance_a,
            contract_id=contract.pk,
            invoice_number=f"{round_number}-{index:04d}",
            invoice_date=TODAY,
            amount=f"{1000 + index}.00",
        )
        for index, contract in enumerate([first, second] * 4)
    ]
    receipts = [
        services.payment_create(
            actor=trading.finance_a, contract_id=first.pk, amount=f"{100 + index}.00", paid_on=TODAY
        )
        for index in range(4)
    ]
    assert not PartnerBalance.objects.exists()
    calls = [_call(services.invoice_post, trading.finance_a, invoice_id=i.pk) for i in invoices]
    calls += [_call(services.receipt_post, trading.finance_a, payment_id=r.pk) for r in receipts]
    outcomes = _race(calls)
    assert [kind for kind, _ in outcomes] == ["ok"] * len(calls)
    invoiced = sum((invoice.amount for invoice in invoices), D("0"))
    received = sum((receipt.amount for receipt in receipts), D("0"))
    assert PartnerLedgerEntry.objects.count() == len(calls)
    assert PartnerLedgerEntry.objects.values(
        "voucher_type", "voucher_id"
    ).distinct().count() == len(calls)
    balance = PartnerBalance.objects.get(company=org.company_a, partner=trading.customer)
    assert balance.receivable == invoiced - received
    _assert_ledger_matches_balance(org, trading.customer)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.invoiced_amount + second.invoiced_amount == invoiced
    assert first.settled_amount == received
    assert audit_chain_verify().is_intact


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_the_same_invoice_posted_twice_at_once_posts_once(
    postgresql_only, trading, org, money_flows, round_number
):
    contract = _contract(trading, org)
    invoice = services.invoice_create(
        actor=trading.finance_a,
        contract_id=contract.pk,
        invoice_number=f"TWICE-{round_number}",
        invoice_date=TODAY,
        amount="5000.00",
    )

    def post() -> Any:
        return services.invoice_post(actor=trading.finance_a, invoice_id=invoice.pk)

    outcomes = _race([post, post])
    assert sorted(kind for kind, _ in outcomes) == ["ok", "refused"]
    assert PartnerLedgerEntry.objects.count() == 1
    contract.refresh_from_db()
    assert contract.invoiced_amount == D("5000.00")
    invoice.refresh_from_db()
    assert invoice.status == PostingStatus.POSTED
    _assert_ledger_matches_balance(org, trading.supplier)


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_the_same_invoice_number_entered_twice_at_once_is_kept_once(
    postgresql_only, trading, org, money_flows, round_number
):
    contract = _contract(trading, org)

    def create() -> Any:
        return services.invoice_create(
            actor=trading.finance_a,
            contract_id=contract.pk,
            invoice_number=f"DUP-{round_number}",
            invoice_date=TODAY,
            amount="10.00",
        )

    outcomes = _race([create, create])
    assert sorted(kind for kind, _ in outcomes) == ["ok", "refused"]
    assert [code for kind, code in outcomes if kind == "refused"] == [TradingErrorCode.DUPLICATE]
    assert Invoice.objects.count() == 1


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_two_payments_at_once_cannot_exceed_the_allowance(
    postgresql_only, trading, org, money_flows, round_number
):
    """30 % of 4,000,000.00 may be prepaid: two payments of 700,000.00 each fit alone, not
    together."""
    contract = _contract(
        trading,
        org,
        payment_term=PaymentTerm.PREPAYMENT,
        prepayment_percent=D("30"),
        credit_days=0,
    )
    payments = [
        services.payment_create(
            actor=trading.finance_a, contract_id=contract.pk, amount="700000.00", paid_on=TODAY
        )
        for _ in range(2)
    ]
    outcomes = _race(
        [_call(services.payment_submit, trading.finance_a, payment_id=p.pk) for p in payments]
    )
    assert sorted(kind for kind, _ in outcomes) == ["ok", "refused"]
    assert [code for kind, code in outcomes if kind == "refused"] == [TradingErrorCode.OVER_PAYABLE]
    statuses = sorted(Payment.objects.values_list("status", flat=True))
    assert statuses == sorted([ApprovedPostingStatus.DRAFT, ApprovedPostingStatus.PENDING])
    reserved = Payment.objects.filter(status=ApprovedPostingStatus.PENDING).aggregate(
        total=Sum("amount")
    )["total"]
    assert reserved <= D("1200000.00")

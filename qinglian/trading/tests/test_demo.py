"""The trading demo of 东港商贸: a year of trading loaded through the services into a consistent
state — every contract through the contract flow, stock never negative, ledgers that balance,
the situations the warnings exist for — and a second run creates nothing. No database-specific
marker: it runs on SQLite and on PostgreSQL.

The demo is loaded once for the module (in a transaction rolled back at the end); each test
reads it inside its own savepoint."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections import defaultdict
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F, Max, Min, Q
from django.utils import timezone

from qinglian.approvals.demo import approval_requests_load, approval_templates_load
from qinglian.approvals.enums import RequestStatus, TaskStatus
from qinglian.approvals.models import ApprovalTask
from qinglian.audit.models import AuditEvent
from qinglian.audit.services import audit_chain_verify
from qinglian.core import clock
from qinglian.org.demo import demo_load
from qinglian.org.models import User
from qinglian.trading.approval_binding import approval_flows
from qinglian.trading.demo import MARKER_CODE, TOLERANCES, trading_demo_load
from qinglian.trading.demo_history import (
    CREDIT_LIMITS,
    Move,
    Pay,
    PlanError,
    check_plan,
    plan_history,
)
from qinglian.trading.enums import (
    AdmissionStatus,
    ApprovedPostingStatus,
    ContractKind,
    ContractStatus,
    PartnerAccount,
    PaymentDirection,
    PaymentTerm,
    PostingStatus,
    StockDocumentKind,
    StockEntryKind,
)
from qinglian.trading.models import (
    Contract,
    ContractLine,
    CreditException,
    CreditExceptionStatus,
    Invoice,
    Partner,
    PartnerBalance,
    PartnerLedgerEntry,
    Payment,
    Qualification,
    StockBalance,
    StockDocument,
    StockDocumentLine,
    StockLedgerEntry,
    Stocktake,
)
from qinglian.trading.models.warnings import WarningCode
from qinglian.trading.selectors.money import open_items
from qinglian.trading.selectors.warnings import warning_list_unscoped

EXECUTED = (ContractStatus.EFFECTIVE, ContractStatus.COMPLETED, ContractStatus.TERMINATED)


# ---------------------------------------------------------------- the plan, on paper


@pytest.mark.parametrize("offset", range(14))
def test_the_plan_keeps_the_rules_whatever_the_day(offset):
    """Two weeks of possible 'todays' (weekends move the working days): the story never breaks
    a rule the services enforce, ends today and covers a year."""
    today = datetime.date(2026, 11, 29) + datetime.timedelta(days=offset)

    plan = plan_history(today, TOLERANCES)

    days = [step.day for step in plan.steps]
    assert max(days) <= today
    assert (today - min(days)).days >= 360
    assert all(day.weekday() < 5 for day in days)
    assert plan_history(today, TOLERANCES).steps[-1].day == plan.steps[-1].day  # seeded
    # The scenarios sit where the warnings look for them, whatever the weekday.
    deals = plan.named
    soon = today + datetime.timedelta(days=30)
    assert today <= deals["steel_in"].end_on <= soon
    assert deals["steel_out"].delivery[1] < today <= deals["steel_out"].end_on <= soon
    assert deals["shipyard"].delivery[1] < deals["shipyard"].end_on < today
    assert deals["ore_short"].end_on < today
    assert deals["qualification_expired"].end_on > today
    assert not deals["ore_draft"].submit


def test_the_plan_check_finds_a_broken_story():
    today = datetime.date(2026, 11, 29)
    plan = plan_history(today, TOLERANCES)
    first_receipt = next(
        step
        for step in plan.steps
        if isinstance(step.action, Move) and step.action.kind == StockDocumentKind.RECEIPT
    )
    plan.steps.remove(first_receipt)  # its issues now take goods that never came

    with pytest.raises(PlanError, match="below zero"):
        check_plan(plan, TOLERANCES)

    plan = plan_history(today, TOLERANCES)
    payment = next(step.action for step in plan.steps if isinstance(step.action, Pay))
    payment.amount += payment.deal.amount  # more than the contract allows
    with pytest.raises(PlanError, match="beyond the allowance"):
        check_plan(plan, TOLERANCES)

    plan = plan_history(today, TOLERANCES)
    with pytest.raises(PlanError, match="over the credit limit"):
        check_plan(plan, TOLERANCES, {**CREDIT_LIMITS, "SM-KH-002": Decimal("1000000.00")})


# ---------------------------------------------------------------- the demo, loaded


@dataclasses.dataclass
class Loaded:
    first: object
    second: object
    counts_after_first: dict[str, int]
    counts_after_second: dict[str, int]
    today: datetime.date


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            Partner,
            Contract,
            StockDocument,
            Invoice,
            Payment,
            Stocktake,
            StockLedgerEntry,
            PartnerLedgerEntry,
            AuditEvent,
        )
    }


@pytest.fixture(scope="module")
def loaded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        demo_load()
        approval_templates_load()
        approval_requests_load()
        first = trading_demo_load()
        after_first = _counts()
        second = trading_demo_load()
        if connection.features.can_defer_constraint_checks:
            # Check the load's deferred foreign keys once, here: left pending, PostgreSQL
            # checks them all again at the end of every test (its savepoint's rollback undoes
            # the check).
            connection.check_constraints()
        yield Loaded(first, second, after_first, _counts(), clock.today())
        transaction.set_rollback(True)


@pytest.fixture
def demo(loaded, db):
    return loaded


def test_the_history_loads_once(demo):
    first = demo.first
    assert first.flows == len(approval_flows())
    assert first.counts["contracts"] >= 50
    assert first.counts["goods receipts"] >= 60
    assert first.counts["goods issues"] >= 60
    assert first.counts["invoices"] >= 120
    assert first.counts["payments"] >= 60
    assert first.counts["receipts"] >= 60
    assert first.counts["credit exceptions"] == 4  # 鑫泰铜材's one, 宏达船舶's three
    assert first.counts["warnings"] == warning_list_unscoped().count() >= 10
    assert Partner.objects.filter(code=MARKER_CODE).exists()
    # The second run saves no flow and creates nothing.
    assert (demo.second.flows, demo.second.created) == (0, 0)
    assert demo.counts_after_second == demo.counts_after_first


def test_partners_admitted_and_given_credit(demo):
    suppliers = Partner.objects.filter(code__startswith="SM-GYS-")
    assert suppliers.count() == 5
    assert set(suppliers.values_list("admission_status", flat=True)) == {AdmissionStatus.ADMITTED}
    limits = dict(
        Partner.objects.filter(code__startswith="SM-KH-").values_list("code", "credit_limit")
    )
    assert limits == {**CREDIT_LIMITS, "SM-KH-004": Decimal("500000.00")}  # cut mid-year


def test_a_year_of_documents_up_to_today(demo):
    dates = StockDocument.objects.aggregate(first=Min("posting_date"), last=Max("posting_date"))
    assert (demo.today - dates["first"]).days >= 340
    assert dates["last"] <= demo.today
    assert (demo.today - dates["last"]).days <= 7
    # Each month of the year has goods moving.
    months = {
        (day.year, day.month)
        for day in StockDocument.objects.values_list("posting_date", flat=True)
    }
    assert len(months) >= 12
    # Numbers carry the day they were made (the clock was set to it).
    document = StockDocument.objects.order_by("posting_date", "id").first()
    assert document.posting_date.strftime("%Y%m%d") in document.number
    assert document.created_at.date() <= demo.today
    # Played forward in time, but never into the future.
    assert AuditEvent.objects.aggregate(last=Max("occurred_at"))["last"] <= timezone.now()
    assert AuditEvent.objects.filter(action="trading.contract.approved").aggregate(
        first=Min("occurred_at")
    )["first"].date() < demo.today - datetime.timedelta(days=340)


def test_every_contract_in_force_went_through_the_contract_flow(demo):
    in_force = Contract.objects.filter(status__in=EXECUTED).select_related("approval_request")
    assert in_force.count() >= 50
    for contract in in_force:
        request = contract.approval_request
        assert request is not None, contract.number
        assert request.status == RequestStatus.APPROVED, contract.number
        assert request.template.code == "trading_contract"
        # It took effect the day it was approved, and nothing moved before that.
        finished = timezone.localdate(request.finished_at)
        assert contract.effective_on == finished, contract.number
        first_move = StockDocument.objects.filter(contract=contract).aggregate(
            first=Min("posting_date")
        )["first"]
        assert first_move is None or first_move >= contract.effective_on, contract.number
        # 初审 and 复核 were decided by people, not skipped.
        decided = ApprovalTask.objects.filter(request=request, status=TaskStatus.APPROVED)
        assert decided.count() >= 2, contract.number
        assert "pengli" in decided.values_list("assignee__username", flat=True)
    assert Contract.objects.filter(status=ContractStatus.COMPLETED).count() >= 40
    assert Contract.objects.filter(status=ContractStatus.DRAFT).count() == 1


def test_payments_went_through_the_payment_flow(demo):
    posted = Payment.objects.filter(
        direction=PaymentDirection.OUT, status=ApprovedPostingStatus.POSTED
    )
    assert posted.count() >= 60
    assert not posted.filter(
        Q(approval_request__isnull=True) | ~Q(approval_request__status=RequestStatus.APPROVED)
    ).exists()
    # One waits for approval today.
    pending = Payment.objects.get(status=ApprovedPostingStatus.PENDING)
    assert ApprovalTask.objects.filter(
        request_id=pending.approval_request_id, status=TaskStatus.PENDING
    ).exists()


def test_stock_never_negative_and_balances_match_the_ledger(demo):
    running: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for entry in StockLedgerEntry.objects.order_by("posting_date", "id"):
        key = (entry.warehouse_id, entry.commodity_id)
        running[key] += entry.quantity
        assert running[key] >= 0, entry.pk
    balances = list(StockBalance.objects.all())
    assert len(balances) == 5
    for balance in balances:
        ledger = StockLedgerEntry.objects.filter(
            company_id=balance.company_id,
            warehouse_id=balance.warehouse_id,
            commodity_id=balance.commodity_id,
        )
        assert balance.quantity == _sum(ledger, "quantity")
        assert balance.value == _sum(ledger, "value")
        assert balance.quantity >= 0 and balance.value >= 0


def _sum(queryset, field):
    """Summed in Python: SQLite adds decimals as floats."""
    return sum(queryset.values_list(field, flat=True), Decimal(0))


def test_partner_ledgers_and_contract_figures_balance(demo):
    for balance in PartnerBalance.objects.all():
        ledger = PartnerLedgerEntry.objects.filter(
            company_id=balance.company_id, partner_id=balance.partner_id
        )
        assert balance.receivable == _sum(
            ledger.filter(account=PartnerAccount.RECEIVABLE), "amount"
        )
        assert balance.payable == _sum(ledger.filter(account=PartnerAccount.PAYABLE), "amount")
    booked = ~Q(status__in=[PostingStatus.DRAFT, PostingStatus.CANCELLED])
    for contract in Contract.objects.filter(status__in=EXECUTED):
        invoiced = _sum(Invoice.objects.filter(booked, contract=contract), "amount")
        settled = _sum(
            Payment.objects.filter(
                contract=contract,
                status__in=[ApprovedPostingStatus.POSTED, ApprovedPostingStatus.REVERSED],
            ),
            "amount",
        )
        assert contract.invoiced_amount == invoiced, contract.number
        assert contract.settled_amount == settled, contract.number
        for line in contract.lines.all():
            moved = StockDocumentLine.objects.filter(
                contract_line=line,
                document__status__in=[PostingStatus.POSTED, PostingStatus.REVERSED],
            )
            assert line.executed_quantity == _sum(moved, "quantity"), contract.number
    # Corrections are reversals: a receipt and an invoice were corrected.
    assert StockDocument.objects.filter(reverses__isnull=False).count() == 1
    assert Invoice.objects.filter(reverses__isnull=False).count() == 1
    assert audit_chain_verify().is_intact


def test_customers_overdue_in_several_ageing_buckets(demo):
    inspector = User.objects.get(username="chenjianguo")
    buckets: dict[str, set[str]] = defaultdict(set)
    oldest_due: dict[str, datetime.date] = {}
    for item in open_items(user=inspector, account=PartnerAccount.RECEIVABLE):
        if item.outstanding <= 0 or not item.days_overdue:
            continue
        code = Partner.objects.get(pk=item.partner_id).code
        days = item.days_overdue
        bucket = (
            "0-30" if days <= 30 else "31-60" if days <= 60 else "61-90" if days <= 90 else ">90"
        )
        buckets[bucket].add(code)
        oldest_due[code] = min(item.due_date, oldest_due.get(code, item.due_date))
    assert buckets["0-30"] == {"SM-KH-001"}
    assert buckets["31-60"] == {"SM-KH-002"}
    assert buckets["61-90"] == {"SM-KH-004"}
    assert buckets[">90"] == {"SM-KH-004"}
    # No customer got goods while owing more than 30 days past due (the overdue block) unless
    # a credit exception lifting the block let the goods issue through.
    lifted = CreditException.objects.filter(
        allow_overdue=True, used_document_kind="goods_issue"
    ).values("used_document_id")
    for code, due in oldest_due.items():
        last_issue = (
            StockDocument.objects.filter(partner__code=code)
            .exclude(pk__in=lifted)
            .aggregate(last=Max("posting_date"))["last"]
        )
        assert (last_issue - due).days <= 30, code
    assert set(
        StockDocument.objects.filter(pk__in=lifted).values_list("partner__code", flat=True)
    ) == {"SM-KH-004"}


def test_a_customer_over_its_credit_limit(demo):
    shipyard = Partner.objects.get(code="SM-KH-004")
    receivable = PartnerBalance.objects.get(partner=shipyard).receivable
    assert receivable > 2 * shipyard.credit_limit
    # The other customers stay within their limits.
    for customer in Partner.objects.filter(code__startswith="SM-KH-").exclude(pk=shipyard.pk):
        balance = PartnerBalance.objects.get(partner=customer).receivable
        assert balance < customer.credit_limit, customer.code


def test_contract_situations(demo):
    today = demo.today
    effective = Contract.objects.filter(status=ContractStatus.EFFECTIVE)
    # Expiring within 30 days.
    assert (
        effective.filter(end_on__gte=today, end_on__lte=today + datetime.timedelta(days=30)).count()
        >= 2
    )
    # Under-executed at expiry: expired, still effective, a line well short of its quantity.
    short = ContractLine.objects.filter(
        contract__in=effective.filter(end_on__lt=today),
        executed_quantity__lt=F("quantity") * Decimal("0.9"),
    )
    assert {line.contract.kind for line in short} == {ContractKind.SALES, ContractKind.PURCHASE}
    # Delivery date passed without full delivery (a sales order, besides the expired ones).
    late = ContractLine.objects.filter(
        contract__in=effective.filter(
            kind=ContractKind.SALES, delivery_end__lt=today, end_on__gte=today
        ),
        executed_quantity__lt=F("quantity"),
    )
    assert late.exists()
    # Executing with a counterparty whose required qualification has expired …
    expired = Qualification.objects.filter(expires_on__lt=today).values("partner_id")
    supplier = effective.filter(partner_id__in=expired).get(kind=ContractKind.PURCHASE)
    assert StockDocument.objects.filter(
        contract=supplier,
        posting_date__gt=Qualification.objects.filter(partner_id=supplier.partner_id).aggregate(
            expired=Min("expires_on")
        )["expired"],
    ).exists()
    # … and another's running out within 30 days.
    assert Qualification.objects.filter(
        expires_on__gte=today, expires_on__lte=today + datetime.timedelta(days=30)
    ).exists()


def test_goods_issued_before_the_prepayment_arrived(demo):
    late = []
    for contract in Contract.objects.filter(
        kind=ContractKind.SALES, payment_term=PaymentTerm.PREPAYMENT, status__in=EXECUTED
    ):
        first_issue = StockDocument.objects.filter(contract=contract).aggregate(
            first=Min("posting_date")
        )["first"]
        if first_issue is None:
            continue
        received = _sum(
            Payment.objects.filter(
                contract=contract, status=ApprovedPostingStatus.POSTED, paid_on__lte=first_issue
            ),
            "amount",
        )
        if received < contract.total_amount * contract.prepayment_percent / 100:
            late.append(contract)
    assert len(late) == 1
    assert Payment.objects.filter(contract=late[0], direction=PaymentDirection.IN).exists()


def test_stocktakes_posted_and_one_beyond_tolerance_pending(demo):
    posted = Stocktake.objects.filter(status=ApprovedPostingStatus.POSTED)
    approved = posted.filter(approval_request__status=RequestStatus.APPROVED)
    assert approved.count() == 2
    assert (
        StockLedgerEntry.objects.filter(
            kind=StockEntryKind.STOCKTAKE, voucher_id__in=approved.values("pk")
        ).count()
        >= 3
    )
    assert posted.filter(approval_request__isnull=True).count() == 1  # no variance
    pending = Stocktake.objects.get(status=ApprovedPostingStatus.PENDING)
    line = pending.lines.select_related("commodity").get()
    variance = abs(line.counted_quantity - line.book_quantity) / line.book_quantity * 100
    assert variance > line.commodity.tolerance_percent
    assert ApprovalTask.objects.filter(
        request_id=pending.approval_request_id, status=TaskStatus.PENDING
    ).exists()


def test_a_contract_over_the_limit_through_an_approved_credit_exception(demo):
    exception = CreditException.objects.select_related(
        "partner", "approved_by", "approval_request"
    ).get(partner__code="SM-KH-003")
    assert exception.status == CreditExceptionStatus.USED
    assert exception.approval_request.status == RequestStatus.APPROVED
    assert exception.approved_by.username == "dengqiang"
    assert exception.used_document_kind == "sales_contract"
    assert exception.contract_id is not None
    contract = Contract.objects.get(pk=exception.contract_id)
    assert contract.status == ContractStatus.EFFECTIVE
    assert exception.used_document_id == contract.pk
    assert exception.used_limit == exception.partner.credit_limit
    assert exception.used_exposure is not None
    assert exception.used_exposure > exception.partner.credit_limit


def test_a_favoured_customer_let_through_by_three_credit_exceptions(demo):
    """宏达船舶, overdue for months and far over its cut limit, gets a new coil contract below
    cost and two deliveries, each through an exception lifting the overdue block."""
    exceptions = list(
        CreditException.objects.filter(partner__code="SM-KH-004").order_by("created_at", "pk")
    )
    assert [item.used_document_kind for item in exceptions] == [
        "sales_contract",
        "goods_issue",
        "goods_issue",
    ]
    assert {
        (item.status, item.allow_overdue, item.approved_by.username, item.requested_by.username)
        for item in exceptions
    } == {(CreditExceptionStatus.USED, True, "dengqiang", "songjia")}
    for item in exceptions:
        assert item.used_overdue_amount is not None and item.used_overdue_amount > 0
        assert item.used_exposure is not None and item.used_limit is not None
        assert item.used_limit < item.used_exposure <= item.used_limit + item.amount
    contract_id = exceptions[0].used_document_id
    assert contract_id is not None
    contract = Contract.objects.get(pk=contract_id)
    assert contract.status == ContractStatus.EFFECTIVE
    issues = StockDocument.objects.filter(pk__in=[item.used_document_id for item in exceptions[1:]])
    assert set(issues.values_list("contract_id", flat=True)) == {contract.pk}
    # Sold below what the coil cost (the ledger's moving average, excl. VAT).
    for line in StockDocumentLine.objects.filter(document__in=issues).select_related(
        "contract_line"
    ):
        net = line.contract_line.unit_price / (1 + line.contract_line.tax_rate)
        cost = -StockLedgerEntry.objects.get(
            kind=StockEntryKind.ISSUE, voucher_id=line.document_id
        ).value
        assert net * line.quantity < cost


def test_every_warning_kind_shows_on_first_run(demo):
    out, err = StringIO(), StringIO()

    call_command("trading_warnings", "--summary", stdout=out, stderr=err)  # no --refresh

    summary = json.loads(out.getvalue())
    assert {kind: summary[kind] > 0 for kind in ("credit", "overdue", "contract", "shipment")} == {
        "credit": True,
        "overdue": True,
        "contract": True,
        "shipment": True,
    }
    assert summary["warehouse"] == 1
    found = defaultdict(set)
    for code, partner in warning_list_unscoped().values_list("code", "partner__code"):
        found[code].add(partner)
    assert found[WarningCode.CREDIT_OVER_LIMIT] == {"SM-KH-003", "SM-KH-004"}
    assert found[WarningCode.RECEIVABLE_OVERDUE] == {"SM-KH-001", "SM-KH-002", "SM-KH-004"}
    assert found[WarningCode.CONTRACT_EXPIRING] == {"SM-GYS-001", "SM-KH-001"}
    assert found[WarningCode.CONTRACT_UNDER_EXECUTED] == {"SM-GYS-003", "SM-KH-004"}
    assert found[WarningCode.COUNTERPARTY_QUALIFICATION_EXPIRED] == {"SM-GYS-005"}
    assert found[WarningCode.DELIVERY_OVERDUE] == {"SM-GYS-003", "SM-KH-001", "SM-KH-004"}
    assert found[WarningCode.ISSUED_BEFORE_PREPAYMENT] == {"SM-KH-005"}
    assert len(found[WarningCode.STOCK_VARIANCE]) == 1
    # Played forward in time: nothing was booked outside a contract's period in force.
    assert WarningCode.CONTRACT_NOT_EFFECTIVE not in found

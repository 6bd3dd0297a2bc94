"""Rule 12: goods issued to a customer while it owed the same company receivables overdue
beyond the grace days and above the minimum — judged as of each issue's posting date, with the
near misses one day and one cent inside; the overdue figures agree with trading's own
definition of open receivables."""

import datetime
import itertools
from decimal import Decimal

import pytest

from qinglian.approvals import services as approval_services
from qinglian.approvals.enums import RequestStatus, TaskStatus
from qinglian.approvals.models import ApprovalRequest, ApprovalTask
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.supervision import registry, services
from qinglian.supervision.models import Finding, FindingDocument
from qinglian.supervision.tests.conftest import trading_document, trading_invoice, trading_payment
from qinglian.supervision.tests.helpers import detect
from qinglian.supervision.views import document_url
from qinglian.trading import facts
from qinglian.trading.models import CreditException, PartnerLedgerEntry

RULE = "overdue_shipments"
D = datetime.date
_serial = itertools.count(1)


def receivable(org, trading, amount, *, posted, due, company=None, **extra):
    """A posted sales invoice and its receivable entry, as imported history has them."""
    company = company or org.company_a
    invoice = trading_invoice(
        company=company,
        partner=trading.customer,
        number=f"XS{next(_serial):06d}",
        amount=amount,
        invoice_date=posted,
        created_by=trading.finance_a,
        direction="issued",
        **extra,
    )
    PartnerLedgerEntry.objects.create(
        company=company,
        partner=trading.customer,
        account="receivable",
        kind="invoice",
        amount=Decimal(amount),
        posting_date=posted,
        due_date=due,
        voucher_type="invoice",
        voucher_id=invoice.pk,
    )
    return invoice


def received(org, trading, amount, *, on, company=None):
    company = company or org.company_a
    payment = trading_payment(
        company=company,
        partner=trading.customer,
        amount=amount,
        paid_on=on,
        created_by=trading.finance_a,
        direction="in",
    )
    PartnerLedgerEntry.objects.create(
        company=company,
        partner=trading.customer,
        account="receivable",
        kind="payment",
        amount=-Decimal(amount),
        posting_date=on,
        voucher_type="payment",
        voucher_id=payment.pk,
    )
    return payment


def issue(org, trading, on, amount="10000.00", *, company=None, **extra):
    return trading_document(
        company=company or org.company_a,
        kind="issue",
        partner=trading.customer,
        warehouse=trading.warehouse_a,
        posting_date=on,
        created_by=trading.keeper_a,
        lines=[{"commodity": trading.steel, "quantity": "1", "unit_price": amount}],
        **extra,
    )


def test_issues_more_than_the_grace_days_after_the_due_date(org, trading, frozen):
    invoice = receivable(org, trading, "100000.00", posted=D(2025, 12, 1), due=D(2025, 12, 31))
    issue(org, trading, D(2026, 1, 30))  # 30 days past due: within the grace
    assert detect(RULE) == []
    first = issue(org, trading, D(2026, 1, 31), "20000.00")
    second = issue(org, trading, D(2026, 2, 5), "30000.00")
    hits = detect(RULE)
    assert [(hit.subject_type, hit.subject_id, hit.key) for hit in hits] == [
        ("trading.partner", str(trading.customer.pk), f"{org.company_a.pk}:{first.pk}")
    ]
    hit = hits[0]
    assert hit.company_id == org.company_a.pk
    figures = hit.figures
    assert [row["id"] for row in figures["issues"]] == [first.pk, second.pk]
    assert [row["overdue"] for row in figures["issues"]] == [Decimal("100000.00")] * 2
    assert (figures["count"], figures["issued_amount"]) == (2, Decimal("50000.00"))
    assert (figures["first_issued_on"], figures["last_issued_on"]) == (
        D(2026, 1, 31),
        D(2026, 2, 5),
    )
    assert (figures["largest_overdue"], figures["oldest_due_date"]) == (
        Decimal("100000.00"),
        D(2025, 12, 31),
    )
    assert [(row["voucher_id"], row["days_overdue"]) for row in figures["overdue_items"]] == [
        (invoice.pk, 36)
    ]
    assert [(link.type, link.id) for link in hit.documents] == [
        ("trading.stock_document", str(first.pk)),
        ("trading.stock_document", str(second.pk)),
        ("trading.invoice", str(invoice.pk)),
        ("trading.partner", str(trading.customer.pk)),
        ("trading.credit", str(trading.customer.pk)),
    ]
    partner_label, credit_label = (link.label for link in hit.documents[-2:])
    assert partner_label == trading.customer.name != credit_label
    assert trading.customer.name in credit_label
    assert hit.people == [trading.keeper_a.pk]
    summary = registry.rule_get(RULE).summarize(registry.jsonable(figures))
    assert "50,000.00" in summary and "100,000.00" in summary and trading.customer.name in summary
    hits = detect(RULE, grace_days=31)  # the first issue is 31 days past due: not more
    assert [row["id"] for row in hits[0].figures["issues"]] == [second.pk]


def test_the_minimum_overdue_amount(org, trading, frozen):
    receivable(org, trading, "30000.00", posted=D(2025, 11, 1), due=D(2025, 12, 1))
    receivable(org, trading, "20000.00", posted=D(2025, 11, 5), due=D(2025, 12, 5))
    issue(org, trading, D(2026, 2, 1))
    assert detect(RULE, min_overdue_amount="50000") == []  # 50,000: not above
    assert len(detect(RULE, min_overdue_amount="49999.99")) == 1


def test_receipts_count_from_the_day_they_arrive(org, trading, frozen):
    """Receipts settle the oldest charges first, and only from the day they are posted."""
    older = receivable(org, trading, "60000.00", posted=D(2025, 12, 1), due=D(2026, 1, 1))
    receivable(org, trading, "40000.00", posted=D(2026, 2, 1), due=D(2026, 3, 1))
    shipped = issue(org, trading, D(2026, 2, 10))
    received(org, trading, "45000.00", on=D(2026, 2, 9))
    hits = detect(RULE)  # 60,000 − 45,000 of the older invoice still open
    assert [row["overdue"] for row in hits[0].figures["issues"]] == [Decimal("15000.00")]
    assert [row["voucher_id"] for row in hits[0].figures["overdue_items"]] == [older.pk]
    received(org, trading, "15000.00", on=D(2026, 2, 12))  # after the goods left
    assert [hit.figures["issues"][0]["id"] for hit in detect(RULE)] == [shipped.pk]
    issue(org, trading, D(2026, 2, 13))  # paid up by then; the newer invoice is not yet due
    issue(org, trading, D(2026, 3, 5))  # 4 days past the newer invoice's due date
    assert [hit.figures["count"] for hit in detect(RULE)] == [1]
    hits = detect(RULE, grace_days=3)
    assert [[row["posting_date"] for row in hit.figures["issues"]] for hit in hits] == [
        [D(2026, 2, 10)],
        [D(2026, 3, 5)],
    ]


def test_other_companies_reversals_and_drafts_are_left_out(org, trading, frozen):
    receivable(
        org, trading, "80000.00", posted=D(2025, 11, 1), due=D(2025, 12, 1), company=org.company_b
    )
    wrong = receivable(
        org, trading, "50000.00", posted=D(2025, 11, 1), due=D(2025, 12, 1), status="reversed"
    )
    receivable(org, trading, "-50000.00", posted=D(2025, 11, 3), due=D(2025, 12, 1), reverses=wrong)
    issue(org, trading, D(2026, 2, 1))
    assert detect(RULE) == []  # B's debt is B's; A's invoice was reversed
    receivable(org, trading, "1000.00", posted=D(2025, 11, 1), due=D(2025, 12, 1))
    taken_back = issue(org, trading, D(2026, 2, 2), status="reversed")
    issue(org, trading, D(2026, 2, 3), reverses=taken_back, amount="-10000.00")
    issue(org, trading, D(2026, 2, 4), status="draft")
    assert [[row["posting_date"] for row in hit.figures["issues"]] for hit in detect(RULE)] == [
        [D(2026, 2, 1)]
    ]


def test_old_issues_are_outside_the_look_back(org, trading, frozen):
    receivable(org, trading, "1000.00", posted=D(2024, 1, 1), due=D(2024, 2, 1))
    issue(org, trading, D(2025, 3, 10))  # 366 days before 2026-03-11
    assert detect(RULE) == []
    assert len(detect(RULE, lookback_days=366)) == 1


def test_a_rerun_and_a_later_issue_find_the_same_finding(org, trading, frozen):
    receivable(org, trading, "1000.00", posted=D(2025, 11, 1), due=D(2025, 12, 1))
    issue(org, trading, D(2026, 2, 1))
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    finding = Finding.objects.get(rule_code=RULE)
    issue(org, trading, D(2026, 2, 2))
    frozen.advance(hours=1)
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    assert Finding.objects.filter(rule_code=RULE).count() == 1
    finding.refresh_from_db()
    assert (finding.seen_count, finding.evidence["figures"]["count"]) == (2, 2)


# ---------------------------------------------------------------- through the services


@pytest.fixture
def credit_flows(money_flows):
    from qinglian.approvals.services import template_save
    from qinglian.trading.services import credit as credit_services

    for flow in credit_services.APPROVAL_FLOWS:
        template_save(actor=SYSTEM_ACTOR, **flow)
    return money_flows


def _opening(stock, amount, due, *, contract=True, posted=None):
    from qinglian.trading.services import money as money_services

    t = stock.trading
    return money_services.opening_balance_post(
        actor=t.finance_a,
        company_id=stock.sales.company_id,
        partner_id=t.customer.pk,
        account="receivable",
        amount=amount,
        posting_date=posted or D(2025, 10, 1),
        due_date=due,
        contract_id=stock.sales.pk if contract else None,
    )


def _receipt(stock, amount, on, *, contract=True):
    from qinglian.trading.services import money as money_services

    t = stock.trading
    extra = (
        {"contract_id": stock.sales.pk}
        if contract
        else {"company_id": stock.sales.company_id, "partner_id": t.customer.pk, "direction": "in"}
    )
    receipt = money_services.payment_create(actor=t.finance_a, amount=amount, paid_on=on, **extra)
    return money_services.receipt_post(actor=t.finance_a, payment_id=receipt.pk)


def test_overdue_amounts_agree_with_tradings_open_receivables(org, stock, frozen):
    """Per day, what `facts.receivables_overdue_on` finds overdue is what trading's own open
    receivables of that day (the warning detection's, equal to the credit ageing's) hold more
    than the days past due."""
    from qinglian.trading.services import money as money_services
    from qinglian.trading.services import warnings_detection

    t = stock.trading
    a = org.company_a.pk
    _opening(stock, "500.00", D(2025, 11, 1))
    _opening(stock, "300.00", D(2025, 12, 15))
    _opening(stock, "120.00", D(2025, 12, 1), contract=False)
    wrong = _opening(stock, "70.00", D(2025, 11, 20))
    money_services.opening_balance_reverse(actor=t.finance_a, opening_id=wrong.pk, reason="录错")
    _receipt(stock, "450.00", D(2026, 1, 10))
    _receipt(stock, "100.00", D(2026, 2, 1), contract=False)
    _opening(stock, "900.00", D(2026, 3, 1), posted=D(2026, 2, 15))
    _receipt(stock, "200.00", D(2026, 3, 2))
    days = [D(2025, 10, 1) + datetime.timedelta(days=n) for n in range(0, 162, 3)]
    for grace in (0, 30):
        found = facts.receivables_overdue_on(
            [(a, t.customer.pk, day) for day in days], more_than_days=grace
        )
        for day in days:
            expected = sorted(
                (item.voucher_type, item.voucher_id, item.outstanding)
                for item in warnings_detection.open_receivables(a, day)
                if warnings_detection.is_overdue(item.due_date, day, grace)
            )
            got = found.get((a, t.customer.pk, day))
            assert (
                sorted(
                    (item.voucher_type, item.voucher_id, item.outstanding)
                    for item in (got.items if got else ())
                )
                == expected
            ), (grace, day)
            total = sum((item[2] for item in expected), Decimal(0))
            assert (got.amount if got else Decimal(0)) == total
    amounts = facts.receivables_overdue_on(
        [(a, t.customer.pk, D(2026, 1, 5)), (a, t.customer.pk, D(2026, 1, 10))],
        more_than_days=0,
    )
    # Before the receipt: 500 + 120 + 300 overdue; the receipt takes the oldest 450 of 500.
    assert [amounts[(a, t.customer.pk, day)].amount for day in (D(2026, 1, 5), D(2026, 1, 10))] == [
        Decimal("920.00"),
        Decimal("470.00"),
    ]


def test_an_issue_let_through_the_overdue_block_by_a_credit_exception(
    org, stock, credit_flows, frozen, client
):
    from qinglian.trading.services import credit as credit_services

    t = stock.trading
    _opening(stock, "80000.00", D(2026, 1, 15))  # 55 days past due today
    stock.receive("100", on=D(2026, 3, 1))
    exception = credit_services.credit_exception_request(
        actor=t.salesperson_a,
        partner_id=t.customer.pk,
        amount="0",
        allow_overdue=True,
        reason="客户承诺本月回款",
        valid_until=D(2026, 3, 20),
    )
    assert exception.approval_request_id is not None
    request = ApprovalRequest.objects.get(pk=exception.approval_request_id)
    for _round in range(5):
        for task in ApprovalTask.objects.filter(request=request, status=TaskStatus.PENDING):
            approval_services.task_approve(actor=task.assignee, task_id=task.pk)
        request.refresh_from_db()
        if request.status != RequestStatus.IN_PROGRESS:
            break
    shipped = stock.issue("10", on=D(2026, 3, 11))
    exception = CreditException.objects.get(pk=exception.pk)
    assert (exception.status, exception.used_document_id) == ("used", shipped.pk)
    hits = detect(RULE)
    assert [row["id"] for row in hits[0].figures["issues"]] == [shipped.pk]
    assert hits[0].figures["issues"][0]["credit_exception"] == exception.number
    assert hits[0].figures["with_credit_exception"] == 1
    assert hits[0].figures["largest_overdue"] == Decimal("80000.00")
    assert detect(RULE, min_overdue_amount="80000") == []
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    finding = Finding.objects.get(rule_code=RULE)
    links = list(FindingDocument.objects.filter(finding=finding).order_by("id"))
    assert [link.document_type for link in links] == [
        "trading.stock_document",
        "trading.credit_exception",
        "trading.contract",
        "trading.partner",
        "trading.credit",
    ]
    client.force_login(org.inspector)
    for link in links:
        url = document_url(link.document_type, link.document_id)
        assert url and client.get(url).status_code == 200, link.document_type


def test_the_sweep_names_exactly_the_days_with_something_overdue():
    """The sweep that spares the allocation on days owing nothing misses no owing day and
    names none too many: a charge, a reversed charge, an advance and a receipt."""
    from qinglian.trading.selectors.money import LedgerItem

    items = [
        LedgerItem(("invoice", 1), Decimal("100"), D(2026, 1, 1), D(2026, 1, 10)),
        LedgerItem(("invoice", 2), Decimal("50"), D(2026, 1, 2), D(2026, 1, 5)),
        LedgerItem(("invoice", 3), Decimal("-50"), D(2026, 1, 8), None, ("invoice", 2)),
        LedgerItem(("payment", 4), Decimal("-30"), D(2025, 12, 20)),
        LedgerItem(("payment", 5), Decimal("-70"), D(2026, 1, 15)),
    ]
    days = [D(2026, 1, 1) + datetime.timedelta(days=n) for n in range(20)]
    owing = facts._owing_days(items, days, 2)
    # invoice 2 overdue (more than 2 days) from 01-08, reversed that day; invoice 1 from 01-13
    # (100 − 30 advance) until the receipt of 01-15.
    assert owing == [D(2026, 1, 13), D(2026, 1, 14)]

"""Open receivable items (`selectors.credit.open_receivables`): the one set-wise reading behind
the ageing, the overdue block, the credit standings and the overdue warnings — its groups
(company, customer, contract chain), its filters, and a fixed number of queries whatever the
size of the book (SQLite used to refuse a condition per owing group beyond about a thousand)."""

from __future__ import annotations

import datetime
from decimal import Decimal as D

from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from qinglian.core import clock
from qinglian.org.enums import RoleCode
from qinglian.org.factories import make_user
from qinglian.trading.enums import (
    ContractKind,
    ContractStatus,
    PartnerAccount,
    PartnerEntryKind,
    PartnerKind,
    PaymentTerm,
)
from qinglian.trading.factories import make_partner
from qinglian.trading.models import Contract, CreditExposure, Partner, PartnerLedgerEntry
from qinglian.trading.selectors import credit as credit_selectors
from qinglian.trading.services import money as money_services
from qinglian.trading.services import warnings_detection as rules


def today():
    return clock.today()


def days(n):
    return today() + datetime.timedelta(days=n)


def _opening(t, company, customer, amount, due, contract=None, actor=None):
    return money_services.opening_balance_post(
        actor=actor or t.finance_a,
        company_id=company.pk,
        partner_id=customer.pk,
        account="receivable",
        amount=amount,
        posting_date=days(-120),
        due_date=due,
        contract_id=contract.pk if contract else None,
    )


def _receipt(t, company, customer, amount, contract=None):
    receipt = money_services.payment_create(
        actor=t.finance_a,
        amount=amount,
        paid_on=today(),
        contract_id=contract.pk if contract else None,
        company_id=None if contract else company.pk,
        partner_id=None if contract else customer.pk,
        direction=None if contract else "in",
    )
    return money_services.receipt_post(actor=t.finance_a, payment_id=receipt.pk)


def _key(items):
    return sorted(
        (item.company_id, item.partner_id, item.contract_id, item.voucher_id, item.outstanding)
        for item in items
    )


# ---------------------------------------------------------------- groups and filters


def test_groups_are_company_customer_and_contract_chain(stock, org):
    """A chain that owes is open even when the customer is in credit overall (an unapplied
    receipt without a contract settles nothing on the contract); another company's debt and
    entries after the day stay out; reversals cancel what they reverse."""
    t, a, b = stock.trading, org.company_a, org.company_b
    owed = _opening(t, a, t.customer, "500.00", days(-40), contract=stock.sales)
    _receipt(t, a, t.customer, "800.00")  # no contract: an unapplied credit of A
    _receipt(t, a, t.customer, "100.00", contract=stock.sales)
    wrong = _opening(t, a, t.customer, "70.00", days(-3), contract=stock.sales)
    money_services.opening_balance_reverse(actor=t.finance_a, opening_id=wrong.pk, reason="录错")
    finance_b = make_user(company=b, roles=(RoleCode.FINANCE,), username="finance_b", name="乙财务")
    elsewhere = _opening(t, b, t.customer, "90.00", days(-10), actor=finance_b)

    items = credit_selectors.open_receivables(as_of=today(), company_id=a.pk)
    assert _key(items) == [(a.pk, t.customer.pk, stock.sales.pk, owed.pk, D("400.00"))]
    assert items[0].days_overdue == 40
    assert items[0].voucher_type == "opening"
    # the warnings read the same items
    assert _key(rules.open_receivables(a.pk, today())) == _key(items)

    every_company = credit_selectors.open_receivables(as_of=today())
    assert _key(every_company) == sorted(
        [
            (a.pk, t.customer.pk, stock.sales.pk, owed.pk, D("400.00")),
            (b.pk, t.customer.pk, None, elsewhere.pk, D("90.00")),
        ]
    )
    # the day: on the opening's posting day today's receipt does not count yet (the reversal
    # is dated as the opening it reverses)
    before = credit_selectors.open_receivables(as_of=days(-120), company_id=a.pk)
    assert [(item.voucher_id, item.outstanding) for item in before] == [(owed.pk, D("500.00"))]
    assert credit_selectors.open_receivables(as_of=days(-121), company_id=a.pk) == []
    # the partner filter: ids or a query of them
    other = make_partner(company=org.group, kind=PartnerKind.CUSTOMER)
    assert credit_selectors.open_receivables(as_of=today(), partner_ids=[other.pk]) == []
    assert credit_selectors.open_receivables(as_of=today(), partner_ids=[]) == []
    by_query = credit_selectors.open_receivables(
        as_of=today(), partner_ids=Partner.objects.filter(pk=t.customer.pk).values("pk")
    )
    assert _key(by_query) == _key(every_company)
    # the ageing and the overdue block agree
    ageing = credit_selectors.receivable_ageing_unscoped(as_of=today(), company_id=a.pk)
    assert _key(ageing.items) == _key(items)
    assert (ageing.rows[0].open, ageing.rows[0].credits) == (D("400.00"), D("800.00"))
    assert credit_selectors.overdue_amount(partner_id=t.customer.pk, more_than_days=30) == D(
        "400.00"
    )
    assert credit_selectors.overdue_amount(partner_id=t.customer.pk, more_than_days=40) == D("0.00")


# ---------------------------------------------------------------- size


def _customers(org, count):
    Partner.objects.bulk_create(
        Partner(
            company=org.group,
            code=f"BULK{n:05d}",
            name=f"批量客户{n}",
            kind=PartnerKind.CUSTOMER,
            admission_status="not_admitted",
        )
        for n in range(count)
    )
    return list(Partner.objects.filter(code__startswith="BULK").order_by("code"))


def _book(org, owner, customers, start=0):
    """Per customer, in company A: a sales contract invoiced 100 + n % 7 (due n % 120 days
    ago) and paid 30 on it; an opening without a contract of 50, settled for every even n.
    Company B: an opening of 10 without a contract. Bulk inserts: the ledger as the services
    would write it (no balances: the selector reads the ledger only)."""
    a, b = org.company_a, org.company_b
    Contract.objects.bulk_create(
        Contract(
            company=a,
            number=f"XS-BULK-{customer.pk}",
            kind=ContractKind.SALES,
            partner=customer,
            status=ContractStatus.EFFECTIVE,
            payment_term=PaymentTerm.CREDIT,
            owner=owner,
            created_by=owner,
        )
        for customer in customers
    )
    Contract.objects.filter(number__startswith="XS-BULK-").update(original_id=F("id"))
    chains = dict(
        Contract.objects.filter(number__startswith="XS-BULK-").values_list("partner_id", "pk")
    )
    voucher = iter(range(1_000_000 + 10 * start, 1_000_000 + 10 * (start + len(customers))))
    posted = days(-150)
    entries = []

    def entry(company, customer, contract_id, kind, amount, due=None):
        entries.append(
            PartnerLedgerEntry(
                company=company,
                partner=customer,
                contract_id=contract_id,
                account=PartnerAccount.RECEIVABLE,
                kind=kind,
                amount=D(amount),
                posting_date=posted,
                due_date=due,
                voucher_type="invoice" if kind == PartnerEntryKind.INVOICE else kind,
                voucher_id=next(voucher),
            )
        )

    for n, customer in enumerate(customers, start=start):
        chain = chains[customer.pk]
        entry(a, customer, chain, PartnerEntryKind.INVOICE, 100 + n % 7, days(-(n % 120)))
        entry(a, customer, chain, PartnerEntryKind.PAYMENT, -30)
        entry(a, customer, None, PartnerEntryKind.OPENING, 50, days(-200))
        if n % 2 == 0:
            entry(a, customer, None, PartnerEntryKind.PAYMENT, -50)
        entry(b, customer, None, PartnerEntryKind.OPENING, 10, days(-200))
    PartnerLedgerEntry.objects.bulk_create(entries, batch_size=2000)
    return chains


def test_fifteen_hundred_owing_groups(stock, org):
    """2,250 owing groups in company A (1,500 chains, 750 without a contract) and 1,500 in B:
    one reading, on SQLite too (one OR-condition per group used to exceed SQLite's expression
    depth of 1,000)."""
    count = 1500
    customers = _customers(org, count)
    _book(org, stock.trading.salesperson_a, customers)
    a = org.company_a
    expected_a = sum(D(70 + n % 7) for n in range(count)) + 50 * (count // 2)

    items = credit_selectors.open_receivables(as_of=today(), company_id=a.pk)
    assert len(items) == count + count // 2
    assert len({(item.partner_id, item.contract_id) for item in items}) == len(items)
    assert sum(item.outstanding for item in items) == expected_a
    assert {item.company_id for item in items} == {a.pk}

    everything = credit_selectors.open_receivables(as_of=today())
    assert len(everything) == len(items) + count
    ageing = credit_selectors.receivable_ageing_unscoped(as_of=today(), company_id=a.pk)
    assert ageing.total.open == expected_a
    assert ageing.total.not_due == sum(D(70 + n % 7) for n in range(count) if n % 120 == 0)
    assert len(rules.open_receivables(a.pk, today())) == len(items)

    CreditExposure.objects.bulk_create(CreditExposure(partner=customer) for customer in customers)
    standings = credit_selectors.credit_exposure_list_unscoped()
    overdue = {standing.partner.pk: standing.overdue_amount for standing in standings}
    # policy default: more than 30 days past due, over every company (B's 10 is 200 days old)
    assert overdue[customers[100].pk] == D(70 + 100 % 7) + 10  # its opening in A is settled
    assert overdue[customers[101].pk] == D(70 + 101 % 7) + 50 + 10
    assert overdue[customers[10].pk] == D(10)  # its invoice is only 10 days past due


def test_queries_do_not_grow_with_the_customers(stock, org):
    """The same number of queries (at most four: the entries, then the reversals of three
    voucher types) for 3 customers and for 60 — by company, by partners, over everything."""
    t = stock.trading
    customers = _customers(org, 60)
    _book(org, t.salesperson_a, customers[:3])
    owed = _opening(t, org.company_a, t.customer, "200.00", days(-40), contract=stock.sales)
    wrong = _opening(t, org.company_a, t.customer, "70.00", days(-10), contract=stock.sales)
    money_services.opening_balance_reverse(actor=t.finance_a, opening_id=wrong.pk, reason="录错")

    def measure():
        with CaptureQueriesContext(connection) as context:
            by_company = credit_selectors.open_receivables(
                as_of=today(), company_id=org.company_a.pk
            )
        counts = [len(context)]
        with CaptureQueriesContext(connection) as context:
            credit_selectors.open_receivables(
                as_of=today(), partner_ids=[customer.pk for customer in customers]
            )
        counts.append(len(context))
        with CaptureQueriesContext(connection) as context:
            credit_selectors.open_receivables(as_of=today())
        counts.append(len(context))
        return counts, by_company

    small, items = measure()
    # three chains, one opening without a contract (n = 1), and the fixture customer's chain,
    # where the reversal cancels its opening (else, a credit settling the oldest due first,
    # 130 of the 200 and the 70 would stay open)
    assert len(items) == 3 + 1 + 1
    assert [
        (item.voucher_id, item.outstanding) for item in items if item.partner_id == t.customer.pk
    ] == [(owed.pk, D("200.00"))]
    _book(org, t.salesperson_a, customers[3:], start=3)
    large, items = measure()
    assert len(items) == 60 + 30 + 1
    assert large == small
    assert max(large) <= 4

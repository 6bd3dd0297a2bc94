"""Money pages: the authorization matrix for invoices, payments and receipts, the partner
ledger and opening balances (anonymous, no role, wrong company, right company, the wrong role,
the inspector), the happy paths through the forms, and the lists' query budgets."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from qinglian.approvals.models import ApprovalRequest
from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.trading.enums import (
    ApprovedPostingStatus,
    ContractKind,
    PartnerAccount,
    PaymentTerm,
    PostingStatus,
)
from qinglian.trading.factories import make_contract
from qinglian.trading.models import Invoice, PartnerLedgerEntry, Payment
from qinglian.trading.models.money import OpeningBalance
from qinglian.trading.services import money as services

TODAY = clock.today()
D = Decimal
pytestmark = [pytest.mark.usefixtures("english", "money_flows")]


def person(trading, org, money_flows, name):
    if name == "anonymous":
        return None
    for holder in (trading, org, money_flows):
        if hasattr(holder, name):
            return getattr(holder, name)
    raise AssertionError(name)


def login(client, user):
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def purchase(trading, org):
    return make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "100", "4000")],
        payment_term=PaymentTerm.PREPAYMENT,
        prepayment_percent=D("30"),
    )


@pytest.fixture
def sale(trading, org):
    return make_contract(
        company=org.company_a,
        partner=trading.customer,
        owner=trading.salesperson_a,
        kind=ContractKind.SALES,
        lines=[(trading.steel, "100", "4000")],
    )


def draft_invoice(trading, contract, number="00012345", amount="1000.00"):
    return services.invoice_create(
        actor=trading.finance_a,
        contract_id=contract.pk,
        invoice_number=number,
        invoice_date=TODAY,
        amount=amount,
    )


def draft_payment(trading, contract, amount="1000.00"):
    return services.payment_create(
        actor=trading.finance_a, contract_id=contract.pk, amount=amount, paid_on=TODAY
    )


def everything():
    return (
        sorted(Invoice.objects.values_list("id", "status", "version")),
        sorted(Payment.objects.values_list("id", "status", "version")),
        PartnerLedgerEntry.objects.count(),
        OpeningBalance.objects.count(),
        AuditEvent.objects.count(),
        ApprovalRequest.objects.count(),
    )


# ---------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("who", "expected", "writes"),
    [
        ("anonymous", 302, False),
        ("no_role", 404, False),
        ("finance_b", 404, False),  # company A is out of B's scope
        ("purchaser_a", 200, False),  # reads its company's money, changes none of it
        ("inspector", 200, False),
        ("finance_a", 200, True),
    ],
)
@pytest.mark.parametrize("document", ["invoice", "payment"])
def test_detail_matrix(
    client, trading, org, money_flows, purchase, document, who, expected, writes
):
    made = (
        draft_invoice(trading, purchase)
        if document == "invoice"
        else draft_payment(trading, purchase)
    )
    response = login(client, person(trading, org, money_flows, who)).get(
        reverse(f"trading:{document}_detail", args=[made.pk])
    )
    assert response.status_code == expected
    if expected == 200:
        assert (f'data-testid="{document}-actions"'.encode() in response.content) is writes


@pytest.mark.parametrize(
    ("who", "listed"),
    [("no_role", False), ("finance_b", False), ("purchaser_a", True), ("inspector", True)],
)
@pytest.mark.parametrize("document", ["invoice", "payment"])
def test_lists_show_only_the_scope(
    client, trading, org, money_flows, purchase, document, who, listed
):
    made = (
        draft_invoice(trading, purchase)
        if document == "invoice"
        else draft_payment(trading, purchase)
    )
    text = made.invoice_number if document == "invoice" else made.number
    response = login(client, person(trading, org, money_flows, who)).get(
        reverse(f"trading:{document}_list")
    )
    assert response.status_code == 200
    assert (text in response.content.decode()) is listed


@pytest.mark.parametrize(
    "url", ["invoice_list", "payment_list", "partner_ledger", "opening_balance_list"]
)
def test_lists_need_sign_in(client, url):
    assert client.get(reverse(f"trading:{url}")).status_code == 302


def test_list_query_budgets(client, trading, org, purchase, sale, django_assert_max_num_queries):
    for index in range(12):
        services.invoice_post(
            actor=trading.finance_a,
            invoice_id=draft_invoice(trading, sale, number=f"N{index}").pk,
        )
        draft_payment(trading, purchase)
    client.force_login(trading.finance_a)
    for url, rows in (
        ("invoice_list", "invoice-row"),
        ("payment_list", "payment-row"),
        ("partner_ledger", "balance-row"),
    ):
        client.get(reverse(f"trading:{url}"))
        with django_assert_max_num_queries(12):
            response = client.get(reverse(f"trading:{url}"))
        assert response.content.decode().count(f'data-testid="{rows}"') >= 1


# ---------------------------------------------------------------- forms


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 302),
        ("no_role", 403),
        ("purchaser_a", 403),
        ("inspector", 403),
        ("finance_b", 200),  # finance of B: the form offers B's contracts only
        ("finance_a", 200),
    ],
)
@pytest.mark.parametrize("url", ["invoice_create", "payment_create", "opening_balance_create"])
def test_create_forms_matrix(client, trading, org, money_flows, url, who, expected):
    response = login(client, person(trading, org, money_flows, who)).get(reverse(f"trading:{url}"))
    assert response.status_code == expected


def test_invoice_through_the_pages(client, trading, org, purchase):
    client.force_login(trading.finance_a)
    page = client.get(reverse("trading:invoice_create") + f"?contract={purchase.pk}")
    assert page.status_code == 200
    response = client.post(
        reverse("trading:invoice_create") + f"?contract={purchase.pk}",
        {
            "contract": purchase.pk,
            "invoice_code": "3300212130",
            "invoice_number": "00012345",
            "invoice_date": TODAY.isoformat(),
            "amount": "113000.00",
            "tax_percent": "",
        },
    )
    invoice = Invoice.objects.get()
    assert response.url == reverse("trading:invoice_detail", args=[invoice.pk])
    # The same number again is refused on the form.
    again = client.post(
        reverse("trading:invoice_create"),
        {
            "contract": purchase.pk,
            "invoice_code": "3300212130",
            "invoice_number": "0001 2345",
            "invoice_date": TODAY.isoformat(),
            "amount": "1.00",
        },
    )
    assert again.status_code == 200
    assert "is already recorded" in again.content.decode()
    assert Invoice.objects.count() == 1
    client.post(reverse("trading:invoice_post", args=[invoice.pk]), {"version": invoice.version})
    invoice.refresh_from_db()
    assert invoice.status == PostingStatus.POSTED
    detail = client.get(reverse("trading:invoice_detail", args=[invoice.pk]))
    assert b'data-testid="ledger-entries"' in detail.content
    response = client.post(
        reverse("trading:invoice_reverse", args=[invoice.pk]),
        {"invoice_number": "00099999", "reason": "开错"},
    )
    reversal = Invoice.objects.get(reverses=invoice)
    assert response.url == reverse("trading:invoice_detail", args=[reversal.pk])
    purchase.refresh_from_db()
    assert purchase.invoiced_amount == D("0")


def test_payment_through_the_pages(client, trading, org, purchase):
    client.force_login(trading.finance_a)
    response = client.post(
        reverse("trading:payment_create") + f"?contract={purchase.pk}",
        {"contract": purchase.pk, "amount": "200000.00", "paid_on": TODAY.isoformat()},
    )
    payment = Payment.objects.get()
    assert response.url == reverse("trading:payment_detail", args=[payment.pk])
    detail = client.get(reverse("trading:payment_detail", args=[payment.pk]))
    assert b'data-testid="allowance"' in detail.content
    # Beyond the 120,000.00 prepayment: refused with the reason shown, nothing changes.
    before = everything()
    response = client.post(
        reverse("trading:payment_submit", args=[payment.pk]), {"version": 1}, follow=True
    )
    assert "the contract and invoices allow" in response.content.decode()
    assert everything() == before
    client.post(
        reverse("trading:payment_edit", args=[payment.pk]),
        {"amount": "120000.00", "paid_on": TODAY.isoformat(), "version": 1},
    )
    client.post(reverse("trading:payment_submit", args=[payment.pk]), {"version": 2})
    payment.refresh_from_db()
    assert payment.status == ApprovedPostingStatus.PENDING


def test_receipt_through_the_pages(client, trading, org, sale):
    client.force_login(trading.finance_a)
    client.post(
        reverse("trading:payment_create") + f"?contract={sale.pk}",
        {"contract": sale.pk, "amount": "5000.00", "paid_on": TODAY.isoformat()},
    )
    receipt = Payment.objects.get()
    client.post(reverse("trading:receipt_post", args=[receipt.pk]), {"version": receipt.version})
    receipt.refresh_from_db()
    assert receipt.status == ApprovedPostingStatus.POSTED
    response = client.post(
        reverse("trading:payment_reverse", args=[receipt.pk]), {"reason": "重复入账"}
    )
    reversal = Payment.objects.get(reverses=receipt)
    assert response.url == reverse("trading:payment_detail", args=[reversal.pk])


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 302),
        ("no_role", 404),
        ("finance_b", 404),
        ("purchaser_a", 403),
        ("inspector", 403),
    ],
)
@pytest.mark.parametrize(
    "action",
    ["invoice_post", "invoice_cancel", "payment_submit", "payment_cancel", "receipt_post"],
)
def test_actions_refused(client, trading, org, money_flows, purchase, sale, action, who, expected):
    target: Invoice | Payment
    if action.startswith("invoice"):
        target = draft_invoice(trading, purchase)
    elif action == "receipt_post":
        target = draft_payment(trading, sale)
    else:
        target = draft_payment(trading, purchase)
    before = everything()
    response = login(client, person(trading, org, money_flows, who)).post(
        reverse(f"trading:{action}", args=[target.pk]), {}
    )
    assert response.status_code == expected
    assert everything() == before


@pytest.mark.parametrize(
    ("who", "expected"),
    [("no_role", 404), ("finance_b", 404), ("purchaser_a", 403), ("inspector", 403)],
)
@pytest.mark.parametrize("document", ["invoice", "payment"])
def test_reverse_pages_refused(client, trading, org, money_flows, sale, document, who, expected):
    target: Invoice | Payment
    if document == "invoice":
        target = services.invoice_post(
            actor=trading.finance_a, invoice_id=draft_invoice(trading, sale).pk
        )
        data = {"invoice_number": "R1", "reason": "x"}
    else:
        target = services.receipt_post(
            actor=trading.finance_a, payment_id=draft_payment(trading, sale).pk
        )
        data = {"reason": "x"}
    before = everything()
    url = reverse(f"trading:{document}_reverse", args=[target.pk])
    who_client = login(client, person(trading, org, money_flows, who))
    assert who_client.get(url).status_code == expected
    assert who_client.post(url, data).status_code == expected
    assert everything() == before


# ---------------------------------------------------------------- ledger and opening balances


@pytest.mark.parametrize(
    ("who", "expected", "sees_entries"),
    [
        ("anonymous", 302, False),
        ("no_role", 404, False),  # reads no master data at all
        ("finance_b", 200, False),  # reads the group's partner, not company A's entries
        ("purchaser_a", 200, True),
        ("inspector", 200, True),
        ("finance_a", 200, True),
    ],
)
def test_partner_ledger_matrix(
    client, trading, org, money_flows, sale, who, expected, sees_entries
):
    services.invoice_post(
        actor=trading.finance_a, invoice_id=draft_invoice(trading, sale, amount="777.00").pk
    )
    response = login(client, person(trading, org, money_flows, who)).get(
        reverse("trading:partner_ledger_detail", args=[trading.customer.pk])
    )
    assert response.status_code == expected
    if expected == 200:
        assert ('data-testid="entry-row"' in response.content.decode()) is sees_entries
        assert ("777.00" in response.content.decode()) is sees_entries


def test_partner_ledger_shows_balance_equal_to_the_ledger(client, trading, org, sale):
    services.invoice_post(
        actor=trading.finance_a, invoice_id=draft_invoice(trading, sale, amount="777.00").pk
    )
    client.force_login(trading.finance_a)
    page = client.get(reverse("trading:partner_ledger_detail", args=[trading.customer.pk]))
    html = page.content.decode()
    assert 'data-testid="open-item"' in html
    assert "badge text-bg-success" in html  # ledger equals balance
    listing = client.get(reverse("trading:partner_ledger")).content.decode()
    assert trading.customer.name in listing


def test_opening_balance_through_the_pages(client, trading, org, sale):
    client.force_login(trading.finance_a)
    response = client.post(
        reverse("trading:opening_balance_create"),
        {
            "company": org.company_a.pk,
            "partner": trading.customer.pk,
            "account": PartnerAccount.RECEIVABLE,
            "amount": "30000.00",
            "posting_date": "2026-01-01",
            "due_date": "2026-01-31",
            "contract": sale.pk,
            "reference": "2025年末",
        },
    )
    assert response.url == reverse("trading:opening_balance_list")
    opening = OpeningBalance.objects.get()
    listing = client.get(reverse("trading:opening_balance_list")).content.decode()
    assert "30,000.00" in listing or "30000.00" in listing
    client.post(reverse("trading:opening_balance_reverse", args=[opening.pk]), {"reason": "重复"})
    assert OpeningBalance.objects.filter(reverses=opening).exists()


@pytest.mark.parametrize(
    ("who", "expected"),
    [("anonymous", 302), ("no_role", 404), ("purchaser_a", 403), ("inspector", 403)],
)
def test_opening_balance_reverse_refused(client, trading, org, money_flows, who, expected):
    opening = services.opening_balance_post(
        actor=trading.finance_a,
        company_id=org.company_a.pk,
        partner_id=trading.customer.pk,
        account=PartnerAccount.RECEIVABLE,
        amount="10.00",
        posting_date=datetime.date(2026, 1, 1),
    )
    before = everything()
    response = login(client, person(trading, org, money_flows, who)).post(
        reverse("trading:opening_balance_reverse", args=[opening.pk]), {"reason": "x"}
    )
    assert response.status_code == expected
    assert everything() == before

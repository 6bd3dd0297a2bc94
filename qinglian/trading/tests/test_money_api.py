"""The money API: an authorization matrix over every endpoint (anonymous, no role, another
company, the wrong role, finance, the inspector), the flows through the endpoints and the
error shape of refusals."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from qinglian.approvals.models import ApprovalRequest
from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.trading.enums import (
    ApprovedPostingStatus,
    ContractKind,
    PartnerAccount,
    PaymentTerm,
    PostingStatus,
    TradingErrorCode,
)
from qinglian.trading.factories import make_contract
from qinglian.trading.models import Invoice, PartnerLedgerEntry, Payment
from qinglian.trading.models.money import OpeningBalance
from qinglian.trading.services import money as services

BASE = "/api/trading"
TODAY = clock.today()
pytestmark = pytest.mark.usefixtures("english", "money_flows")


def user_of(trading, org, money_flows, who):
    if who == "anonymous":
        return None
    for holder in (trading, org, money_flows):
        if hasattr(holder, who):
            return getattr(holder, who)
    raise AssertionError(who)


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def send(client, method, url, body=None):
    data = json.dumps(body, default=str) if body is not None else ""
    return getattr(client, method)(url, data=data, content_type="application/json")


@pytest.fixture
def purchase(trading, org):
    return make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "100", "4000")],
        payment_term=PaymentTerm.PREPAYMENT,
        prepayment_percent=Decimal("30"),
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


def everything():
    return (
        sorted(Invoice.objects.values_list("id", "status", "version")),
        sorted(Payment.objects.values_list("id", "status", "version")),
        PartnerLedgerEntry.objects.count(),
        OpeningBalance.objects.count(),
        AuditEvent.objects.count(),
        ApprovalRequest.objects.count(),
    )


WRITERS = [
    ("anonymous", 401),
    ("no_role", 404),
    ("finance_b", 404),
    ("purchaser_a", 403),
    ("inspector", 403),
]


# ---------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 401),
        ("no_role", 404),
        ("finance_b", 404),
        ("purchaser_a", 200),
        ("inspector", 200),
        ("finance_a", 200),
    ],
)
@pytest.mark.parametrize("kind", ["invoices", "payments"])
def test_detail_matrix(trading, org, money_flows, purchase, kind, who, expected):
    made: Invoice | Payment
    if kind == "invoices":
        made = services.invoice_create(
            actor=trading.finance_a,
            contract_id=purchase.pk,
            invoice_number="1",
            invoice_date=TODAY,
            amount="10.00",
        )
    else:
        made = services.payment_create(
            actor=trading.finance_a, contract_id=purchase.pk, amount="10.00", paid_on=TODAY
        )
    response = client_for(user_of(trading, org, money_flows, who)).get(f"{BASE}/{kind}/{made.pk}")
    assert response.status_code == expected


@pytest.mark.parametrize(
    ("who", "count"),
    [("no_role", 0), ("finance_b", 0), ("purchaser_a", 1), ("inspector", 1), ("finance_a", 1)],
)
@pytest.mark.parametrize(
    "path",
    ["invoices", "payments", "partner-ledger/balances", "partner-ledger/entries"],
)
def test_lists_are_scoped(trading, org, money_flows, sale, path, who, count):
    invoice = services.invoice_create(
        actor=trading.finance_a,
        contract_id=sale.pk,
        invoice_number="1",
        invoice_date=TODAY,
        amount="10.00",
    )
    services.invoice_post(actor=trading.finance_a, invoice_id=invoice.pk)
    services.payment_create(
        actor=trading.finance_a, contract_id=sale.pk, amount="10.00", paid_on=TODAY
    )
    response = client_for(user_of(trading, org, money_flows, who)).get(f"{BASE}/{path}")
    assert response.status_code == 200
    assert response.json()["count"] == count


@pytest.mark.parametrize(
    "path",
    [
        "invoices",
        "payments",
        "partner-ledger/balances",
        "partner-ledger/entries",
        "partner-ledger/open-items",
        "opening-balances",
    ],
)
def test_reads_need_authentication(path):
    assert Client().get(f"{BASE}/{path}").status_code == 401


def test_open_items_and_totals(trading, org, money_flows, sale):
    invoice = services.invoice_create(
        actor=trading.finance_a,
        contract_id=sale.pk,
        invoice_number="1",
        invoice_date=TODAY,
        amount="500.00",
    )
    services.invoice_post(actor=trading.finance_a, invoice_id=invoice.pk)
    client = client_for(trading.finance_a)
    items = client.get(f"{BASE}/partner-ledger/open-items?partner_id={trading.customer.pk}")
    assert [(i["voucher_type"], i["outstanding"]) for i in items.json()] == [("invoice", "500.00")]
    totals = client.get(f"{BASE}/partner-ledger/{trading.customer.pk}/totals").json()
    assert totals == [
        {
            "company_id": org.company_a.pk,
            "receivable": "500.00",
            "payable": "0.00",
            "stored_receivable": "500.00",
            "stored_payable": "0.00",
        }
    ]
    outsider = client_for(money_flows.finance_b)
    assert outsider.get(f"{BASE}/partner-ledger/open-items").json() == []
    assert outsider.get(f"{BASE}/partner-ledger/{trading.customer.pk}/totals").json() == []
    assert (
        client_for(org.no_role)
        .get(f"{BASE}/partner-ledger/{trading.customer.pk}/totals")
        .status_code
        == 404
    )


def test_allowance_endpoint(trading, org, money_flows, purchase):
    response = client_for(trading.finance_a).get(
        f"{BASE}/contracts/{purchase.pk}/payment-allowance"
    )
    assert response.json()["allowed"] == "120000.00"
    assert (
        client_for(money_flows.finance_b)
        .get(f"{BASE}/contracts/{purchase.pk}/payment-allowance")
        .status_code
        == 404
    )


# ---------------------------------------------------------------- writing


@pytest.mark.parametrize(("who", "expected"), WRITERS)
@pytest.mark.parametrize("kind", ["invoices", "payments"])
def test_create_matrix(trading, org, money_flows, purchase, kind, who, expected):
    body = (
        {"contract_id": purchase.pk, "invoice_number": "1", "invoice_date": TODAY, "amount": "1"}
        if kind == "invoices"
        else {"contract_id": purchase.pk, "amount": "1.00", "paid_on": TODAY}
    )
    before = everything()
    response = send(
        client_for(user_of(trading, org, money_flows, who)), "post", f"{BASE}/{kind}", body
    )
    assert response.status_code == expected, response.content
    assert everything() == before


@pytest.mark.parametrize(("who", "expected"), WRITERS)
@pytest.mark.parametrize(
    ("kind", "path", "method", "body"),
    [
        ("invoice", "", "patch", {"amount": "2.00"}),
        ("invoice", "/post", "post", {}),
        ("invoice", "/cancel", "post", {}),
        ("posted_invoice", "/reverse", "post", {"invoice_number": "R1", "reason": "x"}),
        ("payment", "", "patch", {"amount": "2.00"}),
        ("payment", "/submit", "post", {}),
        ("payment", "/cancel", "post", {}),
        ("receipt", "/post", "post", {}),
        ("posted_receipt", "/reverse", "post", {"reason": "x"}),
    ],
)
def test_write_matrix(
    trading, org, money_flows, purchase, sale, who, expected, kind, path, method, body
):
    target: Invoice | Payment
    if "invoice" in kind:
        target = services.invoice_create(
            actor=trading.finance_a,
            contract_id=sale.pk,
            invoice_number="1",
            invoice_date=TODAY,
            amount="10.00",
        )
        if kind == "posted_invoice":
            services.invoice_post(actor=trading.finance_a, invoice_id=target.pk)
        url = f"{BASE}/invoices/{target.pk}{path}"
    else:
        contract = purchase if kind == "payment" else sale
        target = services.payment_create(
            actor=trading.finance_a, contract_id=contract.pk, amount="10.00", paid_on=TODAY
        )
        if kind == "posted_receipt":
            services.receipt_post(actor=trading.finance_a, payment_id=target.pk)
        url = f"{BASE}/payments/{target.pk}{path}"
    before = everything()
    response = send(client_for(user_of(trading, org, money_flows, who)), method, url, body)
    assert response.status_code == expected, response.content
    assert everything() == before


@pytest.mark.parametrize(("who", "expected"), WRITERS)
def test_opening_balance_matrix(trading, org, money_flows, who, expected):
    body = {
        "company_id": org.company_a.pk,
        "partner_id": trading.customer.pk,
        "account": PartnerAccount.RECEIVABLE,
        "amount": "100.00",
        "posting_date": "2026-01-01",
    }
    before = everything()
    response = send(
        client_for(user_of(trading, org, money_flows, who)),
        "post",
        f"{BASE}/opening-balances",
        body,
    )
    assert response.status_code == expected, response.content
    assert everything() == before


def test_money_flow_through_the_api(trading, org, purchase, sale):
    client = client_for(trading.finance_a)
    created = send(
        client,
        "post",
        f"{BASE}/invoices",
        {
            "contract_id": sale.pk,
            "invoice_number": "00012345",
            "invoice_code": "3300212130",
            "invoice_date": TODAY,
            "amount": "1130.00",
        },
    )
    assert created.status_code == 201
    assert created.json()["tax_amount"] == "130.00"
    duplicate = send(
        client,
        "post",
        f"{BASE}/invoices",
        {
            "contract_id": sale.pk,
            "invoice_number": "0001-2345",
            "invoice_code": "3300212130",
            "invoice_date": TODAY,
            "amount": "1.00",
        },
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == TradingErrorCode.DUPLICATE
    posted = send(client, "post", f"{BASE}/invoices/{created.json()['id']}/post", {})
    assert posted.json()["status"] == PostingStatus.POSTED
    reversal = send(
        client,
        "post",
        f"{BASE}/invoices/{created.json()['id']}/reverse",
        {"invoice_number": "R1", "reason": "开错"},
    )
    assert reversal.status_code == 201
    assert reversal.json()["amount"] == "-1130.00"

    payment = send(
        client,
        "post",
        f"{BASE}/payments",
        {"contract_id": purchase.pk, "amount": "130000.00", "paid_on": TODAY},
    ).json()
    over = send(client, "post", f"{BASE}/payments/{payment['id']}/submit", {})
    assert over.status_code == 422
    assert over.json()["error"]["code"] == TradingErrorCode.OVER_PAYABLE
    send(
        client,
        "patch",
        f"{BASE}/payments/{payment['id']}",
        {"is_exception": True, "exception_reason": "锁价"},
    )
    submitted = send(client, "post", f"{BASE}/payments/{payment['id']}/submit", {})
    assert submitted.status_code == 200
    assert submitted.json()["status"] == ApprovedPostingStatus.PENDING
    assert submitted.json()["allowed_amount"] == "120000.00"

    opening = send(
        client,
        "post",
        f"{BASE}/opening-balances",
        {
            "company_id": org.company_a.pk,
            "partner_id": trading.customer.pk,
            "account": PartnerAccount.RECEIVABLE,
            "amount": "-50.00",
            "posting_date": "2026-01-01",
        },
    )
    assert opening.status_code == 201
    reversed_ = send(
        client, "post", f"{BASE}/opening-balances/{opening.json()['id']}/reverse", {"reason": "错"}
    )
    assert reversed_.status_code == 201
    assert reversed_.json()["amount"] == "50.00"

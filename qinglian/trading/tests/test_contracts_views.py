"""Contract pages: the authorization matrix (anonymous, no role, wrong company, right company,
the wrong role, the group-wide inspector) for every page and action, the happy path through
the forms (with HTMX line rows), and the list's query budget."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.trading.enums import ContractKind, ContractStatus, PaymentTerm
from qinglian.trading.factories import make_contract
from qinglian.trading.models import Contract
from qinglian.trading.services import contracts as services

TODAY = clock.today()
pytestmark = [pytest.mark.usefixtures("english", "money_flows")]


def person(trading, org, money_flows, name):
    if name == "anonymous":
        return None
    for holder in (trading, org, money_flows):
        if hasattr(holder, name):
            return getattr(holder, name)
    raise AssertionError(name)


def client_for(client, user):
    if user is not None:
        client.force_login(user)
    return client


def draft(trading, org):
    return services.contract_create(
        actor=trading.purchaser_a,
        company_id=org.company_a.pk,
        kind=ContractKind.PURCHASE,
        partner_id=trading.supplier.pk,
        payment_term=PaymentTerm.CREDIT,
        credit_days=30,
        delivery_end=TODAY + datetime.timedelta(days=30),
        end_on=TODAY + datetime.timedelta(days=60),
        lines=[{"commodity_id": trading.steel.pk, "quantity": "10", "unit_price": "4000"}],
    )


def effective(trading, org):
    return make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "100", "4000")],
    )


READERS = [
    ("anonymous", 302),
    ("no_role", 404),
    ("purchaser_b", 404),
    ("purchaser_a", 200),
    ("finance_a", 200),  # reads its company's contracts
    ("inspector", 200),
]


@pytest.mark.parametrize(("who", "expected"), READERS)
def test_detail_matrix(client, trading, org, money_flows, who, expected):
    contract = effective(trading, org)
    response = client_for(client, person(trading, org, money_flows, who)).get(
        reverse("trading:contract_detail", args=[contract.pk])
    )
    assert response.status_code == expected
    if expected == 200:
        assert contract.number in response.content.decode()
        can_write = who == "purchaser_a"
        assert (b'data-testid="contract-actions"' in response.content) is can_write


@pytest.mark.parametrize(
    ("who", "listed"),
    [
        ("no_role", False),
        ("purchaser_b", False),
        ("purchaser_a", True),
        ("inspector", True),
    ],
)
def test_list_shows_only_the_scope(client, trading, org, money_flows, who, listed):
    contract = effective(trading, org)
    response = client_for(client, person(trading, org, money_flows, who)).get(
        reverse("trading:contract_list")
    )
    assert response.status_code == 200
    assert (contract.number in response.content.decode()) is listed


def test_list_needs_sign_in(client):
    response = client.get(reverse("trading:contract_list"))
    assert response.status_code == 302


def test_list_query_budget(client, trading, org, django_assert_max_num_queries):
    for _ in range(15):
        effective(trading, org)
    client.force_login(trading.purchaser_a)
    client.get(reverse("trading:contract_list"))  # warm the session
    with django_assert_max_num_queries(12):
        response = client.get(reverse("trading:contract_list"))
    assert response.content.decode().count('data-testid="contract-row"') == 15


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 302),
        ("no_role", 403),
        ("salesperson_a", 403),  # sales role, purchase form
        ("finance_a", 403),
        ("inspector", 403),
        ("purchaser_b", 200),  # a purchaser of B: the form offers company B only
        ("purchaser_a", 200),
    ],
)
def test_create_form_matrix(client, trading, org, money_flows, who, expected):
    response = client_for(client, person(trading, org, money_flows, who)).get(
        reverse("trading:contract_create", args=["purchase"])
    )
    assert response.status_code == expected


def form_data(trading, org, **extra):
    data = {
        "company": str(org.company_a.pk),
        "partner": str(trading.supplier.pk),
        "payment_term": PaymentTerm.PREPAYMENT,
        "prepayment_percent": "30",
        "credit_days": "",
        "owner": str(trading.purchaser_a.pk),
        "signed_on": TODAY.isoformat(),
        "delivery_start": TODAY.isoformat(),
        "delivery_end": (TODAY + datetime.timedelta(days=30)).isoformat(),
        "end_on": (TODAY + datetime.timedelta(days=60)).isoformat(),
        "remarks": "",
        # Rows 0 and 2 sent: row 1 was removed on the page.
        "lines-TOTAL_FORMS": "2",
        "lines-INITIAL_FORMS": "0",
        "lines-0-commodity": str(trading.steel.pk),
        "lines-0-quantity": "100",
        "lines-0-unit_price": "4000",
        "lines-0-tax_percent": "",
        "lines-2-commodity": str(trading.coal.pk),
        "lines-2-quantity": "50",
        "lines-2-unit_price": "800",
        "lines-2-tax_percent": "9",
        "lines-2-quantity_tolerance_percent": "",
    }
    data.update(extra)
    return data


def test_create_edit_and_submit_through_the_pages(client, trading, org):
    client.force_login(trading.purchaser_a)
    response = client.post(
        reverse("trading:contract_create", args=["purchase"]), form_data(trading, org)
    )
    contract = Contract.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("trading:contract_detail", args=[contract.pk])
    assert contract.total_amount == 440000
    coal = contract.lines.get(commodity=trading.coal)
    assert (coal.line_number, str(coal.tax_rate)) == (2, "0.0900")
    page = client.get(reverse("trading:contract_edit", args=[contract.pk]))
    assert page.status_code == 200
    assert page.content.decode().count('data-testid="line-row"') == 2
    # Edit: drop the coal line, keep the steel line's number.
    response = client.post(
        reverse("trading:contract_edit", args=[contract.pk]),
        form_data(
            trading,
            org,
            version=str(contract.version),
            **{
                "lines-0-line_number": "1",
                "lines-2-commodity": "",
                "lines-2-quantity": "",
                "lines-2-unit_price": "",
                "lines-2-tax_percent": "",
            },
        ),
    )
    assert response.status_code == 302
    contract.refresh_from_db()
    assert list(contract.lines.values_list("line_number", "commodity_id")) == [
        (1, trading.steel.pk)
    ]
    # A stale edit is refused on the form.
    response = client.post(
        reverse("trading:contract_edit", args=[contract.pk]),
        form_data(trading, org, version="1", remarks="late"),
    )
    assert response.status_code == 200
    assert "Someone else changed this contract" in response.content.decode()
    response = client.post(
        reverse("trading:contract_submit", args=[contract.pk]), {"version": contract.version}
    )
    assert response.status_code == 302
    contract.refresh_from_db()
    assert contract.status == ContractStatus.PENDING
    detail = client.get(reverse("trading:contract_detail", args=[contract.pk]))
    assert b'data-testid="approval-link"' in detail.content


def test_form_shows_line_errors_where_they_are(client, trading, org):
    client.force_login(trading.purchaser_a)
    response = client.post(
        reverse("trading:contract_create", args=["purchase"]),
        form_data(trading, org, **{"lines-2-tax_percent": "150"}),
    )
    assert response.status_code == 200
    assert not Contract.objects.exists()
    assert "A VAT rate between 0 and 1" in response.content.decode()


def test_refused_counterparty_is_shown_on_the_form(client, trading, org):
    client.force_login(trading.purchaser_a)
    response = client.post(
        reverse("trading:contract_create", args=["purchase"]),
        form_data(trading, org, company=str(org.company_b.pk)),
    )
    assert response.status_code == 200  # company B is not offered to a purchaser of A
    assert not Contract.objects.exists()


def test_htmx_line_row_follows_the_rows_sent(client, trading, org):
    client.force_login(trading.purchaser_a)
    response = client.get(
        reverse("trading:contract_line_row"),
        {"lines-0-quantity": "1", "lines-4-quantity": "2"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert 'name="lines-5-commodity"' in response.content.decode()
    assert client.get(reverse("trading:contract_line_remove")).content == b""
    client.force_login(org.no_role)
    assert client.get(reverse("trading:contract_line_row")).status_code == 403


ACTIONS = ["submit", "cancel", "amend", "terminate", "complete"]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 302),
        ("no_role", 404),
        ("purchaser_b", 404),
        ("salesperson_a", 403),
        ("finance_a", 403),
        ("inspector", 403),
    ],
)
def test_actions_refused(client, trading, org, money_flows, action, who, expected):
    contract = draft(trading, org) if action in ("submit", "cancel") else effective(trading, org)
    before = (contract.status, Contract.objects.count(), AuditEvent.objects.count())
    response = client_for(client, person(trading, org, money_flows, who)).post(
        reverse(f"trading:contract_{action}", args=[contract.pk]), {"reason": "x"}
    )
    assert response.status_code == expected
    if expected == 302:
        assert "/login" in response.url or "login" in response.url
    contract.refresh_from_db()
    assert (contract.status, Contract.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("submit", ContractStatus.PENDING),
        ("cancel", ContractStatus.CANCELLED),
        ("terminate", ContractStatus.TERMINATED),
        ("complete", ContractStatus.COMPLETED),
    ],
)
def test_actions_by_the_purchaser(client, trading, org, action, status):
    contract = draft(trading, org) if action in ("submit", "cancel") else effective(trading, org)
    client.force_login(trading.purchaser_a)
    response = client.post(
        reverse(f"trading:contract_{action}", args=[contract.pk]), {"reason": "供应商违约"}
    )
    assert response.status_code == 302
    contract.refresh_from_db()
    assert contract.status == status


def test_amend_opens_the_new_revision(client, trading, org):
    contract = effective(trading, org)
    client.force_login(trading.purchaser_a)
    response = client.post(reverse("trading:contract_amend", args=[contract.pk]))
    amendment = Contract.objects.get(amends=contract)
    assert response.url == reverse("trading:contract_edit", args=[amendment.pk])
    detail = client.get(reverse("trading:contract_detail", args=[contract.pk]))
    assert b'data-testid="amendment-note"' in detail.content
    assert b'data-testid="amend-contract"' not in detail.content


def test_refusal_is_a_message_and_changes_nothing(client, trading, org):
    contract = effective(trading, org)
    client.force_login(trading.purchaser_a)
    response = client.post(
        reverse("trading:contract_terminate", args=[contract.pk]), {"reason": ""}, follow=True
    )
    assert response.status_code == 200
    assert "Say why the contract is terminated" in response.content.decode()
    contract.refresh_from_db()
    assert contract.status == ContractStatus.EFFECTIVE


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 302),
        ("no_role", 404),
        ("purchaser_b", 404),
        ("inspector", 403),
        ("salesperson_a", 403),
        ("purchaser_a", 200),
    ],
)
def test_edit_form_matrix(client, trading, org, money_flows, who, expected):
    contract = draft(trading, org)
    response = client_for(client, person(trading, org, money_flows, who)).get(
        reverse("trading:contract_edit", args=[contract.pk])
    )
    assert response.status_code == expected


def test_pages_fit_a_phone(client, trading, org):
    """The tables stack on a phone (table-responsive-stack labels every cell)."""
    contract = effective(trading, org)
    client.force_login(trading.purchaser_a)
    html = client.get(reverse("trading:contract_detail", args=[contract.pk])).content.decode()
    assert 'name="viewport"' in html
    assert "table-responsive-stack" in html
    assert 'data-label="Commodity"' in html

"""Who reads the reports: an authorization matrix over every report page, export and API
endpoint — anonymous, no role, another company, the own company, the group-wide inspector —
with what each one sees (a company never sees another's figures, even by following a link
meant for someone else); and the statements each report runs do not grow with its rows."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from qinglian.core import clock
from qinglian.trading.enums import ContractKind, PartnerKind
from qinglian.trading.factories import make_commodity, make_contract, make_partner
from qinglian.trading.services import money as money_services
from qinglian.trading.services import stock as stock_services

from .test_reports_drilldown import build_world, days_ago

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

PERIOD = {"date_from": days_ago(200).isoformat(), "date_to": clock.today().isoformat()}
PAGES = {
    "trading:report_psi": PERIOD,
    "trading:report_ageing": {},
    "trading:report_execution": {},
    "trading:report_margin": {},
    "trading:report_concentration": PERIOD,
}
EXPORTS = {f"{name}_export": params for name, params in PAGES.items()}
API = {
    "/api/trading/reports/psi": PERIOD,
    "/api/trading/reports/receivable-ageing": {},
    "/api/trading/reports/contract-execution": {},
    "/api/trading/reports/deal-margin": {},
    "/api/trading/reports/supplier-concentration": PERIOD,
}


@pytest.fixture
def world(stock, org, shared_layers):
    return shared_layers.get("world", build_world, stock, org)


def user_for(who, world, org):
    t = world.trading
    return {
        "anonymous": None,
        "no_role": org.no_role,
        "other_company": t.keeper_b,
        "own_company": t.finance_a,
        "inspector": org.inspector,
    }[who]


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def a_markers(world):
    """Text only company A's figures put on each report."""
    t = world.trading
    return {
        "psi": t.warehouse_a.name,
        "ageing": t.customer.name,
        "execution": world.stock.sales.number,
        "margin": world.stock.sales.number,
        "concentration": world.second_supplier.name,
    }


KEYS = {
    "psi": "psi",
    "ageing": "ageing",
    "execution": "execution",
    "margin": "margin",
    "concentration": "concentration",
}


def _key(name: str) -> str:
    """Which report a URL name or API path is ("contract-execution" → "execution")."""
    return next(key for word, key in KEYS.items() if word in name)


def xlsx_text(response) -> str:
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    return "\n".join(
        str(cell) for row in book.worksheets[0].iter_rows(values_only=True) for cell in row if cell
    )


@pytest.mark.parametrize(
    ("who", "status", "sees_a"),
    [
        ("anonymous", 302, False),
        ("no_role", 200, False),
        ("other_company", 200, False),
        ("own_company", 200, True),
        ("inspector", 200, True),
    ],
)
def test_report_pages_and_exports(world, org, who, status, sees_a):
    client = client_for(user_for(who, world, org))
    markers = a_markers(world)
    assert client.get(reverse("trading:report_index")).status_code == status
    for name, params in PAGES.items():
        response = client.get(reverse(name), params)
        assert response.status_code == status, name
        if status == 200:
            assert (markers[_key(name)] in response.content.decode()) is sees_a, name
    for name, params in EXPORTS.items():
        response = client.get(reverse(name), params)
        assert response.status_code == status, name
        if status == 200:
            assert (markers[_key(name)] in xlsx_text(response)) is sees_a, name
    response = client.get(reverse("trading:stock_ledger_export"))
    assert response.status_code == status
    if status == 200:
        assert (world.trading.warehouse_a.name in xlsx_text(response)) is sees_a


@pytest.mark.parametrize(
    ("who", "status", "sees_a"),
    [
        ("anonymous", 401, False),
        ("no_role", 200, False),
        ("other_company", 200, False),
        ("own_company", 200, True),
        ("inspector", 200, True),
    ],
)
def test_report_api(world, org, who, status, sees_a):
    client = client_for(user_for(who, world, org))
    markers = a_markers(world)
    for url, params in API.items():
        response = client.get(url, params)
        assert response.status_code == status, url
        if status == 200:
            body = json.dumps(response.json(), ensure_ascii=False)
            assert (markers[_key(url)] in body) is sees_a, url


def test_other_company_sees_its_own_figures(world, org):
    """Company B's keeper reads B's receipt — and nothing of A's."""
    client = client_for(world.trading.keeper_b)
    response = client.get(reverse("trading:report_psi"), PERIOD)
    (row,) = response.context["report"].rows
    assert (row.company_id, row.in_quantity) == (org.company_b.pk, 25)
    body = client.get("/api/trading/reports/supplier-concentration", PERIOD).json()
    assert [r["partner"] for r in body["rows"]] == [world.trading.supplier.name]


def test_following_a_link_meant_for_another_company_shows_nothing(world, org):
    """The drill-down pages are scoped too: A's links opened by B list no entry."""
    inspector = client_for(org.inspector)
    report = inspector.get(reverse("trading:report_execution")).context["contracts"]
    sales = next(c for c in report if c.contract_id == world.stock.sales.pk)
    outsider = client_for(world.trading.keeper_b)
    for url in (sales.links["executed"], sales.lines[0].links["executed"]):
        page = outsider.get(url.split("#")[0])
        assert page.status_code == 200
        assert page.context["page_obj"].paginator.count == 0
        assert world.stock.sales.number not in page.content.decode()
    page = outsider.get(sales.links["invoiced"].split("#")[0])
    assert page.status_code == 200
    assert page.context["page_obj"].paginator.count == 0
    assert page.context["open_items"] == []
    inside = inspector.get(sales.links["invoiced"].split("#")[0])
    assert inside.context["page_obj"].paginator.count == 4


def test_a_no_role_user_gets_empty_reports_not_errors(world, org):
    client = client_for(org.no_role)
    response = client.get(reverse("trading:report_psi"), PERIOD)
    assert response.context["report"].rows == []
    assert client.get("/api/trading/reports/deal-margin").json()["rows"] == []


# ---------------------------------------------------------------- query counts


def _more_of_everything(world, org, round_number):
    """Another commodity in and out, a new customer with a sales contract, goods issued and an
    invoice, a new supplier with a receipt: more rows in every report."""
    t = world.trading
    commodity = make_commodity(company=org.group, code=f"ORE{round_number}", name="铁矿石")
    supplier = make_partner(company=org.group, kind=PartnerKind.SUPPLIER)
    customer = make_partner(company=org.group, kind=PartnerKind.CUSTOMER)
    purchase = make_contract(
        company=org.company_a,
        partner=supplier,
        owner=t.purchaser_a,
        lines=[(commodity, "100", "800.00")],
    )
    sales = make_contract(
        company=org.company_a,
        partner=customer,
        owner=t.salesperson_a,
        kind=ContractKind.SALES,
        lines=[(commodity, "100", "1000.00")],
    )
    for kind, contract, quantity in (("receipt", purchase, "50"), ("issue", sales, "20")):
        stock_services.stock_document_create(
            actor=t.keeper_a,
            kind=kind,
            contract_id=contract.pk,
            warehouse_id=t.warehouse_a.pk,
            posting_date=days_ago(10),
            lines=[{"commodity_id": commodity.pk, "quantity": quantity}],
            post=True,
        )
    invoice = money_services.invoice_create(
        actor=t.finance_a,
        contract_id=sales.pk,
        invoice_number=f"9900{round_number:04d}",
        invoice_date=days_ago(50),
        amount="20000.00",
    )
    money_services.invoice_post(actor=t.finance_a, invoice_id=invoice.pk)


def _statements(client, url, params):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_statements_do_not_grow_with_rows(world, org):
    client = client_for(org.inspector)
    targets = [
        *((reverse(name), params) for name, params in PAGES.items()),
        *((reverse(name), params) for name, params in EXPORTS.items()),
        *API.items(),
    ]
    for url, params in targets:
        client.get(url, params)  # warm up (the session, the scope)
    few = {url: _statements(client, url, params) for url, params in targets}
    for round_number in range(3):
        _more_of_everything(world, org, round_number)
    many = {url: _statements(client, url, params) for url, params in targets}
    assert many == few
    assert max(few.values()) <= 20, few


def test_malformed_drill_down_parameters_filter_nothing_rather_than_fail(world, org):
    client = client_for(org.inspector)
    ledger = client.get(
        reverse("trading:stock_ledger_list"),
        {"contract": "abc", "contract_line": "1.5", "partner": "", "company": "x"},
    )
    assert ledger.status_code == 200
    partner = client.get(
        reverse("trading:partner_ledger_detail", args=[world.trading.customer.pk]),
        {"date_to": "2026-13-45", "as_of": "soon", "bucket": "nonsense", "kind": "gift"},
    )
    assert partner.status_code == 200
    assert partner.context["entry_totals"] is None  # no valid filter: no drill-down total
    for name, params in PAGES.items():
        response = client.get(reverse(name), {**params, "date_from": "yesterday", "top": "-3"})
        assert response.status_code == 200, name

"""The credit API: an authorization matrix over every endpoint (anonymous, no role, another
company, own company, the inspector) with "nothing happened" for refused writes, the flows
through the endpoints, and the error shape of a credit block."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from django.test import Client

from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.trading.enums import ContractKind, PartnerAccount, PartnerKind
from qinglian.trading.factories import make_contract, make_partner
from qinglian.trading.models import CreditException, CreditExceptionStatus, CreditPolicy
from qinglian.trading.services import credit as services
from qinglian.trading.services import money as money_services

BASE = "/api/trading/credit"
TODAY = clock.today()
D = Decimal
pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def world(org, trading, money_flows, shared_layers):
    return shared_layers.get("world", build_world, org, trading, money_flows)


def build_world(org, trading, money_flows):
    from qinglian.approvals.services import template_save

    for flow in services.APPROVAL_FLOWS:
        template_save(actor=SYSTEM_ACTOR, **flow)
    customer = make_partner(
        company=org.company_a, kind=PartnerKind.CUSTOMER, name="甲方客户", credit_limit=D("500")
    )
    make_contract(
        company=org.company_a,
        partner=customer,
        owner=trading.salesperson_a,
        kind=ContractKind.SALES,
        lines=[(trading.steel, "1", "800")],
    )
    money_services.opening_balance_post(
        actor=trading.finance_a,
        company_id=org.company_a.pk,
        partner_id=customer.pk,
        account=PartnerAccount.RECEIVABLE,
        amount="300.00",
        posting_date=TODAY - datetime.timedelta(days=80),
        due_date=TODAY - datetime.timedelta(days=45),
    )
    exception = services.credit_exception_request(
        actor=trading.salesperson_a,
        partner_id=customer.pk,
        amount="600.00",
        reason="年底冲量",
        valid_until=TODAY + datetime.timedelta(days=3),
    )
    return {"customer": customer, "exception": exception}


def user_of(trading, org, money_flows, who):
    return {
        "anonymous": None,
        "no_role": org.no_role,
        "other_company": money_flows.salesperson_b,
        "own_company": trading.salesperson_a,
        "inspector": org.inspector,
    }[who]


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def send(client, method, url, body=None):
    data = json.dumps(body, default=str) if body is not None else ""
    return getattr(client, method)(url, data=data, content_type="application/json")


WHO = ["anonymous", "no_role", "other_company", "own_company", "inspector"]
READS = {
    "customer": {
        "anonymous": 401,
        "no_role": 404,
        "other_company": 404,
        "own_company": 200,
        "inspector": 200,
    },
    "exception": {
        "anonymous": 401,
        "no_role": 404,
        "other_company": 404,
        "own_company": 200,
        "inspector": 200,
    },
    "lists": {
        "anonymous": 401,
        "no_role": 200,
        "other_company": 200,
        "own_company": 200,
        "inspector": 200,
    },
}


@pytest.mark.parametrize("who", WHO)
def test_read_matrix(world, trading, org, money_flows, who):
    client = client_for(user_of(trading, org, money_flows, who))
    customer, exception = world["customer"], world["exception"]
    assert client.get(f"{BASE}/customers/{customer.pk}").status_code == READS["customer"][who]
    assert client.get(f"{BASE}/exceptions/{exception.pk}").status_code == (READS["exception"][who])
    for url in (f"{BASE}/customers", f"{BASE}/exceptions", f"{BASE}/ageing"):
        assert client.get(url).status_code == READS["lists"][who], url
    lists = client.get(f"{BASE}/exceptions")
    if lists.status_code == 200:
        seen = [item["id"] for item in lists.json()["items"]]
        assert seen == ([exception.pk] if who in ("own_company", "inspector") else [])
        names = [item["partner_name"] for item in client.get(f"{BASE}/customers").json()]
        assert names == (["甲方客户"] if who in ("own_company", "inspector") else [])


def test_customer_standing_in_detail(world, trading):
    body = client_for(trading.salesperson_a).get(f"{BASE}/customers/{world['customer'].pk}")
    data = body.json()
    assert data["components"] == {
        "receivable": "300.00",
        "uninvoiced": "0.00",
        "open_orders": "800.00",
    }
    assert (data["exposure"], data["credit_limit"], data["over_limit"]) == (
        "1100.00",
        "500.00",
        "600.00",
    )
    assert (data["overdue_amount"], data["is_overdue_blocked"], data["is_blocked"]) == (
        "300.00",
        True,
        True,
    )
    assert data["policy"]["company_id"] is None  # the defaults
    ageing = client_for(trading.salesperson_a).get(f"{BASE}/ageing").json()
    assert ageing["total"]["days_31_60"] == "300.00"


WRITE_EXPECTED = {
    "anonymous": 401,
    "no_role": 403,
    "other_company": 403,
    "inspector": 403,
}


@pytest.mark.parametrize("who", list(WRITE_EXPECTED))
def test_refused_writes_change_nothing(world, trading, org, money_flows, who):
    client = client_for(user_of(trading, org, money_flows, who))
    exception = world["exception"]
    before = (
        AuditEvent.objects.count(),
        list(CreditException.objects.values_list("pk", "status", "version")),
        CreditPolicy.objects.count(),
    )
    create = send(
        client,
        "post",
        f"{BASE}/exceptions",
        {
            "partner_id": world["customer"].pk,
            "amount": "1.00",
            "valid_until": TODAY.isoformat(),
            "reason": "x",
            "company_id": org.company_a.pk,
        },
    )
    assert create.status_code == WRITE_EXPECTED[who]
    cancel = send(client, "post", f"{BASE}/exceptions/{exception.pk}/cancel", {})
    assert cancel.status_code == {"no_role": 404, "other_company": 404}.get(
        who, WRITE_EXPECTED[who]
    )
    policy = send(client, "put", f"{BASE}/policy", {"company_id": org.company_a.pk})
    assert policy.status_code == {"no_role": 404, "other_company": 404}.get(
        who, WRITE_EXPECTED[who]
    )
    assert before == (
        AuditEvent.objects.count(),
        list(CreditException.objects.values_list("pk", "status", "version")),
        CreditPolicy.objects.count(),
    )


def test_request_submit_and_cancel_through_the_api(world, trading, org):
    client = client_for(trading.salesperson_a)
    created = send(
        client,
        "post",
        f"{BASE}/exceptions",
        {
            "partner_id": world["customer"].pk,
            "amount": "50.00",
            "allow_overdue": True,
            "valid_until": (TODAY + datetime.timedelta(days=1)).isoformat(),
            "reason": "补发货",
            "submit": False,
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["status"], body["approval_status"]) == ("draft", None)
    submitted = send(client, "post", f"{BASE}/exceptions/{body['id']}/submit", {"version": 1})
    assert submitted.status_code == 200
    assert (submitted.json()["status"], submitted.json()["approval_status"]) == (
        "pending",
        "in_progress",
    )
    stale = send(client, "post", f"{BASE}/exceptions/{body['id']}/cancel", {"version": 1})
    assert stale.status_code == 409
    refused = send(client, "post", f"{BASE}/exceptions/{body['id']}/cancel", {})
    assert refused.status_code == 409  # under approval: withdraw it in the approval instead
    assert CreditException.objects.get(pk=body["id"]).status == CreditExceptionStatus.PENDING


def test_a_refused_request_has_the_error_shape(world, trading):
    response = send(
        client_for(trading.salesperson_a),
        "post",
        f"{BASE}/exceptions",
        {"partner_id": world["customer"].pk, "valid_until": "2000-01-01", "reason": " "},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert set(error["fields"]) == {"amount", "reason", "valid_until"}


def test_the_policy_through_the_api(world, trading, org):
    client = client_for(trading.manager_a)
    response = send(
        client,
        "put",
        f"{BASE}/policy",
        {"company_id": org.company_a.pk, "include_open_orders": False, "overdue_block_days": 60},
    )
    assert response.status_code == 200, response.content
    assert (response.json()["include_open_orders"], response.json()["version"]) == (False, 1)
    body = client.get(f"{BASE}/customers/{world['customer'].pk}").json()
    assert (body["exposure"], body["is_overdue_blocked"]) == ("300.00", False)
    read = client_for(org.inspector).get(f"{BASE}/policy?company_id={org.company_a.pk}")
    assert read.json()["overdue_block_days"] == 60

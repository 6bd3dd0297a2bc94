"""The contracts API: an authorization matrix over every endpoint (anonymous, no role, another
company, the wrong role, the right role, the inspector), the error shape of refusals, the
lifecycle through the endpoints and the list's query budget."""

from __future__ import annotations

import datetime
import json

import pytest
from django.test import Client

from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.trading.enums import ContractKind, ContractStatus, PaymentTerm, TradingErrorCode
from qinglian.trading.factories import make_contract
from qinglian.trading.models import Contract

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


def effective(trading, org):
    return make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "100", "4000")],
    )


def new_contract(trading, org):
    return {
        "company_id": org.company_a.pk,
        "kind": ContractKind.PURCHASE,
        "partner_id": trading.supplier.pk,
        "payment_term": PaymentTerm.CREDIT,
        "credit_days": 30,
        "delivery_end": (TODAY + datetime.timedelta(days=30)).isoformat(),
        "end_on": (TODAY + datetime.timedelta(days=60)).isoformat(),
        "lines": [{"commodity_id": trading.steel.pk, "quantity": "10", "unit_price": "4000"}],
    }


READ = [
    ("anonymous", 401),
    ("no_role", 404),
    ("purchaser_b", 404),
    ("purchaser_a", 200),
    ("inspector", 200),
]


@pytest.mark.parametrize(("who", "expected"), READ)
def test_detail_matrix(trading, org, money_flows, who, expected):
    contract = effective(trading, org)
    response = client_for(user_of(trading, org, money_flows, who)).get(
        f"{BASE}/contracts/{contract.pk}"
    )
    assert response.status_code == expected
    if expected == 200:
        body = response.json()
        assert body["number"] == contract.number
        assert body["lines"][0]["amount"] == "400000.00"
    elif expected == 404:
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("who", "count"),
    [("no_role", 0), ("purchaser_b", 0), ("purchaser_a", 1), ("inspector", 1)],
)
def test_list_is_scoped(trading, org, money_flows, who, count):
    effective(trading, org)
    response = client_for(user_of(trading, org, money_flows, who)).get(f"{BASE}/contracts")
    assert response.status_code == 200
    assert response.json()["count"] == count


def test_list_needs_authentication():
    assert Client().get(f"{BASE}/contracts").status_code == 401


def test_list_query_budget(trading, org, django_assert_max_num_queries):
    for _ in range(10):
        effective(trading, org)
    client = client_for(trading.purchaser_a)
    with django_assert_max_num_queries(10):
        response = client.get(f"{BASE}/contracts?limit=50")
    assert response.json()["count"] == 10


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 401),
        ("no_role", 404),
        ("purchaser_b", 404),
        ("salesperson_a", 403),
        ("inspector", 403),
        ("purchaser_a", 201),
    ],
)
def test_create_matrix(trading, org, money_flows, who, expected):
    before = (Contract.objects.count(), AuditEvent.objects.count())
    response = send(
        client_for(user_of(trading, org, money_flows, who)),
        "post",
        f"{BASE}/contracts",
        new_contract(trading, org),
    )
    assert response.status_code == expected, response.content
    if expected == 201:
        assert response.json()["status"] == ContractStatus.DRAFT
        assert response.json()["total_amount"] == "40000.00"
    else:
        assert (Contract.objects.count(), AuditEvent.objects.count()) == before


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("anonymous", 401),
        ("no_role", 404),
        ("purchaser_b", 404),
        ("salesperson_a", 403),
        ("inspector", 403),
    ],
)
@pytest.mark.parametrize(
    ("method", "path", "body", "needs_effective"),
    [
        ("patch", "", {"remarks": "x"}, False),
        ("post", "/submit", {}, False),
        ("post", "/cancel", {"reason": "x"}, False),
        ("post", "/terminate", {"reason": "x"}, True),
        ("post", "/complete", {}, True),
        ("post", "/amend", None, True),
    ],
)
def test_write_matrix(
    trading, org, money_flows, who, expected, method, path, body, needs_effective
):
    if needs_effective:
        contract = effective(trading, org)
    else:
        contract = Contract.objects.get(
            pk=send(
                client_for(trading.purchaser_a),
                "post",
                f"{BASE}/contracts",
                new_contract(trading, org),
            ).json()["id"]
        )
    before = (
        contract.status,
        contract.version,
        Contract.objects.count(),
        AuditEvent.objects.count(),
    )
    response = send(
        client_for(user_of(trading, org, money_flows, who)),
        method,
        f"{BASE}/contracts/{contract.pk}{path}",
        body,
    )
    assert response.status_code == expected, response.content
    contract.refresh_from_db()
    after = (
        contract.status,
        contract.version,
        Contract.objects.count(),
        AuditEvent.objects.count(),
    )
    assert after == before


def test_lifecycle_through_the_api(trading, org):
    client = client_for(trading.purchaser_a)
    created = send(client, "post", f"{BASE}/contracts", new_contract(trading, org)).json()
    url = f"{BASE}/contracts/{created['id']}"
    stale = send(client, "patch", url, {"version": 99, "remarks": "x"})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == TradingErrorCode.STALE_VERSION
    updated = send(
        client,
        "patch",
        url,
        {
            "version": created["version"],
            "lines": [{"commodity_id": trading.coal.pk, "quantity": "5", "unit_price": "800"}],
        },
    )
    assert updated.status_code == 200
    assert updated.json()["total_amount"] == "4000.00"
    submitted = send(client, "post", f"{url}/submit", {"version": updated.json()["version"]})
    assert submitted.status_code == 200
    assert submitted.json()["status"] == ContractStatus.PENDING
    assert submitted.json()["approval_request_id"]
    again = send(client, "post", f"{url}/submit", {})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"


def test_refusal_names_the_fields(trading, org):
    body = new_contract(trading, org)
    body["lines"] = [{"commodity_id": trading.steel.pk, "quantity": "0", "unit_price": "1"}]
    response = send(client_for(trading.purchaser_a), "post", f"{BASE}/contracts", body)
    assert response.status_code == 422
    assert "lines.1.quantity" in response.json()["error"]["fields"]


def test_amend_and_terminate(trading, org):
    contract = effective(trading, org)
    client = client_for(trading.purchaser_a)
    amended = send(client, "post", f"{BASE}/contracts/{contract.pk}/amend")
    assert amended.status_code == 201
    assert (amended.json()["revision"], amended.json()["amends_id"]) == (1, contract.pk)
    blocked = send(client, "post", f"{BASE}/contracts/{contract.pk}/terminate", {"reason": "x"})
    assert blocked.status_code == 409  # an amendment is under way
    send(client, "post", f"{BASE}/contracts/{amended.json()['id']}/cancel", {})
    done = send(client, "post", f"{BASE}/contracts/{contract.pk}/terminate", {"reason": "违约"})
    assert done.status_code == 200
    assert done.json()["status"] == ContractStatus.TERMINATED

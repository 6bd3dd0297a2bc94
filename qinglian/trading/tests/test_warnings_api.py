"""The warnings API: the authorization matrix over list, counts, detail, acknowledge, resolve
and thresholds (anonymous, no role, another company, the responsible person, a colleague who
is not responsible, the manager, the inspector) with "nothing happened" for every refusal, and
the error shape of refusals."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from qinglian.audit.models import AuditEvent
from qinglian.trading.models.warnings import TradingWarning, WarningThresholds

from .test_warnings_views import build_world

BASE = "/api/trading/warnings"


@pytest.fixture
def world(stock, org, shared_layers):
    return shared_layers.get("world", build_world, stock, org)


pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def snapshot():
    return (
        list(TradingWarning.objects.order_by("pk").values_list("state", "version")),
        AuditEvent.objects.filter(action__startswith="trading.warning").count(),
    )


VISIBLE = {
    "no_role": set(),
    "other_company": {"other"},
    "owner": {"contract", "credit", "variance"},
    "colleague": {"contract", "credit", "variance"},
    "inspector": {"contract", "credit", "variance", "other"},
}


@pytest.mark.parametrize(("who", "visible"), list(VISIBLE.items()))
def test_list_and_counts_are_scoped(world, who, visible):
    client = client_for(world["users"][who])
    body = client.get(BASE).json()
    assert {item["id"] for item in body["items"]} == {world[name].pk for name in visible}
    counts = client.get(f"{BASE}/counts").json()
    assert counts["unresolved"] == len(visible)


def test_anonymous_gets_401_everywhere(world):
    client = client_for(None)
    warning = world["contract"]
    for response in (
        client.get(BASE),
        client.get(f"{BASE}/counts"),
        client.get(f"{BASE}/{warning.pk}"),
        post(client, f"{BASE}/{warning.pk}/acknowledge", {}),
        post(client, f"{BASE}/{warning.pk}/resolve", {"reason": "x"}),
    ):
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"


def test_counts_per_kind(world):
    body = client_for(world["users"]["inspector"]).get(f"{BASE}/counts").json()
    assert {item["kind"]: item["open"] for item in body["kinds"]} == {
        "credit": 1,
        "overdue": 0,
        "contract": 2,
        "shipment": 0,
        "warehouse": 1,
    }
    mine = client_for(world["users"]["finance"]).get(f"{BASE}/counts?mine=true").json()
    assert mine["unresolved"] == 1


def test_filters_and_detail(world):
    client = client_for(world["users"]["owner"])
    body = client.get(f"{BASE}?kind=warehouse").json()
    assert [item["id"] for item in body["items"]] == [world["variance"].pk]
    contract = world["stock"].sales.pk
    body = client.get(f"{BASE}?contract_id={contract}").json()
    assert [item["id"] for item in body["items"]] == [world["contract"].pk]
    detail = client.get(f"{BASE}/{world['variance'].pk}").json()
    assert detail["code"] == "stock_variance"
    assert detail["document_type"] == "stocktake"
    assert detail["document_id"] == world["stocktake"].pk
    assert detail["details"]["variance"] == "-10.000"
    # the keeper who counted (the warehouse names no keeper), and every keeper by role
    assert detail["responsible_user_ids"] == [world["users"]["colleague"].pk]
    assert detail["responsible_role"] == "warehouse_keeper"
    assert "beyond the tolerance" in detail["message"]


@pytest.mark.parametrize(
    ("who", "read"),
    [("no_role", 404), ("other_company", 404), ("colleague", 200), ("inspector", 200)],
)
def test_detail_matrix(world, who, read):
    response = client_for(world["users"][who]).get(f"{BASE}/{world['contract'].pk}")
    assert response.status_code == read
    if read == 404:
        assert response.json()["error"]["code"] == "not_found"


ACTORS = {
    "no_role": (404, "not_found"),
    "other_company": (404, "not_found"),
    "colleague": (403, "permission_denied"),
    "finance": (403, "permission_denied"),
    "inspector": (403, "permission_denied"),
    "owner": (200, None),
    "manager": (200, None),
}


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
@pytest.mark.parametrize(("who", "expected"), list(ACTORS.items()))
def test_action_matrix(world, action, who, expected):
    warning = world["contract"]
    status, code = expected
    before = snapshot()
    response = post(
        client_for(world["users"][who]),
        f"{BASE}/{warning.pk}/{action}",
        {"note": "n", "reason": "r", "version": warning.version},
    )
    assert response.status_code == status
    if code:
        assert response.json()["error"]["code"] == code
        assert snapshot() == before
    else:
        assert response.json()["state"] == (
            "acknowledged" if action == "acknowledge" else "resolved"
        )
        assert snapshot() != before


def test_refusals_have_the_error_shape(world):
    client = client_for(world["users"]["owner"])
    warning = world["contract"]
    stale = post(client, f"{BASE}/{warning.pk}/acknowledge", {"version": warning.version + 5})
    assert stale.status_code == 409
    blank = post(client, f"{BASE}/{warning.pk}/resolve", {"reason": "  "})
    assert blank.status_code == 422
    assert blank.json()["error"]["fields"] == {"reason": ["Say how the warning was resolved."]}
    post(client, f"{BASE}/{warning.pk}/resolve", {"reason": "done"})
    again = post(client, f"{BASE}/{warning.pk}/acknowledge", {})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_transition"


@pytest.mark.parametrize(
    ("who", "read", "write"),
    [
        ("no_role", 404, 404),
        ("other_company", 404, 404),
        ("owner", 200, 403),
        ("inspector", 200, 403),
        ("manager", 200, 200),
    ],
)
def test_thresholds_matrix(world, org, who, read, write):
    client = client_for(world["users"][who])
    company = org.company_a.pk
    assert client.get(f"{BASE}/thresholds?company_id={company}").status_code == read
    before = AuditEvent.objects.count()
    response = client.put(
        f"{BASE}/thresholds",
        data=json.dumps({"company_id": company, "contract_expiring_days": 7, "version": 1}),
        content_type="application/json",
    )
    assert response.status_code == write
    row = WarningThresholds.objects.get(company_id=company)
    if write == 200:
        assert response.json()["contract_expiring_days"] == 7
        assert AuditEvent.objects.count() == before + 1
    else:
        assert row.contract_expiring_days == 30
        assert AuditEvent.objects.count() == before

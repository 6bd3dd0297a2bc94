"""The warning pages: counts per kind, the list and its filters, a warning's detail with its
links, acknowledging and resolving from the page, the thresholds page; the authorization
matrix over every page and action (anonymous, no role, another company, the responsible
person, a colleague who is not responsible, a manager, the inspector), with "nothing
happened" for every refusal; a query budget for the list."""

from __future__ import annotations

import datetime
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.trading.models import Contract, Partner
from qinglian.trading.models.warnings import TradingWarning, WarningCode, WarningThresholds
from qinglian.trading.services import stock as stock_services
from qinglian.trading.services import warnings as services

pytestmark = pytest.mark.django_db


def days(n):
    return clock.today() + datetime.timedelta(days=n)


@pytest.fixture
def world(stock, org, shared_layers):
    return shared_layers.get("world", build_world, stock, org)


def build_world(stock, org):
    """In company A: the sales contract expiring (its owner: the salesperson), the customer
    over its credit limit (finance's), a stocktake variance (the keeper's); in company B: its
    purchase contract expiring."""
    from qinglian.approvals import services as approvals

    for flow in stock_services.APPROVAL_FLOWS:
        approvals.template_save(actor=SYSTEM_ACTOR, **flow)
    t = stock.trading
    Contract.objects.update(
        signed_on=days(-365), effective_on=days(-365), end_on=days(365), delivery_end=days(365)
    )
    Contract.objects.filter(pk__in=[stock.sales.pk, stock.purchase_b.pk]).update(end_on=days(10))
    Partner.objects.filter(pk=t.customer.pk).update(credit_limit=D("1000.00"))
    stock.receive("100")
    count = stock_services.stocktake_create(
        actor=t.keeper_a,
        warehouse_id=t.warehouse_a.pk,
        counted_on=clock.today(),
        lines=[{"commodity_id": t.steel.pk, "counted_quantity": "90", "reason": "短少"}],
    )
    services.warnings_refresh(on_date=clock.today())
    by_code = {w.code: w for w in TradingWarning.objects.filter(company=org.company_a)}
    return {
        "stock": stock,
        "stocktake": count,
        "contract": by_code[WarningCode.CONTRACT_EXPIRING],
        "credit": by_code[WarningCode.CREDIT_OVER_LIMIT],
        "variance": by_code[WarningCode.STOCK_VARIANCE],
        "other": TradingWarning.objects.get(company=org.company_b),
        "users": {
            "anonymous": None,
            "no_role": org.no_role,
            "other_company": t.keeper_b,
            "owner": t.salesperson_a,
            "colleague": t.keeper_a,
            "finance": t.finance_a,
            "manager": t.manager_a,
            "inspector": org.inspector,
        },
    }


def login(client, user):
    if user is not None:
        client.force_login(user)
    return client


def snapshot():
    return (
        list(TradingWarning.objects.order_by("pk").values_list("state", "version")),
        AuditEvent.objects.filter(action__startswith="trading.warning").count(),
    )


# ---------------------------------------------------------------- the pages


def test_the_list_counts_each_kind(client, world, english):
    login(client, world["users"]["inspector"])
    page = client.get(reverse("trading:warning_list"))
    assert page.status_code == 200
    html = page.content.decode()
    counts = page.context["counts"]
    assert counts.summary() == {
        "credit": 1,
        "overdue": 0,
        "contract": 2,
        "shipment": 0,
        "warehouse": 1,
        "total": 4,
    }
    assert 'data-testid="count-contract" data-unresolved="2"' in html
    assert len(page.context["rows"]) == 4
    assert "Read-only view" in html


def test_the_list_filters(client, world, org):
    login(client, world["users"]["inspector"])
    url = reverse("trading:warning_list")
    rows = client.get(url, {"kind": "contract"}).context["rows"]
    assert {row["warning"].pk for row in rows} == {world["contract"].pk, world["other"].pk}
    rows = client.get(url, {"company": org.company_b.pk, "state": ""}).context["rows"]
    assert [row["warning"].pk for row in rows] == [world["other"].pk]
    rows = client.get(url, {"code": "stock_variance", "state": ""}).context["rows"]
    assert [row["warning"].pk for row in rows] == [world["variance"].pk]
    rows = client.get(url, {"state": "resolved"}).context["rows"]
    assert rows == []


def test_mine_shows_what_the_user_answers_for(client, world):
    url = reverse("trading:warning_list")
    cases = {
        # the contract's owner; and the credit warning of the customer they sell to
        "owner": {world["contract"].pk, world["credit"].pk},
        "finance": {world["credit"].pk},  # by role
        "colleague": {world["variance"].pk},  # the keeper, by role
        "manager": set(),  # reads all, answers for none by name or role
    }
    for who, expected in cases.items():
        client.force_login(world["users"][who])
        rows = client.get(url, {"mine": "on", "state": ""}).context["rows"]
        assert {row["warning"].pk for row in rows} == expected, who


def test_the_detail_links_to_what_it_concerns(client, world, english):
    login(client, world["users"]["inspector"])
    warning = world["variance"]
    page = client.get(reverse("trading:warning_detail", args=[warning.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert reverse("trading:stocktake_detail", args=[world["stocktake"].pk]) in html
    assert "a variance of 10 %, beyond the tolerance of 0.3 %." in html
    assert 'data-testid="warning-actions"' not in html  # the inspector only reads
    page = client.get(reverse("trading:warning_detail", args=[world["contract"].pk]))
    html = page.content.decode()
    assert reverse("trading:contract_detail", args=[world["stock"].sales.pk]) in html
    assert reverse("trading:partner_detail", args=[world["stock"].trading.customer.pk]) in html
    page = client.get(reverse("trading:warning_detail", args=[world["credit"].pk]))
    assert "partner-ledger" in page.content.decode()


def test_acknowledge_and_resolve_on_the_page(client, world, english):
    warning = world["contract"]
    login(client, world["users"]["owner"])
    detail = reverse("trading:warning_detail", args=[warning.pk])
    page = client.get(detail)
    assert 'data-testid="acknowledge-form"' in page.content.decode()
    response = client.post(
        reverse("trading:warning_acknowledge", args=[warning.pk]),
        {"note": "已联系客户续签", "version": warning.version},
    )
    assert response.status_code == 302
    warning.refresh_from_db()
    assert (warning.state, warning.acknowledgement_note) == ("acknowledged", "已联系客户续签")
    refused = client.post(
        reverse("trading:warning_resolve", args=[warning.pk]),
        {"reason": " ", "version": warning.version},
        follow=True,
    )
    assert "Say how the warning was resolved." in refused.content.decode()
    stale = client.post(
        reverse("trading:warning_resolve", args=[warning.pk]),
        {"reason": "已续签", "version": warning.version - 1},
        follow=True,
    )
    assert "changed meanwhile" in stale.content.decode()
    client.post(
        reverse("trading:warning_resolve", args=[warning.pk]),
        {"reason": "已续签", "version": warning.version},
    )
    warning.refresh_from_db()
    assert (warning.state, warning.resolution_note, warning.resolved_by) == (
        "resolved",
        "已续签",
        world["users"]["owner"],
    )
    events = list(
        AuditEvent.objects.filter(object_id=str(warning.pk), action__startswith="trading.warning.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert events == ["trading.warning.acknowledged", "trading.warning.resolved"]


def test_the_list_has_a_query_budget(client, world, stock, org):
    login(client, world["users"]["inspector"])
    url = reverse("trading:warning_list")
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for number in range(12):
        Contract.objects.filter(pk=stock.purchase.pk).update(end_on=days(3))
        TradingWarning.objects.create(
            company=org.company_a,
            kind="contract",
            code="contract_expiring",
            fingerprint=f"contract_expiring:extra{number}",
            partner=stock.trading.supplier,
            contract=stock.purchase,
            contract_original=stock.purchase,
            measured_value=3,
            threshold_value=30,
            unit="days",
            first_seen_at=clock.now(),
            last_seen_at=clock.now(),
        )
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)
    assert len(few) <= 12


# ---------------------------------------------------------------- the authorization matrix

READERS = {
    "anonymous": "login",
    "no_role": 404,
    "other_company": 404,
    "owner": 200,
    "colleague": 200,
    "finance": 200,
    "manager": 200,
    "inspector": 200,
}


@pytest.mark.parametrize(("who", "expected"), list(READERS.items()))
def test_who_reads_a_warning(client, world, who, expected):
    login(client, world["users"][who])
    response = client.get(reverse("trading:warning_detail", args=[world["contract"].pk]))
    if expected == "login":
        assert response.status_code == 302
        assert "/login" in response["Location"] or "login" in response["Location"]
    else:
        assert response.status_code == expected


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("no_role", set()),
        ("other_company", {"other"}),
        ("owner", {"contract", "credit", "variance"}),
        ("inspector", {"contract", "credit", "variance", "other"}),
    ],
)
def test_who_sees_which_warnings_in_the_list(client, world, who, visible):
    login(client, world["users"][who])
    response = client.get(reverse("trading:warning_list"))
    assert response.status_code == 200
    shown = {row["warning"].pk for row in response.context["rows"]}
    assert shown == {world[name].pk for name in visible}


def test_anonymous_is_sent_to_sign_in_from_the_list(client, world):
    response = client.get(reverse("trading:warning_list"))
    assert response.status_code == 302


ACTIONS = [
    ("warning_acknowledge", {"note": "x"}),
    ("warning_resolve", {"reason": "x"}),
]
# who may act on the contract warning (owner: the sales contract's owner)
ACTORS = {
    "anonymous": 302,
    "no_role": 404,
    "other_company": 404,
    "colleague": 403,  # reads, is not responsible
    "finance": 403,
    "inspector": 403,
    "owner": 302,
    "manager": 302,
}


@pytest.mark.parametrize(("url_name", "data"), ACTIONS)
@pytest.mark.parametrize(("who", "expected"), list(ACTORS.items()))
def test_who_may_act_and_nothing_happens_otherwise(client, world, url_name, data, who, expected):
    warning = world["contract"]
    login(client, world["users"][who])
    before = snapshot()
    response = client.post(reverse(f"trading:{url_name}", args=[warning.pk]), data)
    assert response.status_code == expected
    if who in ("owner", "manager"):
        warning.refresh_from_db()
        assert warning.state == ("acknowledged" if "acknowledge" in url_name else "resolved")
        assert snapshot() != before
    else:
        assert snapshot() == before


def test_finance_acts_on_the_credit_warning_by_role(client, world):
    warning = world["credit"]
    login(client, world["users"]["finance"])
    response = client.post(reverse("trading:warning_acknowledge", args=[warning.pk]), {})
    assert response.status_code == 302
    warning.refresh_from_db()
    assert warning.state == "acknowledged"


def test_the_keeper_acts_on_the_stock_variance(client, world):
    warning = world["variance"]
    login(client, world["users"]["colleague"])
    response = client.post(
        reverse("trading:warning_resolve", args=[warning.pk]), {"reason": "复盘无误"}
    )
    assert response.status_code == 302
    warning.refresh_from_db()
    assert warning.state == "resolved"


# ---------------------------------------------------------------- thresholds


@pytest.mark.parametrize(
    ("who", "get", "post"),
    [
        ("anonymous", 302, 302),
        ("no_role", 403, 403),
        ("other_company", 404, 404),  # asks for company A
        ("owner", 200, 403),
        ("inspector", 200, 403),
        ("manager", 200, 302),
    ],
)
def test_the_thresholds_page(client, world, org, who, get, post):
    login(client, world["users"][who])
    url = reverse("trading:warning_thresholds") + f"?company={org.company_a.pk}"
    assert client.get(url).status_code == get
    before = AuditEvent.objects.count()
    response = client.post(
        url,
        {
            "contract_expiring_days": "20",
            "overdue_grace_days": "3",
            "overdue_min_amount": "100.00",
            "credit_usage_percent": "90",
            "stock_variance_tolerance_percent": "",
            "version": "1",
        },
    )
    assert response.status_code == post
    row = WarningThresholds.objects.filter(company=org.company_a).first()
    if post == 302 and who != "anonymous":
        assert (row.contract_expiring_days, row.overdue_grace_days) == (20, 3)
        assert AuditEvent.objects.count() == before + 1
    else:
        assert row is None or row.contract_expiring_days == 30
        assert AuditEvent.objects.count() == before

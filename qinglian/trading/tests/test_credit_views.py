"""Authorization matrix over the credit pages (anonymous, no role, other company, own company,
group-wide inspector), the writes through them with "nothing happened" for every refusal, what
the pages show, and the list's query budget."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.trading.enums import ContractKind, PartnerAccount, PartnerKind
from qinglian.trading.factories import make_contract, make_partner
from qinglian.trading.models import CreditException, CreditExceptionStatus, CreditPolicy, Partner
from qinglian.trading.services import credit as services
from qinglian.trading.services import money as money_services

TODAY = clock.today()
D = Decimal


@dataclass
class World:
    customer: Partner  # owned by company A: not shared with B
    exception: CreditException  # A's, under approval


@pytest.fixture
def world(org, trading, money_flows, shared_layers) -> World:
    return shared_layers.get("world", build_world, org, trading, money_flows)


def build_world(org, trading, money_flows) -> World:
    from qinglian.approvals.services import template_save

    for flow in services.APPROVAL_FLOWS:
        template_save(actor=SYSTEM_ACTOR, **flow)
    customer = make_partner(
        company=org.company_a, kind=PartnerKind.CUSTOMER, name="甲方客户", credit_limit=D("1000")
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
        amount="100.00",
        allow_overdue=True,
        reason="年底冲量",
        valid_until=TODAY + datetime.timedelta(days=3),
    )
    return World(customer=customer, exception=exception)


def _user(org, trading, money_flows, name):
    if name is None:
        return None
    for source in (trading, org, money_flows):
        found = getattr(source, name, None)
        if found is not None:
            return found
    raise AssertionError(name)


READ = {"anonymous": 302, "no_role": 200, "wrong": 200, "right": 200, "inspector": 200}
DETAIL = {"anonymous": 302, "no_role": 404, "wrong": 404, "right": 200, "inspector": 200}
CREATE_FORM = {"anonymous": 302, "no_role": 403, "wrong": 200, "right": 200, "inspector": 403}
POLICY_FORM = {"anonymous": 302, "no_role": 404, "wrong": 404, "right": 200, "inspector": 403}
PAGES = [
    ("credit_list", None, "salesperson_a", "salesperson_b", READ),
    ("credit_detail", "customer", "salesperson_a", "salesperson_b", DETAIL),
    ("credit_exception_list", None, "salesperson_a", "salesperson_b", READ),
    ("credit_exception_detail", "exception", "salesperson_a", "salesperson_b", DETAIL),
    ("credit_exception_create", None, "salesperson_a", "salesperson_b", CREATE_FORM),
    ("credit_policy_list", None, "manager_a", "salesperson_b", READ),
    ("credit_policy_edit", "company_a", "manager_a", "salesperson_b", POLICY_FORM),
]
WHO = ["anonymous", "no_role", "wrong", "right", "inspector"]


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(("page", "target", "right", "wrong", "expected"), PAGES)
def test_page_matrix(
    client, org, trading, money_flows, world, page, target, right, wrong, expected, who
):
    user = {
        "anonymous": None,
        "no_role": org.no_role,
        "wrong": _user(org, trading, money_flows, wrong),
        "right": _user(org, trading, money_flows, right),
        "inspector": org.inspector,
    }[who]
    if user is not None:
        client.force_login(user)
    args = []
    if target == "company_a":
        args = [org.company_a.pk]
    elif target:
        args = [getattr(world, target).pk]
    response = client.get(reverse(f"trading:{page}", args=args))
    assert response.status_code == expected[who], (page, who)
    if expected[who] == 302:
        assert response["Location"].startswith(reverse("login"))


def test_lists_show_only_what_the_user_reads(client, org, trading, money_flows, world):
    client.force_login(trading.salesperson_a)
    assert world.customer.name in client.get(reverse("trading:credit_list")).content.decode()
    assert (
        world.exception.number
        in client.get(reverse("trading:credit_exception_list")).content.decode()
    )
    client.force_login(money_flows.salesperson_b)
    assert world.customer.name not in client.get(reverse("trading:credit_list")).content.decode()
    assert (
        world.exception.number
        not in client.get(reverse("trading:credit_exception_list")).content.decode()
    )


def test_the_customer_page_shows_breakdown_standing_and_ageing(client, org, trading, world):
    client.force_login(trading.salesperson_a)
    content = client.get(reverse("trading:credit_detail", args=[world.customer.pk])).content
    page = content.decode()
    for testid, value in (
        ("receivable", "300.00"),
        ("open-orders", "800.00"),
        ("exposure", "1100.00"),
        ("credit-limit", "1000.00"),
        ("headroom", "-100.00"),
        ("overdue", "300.00"),
    ):
        assert f'data-testid="{testid}">{value}<' in page, testid
    assert 'data-testid="over-limit"' in page and 'data-testid="overdue-blocked"' in page
    assert 'data-testid="ageing-row"' in page
    assert world.exception.number in page
    assert 'name="viewport"' in page and "table-responsive-stack" in page


def _post_matrix(client, org, trading, money_flows, url, data, *, right, wrong):
    outcomes = {}
    for who, user in (
        ("anonymous", None),
        ("no_role", org.no_role),
        ("wrong", _user(org, trading, money_flows, wrong)),
        ("inspector", org.inspector),
    ):
        client.logout()
        if user is not None:
            client.force_login(user)
        events = AuditEvent.objects.count()
        exceptions = list(CreditException.objects.values_list("pk", "status", "version"))
        policies = list(CreditPolicy.objects.values_list("pk", "version"))
        outcomes[who] = client.post(url, data).status_code
        assert AuditEvent.objects.count() == events, who
        assert list(CreditException.objects.values_list("pk", "status", "version")) == exceptions
        assert list(CreditPolicy.objects.values_list("pk", "version")) == policies
    client.logout()
    client.force_login(_user(org, trading, money_flows, right))
    return outcomes, client.post(url, data)


def test_request_through_the_page(client, org, trading, money_flows, world):
    url = reverse("trading:credit_exception_create")
    data = {
        "company": org.company_a.pk,
        "partner": world.customer.pk,
        "amount": "250.00",
        "valid_until": (TODAY + datetime.timedelta(days=5)).isoformat(),
        "reason": "客户追加订单",
    }
    outcomes, response = _post_matrix(
        client, org, trading, money_flows, url, data, right="salesperson_a", wrong="salesperson_b"
    )
    # B's salesperson gets the form back (A is not a company they may choose)
    assert outcomes == {"anonymous": 302, "no_role": 403, "wrong": 200, "inspector": 403}
    made = CreditException.objects.exclude(pk=world.exception.pk).get()
    assert response["Location"] == reverse("trading:credit_exception_detail", args=[made.pk])
    assert (made.status, made.amount, made.requested_by_id) == (
        CreditExceptionStatus.PENDING,
        D("250.00"),
        trading.salesperson_a.pk,
    )
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="approval-link"' in page
    # a service refusal comes back on the form
    response = client.post(url, {**data, "valid_until": "2000-01-01"})
    assert response.status_code == 200
    assert CreditException.objects.count() == 2


def test_cancel_through_the_page(client, org, trading, money_flows, world):
    exception = world.exception
    from qinglian.approvals import services as approval_services
    from qinglian.approvals.enums import TaskStatus
    from qinglian.approvals.models import ApprovalTask

    for _ in range(3):  # finance, then the general manager
        for task in ApprovalTask.objects.filter(
            request_id=exception.approval_request_id, status=TaskStatus.PENDING
        ):
            approval_services.task_approve(actor=task.assignee, task_id=task.pk)
    exception.refresh_from_db()
    assert exception.status == CreditExceptionStatus.APPROVED
    page = client
    page.force_login(org.inspector)
    detail = page.get(reverse("trading:credit_exception_detail", args=[exception.pk]))
    assert 'data-testid="cancel-exception"' not in detail.content.decode()
    assert 'data-testid="approved-by"' in detail.content.decode()
    url = reverse("trading:credit_exception_cancel", args=[exception.pk])
    outcomes, response = _post_matrix(
        client, org, trading, money_flows, url, {}, right="salesperson_a", wrong="salesperson_b"
    )
    assert outcomes == {"anonymous": 302, "no_role": 404, "wrong": 404, "inspector": 403}
    assert response.status_code == 302
    exception.refresh_from_db()
    assert exception.status == CreditExceptionStatus.CANCELLED


def test_policy_through_the_page(client, org, trading, money_flows, world):
    url = reverse("trading:credit_policy_edit", args=[org.company_a.pk])
    data = {
        "include_receivables": "on",
        "include_uninvoiced": "on",
        "overdue_block_enabled": "on",
        "overdue_block_days": "60",
        "overdue_block_amount": "500.00",
    }
    outcomes, response = _post_matrix(
        client, org, trading, money_flows, url, data, right="manager_a", wrong="salesperson_b"
    )
    assert outcomes == {"anonymous": 302, "no_role": 404, "wrong": 404, "inspector": 403}
    assert response["Location"] == reverse("trading:credit_policy_list")
    policy = CreditPolicy.objects.get(company=org.company_a)
    assert (policy.include_open_orders, policy.overdue_block_days) == (False, 60)
    # the customer (owned by A) now follows A's policy
    client.force_login(trading.salesperson_a)
    page = client.get(reverse("trading:credit_detail", args=[world.customer.pk])).content.decode()
    assert 'data-testid="exposure">300.00<' in page
    assert 'data-testid="overdue-blocked"' not in page  # 45 days overdue, under 60


def test_the_list_does_not_grow_with_the_customers(client, org, trading, world):
    client.force_login(org.inspector)
    url = reverse("trading:credit_list")

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    def grow(count):
        for _ in range(count):
            customer = make_partner(company=org.company_a, kind=PartnerKind.CUSTOMER)
            money_services.opening_balance_post(
                actor=trading.finance_a,
                company_id=org.company_a.pk,
                partner_id=customer.pk,
                account=PartnerAccount.RECEIVABLE,
                amount="10.00",
                posting_date=TODAY - datetime.timedelta(days=90),
                due_date=TODAY - datetime.timedelta(days=60),
            )

    queries()
    baseline = queries()
    assert baseline <= 16
    grow(6)
    assert queries() == baseline

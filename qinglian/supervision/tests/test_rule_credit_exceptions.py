"""Rule 8: credit exceptions granted repeatedly — by one approver, or to one customer — within a
window, each with its near miss one exception or one day short; exceptions that were never
granted are not counted; the approver comes from the exception, else from its approval trail."""

import datetime
import itertools
from decimal import Decimal

import pytest

from qinglian.approvals import services as approval_services
from qinglian.approvals.enums import RequestStatus, TaskStatus
from qinglian.approvals.models import ApprovalRequest, ApprovalTask
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.supervision import registry, services
from qinglian.supervision.models import Finding, FindingDocument
from qinglian.supervision.rules import credit_exceptions
from qinglian.supervision.tests.conftest import NOW, days_ago, history_request
from qinglian.supervision.tests.helpers import check, detect
from qinglian.supervision.views import document_url
from qinglian.trading import facts
from qinglian.trading.enums import PartnerKind
from qinglian.trading.factories import make_partner
from qinglian.trading.models import CreditException, CreditExceptionStatus

RULE = "credit_exceptions"
_serial = itertools.count(1)


def granted(
    org,
    trading,
    *,
    at: datetime.datetime,
    approver=None,
    customer=None,
    company=None,
    status=CreditExceptionStatus.APPROVED,
    amount="100000.00",
    request=None,
):
    """A credit exception as an import of old history writes it, decided at `at`."""
    serial = next(_serial)
    return CreditException.objects.create(
        company=company or org.company_a,
        number=f"XE-H{serial:05d}",
        partner=customer or trading.customer,
        status=status,
        amount=Decimal(amount),
        allow_overdue=serial % 2 == 0,
        reason="季度末集中提货",
        valid_until=at.date() + datetime.timedelta(days=7),
        credit_limit=Decimal("500000.00"),
        exposure=Decimal("480000.00"),
        requested_by=trading.salesperson_a,
        approval_request=request,
        submitted_at=at - datetime.timedelta(hours=2),
        decided_at=at if status != CreditExceptionStatus.PENDING else None,
        approved_by=approver,
    )


@pytest.fixture
def credit_flows(money_flows):
    from qinglian.approvals.services import template_save
    from qinglian.trading.services import credit as credit_services

    for flow in credit_services.APPROVAL_FLOWS:
        template_save(actor=SYSTEM_ACTOR, **flow)
    return money_flows


def customers(org, count):
    return [
        make_partner(company=org.group, kind=PartnerKind.CUSTOMER, name=f"客户{n}")
        for n in range(count)
    ]


def test_one_approver_granting_five_within_the_window(org, trading, frozen):
    others = customers(org, 5)
    made = [
        granted(org, trading, at=days_ago(20 - day), approver=trading.finance_a, customer=other)
        for day, other in enumerate(others[:4])
    ]
    granted(org, trading, at=days_ago(3), approver=trading.manager_a, customer=others[4])
    assert detect(RULE) == []  # four by the finance reviewer: one short
    made.append(
        granted(org, trading, at=days_ago(2), approver=trading.finance_a, customer=others[4])
    )
    hits = detect(RULE)
    assert [(hit.subject_type, hit.subject_id, hit.key) for hit in hits] == [
        ("org.user", str(trading.finance_a.pk), f"approver:{org.company_a.pk}:{made[0].pk}")
    ]
    hit = hits[0]
    assert hit.company_id == org.company_a.pk
    figures = hit.figures
    assert (figures["reason"], figures["count"], figures["window_days"]) == ("approver", 5, 30)
    assert figures["total_amount"] == Decimal("500000.00")
    assert (figures["first_granted_on"], figures["last_granted_on"]) == (
        datetime.date(2026, 2, 19),
        datetime.date(2026, 3, 9),
    )
    assert [row["id"] for row in figures["exceptions"]] == [item.pk for item in made]
    assert [item["id"] for item in figures["customers"]] == [other.pk for other in others]
    assert [(link.type, link.id) for link in hit.documents] == [
        *(("trading.credit_exception", str(item.pk)) for item in made),
        *(("trading.partner", str(other.pk)) for other in others),
    ]
    assert hit.people == [trading.finance_a.pk, trading.salesperson_a.pk]
    rule = registry.rule_get(RULE)
    summary = rule.summarize(registry.jsonable(figures))
    assert "5" in summary and "500,000.00" in summary and "客户0" in summary
    assert detect(RULE, approver_min_count=6) == []


def test_the_approver_window_is_counted_from_the_first(org, trading, frozen):
    one, other = customers(org, 2)
    granted(org, trading, at=days_ago(40), approver=trading.finance_a, customer=one)
    granted(org, trading, at=days_ago(9), approver=trading.finance_a, customer=other)
    assert detect(RULE, approver_min_count=2) == []  # 31 days apart
    assert len(detect(RULE, approver_min_count=2, approver_window_days=31)) == 1
    granted(org, trading, at=days_ago(10), approver=trading.finance_a, customer=other)
    hits = detect(RULE, approver_min_count=2)  # 30 days apart: inside the window
    assert [hit.figures["count"] for hit in hits] == [2]
    assert [row["granted_on"] for row in hits[0].figures["exceptions"]] == [
        datetime.date(2026, 1, 30),
        datetime.date(2026, 3, 1),
    ]


def test_one_customer_granted_three_within_ninety_days(org, trading, frozen):
    first = granted(org, trading, at=days_ago(89), approver=trading.finance_a)
    granted(org, trading, at=days_ago(40), approver=trading.manager_a)
    granted(org, trading, at=days_ago(5), company=org.company_b, approver=trading.manager_a)
    assert detect(RULE) == []  # B's exception is B's: two in A
    granted(org, trading, at=days_ago(1), approver=trading.finance_a)
    hits = detect(RULE)
    assert [(hit.subject_type, hit.subject_id, hit.key) for hit in hits] == [
        ("trading.partner", str(trading.customer.pk), f"customer:{org.company_a.pk}:{first.pk}")
    ]
    assert hits[0].figures["customer"] == trading.customer.name
    assert hits[0].people == [
        trading.finance_a.pk,
        trading.manager_a.pk,
        trading.salesperson_a.pk,
    ]
    assert detect(RULE, customer_window_days=87) == []  # 88 days from the first to the last
    assert "东海建材" in registry.rule_get(RULE).summarize(registry.jsonable(hits[0].figures))


def test_only_granted_exceptions_count(org, trading, frozen):
    for status in (
        CreditExceptionStatus.DRAFT,
        CreditExceptionStatus.PENDING,
        CreditExceptionStatus.REJECTED,
    ):
        granted(org, trading, at=days_ago(5), status=status)
    granted(org, trading, at=days_ago(4), status=CreditExceptionStatus.CANCELLED)  # a draft
    granted(org, trading, at=days_ago(3), approver=trading.manager_a)
    granted(org, trading, at=days_ago(2), status=CreditExceptionStatus.USED)
    assert detect(RULE) == []
    given_back = granted(
        org,
        trading,
        at=days_ago(1),
        status=CreditExceptionStatus.CANCELLED,
        approver=trading.manager_a,
    )
    hits = detect(RULE)
    assert [hit.figures["count"] for hit in hits] == [3]
    assert hits[0].figures["exceptions"][-1]["id"] == given_back.pk


def test_old_exceptions_are_outside_the_look_back(org, trading, frozen):
    for day in (400, 399, 398):
        granted(org, trading, at=days_ago(day), approver=trading.finance_a)
    assert detect(RULE) == []
    assert len(detect(RULE, lookback_days=400)) == 1


def test_the_approver_from_the_approval_trail(org, trading, credit_flows, frozen):
    """History without the final approver on the exception: the last person who approved its
    request; with `every_approver`, everyone who approved it."""
    one, other = customers(org, 2)
    for at, customer in ((days_ago(6), one), (days_ago(5), other)):
        request = history_request(
            template_code="trading_credit_exception",
            requester=trading.salesperson_a,
            amount="100000.00",
            submitted_at=at - datetime.timedelta(hours=3),
            decisions=(
                (trading.finance_a, at - datetime.timedelta(hours=1), 600, False),
                (trading.manager_a, at, 300, False),
            ),
        )
        granted(org, trading, at=at, customer=customer, request=request)
    hits = detect(RULE, approver_min_count=2)
    assert [hit.subject_id for hit in hits] == [str(trading.manager_a.pk)]
    assert [link.type for link in hits[0].documents].count("approvals.request") == 2
    hits = detect(RULE, approver_min_count=2, every_approver=True)
    assert sorted(hit.subject_id for hit in hits) == sorted(
        [str(trading.finance_a.pk), str(trading.manager_a.pk)]
    )


# ---------------------------------------------------------------- through the services


def requested(trading, amount):
    from qinglian.trading.services import credit as credit_services

    return credit_services.credit_exception_request(
        actor=trading.salesperson_a,
        partner_id=trading.customer.pk,
        amount=amount,
        reason="大客户季度末集中提货",
        valid_until=NOW.date() + datetime.timedelta(days=7),
    )


def approve(exception):
    request = ApprovalRequest.objects.get(pk=exception.approval_request_id)
    for _round in range(5):
        tasks = ApprovalTask.objects.filter(request=request, status=TaskStatus.PENDING)
        for task in tasks:
            approval_services.task_approve(actor=task.assignee, task_id=task.pk)
        request.refresh_from_db()
        if request.status != RequestStatus.IN_PROGRESS:
            break
    exception.refresh_from_db()
    assert exception.status == CreditExceptionStatus.APPROVED
    return exception


def test_exceptions_approved_through_the_flow(org, trading, credit_flows, frozen, client):
    first = approve(requested(trading, "50000.00"))
    frozen.advance(days=1)
    second = approve(requested(trading, "60000.00"))
    assert first.approved_by_id == trading.manager_a.pk  # the general manager decides last
    hits = detect(RULE, approver_min_count=2, customer_min_count=3)
    assert [(hit.subject_id, hit.figures["count"]) for hit in hits] == [
        (str(trading.manager_a.pk), 2)
    ]
    # The approver of a third is told what the customer was granted before it.
    frozen.advance(days=1)
    third = requested(trading, "70000.00")
    risks = check(RULE, third.approval_request_id)
    assert [(hit.subject_id, hit.figures["count"]) for hit in risks] == [
        (str(trading.customer.pk), 3)
    ]
    assert [row["id"] for row in risks[0].figures["exceptions"]] == [
        first.pk,
        second.pk,
        third.pk,
    ]
    assert check(RULE, third.approval_request_id, customer_min_count=4) == []
    # Granted too: with the defaults (three to one customer) a finding whose links open.
    approve(third)
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    finding = Finding.objects.get(rule_code=RULE)
    assert (finding.subject_type, finding.evidence["parameters"]["customer_min_count"]) == (
        "trading.partner",
        3,
    )
    links = FindingDocument.objects.filter(finding=finding).order_by("id")
    assert sorted(links.values_list("document_type", flat=True)) == sorted(
        ["trading.credit_exception"] * 3 + ["approvals.request"] * 3 + ["trading.partner"]
    )
    client.force_login(org.inspector)
    for link in links:
        url = document_url(link.document_type, link.document_id)
        assert url, link.document_type
        assert client.get(url).status_code == 200, url


def test_a_rerun_and_a_later_exception_find_the_same_finding(org, trading, frozen):
    for day in (30, 20, 10):
        granted(org, trading, at=days_ago(day), approver=trading.manager_a)
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    finding = Finding.objects.get(rule_code=RULE)
    assert finding.subject_type == "trading.partner"
    granted(org, trading, at=days_ago(1), approver=trading.finance_a)
    frozen.advance(hours=1)
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    assert Finding.objects.filter(rule_code=RULE).count() == 1
    finding.refresh_from_db()
    assert (finding.seen_count, finding.evidence["figures"]["count"]) == (2, 4)


def test_groups_follow_each_other_without_overlap():
    def fact(pk, day):
        return facts.CreditExceptionFact(
            id=pk,
            number=f"XE{pk}",
            company_id=1,
            partner_id=1,
            contract_id=None,
            stock_document_id=None,
            status="approved",
            amount=Decimal(1),
            allow_overdue=False,
            valid_until=datetime.date(2026, 1, 1),
            credit_limit=Decimal(0),
            exposure=Decimal(0),
            overdue_amount=Decimal(0),
            requested_by_id=1,
            approval_request_id=None,
            approved_by_id=1,
            granted_at=NOW - datetime.timedelta(days=day),
            used_document_kind="",
            used_document_id=None,
            used_document_number="",
        )

    items = [fact(pk, day) for pk, day in enumerate((50, 49, 48, 20, 19, 2), start=1)]
    groups = credit_exceptions.repeated_groups(items, window_days=5, min_count=2)
    assert [[item.id for item in group] for group in groups] == [[1, 2, 3], [4, 5]]

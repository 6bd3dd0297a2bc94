"""The warning register's detection: each warning fires on its condition and not on the
near-miss just inside its threshold; detection again updates instead of duplicating; a
cleared condition resolves its warning and its return reopens it; thresholds are data."""

from __future__ import annotations

import datetime
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from qinglian.audit.models import AuditEvent
from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.core.errors import PermissionDenied, ValidationFailed
from qinglian.org.enums import RoleCode
from qinglian.trading.enums import ContractKind, PaymentTerm, QualificationKind
from qinglian.trading.factories import make_contract
from qinglian.trading.models import Contract, ContractLine, Partner, Qualification
from qinglian.trading.models.warnings import (
    TradingWarning,
    TradingWarningResponsible,
    WarningCode,
    WarningKind,
    WarningState,
    WarningThresholds,
)
from qinglian.trading.services import money as money_services
from qinglian.trading.services import stock as stock_services
from qinglian.trading.services import warnings as services
from qinglian.trading.services import warnings_detection as rules

pytestmark = pytest.mark.django_db


def today():
    return clock.today()


def days(n):
    return today() + datetime.timedelta(days=n)


def refresh(company, **kwargs):
    return services.warnings_refresh(company=company, on_date=today(), **kwargs)


def codes(company, code=None, state=None):
    warnings = TradingWarning.objects.filter(company=company)
    if code:
        warnings = warnings.filter(code=code)
    if state:
        warnings = warnings.filter(state=state)
    return sorted(warnings.values_list("fingerprint", flat=True))


def set_contract(contract, **values):
    Contract.objects.filter(pk=contract.pk).update(**values)


def set_line(contract, number, **values):
    ContractLine.objects.filter(contract=contract, line_number=number).update(**values)


@pytest.fixture
def a(org):
    return org.company_a


@pytest.fixture
def stock(stock):
    """The stock world with its contracts in force from a year ago to a year ahead (whatever
    today is), so only what a test changes is near a threshold."""
    Contract.objects.update(
        signed_on=days(-365), effective_on=days(-365), end_on=days(365), delivery_end=days(365)
    )
    return stock


# ---------------------------------------------------------------- the rules (pure)


def test_the_boundaries_of_the_rules():
    assert rules.contract_allowance(D("1000"), D("5")) == D("1050.000")
    assert rules.contract_minimum(D("1000"), D("5")) == D("950.000")
    assert rules.contract_minimum(D("333"), D("5")) == D("316.350")
    assert rules.contract_minimum(D("1"), D("0.03")) == D("1.000")  # 0.9997 rounded up
    assert not rules.is_over_executed(D("1050"), D("1000"), D("5"))
    assert rules.is_over_executed(D("1050.001"), D("1000"), D("5"))
    assert not rules.is_under_executed(D("950"), D("1000"), D("5"))
    assert rules.is_under_executed(D("949.999"), D("1000"), D("5"))
    day = datetime.date(2026, 3, 1)
    assert rules.is_expiring(day, day, 0)
    assert rules.is_expiring(day + datetime.timedelta(30), day, 30)
    assert not rules.is_expiring(day + datetime.timedelta(31), day, 30)
    assert not rules.is_expiring(day - datetime.timedelta(1), day, 30)
    assert not rules.is_overdue(day, day, 0)
    assert rules.is_overdue(day - datetime.timedelta(1), day, 0)
    assert not rules.is_overdue(day - datetime.timedelta(10), day, 10)
    assert rules.is_overdue(day - datetime.timedelta(11), day, 10)
    assert not rules.is_over_credit(D("1000.00"), D("1000"), D("100"))
    assert rules.is_over_credit(D("1000.01"), D("1000"), D("100"))
    assert rules.is_over_credit(D("800.01"), D("1000"), D("80"))
    assert rules.is_over_credit(D("0.01"), D("0"), D("100"))  # grade D: 0 is the limit
    assert not rules.is_variance_beyond(D("1000"), D("997"), D("0.30"))
    assert rules.is_variance_beyond(D("1000"), D("996.999"), D("0.30"))
    assert rules.prepayment_required(D("4440000.00"), D("30")) == D("1332000.00")


# ---------------------------------------------------------------- contract warnings


def test_contract_expiring_within_the_days_and_not_one_day_later(stock, a):
    set_contract(stock.sales, end_on=days(30))
    set_contract(stock.purchase, end_on=days(31))
    refresh(a)
    assert codes(a, WarningCode.CONTRACT_EXPIRING) == [f"contract_expiring:c{stock.sales.pk}"]
    warning = TradingWarning.objects.get(code=WarningCode.CONTRACT_EXPIRING)
    assert (warning.kind, warning.state, warning.is_present) == ("contract", "open", True)
    assert (warning.measured_value, warning.threshold_value, warning.unit) == (
        D("30"),
        D("30"),
        "days",
    )
    assert warning.contract_id == warning.contract_original_id == stock.sales.pk
    assert warning.partner_id == stock.trading.customer.pk
    assert warning.reference_date == days(30)
    assert list(
        TradingWarningResponsible.objects.filter(warning=warning).values_list("user", flat=True)
    ) == [stock.trading.salesperson_a.pk]


def test_the_expiry_days_are_the_companys_threshold(stock, a):
    set_contract(stock.sales, end_on=days(45))
    refresh(a)
    assert codes(a, WarningCode.CONTRACT_EXPIRING) == []
    services.warning_thresholds_update(
        actor=stock.trading.manager_a, company_id=a.pk, values={"contract_expiring_days": "45"}
    )
    refresh(a)
    assert codes(a, WarningCode.CONTRACT_EXPIRING) == [f"contract_expiring:c{stock.sales.pk}"]


def test_over_executed_beyond_the_tolerance_only(stock, a):
    set_line(stock.purchase, 1, executed_quantity=D("1050.000"))  # exactly the allowance
    set_line(stock.sales, 2, executed_quantity=D("420.001"))  # 400 + 5 % = 420
    refresh(a)
    assert codes(a, WarningCode.CONTRACT_OVER_EXECUTED) == [
        f"contract_over_executed:c{stock.sales.pk}:l2"
    ]
    warning = TradingWarning.objects.get(code=WarningCode.CONTRACT_OVER_EXECUTED)
    assert (warning.measured_value, warning.threshold_value) == (D("420.001"), D("420"))
    assert warning.commodity_id == stock.trading.coal.pk


def test_under_executed_at_expiry_only(stock, a):
    set_contract(stock.purchase, end_on=days(-1))
    set_line(stock.purchase, 1, executed_quantity=D("950"))  # 1000 − 5 %: complete
    set_line(stock.purchase, 2, executed_quantity=D("474.999"))  # 500 − 5 % = 475
    set_contract(stock.sales, end_on=today())  # expires today: not yet expired
    refresh(a)
    assert codes(a, WarningCode.CONTRACT_UNDER_EXECUTED) == [
        f"contract_under_executed:c{stock.purchase.pk}:l2"
    ]
    warning = TradingWarning.objects.get(code=WarningCode.CONTRACT_UNDER_EXECUTED)
    assert (warning.measured_value, warning.threshold_value) == (D("474.999"), D("475"))
    assert warning.reference_date == days(-1)


def test_delivery_overdue_when_the_deadline_passed_short(stock, a):
    set_contract(stock.sales, delivery_end=days(-1))
    set_line(stock.sales, 1, executed_quantity=D("760"))  # 800 − 5 %
    set_line(stock.sales, 2, executed_quantity=D("380"))  # 400 − 5 %
    set_contract(stock.purchase, delivery_end=today())  # due today: not late
    refresh(a)
    assert codes(a, WarningCode.DELIVERY_OVERDUE) == []
    set_line(stock.sales, 2, executed_quantity=D("379.999"))
    refresh(a)
    assert codes(a, WarningCode.DELIVERY_OVERDUE) == [f"delivery_overdue:c{stock.sales.pk}"]
    warning = TradingWarning.objects.get(code=WarningCode.DELIVERY_OVERDUE)
    assert warning.kind == WarningKind.SHIPMENT
    assert (warning.measured_value, warning.threshold_value) == (D("379.999"), D("380"))
    assert warning.details["days_late"] == 1


def test_goods_booked_before_the_contract_took_effect(stock, a):
    set_contract(stock.purchase, effective_on=days(-5))
    stock.receive("10", on=days(-5))  # the day it took effect: fine
    refresh(a)
    assert codes(a, WarningCode.CONTRACT_NOT_EFFECTIVE) == []
    early = stock.receive("10", on=days(-6))
    refresh(a)
    assert codes(a, WarningCode.CONTRACT_NOT_EFFECTIVE) == [
        f"contract_not_effective:c{stock.purchase.pk}"
    ]
    warning = TradingWarning.objects.get(code=WarningCode.CONTRACT_NOT_EFFECTIVE)
    assert (warning.document_type, warning.document_id) == ("stock_document", early.pk)
    assert warning.measured_value == 1
    assert warning.details["documents"][0]["reason"] == "before_effective"


def test_goods_booked_after_the_contract_expired(stock, a):
    set_contract(stock.sales, end_on=days(-2))
    stock.receive("50", on=days(-10))
    stock.issue("5", on=days(-2))  # on the last day: fine
    refresh(a)
    assert codes(a, WarningCode.CONTRACT_NOT_EFFECTIVE) == []
    stock.issue("5", on=days(-1))
    refresh(a)
    assert codes(a, WarningCode.CONTRACT_NOT_EFFECTIVE) == [
        f"contract_not_effective:c{stock.sales.pk}"
    ]
    warning = TradingWarning.objects.get(code=WarningCode.CONTRACT_NOT_EFFECTIVE)
    assert warning.details["documents"][0]["reason"] == "after_end"


def test_counterparty_qualification_expired_yesterday_not_today(stock, a):
    supplier = stock.trading.supplier
    licence = Qualification.objects.create(
        partner=supplier,
        kind=QualificationKind.BUSINESS_LICENCE,
        name="营业执照",
        expires_on=today(),
    )
    refresh(a)
    assert codes(a, WarningCode.COUNTERPARTY_QUALIFICATION_EXPIRED) == []
    Qualification.objects.filter(pk=licence.pk).update(expires_on=days(-1))
    Qualification.objects.create(  # not a required kind: never warned about
        partner=supplier, kind=QualificationKind.OTHER, name="其他", expires_on=days(-100)
    )
    refresh(a)
    assert codes(a, WarningCode.COUNTERPARTY_QUALIFICATION_EXPIRED) == [
        f"counterparty_qualification_expired:c{stock.purchase.pk}"
    ]
    warning = TradingWarning.objects.get(code=WarningCode.COUNTERPARTY_QUALIFICATION_EXPIRED)
    assert (warning.measured_value, warning.reference_date) == (D("1"), days(-1))
    assert [item["name"] for item in warning.details["qualifications"]] == ["营业执照"]


def _prepayment_world(stock):
    t = stock.trading
    set_contract(stock.sales, payment_term=PaymentTerm.PREPAYMENT, prepayment_percent=D("30"))
    stock.receive("100", on=days(-10))

    def receive_money(amount, on):
        receipt = money_services.payment_create(
            actor=t.finance_a, contract_id=stock.sales.pk, amount=amount, paid_on=on
        )
        return money_services.receipt_post(actor=t.finance_a, payment_id=receipt.pk)

    return receive_money


def test_goods_issued_with_the_whole_prepayment_received(stock, a):
    receive_money = _prepayment_world(stock)
    # 30 % of 4,440,000.00 = 1,332,000.00, in two receipts up to the day of the issue
    receive_money("1000000.00", days(-3))
    receive_money("332000.00", days(-2))
    stock.issue("10", on=days(-2))
    refresh(a)
    assert codes(a, WarningCode.ISSUED_BEFORE_PREPAYMENT) == []


def test_goods_issued_before_the_prepayment_arrived(stock, a):
    receive_money = _prepayment_world(stock)
    receive_money("1331999.99", days(-3))
    issue = stock.issue("10", on=days(-2))
    receive_money("0.01", days(-1))  # the rest arrived after the goods left
    refresh(a)
    assert codes(a, WarningCode.ISSUED_BEFORE_PREPAYMENT) == [
        f"issued_before_prepayment:c{stock.sales.pk}"
    ]
    warning = TradingWarning.objects.get(code=WarningCode.ISSUED_BEFORE_PREPAYMENT)
    assert warning.kind == WarningKind.SHIPMENT
    assert (warning.measured_value, warning.threshold_value) == (D("1331999.99"), D("1332000"))
    assert (warning.document_type, warning.document_id) == ("stock_document", issue.pk)


# ---------------------------------------------------------------- warehouse


def _stocktake(stock, counted, reason=""):
    from qinglian.approvals import services as approvals

    for flow in stock_services.APPROVAL_FLOWS:
        approvals.template_save(actor=SYSTEM_ACTOR, **flow)
    t = stock.trading
    return stock_services.stocktake_create(
        actor=t.keeper_a,
        warehouse_id=t.warehouse_a.pk,
        counted_on=today(),
        lines=[{"commodity_id": t.steel.pk, "counted_quantity": counted, "reason": reason}],
    )


def test_stocktake_variance_at_the_tolerance_is_no_warning(stock, a):
    stock.receive("1000")
    _stocktake(stock, "997")  # 0.30 %: the steel's tolerance
    refresh(a)
    assert codes(a, WarningCode.STOCK_VARIANCE) == []


def test_stocktake_variance_beyond_the_tolerance(stock, a):
    t = stock.trading
    t.warehouse_a.keeper = t.keeper_a
    t.warehouse_a.save()
    stock.receive("1000")
    count = _stocktake(stock, "996.999", reason="损耗")
    refresh(a)
    assert codes(a, WarningCode.STOCK_VARIANCE) == [f"stock_variance:s{count.pk}:m{t.steel.pk}"]
    warning = TradingWarning.objects.get(code=WarningCode.STOCK_VARIANCE)
    assert warning.kind == WarningKind.WAREHOUSE
    assert (warning.measured_value, warning.threshold_value) == (D("0.300"), D("0.30"))
    assert (warning.document_type, warning.document_id) == ("stocktake", count.pk)
    assert warning.warehouse_id == t.warehouse_a.pk
    assert warning.responsible_role == RoleCode.WAREHOUSE_KEEPER
    assert warning.details["variance"] == "-3.001"
    # a company-wide tolerance replaces the commodity's
    services.warning_thresholds_update(
        actor=t.manager_a, company_id=a.pk, values={"stock_variance_tolerance_percent": "0.5"}
    )
    refresh(a)
    assert codes(a, WarningCode.STOCK_VARIANCE, state="resolved") == codes(
        a, WarningCode.STOCK_VARIANCE
    )


def test_stocktake_variance_resolves_when_cancelled(stock, a):
    t = stock.trading
    stock.receive("1000")
    count = _stocktake(stock, "990", reason="损耗")
    services.warnings_refresh_for_stocktake(count.pk)
    assert codes(a, WarningCode.STOCK_VARIANCE, state="open") != []
    stock_services.stocktake_cancel(actor=t.keeper_a, stocktake_id=count.pk)
    services.warnings_refresh_for_stocktake(count.pk)
    warning = TradingWarning.objects.get(code=WarningCode.STOCK_VARIANCE)
    assert (warning.state, warning.is_auto_resolved, warning.is_present) == (
        "resolved",
        True,
        False,
    )


# ---------------------------------------------------------------- credit and overdue


def test_credit_over_the_limit_and_not_at_it(stock, a):
    customer = stock.trading.customer
    # the sales contract's open order, 4,440,000.00, is the whole exposure
    Partner.objects.filter(pk=customer.pk).update(credit_limit=D("4440000.00"))
    refresh(a)
    assert codes(a, WarningCode.CREDIT_OVER_LIMIT) == []
    Partner.objects.filter(pk=customer.pk).update(credit_limit=D("4439999.99"))
    refresh(a)
    assert codes(a, WarningCode.CREDIT_OVER_LIMIT) == [f"credit_over_limit:p{customer.pk}"]
    warning = TradingWarning.objects.get(code=WarningCode.CREDIT_OVER_LIMIT)
    assert (warning.measured_value, warning.threshold_value) == (D("4440000"), D("4439999.99"))
    assert warning.details["open_orders"] == "4440000.00"
    assert warning.responsible_role == RoleCode.FINANCE
    assert list(
        TradingWarningResponsible.objects.filter(warning=warning).values_list("user", flat=True)
    ) == [stock.trading.salesperson_a.pk]


def test_credit_usage_threshold(stock, a):
    Partner.objects.filter(pk=stock.trading.customer.pk).update(credit_limit=D("5550000.00"))
    refresh(a)
    assert codes(a, WarningCode.CREDIT_OVER_LIMIT) == []
    services.warning_thresholds_update(
        actor=stock.trading.manager_a, company_id=a.pk, values={"credit_usage_percent": "80"}
    )
    refresh(a)  # 4,440,000 is exactly 80 % of 5,550,000: not above it
    assert codes(a, WarningCode.CREDIT_OVER_LIMIT) == []
    services.warning_thresholds_update(
        actor=stock.trading.manager_a, company_id=a.pk, values={"credit_usage_percent": "79.99"}
    )
    refresh(a)
    assert len(codes(a, WarningCode.CREDIT_OVER_LIMIT)) == 1


def _opening_receivable(stock, amount, due):
    t = stock.trading
    return money_services.opening_balance_post(
        actor=t.finance_a,
        company_id=stock.sales.company_id,
        partner_id=t.customer.pk,
        account="receivable",
        amount=amount,
        posting_date=days(-120),
        due_date=due,
        contract_id=stock.sales.pk,
    )


def test_receivables_overdue_from_the_day_after_the_due_date(stock, a):
    _opening_receivable(stock, "1000.00", today())
    refresh(a)
    assert codes(a, WarningCode.RECEIVABLE_OVERDUE) == []
    _opening_receivable(stock, "500.00", days(-1))
    _opening_receivable(stock, "200.00", days(-95))
    refresh(a)
    customer = stock.trading.customer
    assert codes(a, WarningCode.RECEIVABLE_OVERDUE) == [f"receivable_overdue:p{customer.pk}"]
    warning = TradingWarning.objects.get(code=WarningCode.RECEIVABLE_OVERDUE)
    assert warning.kind == WarningKind.OVERDUE
    assert warning.measured_value == D("700")
    assert warning.reference_date == days(-95)
    assert warning.details["buckets"] == {"days_0_30": "500.00", "over_90": "200.00"}
    assert warning.details["oldest_days"] == 95


def test_overdue_grace_days_and_minimum_amount(stock, a):
    _opening_receivable(stock, "500.00", days(-10))
    manager = stock.trading.manager_a
    services.warning_thresholds_update(
        actor=manager, company_id=a.pk, values={"overdue_grace_days": 10}
    )
    refresh(a)
    assert codes(a, WarningCode.RECEIVABLE_OVERDUE) == []
    services.warning_thresholds_update(
        actor=manager,
        company_id=a.pk,
        values={"overdue_grace_days": 9, "overdue_min_amount": "500"},
    )
    refresh(a)
    assert codes(a, WarningCode.RECEIVABLE_OVERDUE) == []  # 500 is not above 500
    services.warning_thresholds_update(
        actor=manager, company_id=a.pk, values={"overdue_min_amount": "499.99"}
    )
    refresh(a)
    assert len(codes(a, WarningCode.RECEIVABLE_OVERDUE)) == 1


def test_a_receipt_clears_the_overdue_warning(stock, a):
    t = stock.trading
    _opening_receivable(stock, "500.00", days(-5))
    services.warnings_refresh_for_partner(t.customer.pk)
    warning = TradingWarning.objects.get(code=WarningCode.RECEIVABLE_OVERDUE)
    assert warning.state == WarningState.OPEN
    receipt = money_services.payment_create(
        actor=t.finance_a, contract_id=stock.sales.pk, amount="500.00", paid_on=today()
    )
    money_services.receipt_post(actor=t.finance_a, payment_id=receipt.pk)
    services.warnings_refresh_for_contract(stock.sales.pk)
    warning.refresh_from_db()
    assert (warning.state, warning.is_auto_resolved, warning.resolved_by) == (
        "resolved",
        True,
        None,
    )


# ---------------------------------------------------------------- the register


def test_detection_again_updates_instead_of_duplicating(stock, a):
    set_contract(stock.sales, end_on=days(10))
    first = refresh(a)
    assert first.opened == 1
    warning = TradingWarning.objects.get()
    events = AuditEvent.objects.filter(action="trading.warnings.refreshed").count()
    second = refresh(a)
    assert (second.opened, second.reopened, second.resolved, second.present) == (0, 0, 0, 1)
    assert TradingWarning.objects.count() == 1
    # nothing changed: no new audit event either
    assert AuditEvent.objects.filter(action="trading.warnings.refreshed").count() == events
    set_contract(stock.sales, end_on=days(9))
    refresh(a)
    again = TradingWarning.objects.get()
    assert again.pk == warning.pk
    assert again.measured_value == 9
    assert again.first_seen_at == warning.first_seen_at
    assert again.version == warning.version + 1


def test_auto_resolve_and_reopen(stock, a):
    set_contract(stock.sales, end_on=days(10))
    refresh(a)
    set_contract(stock.sales, end_on=days(100))  # extended
    result = refresh(a)
    assert result.resolved == 1
    warning = TradingWarning.objects.get()
    assert (warning.state, warning.is_auto_resolved, warning.is_present) == (
        "resolved",
        True,
        False,
    )
    assert warning.resolved_by is None and warning.cleared_at is not None
    event = AuditEvent.objects.filter(action="trading.warnings.refreshed").latest("id")
    assert event.changes["resolved"] == [None, 1]
    set_contract(stock.sales, end_on=days(20))  # it comes back
    result = refresh(a)
    assert (result.opened, result.reopened) == (0, 1)
    warning.refresh_from_db()
    assert (warning.state, warning.reopened_count, warning.is_present) == ("open", 1, True)
    assert not warning.is_auto_resolved
    assert warning.resolved_at is None
    assert warning.cleared_at is None


def test_a_warning_resolved_by_hand_stays_resolved_while_the_condition_holds(stock, a):
    t = stock.trading
    set_contract(stock.sales, end_on=days(10))
    refresh(a)
    warning = TradingWarning.objects.get()
    services.warning_resolve(actor=t.salesperson_a, warning_id=warning.pk, reason="续签中")
    refresh(a)
    warning.refresh_from_db()
    assert (warning.state, warning.resolution_note, warning.is_present) == (
        "resolved",
        "续签中",
        True,
    )
    set_contract(stock.sales, end_on=days(100))
    refresh(a)  # clears: stays resolved, now not present
    set_contract(stock.sales, end_on=days(5))
    refresh(a)  # back: opened again
    warning.refresh_from_db()
    assert (warning.state, warning.reopened_count, warning.resolution_note) == ("open", 1, "")


def test_a_contract_refresh_touches_only_that_contract(stock, a):
    set_contract(stock.sales, end_on=days(10))
    set_contract(stock.purchase, end_on=days(10))
    refresh(a)
    assert TradingWarning.objects.filter(state="open").count() == 2
    set_contract(stock.sales, end_on=days(100))
    set_contract(stock.purchase, end_on=days(100))
    services.warnings_refresh_for_contract(stock.sales.pk)
    assert codes(a, state="open") == [f"contract_expiring:c{stock.purchase.pk}"]


def test_scope_limits_the_codes(stock, a):
    set_contract(stock.sales, end_on=days(10))
    set_line(stock.purchase, 1, executed_quantity=D("2000"))
    refresh(a, scope=["shipment", WarningCode.CONTRACT_EXPIRING])
    assert codes(a) == [f"contract_expiring:c{stock.sales.pk}"]
    with pytest.raises(ValidationFailed):
        refresh(a, scope=["nonsense"])


def test_companies_are_kept_apart(stock, org):
    set_contract(stock.purchase_b, end_on=days(10))
    services.warnings_refresh(on_date=today())
    assert codes(org.company_a) == []
    assert codes(org.company_b) == [f"contract_expiring:c{stock.purchase_b.pk}"]


def test_refresh_costs_the_same_number_of_queries_for_more_contracts(stock, org, a):
    t = stock.trading

    def measure():
        with CaptureQueriesContext(connection) as queries:
            refresh(a)
        return len(queries.captured_queries)

    def add_contracts(count):
        for number in range(count):
            contract = make_contract(
                company=org.company_a,
                partner=t.customer,
                owner=t.salesperson_a,
                kind=ContractKind.SALES,
                lines=[(t.steel, "100", "5000.00"), (t.coal, "50", "1100.00")],
                end_on=days(5 + number),
                delivery_end=days(-1),
            )
            set_line(contract, 1, executed_quantity=D("200"))  # over-executed
        Partner.objects.filter(pk=t.customer.pk).update(credit_limit=D("1.00"))

    add_contracts(2)
    measure()  # the first one creates the thresholds row and the warnings
    small = measure()
    add_contracts(8)
    measure()
    large = measure()
    assert TradingWarning.objects.filter(code=WarningCode.CONTRACT_OVER_EXECUTED).count() == 10
    assert large == small


# ---------------------------------------------------------------- thresholds


def test_thresholds_are_changed_by_managers_and_audited(stock, a, org):
    t = stock.trading
    for outsider in (t.salesperson_a, org.inspector):
        with pytest.raises(PermissionDenied):
            services.warning_thresholds_update(
                actor=outsider, company_id=a.pk, values={"contract_expiring_days": 10}
            )
    assert not WarningThresholds.objects.exists()
    row = services.warning_thresholds_update(
        actor=t.manager_a, company_id=a.pk, values={"contract_expiring_days": 10}
    )
    assert (row.contract_expiring_days, row.version, row.updated_by) == (10, 2, t.manager_a)
    event = AuditEvent.objects.get(action="trading.warning_thresholds.updated")
    assert event.changes["contract_expiring_days"] == [30, 10]
    with pytest.raises(ValidationFailed) as refused:
        services.warning_thresholds_update(
            actor=t.manager_a,
            company_id=a.pk,
            values={"overdue_grace_days": "-1", "credit_usage_percent": "0"},
        )
    assert set(refused.value.fields) == {"overdue_grace_days", "credit_usage_percent"}
    assert services.thresholds_for(a.pk).contract_expiring_days == 10


def test_open_receivables_agree_with_the_credit_ageing(stock, a):
    from qinglian.trading.selectors import credit as credit_selectors

    t = stock.trading
    _opening_receivable(stock, "500.00", days(-40))
    _opening_receivable(stock, "300.00", days(-5))
    wrong = _opening_receivable(stock, "70.00", days(-3))
    money_services.opening_balance_reverse(actor=t.finance_a, opening_id=wrong.pk, reason="录错")
    receipt = money_services.payment_create(
        actor=t.finance_a, contract_id=stock.sales.pk, amount="600.00", paid_on=today()
    )
    money_services.receipt_post(actor=t.finance_a, payment_id=receipt.pk)
    mine = sorted(
        (item.voucher_type, item.voucher_id, item.outstanding, item.days_overdue)
        for item in rules.open_receivables(a.pk, today())
    )
    theirs = sorted(
        (item.voucher_type, item.voucher_id, item.outstanding, item.days_overdue)
        for item in credit_selectors.receivable_ageing_unscoped(
            as_of=today(), company_id=a.pk
        ).items
    )
    assert mine == theirs
    assert [item[2] for item in mine] == [D("200.00")]  # 500 + 300 − 600, oldest paid first

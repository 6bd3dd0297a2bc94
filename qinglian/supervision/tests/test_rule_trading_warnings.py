"""Rule 16: trading warnings feed the findings queue — those nobody acknowledged for longer
than the days allowed, those acknowledged and left unresolved, and at once those of the kinds
the inspectors follow; each near miss one minute inside its threshold. The finding links the
warning's page and what it concerns."""

import datetime
import itertools
from decimal import Decimal

from qinglian.supervision import registry, services
from qinglian.supervision.models import Finding, FindingDocument
from qinglian.supervision.rules import trading_warnings
from qinglian.supervision.tests.conftest import NOW, trading_document
from qinglian.supervision.tests.helpers import detect
from qinglian.supervision.views import document_url
from qinglian.trading.enums import ContractKind
from qinglian.trading.factories import make_contract
from qinglian.trading.models.warnings import (
    KIND_OF_CODE,
    TradingWarning,
    TradingWarningResponsible,
    WarningCode,
    WarningState,
)

RULE = "trading_warnings"
_serial = itertools.count(1)
# Not followed at once: the default list names two other codes.
EXPIRING = WarningCode.CONTRACT_EXPIRING
OVERDUE = WarningCode.RECEIVABLE_OVERDUE


def raised(org, *, age: datetime.timedelta, code=OVERDUE, state=WarningState.OPEN, **values):
    """A warning as the detection stores it, first raised `age` before now."""
    first_seen = NOW - age
    extra: dict[str, object] = {}
    if state != WarningState.OPEN:
        extra["acknowledged_at"] = first_seen + datetime.timedelta(days=1)
    if state == WarningState.RESOLVED:
        extra.update(resolved_at=NOW, resolution_note="已处理")
    return TradingWarning.objects.create(
        company=values.pop("company", org.company_a),
        kind=KIND_OF_CODE[code],
        code=code,
        fingerprint=f"{code}:x{next(_serial)}",
        state=state,
        measured_value=Decimal("1200.000"),
        threshold_value=Decimal("0"),
        unit="amount",
        first_seen_at=first_seen,
        last_seen_at=NOW,
        **extra,
        **values,
    )


def days(number, minutes=0):
    return datetime.timedelta(days=number, minutes=minutes)


def test_a_warning_nobody_acknowledged_for_more_than_fourteen_days(org, trading, frozen):
    raised(org, age=days(14))  # exactly 14 days: not more
    raised(org, age=days(30), state=WarningState.RESOLVED)
    assert detect(RULE) == []
    late = raised(org, age=days(14, minutes=1), partner=trading.customer)
    TradingWarningResponsible.objects.create(warning=late, user=trading.salesperson_a)
    hits = detect(RULE)
    assert [(hit.subject_type, hit.subject_id, hit.key) for hit in hits] == [
        ("trading.warning", str(late.pk), "")
    ]
    hit = hits[0]
    assert hit.company_id == org.company_a.pk
    assert hit.occurred_at == late.first_seen_at
    figures = hit.figures
    assert (figures["reason"], figures["code"], figures["kind"], figures["state"]) == (
        "not_acknowledged",
        "receivable_overdue",
        "overdue",
        "open",
    )
    assert (figures["days_since_first_seen"], figures["measured"]) == (14, Decimal("1200.000"))
    assert figures["partner"] == trading.customer.name
    assert [(link.type, link.id) for link in hit.documents] == [
        ("trading.warning", str(late.pk)),
        ("trading.partner", str(trading.customer.pk)),
    ]
    assert hit.people == [trading.salesperson_a.pk]
    summary = registry.rule_get(RULE).summarize(registry.jsonable(figures))
    assert "14" in summary and trading.customer.name in summary and "1200" in summary
    assert detect(RULE, open_days=15) == []


def test_acknowledged_but_unresolved_for_more_than_ninety_days(org, trading, frozen):
    raised(org, age=days(90), state=WarningState.ACKNOWLEDGED, acknowledged_by=trading.finance_a)
    assert detect(RULE) == []
    late = raised(
        org,
        age=days(90, minutes=1),
        state=WarningState.ACKNOWLEDGED,
        acknowledged_by=trading.finance_a,
    )
    hits = detect(RULE)
    assert [(hit.subject_id, hit.figures["reason"]) for hit in hits] == [
        (str(late.pk), "not_resolved")
    ]
    assert hits[0].people == [trading.finance_a.pk]
    assert hits[0].figures["acknowledged_by"].startswith(trading.finance_a.name)
    assert detect(RULE, unresolved_days=0) == []  # not checked


def test_the_kinds_the_inspectors_follow_at_once(org, trading, stock, frozen):
    shipped = trading_document(
        company=org.company_a,
        kind="issue",
        partner=trading.customer,
        warehouse=trading.warehouse_a,
        posting_date=datetime.date(2026, 3, 10),
        created_by=trading.keeper_a,
        lines=[{"commodity": trading.steel, "quantity": "1"}],
        contract=stock.sales,
    )
    warning = raised(
        org,
        age=days(0, minutes=5),
        code=WarningCode.ISSUED_BEFORE_PREPAYMENT,
        partner=trading.customer,
        contract=stock.sales,
        contract_original=stock.sales,
        document_type="stock_document",
        document_id=shipped.pk,
        document_label=shipped.number,
    )
    raised(org, age=days(0, minutes=5), code=EXPIRING)
    hits = detect(RULE)
    assert [(hit.subject_id, hit.figures["reason"]) for hit in hits] == [
        (str(warning.pk), "selected")
    ]
    assert [(link.type, link.id) for link in hits[0].documents] == [
        ("trading.warning", str(warning.pk)),
        ("trading.stock_document", str(shipped.pk)),
        ("trading.contract", str(stock.sales.pk)),
        ("trading.partner", str(trading.customer.pk)),
    ]
    assert detect(RULE, selected="") == []
    assert len(detect(RULE, selected="shipment,contract")) == 2  # a kind names its warnings
    assert [hit.figures["code"] for hit in detect(RULE, selected="contract_expiring")] == [
        "contract_expiring"
    ]
    rule = registry.rule_get(RULE)
    assert "issued_before_prepayment" in rule.explain(rule.defaults())


def test_the_documents_a_warning_lists_are_linked(org, trading, frozen):
    contract = make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        kind=ContractKind.PURCHASE,
        lines=[(trading.steel, "10", "4000.00")],
    )
    warning = raised(
        org,
        age=days(1),
        code=WarningCode.CONTRACT_NOT_EFFECTIVE,
        contract=contract,
        contract_original=contract,
        warehouse=trading.warehouse_a,
        commodity=trading.steel,
        details={
            "contract": contract.number,
            "documents": [
                {"type": "stock_document", "id": 11, "number": "RK-1"},
                {"type": "payment", "id": 12, "number": "FK-1"},
                {"type": "unknown", "id": 13, "number": "?"},
                {"type": "payment", "id": "x", "number": "bad"},
            ],
        },
    )
    hits = detect(RULE)
    assert [(link.type, link.id) for link in hits[0].documents] == [
        ("trading.warning", str(warning.pk)),
        ("trading.stock_document", "11"),
        ("trading.payment", "12"),
        ("trading.contract", str(contract.pk)),
        ("trading.warehouse", str(trading.warehouse_a.pk)),
        ("trading.commodity", str(trading.steel.pk)),
    ]
    assert hits[0].figures["contract"] == contract.number
    labels = [link.label for link in hits[0].documents]
    assert labels[-2:] == [trading.warehouse_a.name, "螺纹钢 HRB400 Φ20"]
    assert hits[0].figures["warehouse"] == trading.warehouse_a.name


def test_a_finding_per_warning_whose_links_open(org, trading, frozen, client):
    from qinglian.trading.services import money as money_services
    from qinglian.trading.services import warnings as warning_services

    # A real warning: the customer's opening receivable fell due, the daily detection ran.
    money_services.opening_balance_post(
        actor=trading.finance_a,
        company_id=org.company_a.pk,
        partner_id=trading.customer.pk,
        account="receivable",
        amount="5000.00",
        posting_date=datetime.date(2025, 12, 1),
        due_date=datetime.date(2026, 1, 1),
    )
    frozen.set(NOW - days(20))
    warning_services.warnings_refresh(company=org.company_a, on_date=frozen().date())
    frozen.set(NOW)
    warning = TradingWarning.objects.get(code=OVERDUE)
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    finding = Finding.objects.get(rule_code=RULE)
    assert (finding.subject_id, finding.seen_count, finding.area) == (str(warning.pk), 2, "matters")
    links = list(FindingDocument.objects.filter(finding=finding).order_by("id"))
    assert [link.document_type for link in links] == ["trading.warning", "trading.partner"]
    client.force_login(org.inspector)
    for link in links:
        url = document_url(link.document_type, link.document_id)
        assert url and client.get(url).status_code == 200, link.document_type


def test_selected_codes_expand_kinds_and_ignore_the_unknown():
    assert trading_warnings.selected_codes(["credit", "stock_variance", "nonsense"]) == {
        "credit_over_limit",
        "stock_variance",
    }

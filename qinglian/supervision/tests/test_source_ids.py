"""Imported history in findings (issue 7): a finding about an imported contract, payment,
partner, person or company keeps each one's old-system identifier verbatim in its evidence,
shows it on the finding's page and prints it in `supervision_run --json`; records made here
carry none; and looking the identifiers up costs the same however many links a run records."""

import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from qinglian.org.models import Company, User
from qinglian.supervision import registry, services
from qinglian.supervision.enums import Area, Severity
from qinglian.supervision.models import Finding
from qinglian.supervision.tests.conftest import trading_invoice, trading_payment
from qinglian.trading.factories import make_contract, make_partner
from qinglian.trading.models import Contract, Partner, Payment

RULE = "payment_over_contract"
DAY = datetime.date(2026, 2, 1)
BATCH = "legacy-2026-01"


def imported(model, pk, source_id):
    model.objects.filter(pk=pk).update(source_id=source_id, import_batch=BATCH)


@pytest.fixture
def overpaid(org, trading, frozen):
    """Company A's purchase contract (100,000.00, ceiling 105,000.00) paid 105,000.01 in two
    payments: the second one goes over."""
    contract = make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "100", "1000.00")],
    )
    trading_invoice(
        company=org.company_a,
        partner=trading.supplier,
        contract=contract,
        number="00000001",
        amount="110000.00",
        invoice_date=DAY,
        created_by=trading.finance_a,
    )
    first, second = (
        trading_payment(
            company=org.company_a,
            partner=trading.supplier,
            contract=contract,
            amount=amount,
            paid_on=DAY + datetime.timedelta(days=days),
            created_by=trading.finance_a,
        )
        for amount, days in (("60000.00", 1), ("45000.01", 2))
    )
    return contract, first, second


@pytest.fixture
def imported_history(org, trading, overpaid):
    """The contract, the payment that went over, the supplier, the contract's owner and
    company A came from the old system; the first payment and the finance clerk were made
    here."""
    contract, _first, second = overpaid
    imported(Contract, contract.pk, "CG-2025-001")
    imported(Payment, second.pk, "PAY 0002/旧")  # verbatim: spaces, slashes, Chinese
    imported(Partner, trading.supplier.pk, "S001")
    imported(User, trading.purchaser_a.pk, "E002")
    imported(Company, org.company_a.pk, "QLWZ")
    return overpaid


def test_a_finding_about_imported_records_keeps_their_source_ids(org, trading, imported_history):
    contract, _first, second = imported_history
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    finding = Finding.objects.get(rule_code=RULE)
    evidence = finding.evidence
    assert evidence["subject"]["source_id"] == "CG-2025-001"
    assert evidence["company"] == {"id": org.company_a.pk, "source_id": "QLWZ"}
    documents = {(item["type"], item["id"]): item for item in evidence["documents"]}
    assert documents[("trading.contract", str(contract.pk))]["source_id"] == "CG-2025-001"
    assert documents[("trading.payment", str(second.pk))]["source_id"] == "PAY 0002/旧"
    assert documents[("trading.partner", str(trading.supplier.pk))]["source_id"] == "S001"
    people = {person["id"]: person for person in evidence["people"]}
    assert people[trading.purchaser_a.pk]["source_id"] == "E002"
    assert "source_id" not in people[trading.finance_a.pk]  # made here


def test_the_command_prints_the_source_ids_by_kind(org, trading, imported_history):
    _contract, _first, second = imported_history
    out, err = io.StringIO(), io.StringIO()
    call_command("supervision_run", "--json", "--rule", RULE, stdout=out, stderr=err)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["source_ids"] == {
        "documents": ["CG-2025-001", "PAY 0002/旧"],
        "partners": ["S001"],
        "people": ["E002"],
        "companies": ["QLWZ"],
    }
    # the keys printed before stay as they were
    assert line["rule"] == RULE and line["company"] == "A"
    assert line["subject"]["identifier"] == "CG-2025-001"
    assert {"type": "trading.payment", "id": str(second.pk), "source_id": "PAY 0002/旧"} in [
        {key: item[key] for key in ("type", "id", "source_id") if key in item}
        for item in line["documents"]
    ]
    assert trading.purchaser_a.employee_number in line["people"]


def test_the_finding_page_shows_the_source_ids(client, english, org, trading, imported_history):
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    finding = Finding.objects.get(rule_code=RULE)
    client.force_login(org.inspector)
    page = client.get(reverse("supervision:finding_detail", args=[finding.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="subject-source-id"' in html
    assert 'data-testid="company-source-id"' in html
    assert html.count('data-testid="document-source-id"') == 3  # contract, payment, partner
    assert html.count('data-testid="person-source-id"') == 1  # the owner, not the clerk
    for source_id in ("CG-2025-001", "PAY 0002/旧", "S001", "E002", "QLWZ"):
        assert source_id in html
    assert "Source ID" in html


def test_a_finding_about_live_records_has_no_source_ids(client, english, org, trading, overpaid):
    out, err = io.StringIO(), io.StringIO()
    call_command("supervision_run", "--json", "--rule", RULE, stdout=out, stderr=err)
    line = json.loads(out.getvalue())
    assert line["source_ids"] == {"documents": [], "partners": [], "people": [], "companies": []}
    finding = Finding.objects.get(rule_code=RULE)
    evidence = finding.evidence
    assert "source_id" not in evidence["subject"]
    assert evidence["company"] == {"id": org.company_a.pk}
    assert all("source_id" not in item for item in evidence["documents"] + evidence["people"])
    client.force_login(org.inspector)
    html = client.get(reverse("supervision:finding_detail", args=[finding.pk])).content.decode()
    assert "source-id" not in html and "Source ID" not in html


def test_a_rerun_fills_in_source_ids_without_a_second_finding(org, trading, overpaid):
    """An open finding takes the latest evidence: a record marked imported after the first run
    shows its source id on the next, under the same fingerprint."""
    contract, _first, _second = overpaid
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    finding = Finding.objects.get(rule_code=RULE)
    assert "source_id" not in finding.evidence["subject"]
    imported(Contract, contract.pk, "CG-2025-001")
    # `imported` marks the record behind the audit trail's back (a real import writes its batch
    # event, which re-runs every rule): a full run, not an incremental one
    services.run_rules(actor=org.inspector, rule_codes=[RULE], full=True)
    again = Finding.objects.get(rule_code=RULE)
    assert (again.pk, again.fingerprint, again.seen_count) == (
        finding.pk,
        finding.fingerprint,
        2,
    )
    assert again.evidence["subject"]["source_id"] == "CG-2025-001"


# ---------------------------------------------------------------- set-wise


@pytest.fixture
def many_contracts(org, trading, frozen):
    """33 imported contracts, each with its own imported supplier."""
    contracts = []
    for number in range(33):
        partner = make_partner(company=org.group)
        contract = make_contract(
            company=org.company_a,
            partner=partner,
            owner=trading.purchaser_a,
            lines=[(trading.steel, "1", "1000.00")],
        )
        imported(Partner, partner.pk, f"S{number:03d}")
        imported(Contract, contract.pk, f"CG-{number:03d}")
        contracts.append(contract)
    imported(User, trading.purchaser_a.pk, "E002")
    return contracts


def _register_rule(code, contracts):
    """A rule with a hit per contract: the contract, its partner, its owner."""

    def detect(context):
        for contract in contracts:
            yield registry.Hit(
                subject_type="trading.contract",
                subject_id=str(contract.pk),
                subject_label=contract.number,
                company_id=contract.company_id,
                figures={},
                documents=[
                    registry.DocumentLink("trading.contract", str(contract.pk), contract.number),
                    registry.DocumentLink("trading.partner", str(contract.partner_id), "partner"),
                ],
                people=[contract.owner_id],
            )

    registry.register(
        registry.Rule(
            code=code,
            number=98,
            title=code,
            explanation="",
            area=Area.MONEY,
            severity=Severity.LOW,
            parameters=(),
            detect=detect,
            summarize=lambda figures: "",
        )
    )


def _queries_for(code, contracts):
    _register_rule(code, contracts)
    try:
        out = io.StringIO()
        with CaptureQueriesContext(connection) as captured:
            call_command("supervision_run", "--json", "--rule", code, stdout=out, stderr=out)
    finally:
        registry.unregister(code)
    return len(captured), out.getvalue()


def test_source_ids_are_looked_up_set_wise(org, trading, many_contracts):
    few, few_output = _queries_for("zz_sources_few", many_contracts[:3])
    many, many_output = _queries_for("zz_sources_many", many_contracts[3:])
    assert many == few
    assert [
        json.loads(line)["source_ids"]["documents"][0]
        for line in few_output.splitlines()
        if line.startswith("{")
    ] == ["CG-000", "CG-001", "CG-002"]
    lines = [json.loads(line) for line in many_output.splitlines() if line.startswith("{")]
    assert len(lines) == 30
    assert lines[0]["source_ids"]["documents"] == ["CG-003"]
    assert lines[-1]["source_ids"] == {
        "documents": ["CG-032"],
        "partners": ["S032"],
        "people": ["E002"],
        "companies": [],
    }
    assert all(len(line["source_ids"]["partners"]) == 1 for line in lines)

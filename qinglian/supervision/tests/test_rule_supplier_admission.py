"""Rule 6: a supplier used (contract, receipt, payment) while not admitted, or with an expired
qualification, on the day of the use — its admission read from the audit trail and from the
status history imported with it."""

import datetime

import pytest
from django.utils import timezone

from qinglian.supervision import registry, services
from qinglian.supervision.enums import Severity
from qinglian.supervision.models import Finding
from qinglian.supervision.rules.supplier_admission import AdmissionHistory, expired_kinds
from qinglian.supervision.tests.conftest import NOW, trading_document, trading_payment
from qinglian.supervision.tests.helpers import detect
from qinglian.trading import facts
from qinglian.trading.enums import AdmissionStatus, QualificationKind
from qinglian.trading.factories import make_contract, make_partner
from qinglian.trading.models import PartnerStatusChange, Qualification
from qinglian.trading.services import master as master_services

RULE = "supplier_not_admitted"


def day(month, number):
    return datetime.date(2026, month, number)


@pytest.fixture
def use(org, trading, frozen):
    class Use:
        def contract(self, partner, on, **extra):
            return make_contract(
                company=org.company_a,
                partner=partner,
                owner=trading.purchaser_a,
                lines=[(trading.steel, "10", "1000.00")],
                signed_on=on,
                **extra,
            )

        def receipt(self, partner, on, contract=None, **extra):
            return trading_document(
                company=org.company_a,
                kind="receipt",
                partner=partner,
                warehouse=trading.warehouse_a,
                contract=contract,
                posting_date=on,
                created_by=trading.keeper_a,
                lines=[{"commodity": trading.steel, "quantity": "10"}],
                **extra,
            )

        def payment(self, partner, on, contract=None, **extra):
            return trading_payment(
                company=org.company_a,
                partner=partner,
                contract=contract,
                amount="1000.00",
                paid_on=on,
                created_by=trading.finance_a,
                **extra,
            )

    return Use()


def found(hits):
    return sorted((hit.subject_type, hit.subject_id, hit.key) for hit in hits)


def test_an_admitted_supplier_without_history_is_fine(trading, use):
    contract = use.contract(trading.supplier, day(1, 1))
    use.receipt(trading.supplier, day(2, 1), contract)
    use.payment(trading.supplier, day(2, 2), contract)
    assert detect(RULE) == []


def test_use_before_the_admission_date(org, use):
    partner = make_partner(company=org.group, admitted_on=day(2, 1), name="新供应商")
    contract = use.contract(partner, day(1, 20))
    use.payment(partner, day(1, 25), contract)
    use.receipt(partner, day(2, 1), contract)  # the day it was admitted: fine
    hits = detect(RULE)
    assert found(hits) == [("trading.contract", str(contract.pk), "not_admitted")]
    hit = hits[0]
    assert hit.severity == Severity.HIGH
    assert [(item["what"], item["on"], item["status"]) for item in hit.figures["uses"]] == [
        ("contract", day(1, 20), AdmissionStatus.NOT_ADMITTED),
        ("payment", day(1, 25), AdmissionStatus.NOT_ADMITTED),
    ]
    assert [link.type for link in hit.documents] == [
        "trading.contract",
        "trading.contract",
        "trading.payment",
        "trading.partner",
    ]
    assert detect(RULE, check_contracts=False, check_payments=False) == []


def test_a_suspension_recorded_in_the_trail(org, trading, use, frozen):
    contract = use.contract(trading.supplier, day(1, 1))
    frozen.set(timezone.make_aware(datetime.datetime(2026, 2, 10, 9)))
    master_services.partner_suspend(
        actor=trading.manager_a, partner_id=trading.supplier.pk, reason="质量问题"
    )
    frozen.set(timezone.make_aware(datetime.datetime(2026, 2, 20, 9)))
    master_services.partner_reinstate(
        actor=trading.manager_a, partner_id=trading.supplier.pk, reason="整改完成"
    )
    frozen.set(NOW)
    use.receipt(trading.supplier, day(2, 9), contract)
    during = use.receipt(trading.supplier, day(2, 10), contract)
    use.receipt(trading.supplier, day(2, 20), contract)
    hits = detect(RULE)
    assert found(hits) == [("trading.contract", str(contract.pk), "not_admitted")]
    assert [(item["number"], item["status"]) for item in hits[0].figures["uses"]] == [
        (during.number, AdmissionStatus.SUSPENDED)
    ]


def test_never_admitted_suppliers_without_a_contract(org, use):
    pending = make_partner(company=org.group, admission_status=AdmissionStatus.PENDING)
    blacklisted = make_partner(company=org.group, admission_status=AdmissionStatus.BLACKLISTED)
    payment = use.payment(pending, day(2, 1))
    receipt = use.receipt(blacklisted, day(2, 2))
    use.payment(pending, day(2, 3), status="draft")  # not booked
    hits = detect(RULE)
    assert found(hits) == sorted(
        [
            ("trading.payment", str(payment.pk), "not_admitted"),
            ("trading.stock_document", str(receipt.pk), "not_admitted"),
        ]
    )
    assert {hit.company_id for hit in hits} == {org.company_a.pk}


def test_expired_qualifications_on_the_day(org, trading, use):
    Qualification.objects.create(
        partner=trading.supplier,
        kind=QualificationKind.BUSINESS_LICENCE,
        name="营业执照",
        issued_on=day(1, 1) - datetime.timedelta(days=365),
        expires_on=day(1, 31),
    )
    Qualification.objects.create(  # not a required kind
        partner=trading.supplier, kind=QualificationKind.OTHER, name="其他", expires_on=day(1, 1)
    )
    contract = use.contract(trading.supplier, day(1, 1))
    use.receipt(trading.supplier, day(1, 31), contract)  # valid through its expiry date
    assert detect(RULE) == []
    lapsed = use.receipt(trading.supplier, day(2, 1), contract)
    hits = detect(RULE)
    assert found(hits) == [("trading.contract", str(contract.pk), "qualification_expired")]
    assert hits[0].severity == Severity.MEDIUM
    assert hits[0].figures["uses"] == [
        {
            "what": "receipt",
            "number": lapsed.number,
            "on": day(2, 1),
            "expired": [{"kind": "business_licence", "name": "营业执照", "expired_on": day(1, 31)}],
        }
    ]
    Qualification.objects.create(  # renewed as a new certificate from 5 February
        partner=trading.supplier,
        kind=QualificationKind.BUSINESS_LICENCE,
        name="营业执照（换发）",
        issued_on=day(2, 5),
        expires_on=day(12, 31),
    )
    use.receipt(trading.supplier, day(2, 6), contract)
    assert len(detect(RULE)[0].figures["uses"]) == 1
    assert detect(RULE, check_qualifications=False) == []


def test_reversals_and_old_uses_are_left_out(org, use):
    partner = make_partner(company=org.group, admission_status=AdmissionStatus.NOT_ADMITTED)
    original = use.receipt(partner, day(2, 1), status="reversed")
    reversal = use.receipt(partner, day(2, 2), reverses=original)
    use.payment(partner, datetime.date(2024, 1, 1))
    assert found(detect(RULE)) == [("trading.stock_document", str(original.pk), "not_admitted")]
    assert reversal.pk
    assert len(detect(RULE, lookback_days=1000)) == 2


def test_a_rerun_finds_the_same_finding(org, use):
    partner = make_partner(company=org.group, admission_status=AdmissionStatus.NOT_ADMITTED)
    contract = use.contract(partner, day(2, 1))
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    use.receipt(partner, day(2, 2), contract)
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    finding = Finding.objects.get(rule_code=RULE)
    assert finding.seen_count == 2
    assert len(finding.evidence["figures"]["uses"]) == 2
    rule = registry.rule_get(RULE)
    assert "2" in rule.summarize(finding.evidence["figures"])


def test_the_history_and_the_qualifications_are_pure():
    partner = facts.PartnerFact(
        1, 1, "P", "甲", "", "supplier", "", "", "", AdmissionStatus.ADMITTED, None, True
    )
    moved = [
        facts.AdmissionChangeFact(
            1,
            timezone.make_aware(datetime.datetime(2026, 2, 1, 23, 30)),
            AdmissionStatus.ADMITTED,
            AdmissionStatus.BLACKLISTED,
        )
    ]
    history = AdmissionHistory({1: partner}, moved)
    assert history.status_on(1, day(1, 31)) == AdmissionStatus.ADMITTED
    assert history.status_on(1, day(2, 1)) == AdmissionStatus.BLACKLISTED
    assert history.status_on(2, day(2, 1)) == AdmissionStatus.NOT_ADMITTED
    licence = facts.QualificationFact(1, 1, "business_licence", "执照", "", None, day(1, 31))
    assert expired_kinds([licence], day(1, 31)) == []
    assert expired_kinds([licence], day(2, 1)) == [("business_licence", "执照", day(1, 31))]


def test_queries_do_not_grow_with_the_documents(org, use, django_assert_max_num_queries):
    for _number in range(20):
        partner = make_partner(company=org.group, admission_status=AdmissionStatus.SUSPENDED)
        contract = use.contract(partner, day(2, 1))
        use.receipt(partner, day(2, 2), contract)
        use.payment(partner, day(2, 3), contract)
        use.payment(partner, day(2, 4))
    with django_assert_max_num_queries(12):
        hits = detect(RULE)
    assert len(hits) == 40  # per partner: its contract, and its payment without a contract


# ---------------------------------------------------------------- imported status history

BATCH = "legacy-2026-01"


def imported_history(partner, *changes):
    """A partner's status history as the legacy intake loads it: (status, valid from)."""
    PartnerStatusChange.objects.bulk_create(
        PartnerStatusChange(
            partner=partner,
            status=status,
            valid_from=valid_from,
            reason="历史导入",
            source_id=f"{partner.code}@{valid_from.isoformat()}",
            import_batch=BATCH,
        )
        for status, valid_from in changes
    )


def test_a_suspension_in_the_imported_history(org, use):
    """The partner's status as at the export (suspended) says nothing about when: the history
    does. Uses before the suspension day are fine; from that day on they are not."""
    partner = make_partner(
        company=org.group, admitted_on=day(1, 5), admission_status=AdmissionStatus.SUSPENDED
    )
    imported_history(
        partner,
        (AdmissionStatus.PENDING, day(1, 1)),
        (AdmissionStatus.ADMITTED, day(1, 5)),
        (AdmissionStatus.SUSPENDED, day(2, 10)),
    )
    contract = use.contract(partner, day(1, 12))
    use.receipt(partner, day(2, 9), contract)  # the day before: still admitted
    during = use.receipt(partner, day(2, 10), contract)
    paid = use.payment(partner, day(2, 20), contract)
    hits = detect(RULE)
    assert found(hits) == [("trading.contract", str(contract.pk), "not_admitted")]
    assert [(item["number"], item["status"]) for item in hits[0].figures["uses"]] == [
        (during.number, AdmissionStatus.SUSPENDED),
        (paid.number, AdmissionStatus.SUSPENDED),
    ]
    assert hits[0].severity == Severity.HIGH


def test_before_its_first_imported_status_a_supplier_was_pending(org, use):
    partner = make_partner(company=org.group, admitted_on=day(2, 1))
    imported_history(partner, (AdmissionStatus.ADMITTED, day(2, 1)))
    early = use.contract(partner, day(1, 31))
    on_time = use.contract(partner, day(2, 1))
    hits = detect(RULE)
    assert found(hits) == [("trading.contract", str(early.pk), "not_admitted")]
    assert hits[0].figures["uses"][0]["status"] == AdmissionStatus.PENDING
    assert on_time.pk not in {int(hit.subject_id) for hit in hits}


def test_a_reinstated_supplier_in_the_imported_history_is_clean_again(org, use):
    partner = make_partner(company=org.group, admitted_on=datetime.date(2020, 1, 1))
    imported_history(
        partner,
        (AdmissionStatus.ADMITTED, datetime.date(2020, 1, 1)),
        (AdmissionStatus.SUSPENDED, datetime.date(2024, 3, 1)),
        (AdmissionStatus.ADMITTED, datetime.date(2024, 6, 1)),  # before the look-back
    )
    contract = use.contract(partner, day(1, 10))
    use.receipt(partner, day(2, 1), contract)
    use.payment(partner, day(2, 2), contract)
    assert detect(RULE) == []


def test_moves_recorded_here_follow_the_imported_history(org, trading, use, frozen):
    imported_history(trading.supplier, (AdmissionStatus.ADMITTED, datetime.date(2020, 1, 1)))
    contract = use.contract(trading.supplier, day(1, 1))
    frozen.set(timezone.make_aware(datetime.datetime(2026, 2, 10, 9)))
    master_services.partner_suspend(
        actor=trading.manager_a, partner_id=trading.supplier.pk, reason="质量问题"
    )
    frozen.set(NOW)
    use.receipt(trading.supplier, day(2, 9), contract)
    after = use.receipt(trading.supplier, day(2, 10), contract)
    hits = detect(RULE)
    assert [(item["number"], item["status"]) for item in hits[0].figures["uses"]] == [
        (after.number, AdmissionStatus.SUSPENDED)
    ]


def test_the_imported_history_is_pure_and_starts_pending():
    partner = facts.PartnerFact(
        1, 1, "P", "甲", "", "supplier", "", "", "", AdmissionStatus.ADMITTED, day(1, 10), True
    )
    statuses = [
        facts.PartnerStatusFact(1, day(1, 10), AdmissionStatus.ADMITTED),
        facts.PartnerStatusFact(1, day(3, 1), AdmissionStatus.BLACKLISTED),
    ]
    history = AdmissionHistory({1: partner}, [], statuses)
    assert history.status_on(1, day(1, 9)) == AdmissionStatus.PENDING
    assert history.status_on(1, day(1, 10)) == AdmissionStatus.ADMITTED
    assert history.status_on(1, day(2, 28)) == AdmissionStatus.ADMITTED
    assert history.status_on(1, day(3, 1)) == AdmissionStatus.BLACKLISTED
    assert history.admitted_throughout(1, day(1, 10), day(2, 28))
    assert not history.admitted_throughout(1, day(1, 10), day(3, 1))
    assert not history.admitted_throughout(1, day(1, 9), day(2, 28))

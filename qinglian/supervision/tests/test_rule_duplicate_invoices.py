"""Rule 5: duplicate invoices — exact, the same number written differently, and the same
partner, amount and date under another number."""

import datetime

import pytest

from qinglian.supervision import services
from qinglian.supervision.enums import Severity
from qinglian.supervision.models import Finding
from qinglian.supervision.tests.conftest import trading_invoice
from qinglian.supervision.tests.helpers import detect
from qinglian.trading import facts
from qinglian.trading.enums import PartnerKind
from qinglian.trading.factories import make_partner

RULE = "duplicate_invoices"
DAY = datetime.date(2026, 2, 1)


@pytest.fixture
def book(org, trading, frozen):
    def book(number, amount="11300.00", *, code="", partner=None, day=0, **extra):
        return trading_invoice(
            company=extra.pop("company", org.company_a),
            partner=partner or trading.supplier,
            number=number,
            code=code,
            amount=amount,
            invoice_date=DAY + datetime.timedelta(days=day),
            created_by=trading.finance_a,
            **extra,
        )

    return book


def kinds(hits):
    return [(hit.subject_id, hit.key) for hit in hits]


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("00012345", "12345"),
        ("No 0012-345", "NO0012345"),
        ("0012 345", "12345"),
        ("００１２３４５", "12345"),
        ("ab/12_3", "AB123"),
        ("0000", "0"),
        ("", ""),
    ],
)
def test_invoice_numbers_are_normalised(raw, normalised):
    assert facts.normalise_invoice_number(raw) == normalised


def test_the_same_number_booked_twice(book):
    first = book("12345678", code="3100221130")
    second = book("12345678", code="3100221130", day=3, amount="22600.00")
    hits = detect(RULE)
    assert kinds(hits) == [(str(second.pk), "exact")]
    assert hits[0].severity == Severity.HIGH
    assert [row["id"] for row in hits[0].figures["invoices"]] == [first.pk, second.pk]
    assert [(link.type, link.id) for link in hits[0].documents][:2] == [
        ("trading.invoice", str(second.pk)),
        ("trading.invoice", str(first.pk)),
    ]


def test_the_same_number_written_differently(book, trading, org):
    book("00012345", code="3100221130")
    second = book("12-345 ", code="3100 2211 30", day=1)
    other_code = book("12345", code="4400221130", day=2)  # another code: another invoice
    assert kinds(detect(RULE)) == [(str(second.pk), "same_number")]
    assert other_code.pk not in [int(hit.subject_id) for hit in detect(RULE)]


def test_without_a_code_only_the_same_partner_counts(book, org):
    other = make_partner(company=org.group, kind=PartnerKind.SUPPLIER)
    book("12345")
    book("012345", partner=other, day=1)
    assert detect(RULE) == []
    same = book("0012345", day=2, amount="1.00")
    assert kinds(detect(RULE)) == [(str(same.pk), "same_number")]


def test_issued_and_received_invoices_are_apart(book):
    book("12345678")
    book("12345678", direction="issued")
    assert detect(RULE) == []


def test_reversed_and_cancelled_invoices_are_left_out(book):
    original = book("12345678", status="reversed")
    book("87654321", amount="-11300.00", reverses=original, day=1)
    book("12345678", day=2, status="cancelled")
    book("12345678", day=3, status="draft")
    assert detect(RULE) == []
    again = book("12345678", day=4)
    assert detect(RULE) == []  # the first was reversed: booked once
    book("12345678", day=5)
    assert [hit.key for hit in detect(RULE)] == ["exact"]
    assert again.pk


def test_same_amount_and_date_under_another_number(book, org):
    book("10000001", amount="113000.00")
    second = book("20000001", amount="113000.00")
    book("30000001", amount="113000.01")  # another amount
    book("40000001", amount="113000.00", day=1)  # another day
    other = make_partner(company=org.group, kind=PartnerKind.SUPPLIER)
    book("50000001", amount="113000.00", partner=other)  # another partner
    hits = detect(RULE)
    assert kinds(hits) == [(str(second.pk), "amount_and_date")]
    assert hits[0].severity == Severity.MEDIUM
    assert detect(RULE, check_amount_and_date=False) == []


def test_consecutive_numbers_of_one_delivery_are_excused(book):
    book("10000001", amount="113000.00")
    book("10000021", amount="113000.00")  # within 20 of the first
    assert detect(RULE) == []
    far = book("10000022", amount="113000.00")  # 21 from the first, 1 from the second
    assert detect(RULE) == []
    assert kinds(detect(RULE, sequence_gap=0)) == [
        (str(far.pk - 1), "amount_and_date"),
        (str(far.pk), "amount_and_date"),
    ]
    beyond = book("10000050", amount="113000.00")
    assert kinds(detect(RULE)) == [(str(beyond.pk), "amount_and_date")]


def test_old_duplicates_are_left_out_but_an_old_original_counts(book):
    book("12345678", day=-400)
    assert detect(RULE) == []
    again = book("12345678", day=1)
    assert kinds(detect(RULE)) == [(str(again.pk), "exact")]


def test_a_rerun_finds_the_same_finding(book, org):
    book("12345678")
    book("12345678", day=1)
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    finding = Finding.objects.get(rule_code=RULE)
    assert finding.seen_count == 2
    assert finding.subject_type == "trading.invoice"


def test_query_count_does_not_grow_with_the_invoices(book, django_assert_max_num_queries):
    for serial in range(60):
        book(f"{serial:08d}", amount=f"{1000 + serial}.00")
        book(f"{serial:08d}-", amount=f"{1000 + serial}.00", day=1)
    with django_assert_max_num_queries(6):
        hits = detect(RULE)
    assert len(hits) == 60

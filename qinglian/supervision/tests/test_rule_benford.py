"""Rule 14: first-digit (Benford) deviation per company and year."""

import math
from decimal import Decimal

from qinglian.approvals.enums import RequestStatus
from qinglian.supervision import statistics
from qinglian.supervision.tests.conftest import days_ago, history_request
from qinglian.supervision.tests.helpers import detect

RULE = "benford_first_digit"


def benford_amounts(count):
    """Amounts spread evenly on a log scale over three decades: they follow Benford's law."""
    return [
        Decimal(str(round(100 * 10 ** (3 * (index + 0.5) / count), 2))) for index in range(count)
    ]


def load(requester, amounts, *, template="payment", status=RequestStatus.APPROVED):
    for index, amount in enumerate(amounts):
        history_request(
            requester=requester,
            amount=amount,
            submitted_at=days_ago(1 + index % 60),
            template_code=template,
            status=status,
        )


def test_statistics():
    assert statistics.first_digit(Decimal("0.052")) == 5
    assert statistics.first_digit(Decimal("123.45")) == 1
    assert statistics.first_digit(Decimal("0")) is None
    assert statistics.first_digit(Decimal("-5")) is None
    counts = {d: round(1000 * statistics.BENFORD[d]) for d in statistics.DIGITS}
    assert statistics.mean_absolute_deviation(counts) < 0.001
    assert statistics.conformity(0.005) == "close"
    assert statistics.conformity(0.016) == "nonconformity"
    shaped = {4: 500, 9: 500}
    assert statistics.excess_digits(shaped)[0][0] == 9
    assert math.isclose(sum(statistics.BENFORD.values()), 1.0)


def test_shaped_amounts_deviate_and_natural_ones_do_not(org, flows):
    load(org.handler_a, benford_amounts(300))
    # Company B's expenses keep starting with 4: shaped to stay under 5,000.
    shaped = [Decimal("4000.00") + index for index in range(200)] + benford_amounts(100)
    load(org.handler_b, shaped, template="expense")
    hits = detect(RULE, template_codes="payment,expense", min_count=100)
    assert [(hit.subject_type, hit.subject_id) for hit in hits] == [
        ("org.company", str(org.company_b.pk))
    ]
    hit = hits[0]
    assert hit.key == "2026"
    assert hit.figures["count"] == 300
    assert hit.figures["top_digit"] == 4
    assert hit.figures["conformity"] == "nonconformity"
    assert len(hit.documents) == 20  # a sample of the over-represented digit's requests
    assert [row["digit"] for row in hit.figures["digits"]] == list(range(1, 10))


def test_thresholds_on_size_cut_off_status_and_flows(org, flows):
    shaped = [Decimal("4000.00") + index for index in range(120)]
    load(org.handler_b, shaped, template="expense")
    assert detect(RULE, template_codes="expense", min_count=121) == []  # too few amounts
    assert len(detect(RULE, template_codes="expense", min_count=120)) == 1
    assert detect(RULE, template_codes="payment", min_count=30) == []  # another flow
    mad = detect(RULE, template_codes="expense", min_count=30)[0].figures["mad"]
    assert detect(RULE, template_codes="expense", min_count=30, mad_threshold=str(mad)) == []
    assert len(detect(RULE, template_codes="expense", min_count=30, mad_threshold="0.015")) == 1


def test_only_approved_amounts_count(org, flows):
    load(org.handler_b, [Decimal("4100.00")] * 60, template="expense", status="rejected")
    assert detect(RULE, template_codes="expense", min_count=30) == []

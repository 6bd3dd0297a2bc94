"""Rule 14 — first-digit (Benford) deviation of a company's payments and expenses.

Amounts that arise naturally (payments, expense claims) follow Benford's law: about 30 % start
with a 1, under 5 % with a 9. Invented or shaped amounts do not. Per company and calendar year,
the approved amounts of the payment and expense flows are compared with Benford's proportions
by Nigrini's mean absolute deviation (MAD); above the cut-off the company-year is a finding,
with the distribution and the requests behind the most over-represented digit.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.approvals import facts
from qinglian.approvals.enums import RequestStatus

from ..enums import Area, ParameterKind, Severity
from ..registry import Hit, Parameter, Rule, RuleContext, register
from ..selectors import company_labels
from ..statistics import (
    BENFORD,
    DIGITS,
    chi_square,
    conformity,
    excess_digits,
    first_digit,
    mean_absolute_deviation,
    proportions,
)
from ._approvals import request_link

SAMPLES_PER_DIGIT = 20


def detect(context: RuleContext) -> Iterable[Hit]:
    parameters = context.parameters
    local_now = timezone.localtime(context.now)
    first_year = local_now.year - parameters["years"] + 1
    start = datetime.datetime(first_year, 1, 1, tzinfo=timezone.get_current_timezone())
    minimum = parameters["min_amount"]
    counts: dict[tuple[int, int], Counter[int]] = defaultdict(Counter)
    samples: dict[tuple[int, int], dict[int, list[facts.RequestFact]]] = defaultdict(
        lambda: defaultdict(list)
    )
    zone = timezone.get_current_timezone()
    for request in facts.request_facts(
        since=start,
        template_codes=parameters["template_codes"] or None,
        statuses=[RequestStatus.APPROVED],
        with_amount=True,
    ):
        assert request.amount is not None
        if request.amount < minimum:
            continue
        digit = first_digit(request.amount)
        if digit is None:
            continue
        key = (request.company_id, request.submitted_at.astimezone(zone).year)
        counts[key][digit] += 1
        bucket = samples[key][digit]
        if len(bucket) < SAMPLES_PER_DIGIT:
            bucket.append(request)
    cut_off = float(parameters["mad_threshold"])
    labels = company_labels({company_id for company_id, _year in counts})
    for (company_id, year), digits in sorted(counts.items()):
        total = sum(digits.values())
        if total < parameters["min_count"]:
            continue
        mad = mean_absolute_deviation(digits)
        if mad <= cut_off:
            continue
        excess = excess_digits(digits)
        top_digit = excess[0][0] if excess else 1
        observed = proportions(digits)
        documents = [request_link(request) for request in samples[(company_id, year)][top_digit]]
        yield Hit(
            subject_type="org.company",
            subject_id=str(company_id),
            subject_label=_("%(company)s · %(year)s")
            % {
                "company": labels.get(company_id, str(company_id)),
                "year": year,
            },
            key=str(year),
            company_id=company_id,
            figures={
                "company": labels.get(company_id, ""),
                "year": year,
                "count": total,
                "mad": round(mad, 5),
                "chi_square": round(chi_square(digits), 2),
                "conformity": conformity(mad),
                "digits": [
                    {
                        "digit": digit,
                        "count": digits.get(digit, 0),
                        "observed": round(observed[digit], 4),
                        "expected": round(BENFORD[digit], 4),
                    }
                    for digit in DIGITS
                ],
                "top_digit": top_digit,
                "top_excess": round(excess[0][1], 4) if excess else 0,
            },
            documents=documents,
            occurred_at=max(
                request.submitted_at
                for bucket in samples[(company_id, year)].values()
                for request in bucket
            ),
        )


def summarize(figures: Mapping[str, Any]) -> str:
    return _(
        "%(company)s, %(year)s: the first digits of %(count)s approved amounts deviate from "
        "Benford's law (MAD %(mad)s); amounts starting with %(digit)s are over-represented by "
        "%(excess)s percentage points"
    ) % {
        "company": figures.get("company", ""),
        "year": figures.get("year", ""),
        "count": figures.get("count", 0),
        "mad": figures.get("mad", ""),
        "digit": figures.get("top_digit", ""),
        "excess": round(float(figures.get("top_excess", 0)) * 100, 1),
    }


RULE = register(
    Rule(
        code="benford_first_digit",
        number=14,
        title=gettext_lazy("First-digit (Benford) deviation of payments and expenses"),
        explanation=gettext_lazy(
            "Per company and calendar year, over the last %(years)s calendar years (this one "
            "included), takes "
            "the approved amounts of at least %(min_amount)s yuan of the flows %(template_codes)s "
            "and compares their first digits with Benford's law. A company-year with at least "
            "%(min_count)s amounts whose mean absolute deviation (MAD) exceeds %(mad_threshold)s "
            "(Nigrini's cut-off for nonconformity: 0.015) is a finding."
        ),
        area=Area.MONEY,
        severity=Severity.MEDIUM,
        parameters=(
            Parameter(
                "template_codes",
                gettext_lazy("Flows (codes, empty: every flow with an amount)"),
                ParameterKind.CODES,
                ["engineering_payment", "expense_claim"],
            ),
            Parameter(
                "years",
                gettext_lazy("Calendar years"),
                ParameterKind.INTEGER,
                2,
                minimum=1,
                maximum=10,
            ),
            Parameter(
                "min_count",
                gettext_lazy("Amounts a company-year needs (at least)"),
                ParameterKind.INTEGER,
                300,
                minimum=30,
                maximum=1_000_000,
            ),
            Parameter(
                "mad_threshold",
                gettext_lazy("MAD cut-off"),
                ParameterKind.DECIMAL,
                Decimal("0.015"),
                minimum=Decimal("0.001"),
                maximum=Decimal("0.25"),
            ),
            Parameter(
                "min_amount",
                gettext_lazy("Smallest amount (yuan)"),
                ParameterKind.DECIMAL,
                10,
                minimum=0,
                maximum=10**9,
            ),
        ),
        detect=detect,
        summarize=summarize,
        reads=(
            "approvals.approvalrequest",
            "approvals.approvaltemplate",
            "org.company",
        ),
        as_of="day",
    )
)

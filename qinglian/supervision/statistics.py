"""Pure statistics for the rules: Benford's first-digit law. No ORM."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal

DIGITS = range(1, 10)
# Benford: P(d) = log10(1 + 1/d)
BENFORD = {digit: math.log10(1 + 1 / digit) for digit in DIGITS}
# Nigrini's first-digit mean absolute deviation bands (Digital Analysis Using Benford's Law).
MAD_CLOSE, MAD_ACCEPTABLE, MAD_MARGINAL = 0.006, 0.012, 0.015


def first_digit(amount: Decimal | int | float) -> int | None:
    """The leading significant digit (1–9); None for zero, negatives and non-finite values."""
    number = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    if not number.is_finite() or number <= 0:
        return None
    for digit in number.as_tuple().digits:
        if digit:
            return int(digit)
    return None


def proportions(counts: Mapping[int, int]) -> dict[int, float]:
    total = sum(counts.get(digit, 0) for digit in DIGITS)
    if not total:
        return {digit: 0.0 for digit in DIGITS}
    return {digit: counts.get(digit, 0) / total for digit in DIGITS}


def mean_absolute_deviation(counts: Mapping[int, int]) -> float:
    """Nigrini's MAD of the observed first-digit proportions from Benford's."""
    observed = proportions(counts)
    return sum(abs(observed[digit] - BENFORD[digit]) for digit in DIGITS) / len(DIGITS)


def chi_square(counts: Mapping[int, int]) -> float:
    total = sum(counts.get(digit, 0) for digit in DIGITS)
    if not total:
        return 0.0
    return sum(
        (counts.get(digit, 0) - total * BENFORD[digit]) ** 2 / (total * BENFORD[digit])
        for digit in DIGITS
    )


def conformity(mad: float) -> str:
    """Nigrini's verdict for a first-digit MAD."""
    if mad <= MAD_CLOSE:
        return "close"
    if mad <= MAD_ACCEPTABLE:
        return "acceptable"
    if mad <= MAD_MARGINAL:
        return "marginal"
    return "nonconformity"


def excess_digits(counts: Mapping[int, int]) -> list[tuple[int, float]]:
    """Digits seen more often than Benford expects, largest excess first: (digit, excess)."""
    observed = proportions(counts)
    excess = [(digit, observed[digit] - BENFORD[digit]) for digit in DIGITS]
    return sorted(
        [(digit, value) for digit, value in excess if value > 0], key=lambda item: -item[1]
    )

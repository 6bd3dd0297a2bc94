"""Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, last is a check."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# The code's alphabet: digits and capitals without I, O, Z, S, V.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
REGISTRATION_AUTHORITIES = set("123456789ABCDEFGNY")


def check_character(first17: str) -> str:
    total = sum(
        ALPHABET.index(char) * weight for char, weight in zip(first17, WEIGHTS, strict=True)
    )
    return ALPHABET[(31 - total % 31) % 31]


def uscc_problem(value: str) -> str | None:
    """Why `value` is not a valid code, or None when it is."""
    if len(value) != 18:
        return _("A unified social credit code has 18 characters; this one has %(count)d.") % {
            "count": len(value)
        }
    bad = [char for char in value if char not in ALPHABET]
    if bad:
        return _("Character “%(char)s” cannot appear in a unified social credit code.") % {
            "char": bad[0]
        }
    if value[0] not in REGISTRATION_AUTHORITIES:
        return _("The first character (registration authority) is not valid.")
    if not value[2:8].isdigit():
        return _("Characters 3 to 8 must be the administrative region code (digits).")
    expected = check_character(value[:17])
    if value[17] != expected:
        return _("The check character is wrong: expected %(expected)s, got %(actual)s.") % {
            "expected": expected,
            "actual": value[17],
        }
    return None


def validate_uscc(value: str) -> None:
    problem = uscc_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_uscc")


def normalize_uscc(value: str) -> str:
    return value.strip().upper()

"""Rule 5 — duplicate invoices, exact and near.

The tax authority numbers invoices once, so an invoice booked twice is either an error or a
way to be paid twice. Among the booked invoices (reversals, and invoices since reversed, left
out: the books no longer count them), per direction:

- exact: the same code and number, character for character;
- same number, other formatting: equal once spaces, dashes, slashes, full-width characters,
  case and leading zeros are set aside ("No. 0012-3456" and "123456");
  two invoices whose codes differ are different invoices; when either has no code, only an
  invoice of the same partner counts;
- same amount and date with another number, for the same partner — unless the two numbers are
  in one run of numbers each within a gap of the next (a supplier issuing several invoices of
  the maximum amount for one delivery numbers them in sequence).

Each later invoice is a finding of its own, with the earlier ones it repeats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.trading import facts
from qinglian.trading.enums import InvoiceDirection, PostingStatus

from ..enums import Area, ParameterKind, Severity
from ..registry import Hit, Parameter, Rule, RuleContext, register
from ._approvals import amount_text
from ._trading import INVOICE, days_before, invoice_link, partner_link, start_of_day

EXACT = "exact"
NEAR = "same_number"
AMOUNT_DATE = "amount_and_date"
LIVE = (PostingStatus.POSTED,)


def same_invoice(earlier: facts.InvoiceFact, later: facts.InvoiceFact) -> bool:
    """Do two invoices with the same normalised number name the same invoice? Pure."""
    codes = (
        facts.normalise_invoice_number(earlier.invoice_code),
        facts.normalise_invoice_number(later.invoice_code),
    )
    if codes[0] and codes[1]:
        return codes[0] == codes[1]
    return earlier.partner_id == later.partner_id


def is_exact(earlier: facts.InvoiceFact, later: facts.InvoiceFact) -> bool:
    return (earlier.invoice_number.strip(), earlier.invoice_code.strip()) == (
        later.invoice_number.strip(),
        later.invoice_code.strip(),
    )


def sequence_runs(invoices: list[facts.InvoiceFact], gap: int) -> dict[int, int]:
    """Invoice id → its run: invoices of one code whose numbers follow each other, each within
    `gap` of the next, share a run (a supplier numbering the invoices of one delivery in
    sequence); every other invoice is a run of its own. Pure."""
    runs = {invoice.id: invoice.id for invoice in invoices}
    if gap <= 0:
        return runs
    numbered = sorted(
        (facts.normalise_invoice_number(invoice.invoice_code), int(digits), invoice.id)
        for invoice in invoices
        if (digits := facts.normalise_invoice_number(invoice.invoice_number)).isdigit()
    )
    previous: tuple[str, int, int] | None = None
    for code, number, invoice_id in numbered:
        if previous is not None and previous[0] == code and number - previous[1] <= gap:
            runs[invoice_id] = runs[previous[2]]
        previous = (code, number, invoice_id)
    return runs


def _number_duplicates(
    parameters: Mapping[str, Any], start: Any
) -> dict[int, tuple[str, facts.InvoiceFact, list[facts.InvoiceFact]]]:
    """Later invoice id → (kind, the invoice, the earlier ones it repeats)."""
    seen: dict[tuple[str, str], list[facts.InvoiceFact]] = defaultdict(list)
    found: dict[int, tuple[str, facts.InvoiceFact, list[facts.InvoiceFact]]] = {}
    for invoice in facts.invoice_facts(
        directions=parameters["directions"] or None, statuses=LIVE, originals_only=True
    ):
        number = facts.normalise_invoice_number(invoice.invoice_number)
        if not number:
            continue
        earlier = seen[(invoice.direction, number)]
        matches = [item for item in earlier if same_invoice(item, invoice)]
        earlier.append(invoice)
        if not matches or invoice.invoice_date < start:
            continue
        kind = EXACT if any(is_exact(item, invoice) for item in matches) else NEAR
        found[invoice.id] = (kind, invoice, matches)
    return found


def _amount_and_date_duplicates(
    parameters: Mapping[str, Any], start: Any, known: Mapping[int, Any]
) -> dict[int, tuple[str, facts.InvoiceFact, list[facts.InvoiceFact]]]:
    candidates = facts.same_amount_and_date_invoice_ids(directions=parameters["directions"] or None)
    groups: dict[tuple[str, int, Decimal, Any], list[facts.InvoiceFact]] = defaultdict(list)
    for invoice in facts.invoice_facts(invoice_ids=candidates, statuses=LIVE, originals_only=True):
        groups[
            (invoice.direction, invoice.partner_id, invoice.amount, invoice.invoice_date)
        ].append(invoice)
    found: dict[int, tuple[str, facts.InvoiceFact, list[facts.InvoiceFact]]] = {}
    for members in groups.values():
        members.sort(key=lambda item: item.id)
        runs = sequence_runs(members, parameters["sequence_gap"])
        for index, invoice in enumerate(members):
            if invoice.id in known or invoice.invoice_date < start:
                continue
            number = facts.normalise_invoice_number(invoice.invoice_number)
            matches = [
                item
                for item in members[:index]
                if facts.normalise_invoice_number(item.invoice_number) != number
                and runs[item.id] != runs[invoice.id]
            ]
            if matches:
                found[invoice.id] = (AMOUNT_DATE, invoice, matches)
    return found


def _hit(
    kind: str,
    invoice: facts.InvoiceFact,
    matches: list[facts.InvoiceFact],
    names: Mapping[int, str],
) -> Hit:
    rows = [
        {
            "id": item.id,
            "code": item.invoice_code,
            "number": item.invoice_number,
            "partner": names.get(item.partner_id, ""),
            "amount": item.amount,
            "invoice_date": item.invoice_date,
            "company_id": item.company_id,
        }
        for item in [*matches, invoice]
    ]
    return Hit(
        subject_type=INVOICE,
        subject_id=str(invoice.id),
        subject_label=f"{invoice.label} {names.get(invoice.partner_id, '')}".strip(),
        key=kind,
        company_id=invoice.company_id,
        figures={
            "kind": kind,
            "direction": invoice.direction,
            "number": invoice.invoice_number,
            "code": invoice.invoice_code,
            "normalised_number": facts.normalise_invoice_number(invoice.invoice_number),
            "partner": names.get(invoice.partner_id, ""),
            "amount": invoice.amount,
            "invoice_date": invoice.invoice_date,
            "invoices": rows,
        },
        documents=[
            invoice_link(invoice),
            *(invoice_link(item) for item in matches),
            partner_link(invoice.partner_id, names.get(invoice.partner_id, "")),
        ],
        people=list(dict.fromkeys(item.created_by_id for item in [invoice, *matches])),
        occurred_at=start_of_day(invoice.invoice_date),
        severity=Severity.MEDIUM if kind == AMOUNT_DATE else Severity.HIGH,
    )


def detect(context: RuleContext) -> Iterable[Hit]:
    parameters = context.parameters
    start = days_before(context.now, parameters["lookback_days"])
    found = _number_duplicates(parameters, start)
    if parameters["check_amount_and_date"]:
        found.update(_amount_and_date_duplicates(parameters, start, found))
    names = facts.partner_names(
        partner_id
        for _kind, invoice, matches in found.values()
        for partner_id in (invoice.partner_id, *(item.partner_id for item in matches))
    )
    for invoice_id in sorted(found):
        kind, invoice, matches = found[invoice_id]
        yield _hit(kind, invoice, matches, names)


def summarize(figures: Mapping[str, Any]) -> str:
    earlier = [row for row in figures.get("invoices", [])][:-1]
    values = {
        "number": figures.get("number", ""),
        "partner": figures.get("partner", ""),
        "amount": amount_text(Decimal(str(figures.get("amount") or 0))),
        "date": figures.get("invoice_date", ""),
        "others": "、".join(str(row.get("number", "")) for row in earlier),
    }
    kind = figures.get("kind")
    if kind == EXACT:
        return _("Invoice %(number)s of %(partner)s is booked again (%(amount)s yuan)") % values
    if kind == NEAR:
        return (
            _(
                "Invoice %(number)s of %(partner)s repeats %(others)s, written differently "
                "(%(amount)s yuan)"
            )
            % values
        )
    return (
        _(
            "Invoice %(number)s of %(partner)s has the amount (%(amount)s yuan) and date "
            "(%(date)s) of %(others)s"
        )
        % values
    )


RULE = register(
    Rule(
        code="duplicate_invoices",
        number=5,
        title=gettext_lazy("Duplicate invoices"),
        explanation=gettext_lazy(
            "Among the booked invoices of the directions %(directions)s (reversed ones left "
            "out), reports each invoice dated in the last %(lookback_days)s days that repeats "
            "an earlier one: the same code and number; the same number once spaces, dashes, "
            "slashes, full-width characters, case and leading zeros are set aside (with the "
            "same code, or for the same partner when a code is missing); and the same partner, "
            "amount and date under another number, unless both lie in one run of numbers each "
            "within %(sequence_gap)s of the next (checked: %(check_amount_and_date)s)."
        ),
        area=Area.MONEY,
        severity=Severity.HIGH,
        parameters=(
            Parameter(
                "directions",
                gettext_lazy("Invoices (received, issued)"),
                ParameterKind.CODES,
                [InvoiceDirection.RECEIVED.value, InvoiceDirection.ISSUED.value],
            ),
            Parameter(
                "check_amount_and_date",
                gettext_lazy("Same partner, amount and date under another number"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "sequence_gap",
                gettext_lazy("Consecutive numbers within (0: none excused)"),
                ParameterKind.INTEGER,
                20,
                minimum=0,
                maximum=10_000,
            ),
            Parameter(
                "lookback_days",
                gettext_lazy("Look back (days)"),
                ParameterKind.INTEGER,
                365,
                minimum=1,
                maximum=3650,
            ),
        ),
        detect=detect,
        summarize=summarize,
        reads=(
            "trading.contract",
            "trading.invoice",
            "trading.partner",
        ),
        as_of="day",
    )
)

"""Rule 12 — goods issued while the customer's receivables are overdue (逾期仍发货).

A customer who does not pay what fell due should get no more goods on credit: the overdue block
stops new goods issues unless a credit exception lets one through. History imported from
before credit control, a block switched off in the policy, or exceptions granted freely all
show the same way — goods keep leaving the warehouse while the debt grows.

Each goods issue posted in the look-back period (reversals and reversed issues left out) is
judged as of its own posting date: what the customer then owed the same company more than the
grace days past due (the credit selectors' definition as of that day — receipts settle the
charges that fell due first, per contract; `facts.receivables_overdue_on`). An issue with more
than the minimum overdue is flagged. Per company and customer, the flagged issues in a row
(no unflagged issue between them) are one finding, anchored on the first, so a re-run — or a
later issue joining the run — finds the same finding again. The evidence lists the issues, the
overdue charges open at the latest of them and the credit exceptions the issues used.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.trading import facts
from qinglian.trading.enums import PostingStatus, StockDocumentKind

from ..enums import Area, ParameterKind, Severity
from ..registry import DocumentLink, Hit, Parameter, Rule, RuleContext, register
from ..selectors import company_labels
from ._approvals import amount_text
from ._trading import (
    INVOICE,
    PARTNER,
    contract_link,
    credit_exception_link,
    credit_standing_link,
    days_before,
    partner_link,
    start_of_day,
    stock_document_link,
)

MAX_LISTED = 200

Flagged = tuple[facts.StockDocumentFact, facts.OverdueOnDateFact]


def runs(
    issues: Iterable[facts.StockDocumentFact],
    overdue: Mapping[tuple[int, int, Any], facts.OverdueOnDateFact],
    *,
    min_amount: Decimal,
) -> list[list[Flagged]]:
    """Per company and customer, the issues (in posting order) made while more than
    `min_amount` was overdue, in runs not broken by an issue made while it was not. Pure."""
    by_customer: dict[tuple[int, int], list[facts.StockDocumentFact]] = defaultdict(list)
    for issue in issues:
        by_customer[(issue.company_id, issue.partner_id)].append(issue)
    found: list[list[Flagged]] = []
    for (company_id, partner_id), listed in sorted(by_customer.items()):
        listed.sort(key=lambda issue: (issue.posting_date, issue.id))
        current: list[Flagged] = []
        for issue in listed:
            owed = overdue.get((company_id, partner_id, issue.posting_date))
            if owed is not None and owed.amount > min_amount:
                current.append((issue, owed))
            elif current:
                found.append(current)
                current = []
        if current:
            found.append(current)
    return found


def detect(context: RuleContext) -> Iterable[Hit]:
    parameters = context.parameters
    issues = list(
        facts.stock_document_facts(
            kinds=[StockDocumentKind.ISSUE],
            statuses=[PostingStatus.POSTED],
            originals_only=True,
            since=days_before(context.now, parameters["lookback_days"]),
        )
    )
    if not issues:
        return
    overdue = facts.receivables_overdue_on(
        {(issue.company_id, issue.partner_id, issue.posting_date) for issue in issues},
        more_than_days=parameters["grace_days"],
    )
    found = runs(issues, overdue, min_amount=parameters["min_overdue_amount"])
    if not found:
        return
    flagged = [issue for run in found for issue, _owed in run]
    names = facts.partner_names(issue.partner_id for issue in flagged)
    companies = company_labels({issue.company_id for issue in flagged})
    exceptions: dict[int, facts.CreditExceptionFact] = {
        exception.used_document_id: exception
        for exception in facts.credit_exception_facts(
            granted_only=False, used_by_goods_issue_ids=[issue.id for issue in flagged]
        )
        if exception.used_document_id is not None
    }
    contracts = {
        contract.id: contract
        for contract in facts.contract_facts(
            contract_ids={issue.contract_id for issue in flagged if issue.contract_id}
        )
    }
    invoice_ids = {
        item.voucher_id
        for run in found
        for item in run[-1][1].items
        if item.voucher_type == "invoice"
    }
    invoices = {invoice.id: invoice for invoice in facts.invoice_facts(invoice_ids=invoice_ids)}
    for run in found:
        yield _hit(run, names, companies, exceptions, contracts, invoices, parameters)


def _hit(
    run: list[Flagged],
    names: Mapping[int, str],
    companies: Mapping[int, str],
    exceptions: Mapping[int, facts.CreditExceptionFact],
    contracts: Mapping[int, facts.ContractFact],
    invoices: Mapping[int, facts.InvoiceFact],
    parameters: Mapping[str, Any],
) -> Hit:
    first, last = run[0][0], run[-1][0]
    latest = run[-1][1]
    customer = names.get(first.partner_id, "")
    company = companies.get(first.company_id, "")
    used = [exceptions[issue.id] for issue, _owed in run if issue.id in exceptions]
    linked_contracts = list(
        dict.fromkeys(issue.contract_id for issue, _owed in run if issue.contract_id in contracts)
    )
    documents: list[DocumentLink] = [
        stock_document_link(issue.id, issue.number) for issue, _owed in run[:MAX_LISTED]
    ]
    documents += [
        DocumentLink(
            INVOICE,
            str(item.voucher_id),
            invoices[item.voucher_id].label,
            number=invoices[item.voucher_id].invoice_number,
        )
        for item in latest.items[:MAX_LISTED]
        if item.voucher_type == "invoice" and item.voucher_id in invoices
    ]
    documents += [credit_exception_link(exception) for exception in used]
    documents += [contract_link(contracts[pk]) for pk in linked_contracts if pk is not None]
    documents += [
        partner_link(first.partner_id, customer),
        credit_standing_link(first.partner_id, customer),
    ]
    return Hit(
        subject_type=PARTNER,
        subject_id=str(first.partner_id),
        subject_label=_("%(customer)s · %(company)s: goods issued from %(first)s while overdue")
        % {"customer": customer, "company": company, "first": first.posting_date},
        key=f"{first.company_id}:{first.id}",
        company_id=first.company_id,
        figures={
            "customer": customer,
            "company": company,
            "grace_days": parameters["grace_days"],
            "min_overdue_amount": parameters["min_overdue_amount"],
            "count": len(run),
            "issued_amount": sum((issue.total_amount for issue, _owed in run), Decimal(0)),
            "first_issued_on": first.posting_date,
            "last_issued_on": last.posting_date,
            "largest_overdue": max(owed.amount for _issue, owed in run),
            "overdue_at_last": latest.amount,
            "oldest_due_date": latest.items[0].due_date if latest.items else None,
            "with_credit_exception": len(used),
            "issues": [
                {
                    "id": issue.id,
                    "number": issue.number,
                    "posting_date": issue.posting_date,
                    "amount": issue.total_amount,
                    "overdue": owed.amount,
                    "oldest_due_date": owed.items[0].due_date if owed.items else None,
                    "credit_exception": exceptions[issue.id].number
                    if issue.id in exceptions
                    else "",
                }
                for issue, owed in run[:MAX_LISTED]
            ],
            "overdue_items": [
                {
                    "voucher_type": item.voucher_type,
                    "voucher_id": item.voucher_id,
                    "number": invoices[item.voucher_id].label
                    if item.voucher_type == "invoice" and item.voucher_id in invoices
                    else "",
                    "due_date": item.due_date,
                    "outstanding": item.outstanding,
                    "days_overdue": item.days_overdue,
                }
                for item in latest.items[:MAX_LISTED]
            ],
        },
        documents=documents,
        people=list(dict.fromkeys(issue.created_by_id for issue, _owed in run)),
        occurred_at=start_of_day(last.posting_date),
    )


def summarize(figures: Mapping[str, Any]) -> str:
    return _(
        "%(count)s goods issues (%(issued)s yuan) to %(customer)s between %(first)s and "
        "%(last)s while it owed up to %(overdue)s yuan more than %(grace)s days past due"
    ) % {
        "count": figures.get("count", 0),
        "issued": amount_text(Decimal(str(figures.get("issued_amount") or 0))),
        "customer": figures.get("customer", ""),
        "first": figures.get("first_issued_on", ""),
        "last": figures.get("last_issued_on", ""),
        "overdue": amount_text(Decimal(str(figures.get("largest_overdue") or 0))),
        "grace": figures.get("grace_days", ""),
    }


RULE = register(
    Rule(
        code="overdue_shipments",
        number=12,
        title=gettext_lazy("Goods issued while receivables are overdue"),
        explanation=gettext_lazy(
            "Takes the goods issues posted in the last %(lookback_days)s days (reversals and "
            "reversed issues left out) and judges each as of its posting date: a customer "
            "owing the same company more than %(min_overdue_amount)s yuan more than "
            "%(grace_days)s days past due (receipts settling the charges that fell due first, "
            "per contract) flags the issue. Per company and customer, the flagged issues in a "
            "row are one finding."
        ),
        area=Area.MONEY,
        severity=Severity.MEDIUM,
        parameters=(
            Parameter(
                "grace_days",
                gettext_lazy("Days past due tolerated (grace)"),
                ParameterKind.INTEGER,
                30,
                minimum=0,
                maximum=3650,
            ),
            Parameter(
                "min_overdue_amount",
                gettext_lazy("Overdue amount above (yuan)"),
                ParameterKind.DECIMAL,
                0,
                minimum=0,
                maximum=10**13,
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
            "org.company",
            "trading.contract",
            "trading.creditexception",
            "trading.invoice",
            "trading.openingbalance",
            "trading.partner",
            "trading.partnerledgerentry",
            "trading.payment",
            "trading.stockdocument",
        ),
        as_of="day",
    )
)

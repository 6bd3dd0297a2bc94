"""Rule 15 — supplier concentration.

Per company and calendar year, the goods received (at contract prices incl. VAT, reversals
netted) from each supplier — suppliers sharing a bank account, phone number or address counted
as one, optionally — as a share of everything the company received that year. One supplier
holding more than the threshold, in a year the company bought enough to matter, is a finding:
purchases steered to a favourite, or a dependence the company should know about.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.trading import facts
from qinglian.trading.enums import ContractKind

from ..enums import Area, ParameterKind, Severity
from ..registry import Hit, Parameter, Rule, RuleContext, register
from ..selectors import company_labels
from ._approvals import amount_text
from ._trading import (
    HUNDRED,
    PARTNER,
    contract_link,
    local_today,
    partner_link,
    percent,
    related_parties,
)

ZERO = Decimal(0)
TOP = 5
MAX_CONTRACTS = 200


def detect(context: RuleContext) -> Iterable[Hit]:
    parameters = context.parameters
    this_year = local_today(context.now).year
    first_year = this_year - parameters["years"] + 1
    related = related_parties(enabled=parameters["group_related"])
    totals: dict[tuple[int, int], Decimal] = defaultdict(Decimal)  # (company, year)
    shares: dict[tuple[int, int], dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    members: dict[int, set[int]] = defaultdict(set)
    for company_id, partner_id, year, amount, _count in facts.purchase_totals_by_year(
        since_year=first_year
    ):
        root = related.root(partner_id)
        members[root].add(partner_id)
        totals[(company_id, year)] += amount
        shares[(company_id, year)][root] += amount
    found: list[tuple[int, int, int, Decimal, Decimal, list[tuple[int, Decimal]]]] = []
    for (company_id, year), total in sorted(totals.items()):
        if total <= 0 or total < parameters["min_company_total"]:
            continue
        ranked = sorted(shares[(company_id, year)].items(), key=lambda item: (-item[1], item[0]))
        for root, amount in ranked:
            if amount * HUNDRED <= parameters["share_percent"] * total:
                break
            found.append((company_id, year, root, amount, total, ranked))
    if not found:
        return
    names = facts.partner_names(pk for item in found for pk in members[item[2]])
    labels = company_labels({item[0] for item in found})
    contracts: dict[tuple[int, int], list[facts.ContractFact]] = defaultdict(list)
    for contract in facts.contract_facts(
        kinds=[ContractKind.PURCHASE],
        statuses=facts.EVER_EFFECTIVE_STATUSES,
        partner_ids={pk for item in found for pk in members[item[2]]},
        first_revisions_only=True,
    ):
        contracts[(contract.company_id, related.root(contract.partner_id))].append(contract)
    for company_id, year, root, amount, total, ranked in found:
        group = sorted(members[root])
        start, end = datetime.date(year, 1, 1), datetime.date(year, 12, 31)
        linked = [
            contract
            for contract in contracts.get((company_id, root), [])
            if contract.committed_on <= end
            and (contract.end_on is None or contract.end_on >= start)
        ][:MAX_CONTRACTS]
        supplier = "、".join(names.get(pk, "") for pk in group)
        yield Hit(
            subject_type=PARTNER,
            subject_id=str(root),
            subject_label=_("%(supplier)s · %(company)s · %(year)s")
            % {"supplier": supplier, "company": labels.get(company_id, ""), "year": year},
            key=f"{company_id}:{year}",
            company_id=company_id,
            figures={
                "company": labels.get(company_id, ""),
                "year": year,
                "supplier": supplier,
                "suppliers": [{"id": pk, "name": names.get(pk, "")} for pk in group],
                "amount": amount,
                "total": total,
                "share_percent": percent(amount, total),
                "supplier_count": len(ranked),
                "top": [
                    {
                        "partner_id": pk,
                        "amount": value,
                        "share_percent": percent(value, total),
                    }
                    for pk, value in ranked[:TOP]
                ],
            },
            documents=[
                *(partner_link(pk, names.get(pk, "")) for pk in group),
                *(contract_link(contract) for contract in linked),
            ],
        )


def summarize(figures: Mapping[str, Any]) -> str:
    return _(
        "%(company)s bought %(share)s %% of its goods in %(year)s (%(amount)s of %(total)s "
        "yuan) from %(supplier)s"
    ) % {
        "company": figures.get("company", ""),
        "share": figures.get("share_percent", ""),
        "year": figures.get("year", ""),
        "amount": amount_text(Decimal(str(figures.get("amount") or 0))),
        "total": amount_text(Decimal(str(figures.get("total") or 0))),
        "supplier": figures.get("supplier", ""),
    }


RULE = register(
    Rule(
        code="supplier_concentration",
        number=15,
        title=gettext_lazy("Supplier concentration"),
        explanation=gettext_lazy(
            "Per company and calendar year, over the last %(years)s calendar years (this one "
            "included), the goods received from each supplier (at contract prices incl. VAT, "
            "reversals netted; suppliers sharing a bank account, phone number or address count "
            "as one: %(group_related)s) as a share of all goods the company received. A "
            "supplier with more than %(share_percent)s, in a year the company received at "
            "least %(min_company_total)s yuan, is a finding."
        ),
        area=Area.POWER,
        severity=Severity.MEDIUM,
        parameters=(
            Parameter(
                "share_percent",
                gettext_lazy("Share of one supplier above (%)"),
                ParameterKind.DECIMAL,
                50,
                minimum=1,
                maximum=100,
                unit="%",
            ),
            Parameter(
                "min_company_total",
                gettext_lazy("A company's purchases in the year (at least, yuan)"),
                ParameterKind.DECIMAL,
                1_000_000,
                minimum=0,
                maximum=10**13,
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
                "group_related",
                gettext_lazy("Suppliers sharing a bank account, phone or address count as one"),
                ParameterKind.BOOLEAN,
                True,
            ),
        ),
        detect=detect,
        summarize=summarize,
        reads=(
            "org.company",
            "trading.contract",
            "trading.partner",
            "trading.stockdocument",
        ),
        as_of="day",
    )
)
